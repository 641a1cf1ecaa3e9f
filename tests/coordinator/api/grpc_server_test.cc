// GrpcServer: health (NOT_SERVING until SetServing(true)), the plaintext health port, TLS with
// the test CA, reflection, and start-up errors (port in use, bad TLS files).
#include <gtest/gtest.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "common/file.h"
#include "grpc_test_util.h"
#include "reflection_client.h"

namespace moe::testing {
namespace {

ServerFixture::Options TlsOptions() {
  ServerFixture::Options options;
  options.grpc.tls_cert_file = TestDataPath("tls/server.pem");
  options.grpc.tls_key_file = TestDataPath("tls/server.key");
  return options;
}

TEST(GrpcServerTest, HealthIsNotServingUntilSetServing) {
  ServerFixture fixture({});
  ASSERT_TRUE(fixture.ok());
  EXPECT_EQ(fixture.server().health_port(), -1);
  auto channel = fixture.Channel();
  EXPECT_EQ(HealthStatus(channel, ""), "NOT_SERVING");
  EXPECT_EQ(HealthStatus(channel, "moe.v1.Inference"), "NOT_SERVING");
  fixture.server().SetServing(true);
  EXPECT_EQ(HealthStatus(channel, ""), "SERVING");
  EXPECT_EQ(HealthStatus(channel, "moe.v1.Inference"), "SERVING");
  EXPECT_EQ(HealthStatus(channel, "no.such.Service"),
            "error: " + std::to_string(grpc::StatusCode::NOT_FOUND));
  fixture.server().SetServing(false);  // draining
  EXPECT_EQ(HealthStatus(channel, "moe.v1.Inference"), "NOT_SERVING");
}

TEST(GrpcServerTest, TlsWithTheTestCaAndPlaintextHealthPort) {
  ServerFixture::Options options = TlsOptions();
  options.grpc.health_port = 0;
  ServerFixture fixture(options);
  ASSERT_TRUE(fixture.ok());
  EXPECT_TRUE(fixture.server().tls());
  ASSERT_GT(fixture.server().health_port(), 0);
  EXPECT_NE(fixture.server().health_port(), fixture.server().port());

  // The API over TLS, verified against the test CA.
  auto tls = TlsChannel(fixture.server().port());
  auto stub = v1::Inference::NewStub(tls);
  auto context = Context();
  v1::ModelInfoResponse info;
  grpc::Status status = stub->ModelInfo(context.get(), v1::ModelInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.model_id(), "tiny-qwen3-moe");
  auto stream_context = Context();
  StreamResult result = RunGenerate(stub.get(), IdsRequest({1, 2}, 3), stream_context.get());
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.tokens(), 3);

  // A plaintext client cannot talk to the TLS port.
  auto plain = v1::Inference::NewStub(fixture.Channel());
  auto plain_context = Context(absl::Seconds(5));
  EXPECT_FALSE(plain->ModelInfo(plain_context.get(), v1::ModelInfoRequest(), &info).ok());

  // Health in plaintext on its own port follows SetServing.
  auto health = grpc::CreateChannel("127.0.0.1:" + std::to_string(fixture.server().health_port()),
                                    grpc::InsecureChannelCredentials());
  EXPECT_EQ(HealthStatus(health, "moe.v1.Inference"), "NOT_SERVING");
  EXPECT_EQ(HealthStatus(tls, "moe.v1.Inference"), "NOT_SERVING");
  fixture.server().SetServing(true);
  EXPECT_EQ(HealthStatus(health, "moe.v1.Inference"), "SERVING");
  EXPECT_EQ(HealthStatus(health, ""), "SERVING");
  EXPECT_EQ(HealthStatus(tls, "moe.v1.Inference"), "SERVING");
}

TEST(GrpcServerTest, StartErrorsNameTheProblem) {
  auto model = TinyModel();
  FakeExecutor executor;
  Coordinator coordinator(model.get(), &executor, nullptr, CoordinatorOptions());

  GrpcServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.tls_cert_file = TestDataPath("tls/server.pem");
  auto only_cert = GrpcServer::Start(options, &coordinator, nullptr);
  EXPECT_EQ(only_cert.status().code(), absl::StatusCode::kInvalidArgument);

  options.tls_key_file = TestDataPath("tls/no-such.key");
  auto missing = GrpcServer::Start(options, &coordinator, nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "no-such.key")) << missing.status();

  options.tls_key_file = TestDataPath("tls/README.md");  // not PEM
  auto not_pem = GrpcServer::Start(options, &coordinator, nullptr);
  ASSERT_FALSE(not_pem.ok());
  EXPECT_TRUE(absl::StrContains(not_pem.status().message(), "README.md")) << not_pem.status();

  // A port in use.
  options = GrpcServerOptions();
  options.host = "127.0.0.1";
  options.port = 0;
  auto first = GrpcServer::Start(options, &coordinator, nullptr);
  ASSERT_TRUE(first.ok()) << first.status();
  options.port = (*first)->port();
  auto second = GrpcServer::Start(options, &coordinator, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(second.status().message(), std::to_string(options.port)))
      << second.status();
  // ... also for the health port.
  options.port = 0;
  options.health_port = (*first)->port();
  auto health = GrpcServer::Start(options, &coordinator, nullptr);
  ASSERT_FALSE(health.ok());
  EXPECT_TRUE(absl::StrContains(health.status().message(), "health")) << health.status();
}

TEST(GrpcServerTest, ReflectionListsTheServices) {
  ServerFixture fixture({});
  ASSERT_TRUE(fixture.ok());
  grpc::GenericStub stub(fixture.Channel());
  ReflectionCall call(&stub);
  std::vector<std::string> services = call.Services();
  EXPECT_TRUE(call.status().ok()) << call.status().error_message();
  EXPECT_NE(std::find(services.begin(), services.end(), "moe.v1.Inference"), services.end())
      << absl::StrJoin(services, ", ");
  EXPECT_NE(std::find(services.begin(), services.end(), "grpc.health.v1.Health"), services.end())
      << absl::StrJoin(services, ", ");
}

}  // namespace
}  // namespace moe::testing
