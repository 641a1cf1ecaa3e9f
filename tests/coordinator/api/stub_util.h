// Client-side helpers for the gRPC API tests, on the raw generated stubs: deadlines, running a
// Generate stream to the end, health checks, the test CA's TLS channel.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/file.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "moe/v1/inference.grpc.pb.h"

namespace moe::testing {

inline std::string TestDataPath(const std::string& name) {
  return std::string(MOE_TEST_DATA_DIR) + "/" + name;
}

// A context with a deadline (every test RPC has one).
inline std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(20)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  return context;
}

inline v1::GenerateRequest IdsRequest(std::initializer_list<int32_t> ids, int max_tokens) {
  v1::GenerateRequest request;
  for (int32_t id : ids) request.mutable_token_ids()->add_ids(id);
  if (max_tokens > 0) request.mutable_sampling()->set_max_tokens(max_tokens);
  return request;
}

struct StreamResult {
  grpc::Status status;
  std::vector<v1::GenerateResponse> responses;
  int tokens() const {
    int n = 0;
    for (const auto& r : responses) n += r.token_ids_size();
    return n;
  }
};

inline StreamResult RunGenerate(v1::Inference::Stub* stub, const v1::GenerateRequest& request,
                                grpc::ClientContext* context) {
  StreamResult result;
  auto reader = stub->Generate(context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) result.responses.push_back(response);
  result.status = reader->Finish();
  return result;
}

// grpc.health.v1 Check of `service`: "SERVING", "NOT_SERVING", ... or "error: <code>".
inline std::string HealthStatus(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  auto context = Context(absl::Seconds(10));
  grpc::Status status = stub->Check(context.get(), request, &response);
  if (!status.ok()) return "error: " + std::to_string(status.error_code());
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

// Polls `done` every 5 ms up to `timeout`.
inline bool PollUntil(const std::function<bool()>& done,
                      absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// A channel to localhost:`port` over TLS, trusting only tests/data/tls/ca.pem.
inline std::shared_ptr<grpc::Channel> TlsChannel(int port) {
  auto ca = ReadFile(TestDataPath("tls/ca.pem"));
  EXPECT_TRUE(ca.ok()) << ca.status();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca.ok() ? *ca : "";
  return grpc::CreateChannel("localhost:" + std::to_string(port), grpc::SslCredentials(ssl));
}

inline std::shared_ptr<grpc::Channel> PlainChannel(int port) {
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                             grpc::InsecureChannelCredentials());
}

}  // namespace moe::testing
