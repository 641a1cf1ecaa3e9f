// The gRPC server: moe.v1.Inference (grpc_service.h), the standard grpc.health.v1.Health and
// server reflection (grpc.reflection.v1alpha, for grpcurl / grpc_cli), optionally over TLS,
// plus an optional plaintext health-only port for Kubernetes probes beside a TLS API.
//
// Health: NOT_SERVING for "" and "moe.v1.Inference" from Start() until SetServing(true) (the
// server binary calls it once the weights are loaded) and again after SetServing(false)
// (draining) or Shutdown().
//
// Thread-safety: SetServing and the accessors may be called from any thread; Shutdown from one.
// Ownership: borrows the coordinator, the metrics and options.api_keys; they must outlive the
// server (or at least its Shutdown()).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/status.h"
#include "coordinator/api/auth.h"
#include "coordinator/api/grpc_service.h"

namespace moe {

class Coordinator;
class Metrics;

struct GrpcServerOptions {
  std::string host = "0.0.0.0";
  int port = 50051;  // 0: pick a free port (see GrpcServer::port())
  // >= 0: ALSO serve grpc.health.v1 in plaintext on this port (0: a free one), for Kubernetes
  // probes when the API uses TLS; -1: none.
  int health_port = -1;
  std::string tls_cert_file;  // PEM; both or neither
  std::string tls_key_file;
  const ApiKeys* api_keys = nullptr;  // null or disabled: no authentication
};

class GrpcServer {
 public:
  // Builds and starts the servers. Errors: INVALID_ARGUMENT for bad options (naming them),
  // NOT_FOUND / INVALID_ARGUMENT naming an unreadable or non-PEM TLS file, UNAVAILABLE
  // "cannot listen on HOST:PORT (...)" when a port is in use or the address is bad.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options,
                                                           Coordinator* coordinator,
                                                           Metrics* metrics);
  ~GrpcServer();  // Shutdown(absl::ZeroDuration()) unless done already

  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  int port() const { return port_; }                // the bound API port
  int health_port() const { return health_port_; }  // the plaintext health port, or -1
  bool tls() const { return tls_; }

  // Health status of "" and "moe.v1.Inference" on both ports. No effect after Shutdown().
  void SetServing(bool serving);

  // Health goes NOT_SERVING for good, the servers stop accepting calls, calls still running
  // after `grace` are cancelled (their streams end through the coordinator), then returns once
  // every call is done. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer() = default;

  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;  // null without a health port
  int port_ = 0;
  int health_port_ = -1;
  bool tls_ = false;
  bool shut_down_ = false;
};

}  // namespace moe
