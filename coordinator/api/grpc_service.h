// The moe.v1.Inference service on gRPC's callback API (STYLE.md section d).
//
// Generate and Chat validate the request (coordinator/api/request_builder.h), submit it to the
// coordinator and stream its responses through a ServerWriteReactor that keeps at most one
// write in flight; the coordinator's thread feeds the reactor's queue and never blocks on the
// network. A client that goes away or whose deadline passes cancels the request in the
// coordinator (its KV blocks are freed at the next step). Refused requests end at once:
// INVALID_ARGUMENT / FAILED_PRECONDITION (validation), RESOURCE_EXHAUSTED / UNAVAILABLE
// (Submit, or the model still loading), UNAUTHENTICATED (API keys enabled and the "authorization"
// metadata is not "Bearer <key>" for a known key).
//
// Thread-safety: all methods may run concurrently on gRPC's threads.
// Ownership: borrows the coordinator, the keys and the metrics; all must outlive the server
// that serves this service (every stream ends through the coordinator, which must be running
// or stopped, not destroyed, until the gRPC server has shut down).
#pragma once

#include <grpcpp/grpcpp.h>

#include "coordinator/api/auth.h"
#include "coordinator/core/coordinator.h"
#include "moe/v1/inference.grpc.pb.h"

namespace moe {

class Metrics;

class InferenceService final : public v1::Inference::CallbackService {
 public:
  // `api_keys` and `metrics` may be null (no authentication, no metrics).
  InferenceService(Coordinator* coordinator, const ApiKeys* api_keys, Metrics* metrics);

  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerWriteReactor<v1::GenerateResponse>* Chat(grpc::CallbackServerContext* context,
                                                       const v1::ChatRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfo(grpc::CallbackServerContext* context,
                                      const v1::ModelInfoRequest* request,
                                      v1::ModelInfoResponse* response) override;

 private:
  // OK, or UNAUTHENTICATED when keys are enabled and the call's metadata has no valid key.
  absl::Status Authenticate(grpc::CallbackServerContext* context) const;
  // OK once the coordinator has started (the served model is filled in and read-only), else
  // UNAVAILABLE: handlers must not touch coordinator_->model() before.
  absl::Status CheckModelLoaded() const;
  // OK while the coordinator admits requests, else UNAVAILABLE saying why (loading, draining,
  // workers lost).
  absl::Status CheckAdmitting() const;
  // Submits a built request (or ends the stream with its error) and returns the reactor.
  grpc::ServerWriteReactor<v1::GenerateResponse>* StartStream(grpc::CallbackServerContext* context,
                                                              absl::StatusOr<RequestParams> params);
  void CountRefused(const char* outcome) const;

  Coordinator* const coordinator_;
  const ApiKeys* const api_keys_;
  Metrics* const metrics_;
};

}  // namespace moe
