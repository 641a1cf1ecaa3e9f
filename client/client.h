// The C++ SDK of moe-serve: streaming Generate / Chat, Tokenize, ModelInfo and health checks over
// gRPC (moe.v1.Inference, grpc.health.v1.Health), with deadlines, cancellation, TLS and API keys.
//
//   MOE_ASSIGN_OR_RETURN(auto client, moe::Client::Create({.target = "localhost:50051"}));
//   moe::v1::GenerateRequest req;
//   req.set_text("To be, or not to be");
//   req.mutable_sampling()->set_max_tokens(32);
//   absl::Status s = client->Generate(req, [](const moe::v1::GenerateResponse& delta) {
//     std::cout << delta.text() << std::flush;
//     return true;  // false cancels the call
//   });
//
// Streams use gRPC's callback API (a ClientReadReactor feeding a bounded queue); user code never
// runs inside gRPC reactions. Errors keep the server's gRPC code and message as an absl::Status.
// Depends only on the generated protos and gRPC (DESIGN.md section 5).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "moe/v1/inference.grpc.pb.h"

namespace moe {

struct ClientOptions {
  std::string target = "localhost:50051";  // host:port, or any gRPC target URI
  std::string api_key;                     // sent as "authorization: Bearer KEY" when set
  bool tls = false;
  std::string tls_root_certs_file;       // PEM CA bundle; empty: the system roots (with tls)
  std::string tls_server_name_override;  // name checked against the server certificate
};

// grpc::Status -> absl::Status with the same code and message.
absl::Status ToAbslStatus(const grpc::Status& status);

// A whole generation, accumulated from its deltas.
struct GenerateResult {
  std::string request_id;
  std::vector<int32_t> prompt_token_ids;
  std::vector<int32_t> token_ids;
  std::string text;
  std::vector<v1::TokenLogprob> logprobs;  // one per token when logprobs were requested
  v1::FinishReason finish_reason = v1::FINISH_REASON_UNSPECIFIED;
  std::string stop_reason;
  v1::Usage usage;
  int32_t num_deltas = 0;
};

// Appends one delta to `result`.
void Accumulate(const v1::GenerateResponse& delta, GenerateResult* result);

// One streaming call in iterator form. Not thread-safe except Cancel(), which any thread may
// call at any time. Destroying a stream that has not finished cancels it and waits for gRPC to
// let go of it.
class GenerateStream {
 public:
  virtual ~GenerateStream() = default;
  // Blocks for the next delta; false once the stream has ended (then call Finish()).
  virtual bool Next(v1::GenerateResponse* delta) = 0;
  // Cancels the call (the status becomes CANCELLED unless it had already finished).
  virtual void Cancel() = 0;
  // Discards unread deltas, waits for the end and returns the call's status.
  virtual absl::Status Finish() = 0;
};

// A connection to one server. Thread-safe: any number of threads may make calls at once (they
// share one HTTP/2 channel). Immutable after Create.
class Client {
 public:
  using DeltaCallback = std::function<bool(const v1::GenerateResponse&)>;

  // Builds the channel (it connects lazily, on the first call). Fails if the CA file can't be read.
  static absl::StatusOr<std::unique_ptr<Client>> Create(const ClientOptions& options);

  // Streams the deltas of one generation to `on_delta` on the calling thread; returning false
  // from it cancels the call (the result is then CANCELLED). `timeout` is the deadline of the
  // whole call.
  absl::Status Generate(const v1::GenerateRequest& request, const DeltaCallback& on_delta,
                        absl::Duration timeout = absl::InfiniteDuration());
  absl::Status Chat(const v1::ChatRequest& request, const DeltaCallback& on_delta,
                    absl::Duration timeout = absl::InfiniteDuration());

  // Iterator form of the same calls; the call starts before these return.
  std::unique_ptr<GenerateStream> StartGenerate(const v1::GenerateRequest& request,
                                                absl::Duration timeout = absl::InfiniteDuration());
  std::unique_ptr<GenerateStream> StartChat(const v1::ChatRequest& request,
                                            absl::Duration timeout = absl::InfiniteDuration());

  // Whole generations, collected.
  absl::StatusOr<GenerateResult> GenerateText(const v1::GenerateRequest& request,
                                              absl::Duration timeout = absl::InfiniteDuration());
  absl::StatusOr<GenerateResult> ChatText(const v1::ChatRequest& request,
                                          absl::Duration timeout = absl::InfiniteDuration());

  absl::StatusOr<v1::TokenizeResponse> Tokenize(const v1::TokenizeRequest& request,
                                                absl::Duration timeout = absl::InfiniteDuration());
  absl::StatusOr<v1::TokenizeResponse> Tokenize(const std::string& text,
                                                absl::Duration timeout = absl::InfiniteDuration());
  absl::StatusOr<v1::ModelInfoResponse> ModelInfo(
      absl::Duration timeout = absl::InfiniteDuration());

  // grpc.health.v1 Check of `service` ("" = the whole server, "moe.v1.Inference" = the API):
  // true when SERVING, false when NOT_SERVING; an error when the call fails (NOT_FOUND for an
  // unknown service).
  absl::StatusOr<bool> Health(const std::string& service = "",
                              absl::Duration timeout = absl::InfiniteDuration());

  const ClientOptions& options() const { return options_; }

 private:
  Client(const ClientOptions& options, std::shared_ptr<grpc::Channel> channel);
  // A context with the API key and the deadline set.
  void PrepareContext(grpc::ClientContext* context, absl::Duration timeout) const;
  absl::Status Drain(GenerateStream* stream, const DeltaCallback& on_delta);
  // Drains `stream` into one result.
  absl::StatusOr<GenerateResult> Collect(GenerateStream* stream);

  // Constant after construction.
  const ClientOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::Inference::Stub> stub_;
  const std::unique_ptr<grpc::health::v1::Health::Stub> health_stub_;
};

}  // namespace moe
