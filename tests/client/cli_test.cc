// moe-client (the CLI) as a subprocess against a real moe-serve with the demo model: output,
// stderr and exit codes of generate, chat, tokenize, info and health.
#include <gtest/gtest.h>

#include "absl/strings/str_join.h"
#include "client/client.h"
#include "common/json.h"
#include "tests/client/subprocess.h"
#include "tests/testing/server_process.h"

namespace moe {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::ServerProcess;

const std::string kCli = std::string(MOE_BINARY_DIR) + "/client/moe-client";

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = ServerProcess::Start(
        {"--model", MOE_DEMO_MODEL_DIR, "--threads", "1", "--kv-blocks", "512"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }

  // moe-client --target <server> args...
  static CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {kCli, "--target", server_->grpc_target()});
    return RunCommand(args);
  }

  static ServerProcess* server_;
};

ServerProcess* CliTest::server_ = nullptr;

TEST_F(CliTest, GenerateStreamsTextAndReportsUsage) {
  CommandResult r = Cli({"generate", "--prompt", "To be, or not to be", "--max-tokens", "8",
                         "--temperature", "0", "--ignore-eos"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("completion_tokens=8"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("finish_reason=length"), std::string::npos) << r.err;

  // The same text as the SDK gives (plus the final newline the CLI adds).
  auto client = Client::Create({.target = server_->grpc_target()});
  ASSERT_TRUE(client.ok());
  v1::GenerateRequest req;
  req.set_text("To be, or not to be");
  req.mutable_sampling()->set_max_tokens(8);
  req.mutable_sampling()->set_temperature(0);
  req.mutable_sampling()->set_ignore_eos(true);
  auto expected = (*client)->GenerateText(req);
  ASSERT_TRUE(expected.ok()) << expected.status();
  std::string text = expected->text;
  if (text.empty() || text.back() != '\n') text += "\n";
  EXPECT_EQ(r.out, text);
}

TEST_F(CliTest, GenerateJsonAndTokenIds) {
  CommandResult r = Cli({"generate", "--ids", "785,3974,13", "--max-tokens=4", "--temperature", "0",
                         "--ignore-eos", "--logprobs", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<Json> lines;
  size_t start = 0;
  for (size_t nl; (nl = r.out.find('\n', start)) != std::string::npos; start = nl + 1) {
    auto j = ParseJson(r.out.substr(start, nl - start), "stdout");
    ASSERT_TRUE(j.ok()) << j.status() << "\n" << r.out;
    lines.push_back(*j);
  }
  ASSERT_GE(lines.size(), 1u);
  int tokens = 0;
  for (const Json& j : lines) {
    if (j.contains("token_ids")) tokens += static_cast<int>(j["token_ids"].size());
    if (j.contains("token_ids")) {
      ASSERT_TRUE(j.contains("logprobs")) << j.dump();
      EXPECT_EQ(j["logprobs"].size(), j["token_ids"].size());
      EXPECT_EQ(j["logprobs"][0]["top"].size(), 2u) << j.dump();
    }
  }
  EXPECT_EQ(tokens, 4);
  EXPECT_EQ(lines.back().value("finish_reason", ""), "FINISH_REASON_LENGTH") << r.out;
  EXPECT_EQ(lines.back()["usage"].value("completion_tokens", 0), 4) << r.out;
  EXPECT_EQ(lines.back()["usage"].value("prompt_tokens", 0), 3) << r.out;
}

TEST_F(CliTest, Chat) {
  CommandResult r = Cli({"chat", "--system", "Thou art a poet.", "--message", "user:Speak!",
                         "--no-think", "--max-tokens", "6", "--ignore-eos", "--seed", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  EXPECT_NE(r.err.find("completion_tokens=6"), std::string::npos) << r.err;
  r = Cli({"chat", "--prompt", "Speak!", "--max-tokens", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(CliTest, TokenizeInfoHealth) {
  CommandResult r = Cli({"tokenize", "--text", "hello world"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto client = Client::Create({.target = server_->grpc_target()});
  ASSERT_TRUE(client.ok());
  auto tok = (*client)->Tokenize("hello world");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(r.out, absl::StrJoin(tok->ids(), " ") + "\n");

  r = Cli({"info"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto info = ParseJson(r.out, "info");
  ASSERT_TRUE(info.ok()) << info.status() << r.out;
  EXPECT_EQ(info->value("model_type", ""), "qwen3_moe");
  EXPECT_EQ(info->value("vocab_size", 0), 151936);
  EXPECT_EQ(info->value("has_tokenizer", false), true);

  r = Cli({"health"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
  r = Cli({"health", "--service", "moe.v1.Inference"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(CliTest, ErrorsAndExitCodes) {
  // Bad command lines: usage and exit code 2, before any call.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"generate", "--bogus"},
                                             {"generate"},
                                             {"generate", "--prompt", "x", "--ids", "1"},
                                             {"generate", "--prompt", "x", "--max-tokens", "many"},
                                             {"chat", "--message", "no role"},
                                             {"frobnicate"},
                                             {"tokenize"}}) {
    CommandResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << r.err;
    EXPECT_NE(r.err.find("usage: moe-client"), std::string::npos) << r.err;
  }
  // RPC errors: "moe-client: CODE: message" and exit code 1.
  CommandResult r = Cli({"generate", "--prompt", "x", "--temperature", "-1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("moe-client: INVALID_ARGUMENT: ", 0), 0u) << r.err;
  r = RunCommand({kCli, "--target", "localhost:1", "--timeout", "5", "health"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("moe-client: UNAVAILABLE: ", 0), 0u) << r.err;
  r = Cli(
      {"--timeout", "0.2", "generate", "--prompt", "x", "--max-tokens", "1500", "--ignore-eos"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("moe-client: DEADLINE_EXCEEDED: ", 0), 0u) << r.err;
  r = RunCommand({kCli, "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("usage: moe-client"), std::string::npos);
}

}  // namespace
}  // namespace moe
