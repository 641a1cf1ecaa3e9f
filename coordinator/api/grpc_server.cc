#include "coordinator/api/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"

namespace moe {
namespace {

constexpr char kServiceName[] = "moe.v1.Inference";

std::string Address(const std::string& host, int port) {
  // IPv6 literals need brackets.
  if (absl::StrContains(host, ':') && !absl::StartsWith(host, "[")) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view marker,
                                    absl::string_view what) {
  MOE_ASSIGN_OR_RETURN(std::string pem, ReadFile(path));
  if (!absl::StrContains(pem, "-----BEGIN ") || !absl::StrContains(pem, marker)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a PEM ", what));
  }
  return pem;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ApiCredentials(
    const GrpcServerOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate and a key file (--tls-cert and --tls-key), or neither");
  }
  if (options.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  MOE_ASSIGN_OR_RETURN(pair.cert_chain,
                       ReadPem(options.tls_cert_file, "CERTIFICATE-----", "certificate"));
  MOE_ASSIGN_OR_RETURN(pair.private_key,
                       ReadPem(options.tls_key_file, "PRIVATE KEY-----", "private key"));
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(ssl);
}

// Builds and starts a server listening on `address`; `configure` registers its services.
template <typename Configure>
absl::StatusOr<std::unique_ptr<grpc::Server>> BuildServer(
    const std::string& address, std::shared_ptr<grpc::ServerCredentials> credentials,
    absl::string_view what, int* bound_port, Configure configure) {
  grpc::ServerBuilder builder;
  // Without this, Linux lets a second server bind the same port (SO_REUSEPORT), which hides a
  // port conflict instead of reporting it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  *bound_port = 0;
  builder.AddListeningPort(address, std::move(credentials), bound_port);
  configure(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *bound_port == 0) {
    if (server != nullptr) server->Shutdown();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, " (", what,
                                               "): the port is in use or the address is bad"));
  }
  return server;
}

void SetHealth(grpc::Server* server, bool serving) {
  if (server == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  health->SetServingStatus(kServiceName, serving);
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcServerOptions& options,
                                                              Coordinator* coordinator,
                                                              Metrics* metrics) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("gRPC port: must be in [0, 65535], got ", options.port));
  }
  if (options.health_port < -1 || options.health_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("health port: must be -1 (none) or in [0, 65535], got ", options.health_port));
  }
  MOE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                       ApiCredentials(options));

  // Both are process-wide switches that apply to servers built afterwards.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->tls_ = !options.tls_cert_file.empty();
  server->service_ = std::make_unique<InferenceService>(coordinator, options.api_keys, metrics);
  InferenceService* service = server->service_.get();
  MOE_ASSIGN_OR_RETURN(
      server->server_,
      BuildServer(Address(options.host, options.port), credentials, "gRPC API", &server->port_,
                  [service](grpc::ServerBuilder& builder) { builder.RegisterService(service); }));
  SetHealth(server->server_.get(), false);

  if (options.health_port >= 0) {
    auto health =
        BuildServer(Address(options.host, options.health_port), grpc::InsecureServerCredentials(),
                    "plaintext health", &server->health_port_, [](grpc::ServerBuilder&) {});
    if (!health.ok()) {
      server->Shutdown(absl::ZeroDuration());
      return health.status();
    }
    server->health_server_ = std::move(health).value();
    SetHealth(server->health_server_.get(), false);
  }
  return server;
}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

void GrpcServer::SetServing(bool serving) {
  SetHealth(server_.get(), serving);
  SetHealth(health_server_.get(), serving);
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  for (grpc::Server* s : {server_.get(), health_server_.get()}) {
    if (s != nullptr && s->GetHealthCheckService() != nullptr) {
      s->GetHealthCheckService()->Shutdown();
    }
  }
  const auto deadline = std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace);
  if (server_ != nullptr) server_->Shutdown(deadline);
  if (health_server_ != nullptr) health_server_->Shutdown(std::chrono::system_clock::now());
}

}  // namespace moe
