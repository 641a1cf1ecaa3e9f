// request_builder: sampling defaults, validation messages naming their field, chat rendering
// (the same text and ids as `moe-tools chat-template`), tokenization and models without a
// tokenizer.
#include "coordinator/api/request_builder.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/file.h"
#include "common/model_config.h"

namespace moe {
namespace {

// A ServedModel read from a model directory, the way moe-serve builds it.
std::unique_ptr<ServedModel> LoadModel(const std::string& dir, int64_t max_model_len = 256,
                                       int64_t kv_blocks = 64) {
  auto model = std::make_unique<ServedModel>();
  auto config = LoadModelConfig(dir);
  EXPECT_TRUE(config.ok()) << config.status();
  model->config = *config;
  model->model_id = "test-model";
  auto generation = LoadGenerationConfig(dir);
  EXPECT_TRUE(generation.ok()) << generation.status();
  model->generation = *generation;
  if (FileExists(JoinPath(dir, "tokenizer.json"))) {
    auto tokenizer = Tokenizer::Load(dir);
    EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
    model->tokenizer = std::move(tokenizer).value();
    auto chat = ChatFormatter::Create(model->tokenizer->config(), "", "tokenizer_config.json");
    EXPECT_TRUE(chat.ok()) << chat.status();
    model->chat = std::move(chat).value();
  }
  model->max_model_len = max_model_len;
  model->kv_block_size = 16;
  model->kv_blocks_total = kv_blocks;
  return model;
}

const ServedModel& Demo() {
  static const ServedModel* model = LoadModel(MOE_DEMO_MODEL_DIR).release();
  return *model;
}

const ServedModel& Tiny() {
  static const ServedModel* model =
      LoadModel(std::string(MOE_TEST_DATA_DIR) + "/models/tiny-qwen3-moe").release();
  return *model;
}

v1::GenerateRequest IdsRequest(std::vector<int32_t> ids) {
  v1::GenerateRequest request;
  for (int32_t id : ids) request.mutable_token_ids()->add_ids(id);
  return request;
}

v1::ChatRequest UserChat(const std::string& text) {
  v1::ChatRequest request;
  v1::ChatMessage* m = request.add_messages();
  m->set_role("user");
  m->set_content(text);
  return request;
}

void ExpectInvalid(const absl::Status& status, const std::string& field) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StartsWith(status.message(), field + ": "))
      << "want '" << field << ": ...', got " << status;
}

TEST(RequestBuilderTest, DefaultsComeFromGenerationConfig) {
  // The demo model's generation_config.json: temperature 0.8, top_k 40, top_p 0.95.
  auto params = BuildGenerateRequest(Demo(), IdsRequest({1, 2, 3}));
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_FLOAT_EQ(params->sampling.temperature(), 0.8f);
  EXPECT_EQ(params->sampling.top_k(), 40);
  EXPECT_FLOAT_EQ(params->sampling.top_p(), 0.95f);
  EXPECT_FLOAT_EQ(params->sampling.min_p(), 0.0f);
  EXPECT_FLOAT_EQ(params->sampling.repetition_penalty(), 1.0f);
  EXPECT_EQ(params->stop_token_ids, (std::vector<int32_t>{151643, 151645}));
  EXPECT_EQ(params->max_tokens, 256 - 3);
  EXPECT_EQ(params->min_tokens, 0);
  EXPECT_TRUE(params->detokenize);
  EXPECT_TRUE(params->skip_special_tokens);
  EXPECT_TRUE(params->return_logprobs);  // logprobs 0 (the default): the token's own
  EXPECT_EQ(params->sampling.logprobs(), 0);
}

TEST(RequestBuilderTest, UsualDefaultsWithoutGenerationConfig) {
  auto params = BuildGenerateRequest(Tiny(), IdsRequest({1, 2, 3}));
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_FLOAT_EQ(params->sampling.temperature(), 1.0f);
  EXPECT_EQ(params->sampling.top_k(), 0);
  EXPECT_FLOAT_EQ(params->sampling.top_p(), 1.0f);
  EXPECT_FLOAT_EQ(params->sampling.min_p(), 0.0f);
  EXPECT_FLOAT_EQ(params->sampling.repetition_penalty(), 1.0f);
  EXPECT_EQ(params->stop_token_ids, (std::vector<int32_t>{999}));  // config.json's eos
  EXPECT_FALSE(params->detokenize);
}

TEST(RequestBuilderTest, RequestValuesOverrideDefaults) {
  v1::GenerateRequest request = IdsRequest({5});
  v1::SamplingParams* s = request.mutable_sampling();
  s->set_temperature(0);
  s->set_top_k(-1);
  s->set_top_p(0.5f);
  s->set_min_p(0.1f);
  s->set_repetition_penalty(1.2f);
  s->set_presence_penalty(-2);
  s->set_frequency_penalty(2);
  s->set_seed(1234);
  s->set_max_tokens(7);
  s->set_min_tokens(7);
  s->add_stop("\n\n");
  s->add_stop_token_ids(42);
  s->set_include_stop_str_in_output(true);
  s->set_skip_special_tokens(false);
  s->set_logprobs(5);
  request.set_request_id("my-id");
  auto params = BuildGenerateRequest(Demo(), request);
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->request_id, "my-id");
  EXPECT_EQ(params->sampling.temperature(), 0.0f);
  EXPECT_EQ(params->sampling.top_k(), 0);
  EXPECT_FLOAT_EQ(params->sampling.top_p(), 0.5f);
  EXPECT_FLOAT_EQ(params->sampling.min_p(), 0.1f);
  EXPECT_FLOAT_EQ(params->sampling.repetition_penalty(), 1.2f);
  EXPECT_EQ(params->sampling.presence_penalty(), -2.0f);
  EXPECT_EQ(params->sampling.frequency_penalty(), 2.0f);
  EXPECT_EQ(params->sampling.seed(), 1234u);
  EXPECT_EQ(params->sampling.logprobs(), 5);
  EXPECT_TRUE(params->return_logprobs);
  EXPECT_EQ(params->max_tokens, 7);
  EXPECT_EQ(params->min_tokens, 7);
  EXPECT_EQ(params->stop, (std::vector<std::string>{"\n\n"}));
  EXPECT_EQ(params->stop_token_ids, (std::vector<int32_t>{151643, 151645, 42}));
  EXPECT_TRUE(params->include_stop_str_in_output);
  EXPECT_FALSE(params->skip_special_tokens);
}

TEST(RequestBuilderTest, LogprobsMinusOneMeansNone) {
  v1::GenerateRequest request = IdsRequest({5});
  request.mutable_sampling()->set_logprobs(-1);
  auto params = BuildGenerateRequest(Demo(), request);
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_FALSE(params->return_logprobs);
  EXPECT_EQ(params->sampling.logprobs(), 0);
}

TEST(RequestBuilderTest, MinTokensSuppressesStopIdsInTheWorker) {
  v1::GenerateRequest request = IdsRequest({5});
  request.mutable_sampling()->set_min_tokens(3);
  request.mutable_sampling()->add_stop_token_ids(42);
  auto params = BuildGenerateRequest(Demo(), request);
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->sampling.min_tokens(), 3);
  std::vector<int32_t> suppressed(params->sampling.suppressed_token_ids().begin(),
                                  params->sampling.suppressed_token_ids().end());
  EXPECT_EQ(suppressed, params->stop_token_ids);
  EXPECT_FALSE(suppressed.empty());
}

TEST(RequestBuilderTest, IgnoreEosDropsStopIds) {
  v1::GenerateRequest request = IdsRequest({5});
  request.mutable_sampling()->set_ignore_eos(true);
  request.mutable_sampling()->add_stop_token_ids(42);
  auto params = BuildGenerateRequest(Demo(), request);
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_TRUE(params->stop_token_ids.empty());
}

TEST(RequestBuilderTest, SeedAndRequestIdAreGeneratedPerRequest) {
  auto a = BuildGenerateRequest(Tiny(), IdsRequest({1}));
  auto b = BuildGenerateRequest(Tiny(), IdsRequest({1}));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->sampling.seed(), b->sampling.seed());
  EXPECT_NE(a->request_id, b->request_id);
  EXPECT_TRUE(absl::StartsWith(a->request_id, "req-")) << a->request_id;
  EXPECT_EQ(a->request_id.size(), 4u + 16u) << a->request_id;
}

TEST(RequestBuilderTest, TextPromptIsTokenized) {
  v1::GenerateRequest request;
  request.set_text("To be, or not to be");
  auto params = BuildGenerateRequest(Demo(), request);
  ASSERT_TRUE(params.ok()) << params.status();
  auto ids = Demo().tokenizer->Encode("To be, or not to be");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(params->prompt, *ids);
  EXPECT_FALSE(params->prompt.empty());
}

struct InvalidCase {
  std::string field;
  std::function<void(v1::GenerateRequest*)> mutate;
};

TEST(RequestBuilderTest, EveryInvalidFieldIsNamed) {
  const std::vector<InvalidCase> cases = {
      {"sampling.temperature", [](auto* r) { r->mutable_sampling()->set_temperature(-1); }},
      {"sampling.temperature",
       [](auto* r) { r->mutable_sampling()->set_temperature(std::nanf("")); }},
      {"sampling.top_p", [](auto* r) { r->mutable_sampling()->set_top_p(0); }},
      {"sampling.top_p", [](auto* r) { r->mutable_sampling()->set_top_p(1.5f); }},
      {"sampling.min_p", [](auto* r) { r->mutable_sampling()->set_min_p(-0.1f); }},
      {"sampling.min_p", [](auto* r) { r->mutable_sampling()->set_min_p(1.1f); }},
      {"sampling.repetition_penalty",
       [](auto* r) { r->mutable_sampling()->set_repetition_penalty(0); }},
      {"sampling.presence_penalty",
       [](auto* r) { r->mutable_sampling()->set_presence_penalty(2.5f); }},
      {"sampling.frequency_penalty",
       [](auto* r) { r->mutable_sampling()->set_frequency_penalty(-3); }},
      {"sampling.logprobs", [](auto* r) { r->mutable_sampling()->set_logprobs(21); }},
      {"sampling.logprobs", [](auto* r) { r->mutable_sampling()->set_logprobs(-2); }},
      {"sampling.max_tokens", [](auto* r) { r->mutable_sampling()->set_max_tokens(0); }},
      {"sampling.min_tokens", [](auto* r) { r->mutable_sampling()->set_min_tokens(-1); }},
      {"sampling.min_tokens",
       [](auto* r) {
         r->mutable_sampling()->set_max_tokens(3);
         r->mutable_sampling()->set_min_tokens(4);
       }},
      {"sampling.min_tokens", [](auto* r) { r->mutable_sampling()->set_min_tokens(1000); }},
      {"sampling.stop[1]",
       [](auto* r) {
         r->mutable_sampling()->add_stop("x");
         r->mutable_sampling()->add_stop("");
       }},
      {"sampling.stop_token_ids[0]",
       [](auto* r) { r->mutable_sampling()->add_stop_token_ids(1000); }},
      {"sampling.stop_token_ids[0]",
       [](auto* r) { r->mutable_sampling()->add_stop_token_ids(-1); }},
      {"prompt", [](auto* r) { r->clear_prompt(); }},
      {"prompt.token_ids", [](auto* r) { r->mutable_token_ids()->clear_ids(); }},
      {"prompt.token_ids[1]",
       [](auto* r) {
         r->mutable_token_ids()->clear_ids();
         r->mutable_token_ids()->add_ids(1);
         r->mutable_token_ids()->add_ids(1000);
       }},
      {"prompt.token_ids[0]", [](auto* r) { r->mutable_token_ids()->set_ids(0, -5); }},
      {"prompt", [](auto* r) { r->mutable_sampling()->set_max_tokens(254); }},  // 3 + 254 > 256
      {"request_id", [](auto* r) { r->set_request_id(std::string(300, 'x')); }},
  };
  for (const InvalidCase& c : cases) {
    v1::GenerateRequest request = IdsRequest({1, 2, 3});
    c.mutate(&request);
    auto params = BuildGenerateRequest(Tiny(), request);
    ASSERT_FALSE(params.ok()) << c.field << ": accepted " << request.ShortDebugString();
    ExpectInvalid(params.status(), c.field);
  }
}

TEST(RequestBuilderTest, MessagesQuoteTheBadValue) {
  v1::GenerateRequest request = IdsRequest({1});
  request.mutable_sampling()->set_temperature(-1);
  EXPECT_EQ(BuildGenerateRequest(Tiny(), request).status().message(),
            "sampling.temperature: must be >= 0, got -1");
  request = IdsRequest({1});
  request.mutable_sampling()->set_top_p(1.5f);
  EXPECT_EQ(BuildGenerateRequest(Tiny(), request).status().message(),
            "sampling.top_p: must be in (0, 1], got 1.5");
  request = IdsRequest({1, 1000});
  EXPECT_EQ(BuildGenerateRequest(Tiny(), request).status().message(),
            "prompt.token_ids[1]: 1000 is not a token id (vocabulary size 1000)");
}

TEST(RequestBuilderTest, PromptMustFitTheContext) {
  auto model = LoadModel(std::string(MOE_TEST_DATA_DIR) + "/models/tiny-qwen3-moe", 64, 64);
  std::vector<int32_t> ids(64, 7);
  auto full = BuildGenerateRequest(*model, IdsRequest(ids));
  ExpectInvalid(full.status(), "prompt");
  EXPECT_TRUE(absl::StrContains(full.status().message(), "context of 64")) << full.status();

  ids.resize(10);
  v1::GenerateRequest request = IdsRequest(ids);
  request.mutable_sampling()->set_max_tokens(60);
  EXPECT_EQ(BuildGenerateRequest(*model, request).status().message(),
            "prompt: 10 tokens + max_tokens 60 exceed the model's context of 64");
  request.mutable_sampling()->set_max_tokens(54);
  auto ok = BuildGenerateRequest(*model, request);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->max_tokens, 54);

  ids.resize(63);
  auto last = BuildGenerateRequest(*model, IdsRequest(ids));  // one token of room
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->max_tokens, 1);
}

TEST(RequestBuilderTest, PromptMustFitTheKvPool) {
  // Two blocks of 16 tokens hold a prompt of 31 tokens plus the first generated one.
  auto model = LoadModel(std::string(MOE_TEST_DATA_DIR) + "/models/tiny-qwen3-moe", 256, 2);
  EXPECT_TRUE(BuildGenerateRequest(*model, IdsRequest(std::vector<int32_t>(31, 1))).ok());
  auto params = BuildGenerateRequest(*model, IdsRequest(std::vector<int32_t>(32, 1)));
  ExpectInvalid(params.status(), "prompt");
  EXPECT_TRUE(absl::StrContains(params.status().message(), "KV blocks")) << params.status();
}

TEST(RequestBuilderTest, WithoutTokenizerOnlyTokenIds) {
  v1::GenerateRequest request;
  request.set_text("hello");
  auto text = BuildGenerateRequest(Tiny(), request);
  EXPECT_EQ(text.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(text.status().message(),
            "this model is served without a tokenizer: send prompt.token_ids");

  auto chat = BuildChatRequest(Tiny(), UserChat("hello"));
  EXPECT_EQ(chat.status().code(), absl::StatusCode::kFailedPrecondition) << chat.status();

  v1::TokenizeRequest tokenize;
  tokenize.set_text("hello");
  EXPECT_EQ(Tokenize(Tiny(), tokenize).status().code(), absl::StatusCode::kFailedPrecondition);

  auto ids = BuildGenerateRequest(Tiny(), IdsRequest({1, 2, 999}));
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->prompt, (std::vector<int32_t>{1, 2, 999}));
  EXPECT_FALSE(ids->detokenize);
}

// Expected text and ids from `moe-tools chat-template --tokenizer
// models/demo-qwen3-moe-shakespeare`.
TEST(RequestBuilderTest, ChatMatchesMoeToolsChatTemplate) {
  auto params = BuildChatRequest(Demo(), UserChat("Hello"));
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->prompt,
            (std::vector<int32_t>{151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198}));
  auto text = RenderChat(Demo(), UserChat("Hello"));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");

  v1::ChatRequest no_prompt = UserChat("Hello");
  no_prompt.set_add_generation_prompt(false);
  params = BuildChatRequest(Demo(), no_prompt);
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->prompt, (std::vector<int32_t>{151644, 872, 198, 9707, 151645, 198}));
}

TEST(RequestBuilderTest, ChatWithSystemHistoryAndNoThinking) {
  v1::ChatRequest request;
  const std::vector<std::pair<std::string, std::string>> messages = {
      {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Who are you?"}};
  for (const auto& [role, content] : messages) {
    v1::ChatMessage* m = request.add_messages();
    m->set_role(role);
    m->set_content(content);
  }
  request.set_enable_thinking(false);
  auto params = BuildChatRequest(Demo(), request);
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->prompt,
            (std::vector<int32_t>{151644, 8948,   198, 3430,   9814,   13,     151645, 198,
                                  151644, 872,    198, 13048,  151645, 198,    151644, 77091,
                                  198,    9707,   0,   151645, 198,    151644, 872,    198,
                                  15191,  525,    498, 30,     151645, 198,    151644, 77091,
                                  198,    151667, 271, 151668, 271}));

  // The same through template_kwargs_json.
  request.clear_enable_thinking();
  request.set_template_kwargs_json(R"({"enable_thinking": false})");
  auto via_kwargs = BuildChatRequest(Demo(), request);
  ASSERT_TRUE(via_kwargs.ok()) << via_kwargs.status();
  EXPECT_EQ(via_kwargs->prompt, params->prompt);
}

TEST(RequestBuilderTest, ChatWithToolsAndToolCalls) {
  v1::ChatRequest request = UserChat("Weather in Paris?");
  v1::ChatMessage* assistant = request.add_messages();
  assistant->set_role("assistant");
  v1::ToolCall* call = assistant->add_tool_calls();
  call->set_id("call_1");
  call->set_name("get_weather");
  call->set_arguments_json(R"({"city": "Paris"})");
  v1::ChatMessage* tool = request.add_messages();
  tool->set_role("tool");
  tool->set_content("22C");
  tool->set_tool_call_id("call_1");
  request.add_tools_json(
      R"({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}})");
  auto text = RenderChat(Demo(), request);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(
      *text,
      "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user "
      "query.\n\nYou are provided with function signatures within <tools></tools> XML "
      "tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
      "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": "
      "\"string\"}}}}}\n</tools>\n\nFor each function call, return a json object with function "
      "name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
      "<function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>"
      "user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": "
      "\"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n<|im_start|>"
      "user\n<tool_response>\n22C\n</tool_response><|im_end|>\n<|im_start|>assistant\n");
  auto params = BuildChatRequest(Demo(), request);
  ASSERT_TRUE(params.ok()) << params.status();
  auto ids = Demo().tokenizer->Encode(*text);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(params->prompt, *ids);
  EXPECT_EQ(params->prompt.front(), 151644);  // <|im_start|> as one special token
}

TEST(RequestBuilderTest, InvalidChatFieldsAreNamed) {
  struct ChatCase {
    std::string field;
    std::function<void(v1::ChatRequest*)> mutate;
  };
  const std::vector<ChatCase> cases = {
      {"messages", [](auto* r) { r->clear_messages(); }},
      {"messages[0].role", [](auto* r) { r->mutable_messages(0)->clear_role(); }},
      {"messages[0].tool_calls[0].arguments_json",
       [](auto* r) {
         auto* c = r->mutable_messages(0)->add_tool_calls();
         c->set_name("f");
         c->set_arguments_json("[1, 2]");
       }},
      {"messages[0].tool_calls[0].arguments_json",
       [](auto* r) {
         auto* c = r->mutable_messages(0)->add_tool_calls();
         c->set_name("f");
         c->set_arguments_json("{not json");
       }},
      {"messages[0].tool_calls[0].name",
       [](auto* r) { r->mutable_messages(0)->add_tool_calls()->set_arguments_json("{}"); }},
      {"tools_json[1]",
       [](auto* r) {
         r->add_tools_json(R"({"type": "function"})");
         r->add_tools_json(R"("a string")");
       }},
      {"template_kwargs_json", [](auto* r) { r->set_template_kwargs_json("[]"); }},
      {"sampling.top_p", [](auto* r) { r->mutable_sampling()->set_top_p(2); }},
  };
  for (const ChatCase& c : cases) {
    v1::ChatRequest request = UserChat("Hello");
    c.mutate(&request);
    auto params = BuildChatRequest(Demo(), request);
    ASSERT_FALSE(params.ok()) << c.field << ": accepted " << request.ShortDebugString();
    ExpectInvalid(params.status(), c.field);
  }
}

TEST(RequestBuilderTest, TokenizeTextAndChat) {
  v1::TokenizeRequest request;
  request.set_text("Hello world");
  auto text = Tokenize(Demo(), request);
  ASSERT_TRUE(text.ok()) << text.status();
  auto ids = Demo().tokenizer->Encode("Hello world");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(std::vector<int32_t>(text->ids().begin(), text->ids().end()), *ids);
  ASSERT_EQ(text->tokens_size(), text->ids_size());
  std::string joined;
  for (const std::string& t : text->tokens()) joined += t;
  EXPECT_EQ(joined, "Hello world");
  EXPECT_TRUE(text->rendered().empty());

  *request.mutable_chat() = UserChat("Hello");
  auto chat = Tokenize(Demo(), request);
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_EQ(chat->rendered(), "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(chat->ids_size(), 9);
  EXPECT_EQ(chat->tokens(0), "<|im_start|>");

  ExpectInvalid(Tokenize(Demo(), v1::TokenizeRequest()).status(), "input");
}

TEST(RequestBuilderTest, ModelInfoDescribesTheModel) {
  v1::ModelInfoResponse info = ModelInfo(Demo());
  EXPECT_EQ(info.model_id(), "test-model");
  EXPECT_EQ(info.model_type(), "qwen3_moe");
  EXPECT_EQ(info.vocab_size(), 151936);
  EXPECT_EQ(info.max_model_len(), 256);
  EXPECT_EQ(info.num_layers(), 6);
  EXPECT_EQ(info.hidden_size(), 96);
  EXPECT_EQ(info.num_experts(), 8);
  EXPECT_EQ(info.num_experts_per_tok(), 2);
  EXPECT_TRUE(info.has_tokenizer());
  EXPECT_EQ(info.eos_token_ids_size(), 2);
  EXPECT_EQ(info.kv_block_size(), 16);
  EXPECT_EQ(info.kv_blocks_total(), 64);
  EXPECT_FALSE(ModelInfo(Tiny()).has_tokenizer());
}

}  // namespace
}  // namespace moe
