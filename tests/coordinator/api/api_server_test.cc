// The gRPC API of the real moe-serve process, through the raw generated stubs: validation
// errors, queue limits, API keys, TLS with the test CA, health and reflection.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "reflection_client.h"
#include "stub_util.h"
#include "tests/testing/server_process.h"

namespace moe::testing {
namespace {

const std::string kTinyModel = std::string(MOE_TEST_DATA_DIR) + "/models/tiny-qwen3-moe";

std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> args,
                                           bool wait_serving = true) {
  auto server = ServerProcess::Start(std::move(args), 60, wait_serving);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(server).value() : nullptr;
}

// One server with the demo model (tokenizer + chat template) for the read-only tests.
class DemoServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = StartServer({"--model", MOE_DEMO_MODEL_DIR, "--kv-blocks", "512", "--threads", "1"})
                  .release();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Terminate(30), 0) << server_->log();
    }
    delete server_;
    server_ = nullptr;
  }
  std::unique_ptr<v1::Inference::Stub> Stub() {
    return v1::Inference::NewStub(PlainChannel(server_->grpc_port()));
  }
  static ServerProcess* server_;
};
ServerProcess* DemoServerTest::server_ = nullptr;

TEST_F(DemoServerTest, InvalidGenerateRequestsNameTheField) {
  ASSERT_NE(server_, nullptr);
  auto stub = Stub();
  struct Case {
    std::string field;
    v1::GenerateRequest request;
  };
  std::vector<Case> cases(9);
  cases[0] = {"sampling.temperature", IdsRequest({1}, 4)};
  cases[0].request.mutable_sampling()->set_temperature(-1);
  cases[1] = {"sampling.top_p", IdsRequest({1}, 4)};
  cases[1].request.mutable_sampling()->set_top_p(0);
  cases[2] = {"sampling.min_p", IdsRequest({1}, 4)};
  cases[2].request.mutable_sampling()->set_min_p(2);
  cases[3] = {"sampling.repetition_penalty", IdsRequest({1}, 4)};
  cases[3].request.mutable_sampling()->set_repetition_penalty(-1);
  cases[4] = {"sampling.logprobs", IdsRequest({1}, 4)};
  cases[4].request.mutable_sampling()->set_logprobs(50);
  cases[5] = {"sampling.max_tokens", IdsRequest({1}, 0)};
  cases[5].request.mutable_sampling()->set_max_tokens(0);
  cases[6] = {"prompt.token_ids[0]", IdsRequest({200000}, 4)};
  cases[7] = {"prompt", IdsRequest({1, 2}, 1 << 20)};  // longer than the context
  cases[8] = {"prompt.text", v1::GenerateRequest()};
  cases[8].request.set_text("");
  for (const Case& c : cases) {
    auto context = Context();
    StreamResult result = RunGenerate(stub.get(), c.request, context.get());
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.field << ": " << result.status.error_message();
    EXPECT_TRUE(absl::StartsWith(result.status.error_message(), c.field + ": "))
        << c.field << ": " << result.status.error_message();
  }
}

TEST_F(DemoServerTest, InvalidChatRequestsNameTheField) {
  ASSERT_NE(server_, nullptr);
  auto stub = Stub();
  v1::ChatRequest empty;
  auto context = Context();
  auto reader = stub->Chat(context.get(), empty);
  v1::GenerateResponse response;
  EXPECT_FALSE(reader->Read(&response));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "messages: must not be empty");

  v1::ChatRequest bad_tool;
  bad_tool.add_messages()->set_role("user");
  bad_tool.add_tools_json("[]");
  auto tool_context = Context();
  auto tool_reader = stub->Chat(tool_context.get(), bad_tool);
  EXPECT_FALSE(tool_reader->Read(&response));
  status = tool_reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(status.error_message(), "tools_json[0]: "))
      << status.error_message();
}

TEST_F(DemoServerTest, ChatStreamsText) {
  ASSERT_NE(server_, nullptr);
  auto stub = Stub();
  v1::ChatRequest request;
  v1::ChatMessage* m = request.add_messages();
  m->set_role("user");
  m->set_content("Speak, friend.");
  request.mutable_sampling()->set_max_tokens(8);
  request.mutable_sampling()->set_temperature(0);
  auto context = Context();
  auto reader = stub->Chat(context.get(), request);
  v1::GenerateResponse response;
  int tokens = 0;
  std::vector<int32_t> prompt;
  while (reader->Read(&response)) {
    tokens += response.token_ids_size();
    if (response.prompt_token_ids_size() > 0) {
      prompt.assign(response.prompt_token_ids().begin(), response.prompt_token_ids().end());
    }
  }
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(tokens, 1);
  EXPECT_LE(tokens, 8);
  ASSERT_FALSE(prompt.empty());
  EXPECT_EQ(prompt.front(), 151644);  // <|im_start|>

  // Tokenize renders the same prompt.
  v1::TokenizeRequest tokenize;
  *tokenize.mutable_chat() = request;
  v1::TokenizeResponse tokenized;
  auto tokenize_context = Context();
  ASSERT_TRUE(stub->Tokenize(tokenize_context.get(), tokenize, &tokenized).ok());
  EXPECT_EQ(std::vector<int32_t>(tokenized.ids().begin(), tokenized.ids().end()), prompt);
  EXPECT_TRUE(absl::StartsWith(tokenized.rendered(), "<|im_start|>user\nSpeak, friend."));
}

TEST_F(DemoServerTest, HealthAndReflection) {
  ASSERT_NE(server_, nullptr);
  auto channel = PlainChannel(server_->grpc_port());
  EXPECT_EQ(HealthStatus(channel, ""), "SERVING");
  EXPECT_EQ(HealthStatus(channel, "moe.v1.Inference"), "SERVING");
  std::vector<std::string> services = ListServices(channel);
  EXPECT_NE(std::find(services.begin(), services.end(), "moe.v1.Inference"), services.end())
      << absl::StrJoin(services, ", ");
  EXPECT_NE(std::find(services.begin(), services.end(), "grpc.health.v1.Health"), services.end())
      << absl::StrJoin(services, ", ");
}

TEST(ApiServerTest, FullQueueIsResourceExhausted) {
  // One sequence at a time and one waiting: while A generates, B waits and the rest are refused.
  auto server = StartServer({"--model", kTinyModel, "--kv-blocks", "512", "--threads", "1",
                             "--max-num-seqs", "1", "--max-queued", "1"});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Inference::NewStub(PlainChannel(server->grpc_port()));
  v1::GenerateRequest long_request = IdsRequest({1, 2, 3}, 0);  // up to the context (4096)
  long_request.mutable_sampling()->set_ignore_eos(true);
  auto context_a = Context();
  auto reader_a = stub->Generate(context_a.get(), long_request);
  v1::GenerateResponse response;
  ASSERT_TRUE(reader_a->Read(&response));  // A is running
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>>> readers;
  for (int i = 0; i < 6; ++i) {
    contexts.push_back(Context());
    readers.push_back(stub->Generate(contexts.back().get(), long_request));
  }
  int exhausted = 0;
  for (size_t i = 0; i < readers.size(); ++i) {
    if (readers[i]->Read(&response)) {  // admitted: stop it
      contexts[i]->TryCancel();
      while (readers[i]->Read(&response)) {
      }
    }
    grpc::Status status = readers[i]->Finish();
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++exhausted;
      EXPECT_TRUE(absl::StrContains(status.error_message(), "queue")) << status.error_message();
    }
  }
  EXPECT_GE(exhausted, 4);
  context_a->TryCancel();
  while (reader_a->Read(&response)) {
  }
  reader_a->Finish();
  EXPECT_EQ(server->Terminate(30), 0) << server->log();
}

TEST(ApiServerTest, ApiKeys) {
  const std::string keys = ::testing::TempDir() + "/api_server_test_keys.txt";
  std::ofstream(keys) << "# test keys\nfirst-key\nsecond-key\n";
  auto server = StartServer({"--model", kTinyModel, "--kv-blocks", "256", "--api-keys", keys});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Inference::NewStub(PlainChannel(server->grpc_port()));
  for (const char* header : {"", "Bearer wrong-key", "Bearer first-key-and-more"}) {
    auto context = Context();
    if (*header != '\0') context->AddMetadata("authorization", header);
    StreamResult result = RunGenerate(stub.get(), IdsRequest({1, 2}, 2), context.get());
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << header;
    EXPECT_EQ(result.status.error_message(), "missing or invalid API key");
  }
  for (const char* header : {"Bearer first-key", "Bearer second-key"}) {
    auto context = Context();
    context->AddMetadata("authorization", header);
    StreamResult result = RunGenerate(stub.get(), IdsRequest({1, 2}, 2), context.get());
    EXPECT_TRUE(result.status.ok()) << header << ": " << result.status.error_message();
    EXPECT_EQ(result.tokens(), 2);
  }
  EXPECT_EQ(server->Terminate(30), 0) << server->log();
}

TEST(ApiServerTest, TlsWithTheTestCa) {
  auto server = StartServer({"--model", kTinyModel, "--kv-blocks", "256", "--tls-cert",
                             TestDataPath("tls/server.pem"), "--tls-key",
                             TestDataPath("tls/server.key"), "--health-port", "0"});
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->health_port(), 0);
  auto tls = v1::Inference::NewStub(TlsChannel(server->grpc_port()));
  auto context = Context();
  StreamResult result = RunGenerate(tls.get(), IdsRequest({1, 2}, 3), context.get());
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.tokens(), 3);

  auto plain = v1::Inference::NewStub(PlainChannel(server->grpc_port()));
  auto plain_context = Context(absl::Seconds(5));
  v1::ModelInfoResponse info;
  EXPECT_FALSE(plain->ModelInfo(plain_context.get(), v1::ModelInfoRequest(), &info).ok());

  EXPECT_EQ(HealthStatus(PlainChannel(server->health_port()), "moe.v1.Inference"), "SERVING");
  EXPECT_EQ(server->Terminate(30), 0) << server->log();
}

TEST(ApiServerTest, HealthGoesServingAfterLoadAndNotServingWhileDraining) {
  auto server = StartServer(
      {"--model", kTinyModel, "--kv-blocks", "256", "--health-port", "0", "--drain-seconds", "30"},
      /*wait_serving=*/false);
  ASSERT_NE(server, nullptr);
  auto health = PlainChannel(server->health_port());
  // Listening while the weights load: NOT_SERVING (never an error) until SERVING.
  std::vector<std::string> seen;
  ASSERT_TRUE(PollUntil(
      [&] {
        std::string status = HealthStatus(health, "moe.v1.Inference");
        if (seen.empty() || seen.back() != status) seen.push_back(status);
        return status == "SERVING";
      },
      absl::Seconds(60)));
  for (size_t i = 0; i + 1 < seen.size(); ++i) EXPECT_EQ(seen[i], "NOT_SERVING");

  // Draining with a request in flight: NOT_SERVING, new requests UNAVAILABLE, the running
  // stream goes on (then the client cancels it and the server exits).
  auto stub = v1::Inference::NewStub(PlainChannel(server->grpc_port()));
  v1::GenerateRequest long_request = IdsRequest({1, 2, 3}, 0);  // up to the context (4096)
  long_request.mutable_sampling()->set_ignore_eos(true);
  auto context = Context();
  auto reader = stub->Generate(context.get(), long_request);
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_EQ(kill(server->pid(), SIGTERM), 0);
  EXPECT_TRUE(PollUntil([&] { return HealthStatus(health, "moe.v1.Inference") == "NOT_SERVING"; }));
  grpc::Status refused;
  EXPECT_TRUE(PollUntil([&] {  // the server stops admitting right after the health change
    auto refused_context = Context();
    refused = RunGenerate(stub.get(), IdsRequest({1}, 2), refused_context.get()).status;
    return refused.error_code() == grpc::StatusCode::UNAVAILABLE;
  })) << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "draining")) << refused.error_message();
  EXPECT_TRUE(reader->Read(&response));
  context->TryCancel();
  while (reader->Read(&response)) {
  }
  reader->Finish();
  EXPECT_EQ(server->Wait(30), 0) << server->log();
}

}  // namespace
}  // namespace moe::testing
