#include "client/client.h"

#include <deque>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace moe {
namespace {

// Deltas buffered per stream before reading pauses (back-pressure to the server).
constexpr size_t kMaxQueuedDeltas = 64;

// One server-streaming call (Generate or Chat) on gRPC's callback API. The reactor only moves
// deltas into a mutex-guarded queue; the caller's thread takes them out with Next().
template <typename Request>
class StreamCall final : public GenerateStream,
                         public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  explicit StreamCall(const Request& request) : request_(request) {}

  ~StreamCall() override {
    Cancel();
    Finish().IgnoreError();  // waits for OnDone: gRPC must be done with this object
  }

  grpc::ClientContext* context() { return &context_; }
  const Request* request() const { return &request_; }

  // REQUIRES: the call was bound to this reactor (stub->async()->Method(...)).
  void Start() {
    StartRead(&incoming_);
    StartCall();
  }

  bool Next(v1::GenerateResponse* delta) override {
    bool resume = false;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &StreamCall::HasDeltaOrDone));
      if (queue_.empty()) return false;
      *delta = std::move(queue_.front());
      queue_.pop_front();
      resume = paused_;
      paused_ = false;
    }
    // No read is in flight while paused, so incoming_ is ours to hand back to gRPC.
    if (resume) StartRead(&incoming_);
    return true;
  }

  void Cancel() override { context_.TryCancel(); }

  absl::Status Finish() override {
    v1::GenerateResponse unused;
    while (Next(&unused)) {
    }
    absl::MutexLock lock(&mu_);
    return ToAbslStatus(status_);
  }

  // Reactions: quick, never block on the consumer.
  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows
    bool more;
    {
      absl::MutexLock lock(&mu_);
      queue_.push_back(std::move(incoming_));
      more = queue_.size() < kMaxQueuedDeltas;
      paused_ = !more;
    }
    if (more) StartRead(&incoming_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

 private:
  bool HasDeltaOrDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || done_;
  }

  // Constant after construction.
  const Request request_;

  grpc::ClientContext context_;
  v1::GenerateResponse incoming_;  // owned by the read in flight, if any

  absl::Mutex mu_;
  std::deque<v1::GenerateResponse> queue_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;  // reading stopped because the queue is full
  bool done_ ABSL_GUARDED_BY(mu_) = false;    // OnDone has run
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

void Accumulate(const v1::GenerateResponse& delta, GenerateResult* result) {
  if (result->request_id.empty()) result->request_id = delta.request_id();
  result->prompt_token_ids.insert(result->prompt_token_ids.end(), delta.prompt_token_ids().begin(),
                                  delta.prompt_token_ids().end());
  result->token_ids.insert(result->token_ids.end(), delta.token_ids().begin(),
                           delta.token_ids().end());
  result->text += delta.text();
  result->logprobs.insert(result->logprobs.end(), delta.logprobs().begin(), delta.logprobs().end());
  if (delta.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
    result->finish_reason = delta.finish_reason();
  }
  if (!delta.stop_reason().empty()) result->stop_reason = delta.stop_reason();
  if (delta.has_usage()) result->usage = delta.usage();
  ++result->num_deltas;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("client: empty target");
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_root_certs_file.empty()) {
      absl::StatusOr<std::string> pem = ReadFile(options.tls_root_certs_file);
      if (!pem.ok()) return pem.status();
      ssl.pem_root_certs = *std::move(pem);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  if (options.tls && !options.tls_server_name_override.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name_override);
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.target, credentials, args);
  return std::unique_ptr<Client>(new Client(options, std::move(channel)));
}

Client::Client(const ClientOptions& options, std::shared_ptr<grpc::Channel> channel)
    : options_(options),
      channel_(std::move(channel)),
      stub_(v1::Inference::NewStub(channel_)),
      health_stub_(grpc::health::v1::Health::NewStub(channel_)) {}

void Client::PrepareContext(grpc::ClientContext* context, absl::Duration timeout) const {
  if (!options_.api_key.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.api_key));
  }
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
}

std::unique_ptr<GenerateStream> Client::StartGenerate(const v1::GenerateRequest& request,
                                                      absl::Duration timeout) {
  auto call = std::make_unique<StreamCall<v1::GenerateRequest>>(request);
  PrepareContext(call->context(), timeout);
  stub_->async()->Generate(call->context(), call->request(), call.get());
  call->Start();
  return call;
}

std::unique_ptr<GenerateStream> Client::StartChat(const v1::ChatRequest& request,
                                                  absl::Duration timeout) {
  auto call = std::make_unique<StreamCall<v1::ChatRequest>>(request);
  PrepareContext(call->context(), timeout);
  stub_->async()->Chat(call->context(), call->request(), call.get());
  call->Start();
  return call;
}

absl::Status Client::Drain(GenerateStream* stream, const DeltaCallback& on_delta) {
  v1::GenerateResponse delta;
  while (stream->Next(&delta)) {
    if (!on_delta(delta)) {
      stream->Cancel();
      break;
    }
  }
  return stream->Finish();
}

absl::Status Client::Generate(const v1::GenerateRequest& request, const DeltaCallback& on_delta,
                              absl::Duration timeout) {
  return Drain(StartGenerate(request, timeout).get(), on_delta);
}

absl::Status Client::Chat(const v1::ChatRequest& request, const DeltaCallback& on_delta,
                          absl::Duration timeout) {
  return Drain(StartChat(request, timeout).get(), on_delta);
}

absl::StatusOr<GenerateResult> Client::Collect(GenerateStream* stream) {
  GenerateResult result;
  absl::Status status = Drain(stream, [&result](const v1::GenerateResponse& delta) {
    Accumulate(delta, &result);
    return true;
  });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<GenerateResult> Client::GenerateText(const v1::GenerateRequest& request,
                                                    absl::Duration timeout) {
  return Collect(StartGenerate(request, timeout).get());
}

absl::StatusOr<GenerateResult> Client::ChatText(const v1::ChatRequest& request,
                                                absl::Duration timeout) {
  return Collect(StartChat(request, timeout).get());
}

absl::StatusOr<v1::TokenizeResponse> Client::Tokenize(const v1::TokenizeRequest& request,
                                                      absl::Duration timeout) {
  grpc::ClientContext context;
  PrepareContext(&context, timeout);
  v1::TokenizeResponse response;
  grpc::Status status = stub_->Tokenize(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response;
}

absl::StatusOr<v1::TokenizeResponse> Client::Tokenize(const std::string& text,
                                                      absl::Duration timeout) {
  v1::TokenizeRequest request;
  request.set_text(text);
  return Tokenize(request, timeout);
}

absl::StatusOr<v1::ModelInfoResponse> Client::ModelInfo(absl::Duration timeout) {
  grpc::ClientContext context;
  PrepareContext(&context, timeout);
  v1::ModelInfoResponse response;
  grpc::Status status = stub_->ModelInfo(&context, v1::ModelInfoRequest(), &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response;
}

absl::StatusOr<bool> Client::Health(const std::string& service, absl::Duration timeout) {
  grpc::ClientContext context;
  PrepareContext(&context, timeout);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = health_stub_->Check(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

}  // namespace moe
