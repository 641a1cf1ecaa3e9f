// The HTTP API of a real moe-serve process: the demo model (tokenizer + chat template) for
// text, chat and the official `openai` npm client; the tiny fixture (no tokenizer) for
// token-id prompts checked against its golden greedy continuations; API keys.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file.h"
#include "common/json.h"
#include "tests/coordinator/http/http_test_util.h"
#include "tests/testing/server_process.h"

namespace moe {
namespace {

using testing::HttpGet;
using testing::HttpPost;
using testing::HttpPostJson;
using testing::HttpPostStream;
using testing::HttpReply;
using testing::ServerProcess;

const std::string kTinyModel = std::string(MOE_TEST_DATA_DIR) + "/models/tiny-qwen3-moe";

// The value of the sample `name` (labels included) in a /metrics body; -1 when absent.
double MetricValue(const std::string& body, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    double value = 0;
    if (absl::StartsWith(line, name + " ") &&
        absl::SimpleAtod(line.substr(name.size() + 1), &value)) {
      return value;
    }
  }
  return -1;
}

std::unique_ptr<httplib::Client> ClientFor(const ServerProcess& server) {
  auto client = std::make_unique<httplib::Client>("127.0.0.1", server.http_port());
  client->set_read_timeout(120, 0);
  return client;
}

// One demo-model server for the whole suite (starting it loads the model and tokenizer).
class DemoServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = ServerProcess::Start({"--model", MOE_DEMO_MODEL_DIR});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value().release();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) EXPECT_EQ(server_->Terminate(), 0) << server_->log();
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    client_ = ClientFor(*server_);
  }

  static ServerProcess* server_;
  std::unique_ptr<httplib::Client> client_;
};

ServerProcess* DemoServerTest::server_ = nullptr;

TEST_F(DemoServerTest, HealthModelsAndMetrics) {
  EXPECT_EQ(HttpGet(*client_, "/health").status, 200);
  HttpReply models = HttpGet(*client_, "/v1/models");
  ASSERT_EQ(models.status, 200) << models.body;
  ASSERT_EQ(models.json["data"].size(), 1u);
  const std::string id = models.json["data"][0]["id"];
  EXPECT_EQ(id, "demo-qwen3-moe-shakespeare");
  EXPECT_GT(models.json["data"][0]["max_model_len"].get<int>(), 0);

  ASSERT_EQ(HttpPostJson(*client_, "/v1/completions",
                         {{"model", id}, {"prompt", "To be"}, {"max_tokens", 3}})
                .status,
            200);
  HttpReply metrics = HttpGet(*client_, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_TRUE(absl::StrContains(metrics.content_type, "version=0.0.4"));
  for (const char* family : {"moe_requests_total{outcome=\"ok\"}", "moe_generation_tokens_total",
                             "moe_time_to_first_token_seconds_bucket", "moe_kv_blocks_total",
                             "moe_requests_running", "moe_prefix_cache_hit_rate"}) {
    EXPECT_TRUE(absl::StrContains(metrics.body, family)) << family;
  }
  EXPECT_FALSE(absl::StrContains(metrics.body, "moe_generation_tokens_total 0\n"));
}

TEST_F(DemoServerTest, CompletionGreedyStreamingEqualsNonStreaming) {
  Json request = {
      {"prompt", "What light through yonder window"}, {"max_tokens", 12}, {"temperature", 0}};
  HttpReply whole = HttpPostJson(*client_, "/v1/completions", request);
  ASSERT_EQ(whole.status, 200) << whole.body;
  const std::string text = whole.json["choices"][0]["text"];
  EXPECT_FALSE(text.empty());

  request["stream"] = true;
  HttpReply stream = HttpPostStream(*client_, "/v1/completions", request);
  ASSERT_EQ(stream.status, 200) << stream.body;
  ASSERT_FALSE(stream.events.empty());
  EXPECT_EQ(stream.events.back(), "[DONE]");
  EXPECT_EQ(testing::StreamedText(stream.events), text);
  EXPECT_EQ(testing::StreamedFinishReason(stream.events),
            whole.json["choices"][0]["finish_reason"].get<std::string>());
}

TEST_F(DemoServerTest, ChatGreedyStreamingEqualsNonStreaming) {
  Json request = {{"messages", {{{"role", "user"}, {"content", "Speak of the moon."}}}},
                  {"max_tokens", 16},
                  {"temperature", 0},
                  {"chat_template_kwargs", {{"enable_thinking", false}}}};
  HttpReply whole = HttpPostJson(*client_, "/v1/chat/completions", request);
  ASSERT_EQ(whole.status, 200) << whole.body;
  const std::string content = whole.json["choices"][0]["message"]["content"];
  EXPECT_FALSE(content.empty());
  EXPECT_GT(whole.json["usage"]["prompt_tokens"].get<int>(), 5);

  request["stream"] = true;
  request["stream_options"] = {{"include_usage", true}};
  HttpReply stream = HttpPostStream(*client_, "/v1/chat/completions", request);
  ASSERT_EQ(stream.status, 200) << stream.body;
  ASSERT_GE(stream.events.size(), 3u);
  EXPECT_EQ(Json::parse(stream.events.front())["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(stream.events.back(), "[DONE]");
  EXPECT_EQ(testing::StreamedText(stream.events), content);
  const Json usage = Json::parse(stream.events[stream.events.size() - 2]);
  // The same prompt again: served from the prefix cache this time.
  EXPECT_EQ(usage["usage"]["prompt_tokens"], whole.json["usage"]["prompt_tokens"]);
  EXPECT_EQ(usage["usage"]["completion_tokens"], whole.json["usage"]["completion_tokens"]);
  EXPECT_GT(usage["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(), 0);
}

TEST_F(DemoServerTest, InvalidBodiesName400Fields) {
  HttpReply temperature =
      HttpPostJson(*client_, "/v1/chat/completions",
                   {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"temperature", -1}});
  EXPECT_EQ(temperature.status, 400);
  EXPECT_EQ(temperature.json["error"]["param"], "temperature") << temperature.body;
  EXPECT_EQ(temperature.json["error"]["code"], 400);

  HttpReply n = HttpPostJson(*client_, "/v1/completions", {{"prompt", "x"}, {"n", 0}});
  EXPECT_EQ(n.status, 400);
  EXPECT_EQ(n.json["error"]["param"], "n") << n.body;

  HttpReply body = HttpPost(*client_, "/v1/chat/completions", "[");
  EXPECT_EQ(body.status, 400);
  EXPECT_EQ(body.json["error"]["type"], "BadRequestError") << body.body;
}

TEST_F(DemoServerTest, ConcurrentStreamsEqualEachAlone) {
  constexpr int kStreams = 8;
  auto request = [](int i) {
    return Json{{"messages", {{{"role", "user"}, {"content", absl::StrCat("Tell me of ", i)}}}},
                {"max_tokens", 12},
                {"temperature", 0},
                {"stream", true}};
  };
  std::vector<std::string> alone(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    HttpReply reply = HttpPostStream(*client_, "/v1/chat/completions", request(i));
    ASSERT_EQ(reply.status, 200) << reply.body;
    alone[i] = testing::StreamedText(reply.events);
  }
  std::vector<std::string> together(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      auto client = ClientFor(*server_);
      HttpReply reply = HttpPostStream(*client, "/v1/chat/completions", request(i));
      if (reply.status == 200 && !reply.events.empty() && reply.events.back() == "[DONE]") {
        together[i] = testing::StreamedText(reply.events);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kStreams; ++i) EXPECT_EQ(together[i], alone[i]) << "stream " << i;
}

TEST_F(DemoServerTest, HangingUpCancelsAndFreesKvBlocks) {
  const double cancelled_before =
      MetricValue(HttpGet(*client_, "/metrics").body, "moe_requests_total{outcome=\"cancelled\"}");
  Json request = {
      {"prompt", "To be"}, {"max_tokens", 1500}, {"ignore_eos", true}, {"stream", true}};
  int seen = 0;
  HttpPostStream(*client_, "/v1/completions", request,
                 [&seen](const std::string&) { return ++seen < 3; });
  ASSERT_EQ(seen, 3);
  // Polls: the server notices at its next write.
  std::string metrics;
  for (int i = 0; i < 500; ++i) {
    metrics = HttpGet(*client_, "/metrics").body;
    if (MetricValue(metrics, "moe_requests_total{outcome=\"cancelled\"}") > cancelled_before) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(MetricValue(metrics, "moe_requests_total{outcome=\"cancelled\"}"), cancelled_before + 1)
      << metrics;
  // The KV gauges are published after each step: run one more request, then nothing may
  // hold blocks any more.
  ASSERT_EQ(HttpPostJson(*client_, "/v1/completions", {{"prompt", "Hm"}, {"max_tokens", 1}}).status,
            200);
  metrics = HttpGet(*client_, "/metrics").body;
  EXPECT_EQ(MetricValue(metrics, "moe_kv_blocks_used"), 0) << metrics;
  EXPECT_EQ(MetricValue(metrics, "moe_requests_running"), 0) << metrics;
}

// The official OpenAI Node.js client (npm `openai`), installed by scripts/setup.sh.
TEST_F(DemoServerTest, OfficialNodeClient) {
  bool skip = false;
  const std::string error =
      testing::RunOpenAiNodeCheck(server_->http_port(), "demo-qwen3-moe-shakespeare", &skip);
  if (skip) GTEST_SKIP() << error;
  EXPECT_EQ(error, "");
}

// The tiny fixture: token-id prompts only; greedy output equals the golden continuation.
TEST(TinyServerTest, TokenIdPromptsMatchGoldenGreedy) {
  auto server = ServerProcess::Start({"--model", kTinyModel});
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = ClientFor(**server);
  auto golden = ReadJsonFile(kTinyModel + "/golden.json");
  ASSERT_TRUE(golden.ok()) << golden.status();
  for (const Json& c : (*golden)["cases"]) {
    const std::vector<int32_t> want = c["greedy_ids"].get<std::vector<int32_t>>();
    Json request = {{"prompt", c["prompt_ids"]},
                    {"max_tokens", want.size()},
                    {"temperature", 0},
                    {"ignore_eos", true},
                    {"return_token_ids", true}};
    HttpReply whole = HttpPostJson(*client, "/v1/completions", request);
    ASSERT_EQ(whole.status, 200) << whole.body;
    const Json& choice = whole.json["choices"][0];
    EXPECT_EQ(choice["token_ids"].get<std::vector<int32_t>>(), want) << c["name"];
    EXPECT_EQ(choice["text"], "");  // no tokenizer: ids only
    EXPECT_EQ(choice["finish_reason"], "length");
    EXPECT_EQ(whole.json["usage"]["completion_tokens"], want.size());

    request["stream"] = true;
    HttpReply stream = HttpPostStream(*client, "/v1/completions", request);
    ASSERT_EQ(stream.status, 200) << stream.body;
    EXPECT_EQ(stream.events.back(), "[DONE]");
    std::vector<int32_t> streamed;
    for (const std::string& event : stream.events) {
      if (event == "[DONE]") continue;
      const Json chunk = Json::parse(event);
      for (const Json& id : chunk["choices"][0]["token_ids"]) streamed.push_back(id.get<int32_t>());
    }
    EXPECT_EQ(streamed, want) << c["name"];
  }
  // Text and chat need a tokenizer.
  HttpReply text = HttpPostJson(*client, "/v1/completions", {{"prompt", "hello"}});
  EXPECT_EQ(text.status, 400) << text.body;
  HttpReply chat = HttpPostJson(*client, "/v1/chat/completions",
                                {{"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  EXPECT_EQ(chat.status, 400) << chat.body;
  HttpReply vocab = HttpPostJson(*client, "/v1/completions", {{"prompt", {5, 1000}}});
  EXPECT_EQ(vocab.status, 400);
  EXPECT_TRUE(absl::StartsWith(vocab.json["error"]["message"].get<std::string>(), "prompt[1]"))
      << vocab.body;
  EXPECT_EQ((*server)->Terminate(), 0) << (*server)->log();
}

TEST(ApiKeyServerTest, V1NeedsABearerKey) {
  const std::string keys = ::testing::TempDir() + "/http_api_keys.txt";
  std::ofstream(keys) << "# test keys\nsk-test-1\n";
  auto server = ServerProcess::Start({"--model", kTinyModel, "--api-keys", keys});
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = ClientFor(**server);
  HttpReply refused = HttpGet(*client, "/v1/models");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.json["error"]["type"], "AuthenticationError") << refused.body;
  EXPECT_EQ(HttpPostJson(*client, "/v1/completions", {{"prompt", {1, 2}}}, "sk-wrong").status, 401);
  EXPECT_EQ(HttpGet(*client, "/v1/models", "sk-test-1").status, 200);
  EXPECT_EQ(
      HttpPostJson(*client, "/v1/completions", {{"prompt", {1, 2}}, {"max_tokens", 2}}, "sk-test-1")
          .status,
      200);
  EXPECT_EQ(HttpGet(*client, "/health").status, 200);
  EXPECT_EQ(HttpGet(*client, "/metrics").status, 200);
  EXPECT_EQ((*server)->Terminate(), 0) << (*server)->log();
}

}  // namespace
// --reasoning-parser takes qwen3 only: anything else stops moe-serve at start with a message
// naming the flag.
TEST(OpenAiHttpProcessTest, UnknownReasoningParserIsRefused) {
  auto server =
      ServerProcess::Start({"--model", kTinyModel, "--reasoning-parser", "deepseek_r1"}, 30, false);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StrContains(server.status().message(),
                                "--reasoning-parser: expected qwen3, got 'deepseek_r1'"))
      << server.status();
}

}  // namespace moe
