// The HTTP server in process: a real Coordinator (scheduler, output processing) over a fake
// step executor whose "model" emits a fixed word cycle, behind HttpServer, called with
// httplib::Client. The demo model's tokenizer and chat template make text and chat real.
#include "coordinator/http/openai_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/metrics/metrics.h"
#include "tests/coordinator/http/http_test_util.h"

namespace moe {
namespace {

using testing::HttpGet;
using testing::HttpPost;
using testing::HttpPostJson;
using testing::HttpPostStream;
using testing::HttpReply;

// Emits words_[position % size] at every sampling position, with fake logprobs; can be
// slowed down so that a test can act while a request runs.
class FakeExecutor : public StepExecutor {
 public:
  explicit FakeExecutor(std::vector<int32_t> words) : words_(std::move(words)) {}

  absl::StatusOr<v1::StepResult> Execute(const v1::StepPlan& plan) override {
    if (int ms = delay_ms.load(); ms > 0 && !plan.seqs().empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    v1::StepResult result;
    result.set_step_id(plan.step_id());
    for (const v1::SeqPlan& seq : plan.seqs()) {
      if (seq.is_new()) logprobs_[seq.seq_id()] = seq.sampling().logprobs();
      if (!seq.sample()) continue;
      const int64_t position = seq.start_pos() + seq.tokens_size();
      v1::SampledToken* token = result.add_tokens();
      token->set_seq_id(seq.seq_id());
      token->set_token(words_[position % words_.size()]);
      token->set_logprob(-0.5f);
      for (int i = 0; i < logprobs_[seq.seq_id()]; ++i) {
        token->add_top_ids(words_[(position + i) % words_.size()]);
        token->add_top_logprobs(-0.5f - i);
      }
    }
    return result;
  }

  std::atomic<int> delay_ms{0};

 private:
  std::vector<int32_t> words_;
  std::unordered_map<int64_t, int32_t> logprobs_;  // only the coordinator's thread calls
};

class OpenAiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto tokenizer = Tokenizer::Load(MOE_DEMO_MODEL_DIR);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    auto chat = ChatFormatter::Create((*tokenizer)->config(), "", "tokenizer_config.json");
    ASSERT_TRUE(chat.ok()) << chat.status();
    model_ = new ServedModel;
    model_->model_id = "demo";
    model_->config.model_type = "qwen3_moe";
    model_->config.vocab_size = (*tokenizer)->num_ids();
    model_->tokenizer = std::move(tokenizer).value();
    model_->chat = std::move(chat).value();
    model_->max_model_len = 512;
    model_->kv_block_size = 16;
    model_->kv_blocks_total = 256;
  }
  static void TearDownTestSuite() { delete model_; }

  void SetUp() override { StartServer(nullptr); }
  void TearDown() override { StopServer(); }

  void StartServer(const ApiKeys* keys, bool tls = false) {
    auto words = model_->tokenizer->Encode(words_text_);
    ASSERT_TRUE(words.ok());
    executor_ = std::make_unique<FakeExecutor>(*words);
    metrics_ = std::make_unique<Metrics>();
    CoordinatorOptions options;
    options.scheduler.block_size = model_->kv_block_size;
    options.scheduler.num_blocks = model_->kv_blocks_total;
    coordinator_ = std::make_unique<Coordinator>(model_, executor_.get(), metrics_.get(), options);
    coordinator_->Start();
    HttpServerOptions http;
    http.host = "127.0.0.1";
    http.port = 0;
    http.api_keys = keys;
    http.num_threads = 8;
    http.split_reasoning = split_reasoning_;
    if (tls) {
      http.tls_cert_file = kTlsDir + "/server.pem";
      http.tls_key_file = kTlsDir + "/server.key";
    }
    auto server = HttpServer::Start(http, coordinator_.get(), metrics_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    ASSERT_GT(server_->port(), 0);
    if (tls) {
      client_ =
          std::make_unique<httplib::Client>(absl::StrCat("https://localhost:", server_->port()));
      client_->set_ca_cert_path((kTlsDir + "/ca.pem").c_str());
      client_->enable_server_certificate_verification(true);
    } else {
      client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    }
    client_->set_read_timeout(30, 0);
  }

  void StopServer() {
    if (server_) server_->Shutdown();
    server_.reset();
    if (coordinator_) coordinator_->Stop();
    coordinator_.reset();
  }

  // Polls until the coordinator has no request left (cancellations are asynchronous).
  bool WaitIdle() {
    for (int i = 0; i < 500; ++i) {
      if (coordinator_->active_requests() == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  static ServedModel* model_;
  static const std::string kTlsDir;
  std::string words_text_ = " one two three four five six seven";  // the fake model's cycle
  bool split_reasoning_ = false;
  std::unique_ptr<FakeExecutor> executor_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

ServedModel* OpenAiServerTest::model_ = nullptr;
const std::string OpenAiServerTest::kTlsDir = std::string(MOE_TEST_DATA_DIR) + "/tls";

TEST_F(OpenAiServerTest, HealthMetricsAndModels) {
  EXPECT_EQ(HttpGet(*client_, "/health").status, 200);
  HttpReply metrics = HttpGet(*client_, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_TRUE(absl::StrContains(metrics.content_type, "text/plain; version=0.0.4"));
  EXPECT_TRUE(absl::StrContains(metrics.body, "moe_requests_total{outcome=\"ok\"} 0"));

  HttpReply models = HttpGet(*client_, "/v1/models");
  ASSERT_EQ(models.status, 200) << models.body;
  EXPECT_EQ(models.json["object"], "list");
  ASSERT_EQ(models.json["data"].size(), 1u);
  EXPECT_EQ(models.json["data"][0]["id"], "demo");
  EXPECT_EQ(models.json["data"][0]["object"], "model");
  EXPECT_EQ(models.json["data"][0]["owned_by"], "moe-serve");
  EXPECT_EQ(models.json["data"][0]["max_model_len"], 512);

  coordinator_->Drain();
  EXPECT_EQ(HttpGet(*client_, "/health").status, 503);
  HttpReply refused = HttpPostJson(*client_, "/v1/completions", {{"prompt", "x"}});
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_TRUE(absl::StrContains(HttpGet(*client_, "/metrics").body,
                                "moe_requests_total{outcome=\"rejected\"} 1"));
}

TEST_F(OpenAiServerTest, NotServingWhileTheModelLoads) {
  server_->SetServing(false);
  EXPECT_EQ(HttpGet(*client_, "/health").status, 503);
  HttpReply models = HttpGet(*client_, "/v1/models");
  EXPECT_EQ(models.status, 503);
  EXPECT_EQ(models.json["error"]["type"], "ServiceUnavailableError") << models.body;
  EXPECT_EQ(HttpPostJson(*client_, "/v1/completions", {{"prompt", "x"}}).status, 503);
  EXPECT_EQ(HttpGet(*client_, "/metrics").status, 200);
  server_->SetServing(true);
  EXPECT_EQ(HttpGet(*client_, "/health").status, 200);
  EXPECT_EQ(HttpGet(*client_, "/v1/models").status, 200);
}

TEST_F(OpenAiServerTest, CompletionStreamingEqualsNonStreaming) {
  const Json request = {
      {"model", "demo"}, {"prompt", "Hello there"}, {"max_tokens", 6}, {"temperature", 0}};
  HttpReply whole = HttpPostJson(*client_, "/v1/completions", request);
  ASSERT_EQ(whole.status, 200) << whole.body;
  const Json& body = whole.json;
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_TRUE(absl::StartsWith(body["id"].get<std::string>(), "cmpl-"));
  EXPECT_EQ(body["model"], "demo");
  ASSERT_EQ(body["choices"].size(), 1u);
  const std::string text = body["choices"][0]["text"];
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["completion_tokens"], 6);
  EXPECT_GT(body["usage"]["prompt_tokens"].get<int>(), 0);

  Json stream_request = request;
  stream_request["stream"] = true;
  stream_request["stream_options"] = {{"include_usage", true}};
  HttpReply stream = HttpPostStream(*client_, "/v1/completions", stream_request);
  ASSERT_EQ(stream.status, 200) << stream.body;
  EXPECT_TRUE(absl::StartsWith(stream.content_type, "text/event-stream"));
  ASSERT_GE(stream.events.size(), 3u);
  EXPECT_EQ(stream.events.back(), "[DONE]");
  EXPECT_EQ(testing::StreamedText(stream.events), text);
  EXPECT_EQ(testing::StreamedFinishReason(stream.events), "length");
  Json usage = Json::parse(stream.events[stream.events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 6);
  EXPECT_EQ(usage["usage"]["total_tokens"], body["usage"]["total_tokens"]);
}

TEST_F(OpenAiServerTest, CompletionTokenIdsEchoStopAndSeveralPrompts) {
  auto ids = model_->tokenizer->Encode("Hello there");
  ASSERT_TRUE(ids.ok());
  Json by_ids = {{"prompt", *ids}, {"max_tokens", 6}, {"echo", true}, {"return_token_ids", true}};
  HttpReply echo = HttpPostJson(*client_, "/v1/completions", by_ids);
  ASSERT_EQ(echo.status, 200) << echo.body;
  const Json& choice = echo.json["choices"][0];
  EXPECT_TRUE(absl::StartsWith(choice["text"].get<std::string>(), "Hello there")) << echo.body;
  EXPECT_EQ(choice["prompt_token_ids"].get<std::vector<int32_t>>(), *ids);
  ASSERT_EQ(choice["token_ids"].size(), 6u);

  // Streamed token ids add up to the same.
  by_ids["stream"] = true;
  by_ids["echo"] = false;
  HttpReply stream = HttpPostStream(*client_, "/v1/completions", by_ids);
  ASSERT_EQ(stream.status, 200) << stream.body;
  std::vector<int32_t> streamed;
  for (const std::string& event : stream.events) {
    if (event == "[DONE]") continue;
    const Json chunk = Json::parse(event);
    const Json& c = chunk["choices"][0];
    for (const Json& id : c["token_ids"]) streamed.push_back(id.get<int32_t>());
    if (c.contains("prompt_token_ids")) {
      EXPECT_EQ(c["prompt_token_ids"].get<std::vector<int32_t>>(), *ids);
    }
  }
  EXPECT_EQ(Json(streamed), choice["token_ids"]);

  // A stop string cuts the text; the word cycle makes " three" come within 7 tokens.
  Json stop = {{"prompt", "Hello"}, {"max_tokens", 20}, {"stop", " three"}};
  HttpReply stopped = HttpPostJson(*client_, "/v1/completions", stop);
  ASSERT_EQ(stopped.status, 200) << stopped.body;
  EXPECT_EQ(stopped.json["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(stopped.json["choices"][0]["stop_reason"], " three");
  EXPECT_FALSE(absl::StrContains(stopped.json["choices"][0]["text"].get<std::string>(), "three"));

  Json several = {{"prompt", {"a", "b c"}}, {"max_tokens", 3}, {"n", 2}, {"seed", 1}};
  HttpReply choices = HttpPostJson(*client_, "/v1/completions", several);
  ASSERT_EQ(choices.status, 200) << choices.body;
  ASSERT_EQ(choices.json["choices"].size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(choices.json["choices"][i]["index"], i);
  EXPECT_EQ(choices.json["usage"]["completion_tokens"], 12);
}

TEST_F(OpenAiServerTest, CompletionLogprobs) {
  Json request = {{"prompt", "Hi"}, {"max_tokens", 3}, {"logprobs", 2}};
  HttpReply whole = HttpPostJson(*client_, "/v1/completions", request);
  ASSERT_EQ(whole.status, 200) << whole.body;
  const Json& lp = whole.json["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 3u);
  ASSERT_EQ(lp["token_logprobs"].size(), 3u);
  EXPECT_EQ(lp["token_logprobs"][0], -0.5);
  ASSERT_EQ(lp["top_logprobs"].size(), 3u);
  EXPECT_EQ(lp["top_logprobs"][0].size(), 2u);
  EXPECT_EQ(lp["text_offset"][0], 0);

  request["stream"] = true;
  HttpReply stream = HttpPostStream(*client_, "/v1/completions", request);
  ASSERT_EQ(stream.status, 200);
  int tokens = 0;
  for (const std::string& event : stream.events) {
    if (event == "[DONE]") continue;
    const Json chunk = Json::parse(event);
    tokens += static_cast<int>(chunk["choices"][0]["logprobs"]["tokens"].size());
  }
  EXPECT_EQ(tokens, 3);
}

TEST_F(OpenAiServerTest, ChatStreamingEqualsNonStreaming) {
  const Json request = {{"model", "demo"},
                        {"messages", {{{"role", "user"}, {"content", "Say something"}}}},
                        {"max_completion_tokens", 8},
                        {"temperature", 0},
                        {"logprobs", true},
                        {"top_logprobs", 1}};
  HttpReply whole = HttpPostJson(*client_, "/v1/chat/completions", request);
  ASSERT_EQ(whole.status, 200) << whole.body;
  const Json& choice = whole.json["choices"][0];
  EXPECT_EQ(whole.json["object"], "chat.completion");
  EXPECT_EQ(choice["message"]["role"], "assistant");
  const std::string content = choice["message"]["content"];
  EXPECT_FALSE(content.empty());
  EXPECT_EQ(choice["finish_reason"], "length");
  ASSERT_EQ(choice["logprobs"]["content"].size(), 8u);
  EXPECT_EQ(choice["logprobs"]["content"][0]["top_logprobs"].size(), 1u);
  EXPECT_FALSE(choice["logprobs"]["content"][0]["bytes"].empty());

  Json stream_request = request;
  stream_request["stream"] = true;
  HttpReply stream = HttpPostStream(*client_, "/v1/chat/completions", stream_request);
  ASSERT_EQ(stream.status, 200) << stream.body;
  ASSERT_GE(stream.events.size(), 3u);
  const Json first = Json::parse(stream.events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(stream.events.back(), "[DONE]");
  EXPECT_EQ(testing::StreamedText(stream.events), content);
  EXPECT_EQ(testing::StreamedFinishReason(stream.events), "length");
}

// --reasoning-parser qwen3: "<think>...</think>" goes to reasoning_content, whole and streamed
// alike. The fake model cycles through 6 tokens from a place set by the prompt's length, so 12
// tokens hold a whole think block after the first "<think>".
TEST_F(OpenAiServerTest, ReasoningParserSplitsThinkBlocks) {
  StopServer();
  words_text_ = "<think> one two</think> three four";
  split_reasoning_ = true;
  StartServer(nullptr);
  const Json request = {{"model", "demo"},
                        {"messages", {{{"role", "user"}, {"content", "Think first"}}}},
                        {"max_completion_tokens", 12},
                        {"temperature", 0}};
  HttpReply whole = HttpPostJson(*client_, "/v1/chat/completions", request);
  ASSERT_EQ(whole.status, 200) << whole.body;
  const Json& message = whole.json["choices"][0]["message"];
  ASSERT_TRUE(message["reasoning_content"].is_string()) << whole.body;
  EXPECT_EQ(message["reasoning_content"], " one two");
  const std::string content = message["content"];
  EXPECT_TRUE(absl::StrContains(content, " three four")) << content;

  Json stream_request = request;
  stream_request["stream"] = true;
  HttpReply stream = HttpPostStream(*client_, "/v1/chat/completions", stream_request);
  ASSERT_EQ(stream.status, 200) << stream.body;
  std::string reasoning, streamed;
  for (const std::string& event : stream.events) {
    if (event == "[DONE]") continue;
    const Json delta = Json::parse(event)["choices"][0]["delta"];
    if (delta.contains("reasoning_content"))
      reasoning += delta["reasoning_content"].get<std::string>();
    if (delta.contains("content")) streamed += delta["content"].get<std::string>();
  }
  EXPECT_EQ(reasoning, " one two");
  EXPECT_EQ(streamed, content);

  // Without the parser the tags stay in the content.
  StopServer();
  split_reasoning_ = false;
  StartServer(nullptr);
  HttpReply plain = HttpPostJson(*client_, "/v1/chat/completions", request);
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_FALSE(plain.json["choices"][0]["message"].contains("reasoning_content"));
  const std::string raw = plain.json["choices"][0]["message"]["content"];
  EXPECT_TRUE(absl::StrContains(raw, "<think> one two</think>")) << raw;
}

TEST_F(OpenAiServerTest, BadRequestsNameTheField) {
  HttpReply bad_json = HttpPost(*client_, "/v1/completions", "{not json");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(bad_json.json["error"]["param"], "body");

  HttpReply top_p = HttpPostJson(*client_, "/v1/completions", {{"prompt", "x"}, {"top_p", 1.5}});
  EXPECT_EQ(top_p.status, 400);
  EXPECT_EQ(top_p.json["error"]["param"], "top_p") << top_p.body;
  EXPECT_EQ(top_p.json["error"]["code"], 400);
  EXPECT_EQ(top_p.json["error"]["type"], "BadRequestError");

  HttpReply token = HttpPostJson(*client_, "/v1/completions", {{"prompt", {1, 99999999}}});
  EXPECT_EQ(token.status, 400);
  EXPECT_TRUE(absl::StartsWith(token.json["error"]["message"].get<std::string>(), "prompt[1]:"))
      << token.body;

  HttpReply too_long =
      HttpPostJson(*client_, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 100000}});
  EXPECT_EQ(too_long.status, 400);
  EXPECT_EQ(too_long.json["error"]["param"], "prompt") << too_long.body;

  HttpReply empty = HttpPostJson(*client_, "/v1/chat/completions", {{"messages", Json::array()}});
  EXPECT_EQ(empty.status, 400);
  EXPECT_EQ(empty.json["error"]["param"], "messages") << empty.body;

  HttpReply model = HttpPostJson(*client_, "/v1/completions", {{"prompt", "x"}, {"model", "gpt"}});
  EXPECT_EQ(model.status, 404);
  EXPECT_EQ(model.json["error"]["param"], "model");

  HttpReply route = HttpGet(*client_, "/v1/nothing");
  EXPECT_EQ(route.status, 404);
  EXPECT_EQ(route.json["error"]["type"], "NotFoundError");

  EXPECT_TRUE(absl::StrContains(HttpGet(*client_, "/metrics").body,
                                "moe_requests_total{outcome=\"invalid\"} 6"));
}

TEST_F(OpenAiServerTest, ApiKeysGuardV1Only) {
  StopServer();
  absl::StatusOr<ApiKeys> keys = ApiKeys::Parse("secret-key\n", "keys");
  ASSERT_TRUE(keys.ok()) << keys.status();
  StartServer(&*keys);
  HttpReply refused = HttpGet(*client_, "/v1/models");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.json["error"]["code"], 401);
  EXPECT_EQ(HttpGet(*client_, "/v1/models", "wrong").status, 401);
  EXPECT_EQ(HttpPostJson(*client_, "/v1/completions", {{"prompt", "x"}}).status, 401);
  EXPECT_EQ(HttpGet(*client_, "/v1/models", "secret-key").status, 200);
  EXPECT_EQ(
      HttpPostJson(*client_, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}}, "secret-key")
          .status,
      200);
  EXPECT_EQ(HttpGet(*client_, "/health").status, 200);
  EXPECT_EQ(HttpGet(*client_, "/metrics").status, 200);
  StopServer();  // before `keys` goes away
}

TEST_F(OpenAiServerTest, ServesHttpsWithTheTestCa) {
  StopServer();
  StartServer(nullptr, /*tls=*/true);
  EXPECT_EQ(HttpGet(*client_, "/health").status, 200);
  HttpReply whole =
      HttpPostJson(*client_, "/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 3}});
  ASSERT_EQ(whole.status, 200) << whole.body;
  HttpReply stream = HttpPostStream(*client_, "/v1/completions",
                                    {{"prompt", "Hi"}, {"max_tokens", 3}, {"stream", true}});
  ASSERT_EQ(stream.status, 200);
  EXPECT_EQ(testing::StreamedText(stream.events), whole.json["choices"][0]["text"]);
  // Plain HTTP gets no answer from the TLS port.
  httplib::Client plain("127.0.0.1", server_->port());
  plain.set_read_timeout(5, 0);
  EXPECT_NE(HttpGet(plain, "/health").status, 200);
}

TEST_F(OpenAiServerTest, BadTlsOptionsAreRefused) {
  HttpServerOptions half;
  half.port = 0;
  half.tls_cert_file = kTlsDir + "/server.pem";
  auto no_key = HttpServer::Start(half, coordinator_.get(), metrics_.get());
  EXPECT_EQ(no_key.status().code(), absl::StatusCode::kInvalidArgument);
  half.tls_key_file = kTlsDir + "/missing.key";
  auto missing = HttpServer::Start(half, coordinator_.get(), metrics_.get());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "missing.key")) << missing.status();
}

// The official `openai` npm client parses our bodies and streams (skipped when not installed).
TEST_F(OpenAiServerTest, OfficialNodeClient) {
  bool skip = false;
  const std::string error = testing::RunOpenAiNodeCheck(server_->port(), "demo", &skip);
  if (skip) GTEST_SKIP() << error;
  EXPECT_EQ(error, "");
}

TEST_F(OpenAiServerTest, ClientHangingUpCancelsTheRequest) {
  executor_->delay_ms.store(5);
  Json request = {{"prompt", "Hello"}, {"max_tokens", 400}, {"stream", true}, {"ignore_eos", true}};
  int seen = 0;
  HttpPostStream(*client_, "/v1/completions", request,
                 [&seen](const std::string&) { return ++seen < 2; });
  EXPECT_EQ(seen, 2);
  EXPECT_TRUE(WaitIdle()) << "the request was not cancelled";
  EXPECT_TRUE(absl::StrContains(HttpGet(*client_, "/metrics").body,
                                "moe_requests_total{outcome=\"cancelled\"} 1"));
}

TEST_F(OpenAiServerTest, ShutdownEndsOpenStreams) {
  executor_->delay_ms.store(5);
  std::atomic<int> seen{0};
  std::thread reader([&] {
    httplib::Client client("127.0.0.1", server_->port());
    Json request = {{"prompt", "Hello"}, {"max_tokens", 400}, {"stream", true}};
    HttpPostStream(client, "/v1/completions", request, [&seen](const std::string&) {
      seen.fetch_add(1);
      return true;
    });
  });
  for (int i = 0; i < 1000 && seen.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(seen.load(), 0) << "no event came";
  server_->Shutdown();
  reader.join();
  EXPECT_TRUE(WaitIdle()) << "the stream's request was not cancelled";
}

}  // namespace
}  // namespace moe
