// OpenAI request JSON -> moe.v1 protos: every field, and each bad field -> INVALID_ARGUMENT
// naming it (HTTP 400 with "param").
#include "coordinator/http/openai_convert.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"

namespace moe::openai {
namespace {

Json J(const std::string& text) { return Json::parse(text); }

TEST(ParseCompletionRequestTest, TextPromptAndEverySamplingField) {
  absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(J(R"({
    "model": "m", "prompt": "Hello", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9,
    "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1, "presence_penalty": 0.5,
    "frequency_penalty": -0.5, "seed": 42, "stop": ["a", "bc"], "stop_token_ids": [5, 6],
    "ignore_eos": true, "include_stop_str_in_output": true, "skip_special_tokens": false,
    "min_tokens": 2, "logprobs": 3, "stream": true, "return_token_ids": true, "stream_options": {"include_usage": true},
    "user": "ignored", "some_unknown_field": {"x": 1}})"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model, "m");
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_EQ(r->prompts[0].text(), "Hello");
  EXPECT_EQ(r->prompt_texts[0], "Hello");
  EXPECT_TRUE(r->stream.stream);
  EXPECT_TRUE(r->stream.include_usage);
  EXPECT_EQ(r->logprobs, 3);
  EXPECT_TRUE(r->return_token_ids);
  EXPECT_EQ(r->n, 1);
  const v1::SamplingParams& s = r->prompts[0].sampling();
  EXPECT_EQ(s.max_tokens(), 7);
  EXPECT_FLOAT_EQ(s.temperature(), 0.5f);
  EXPECT_FLOAT_EQ(s.top_p(), 0.9f);
  EXPECT_EQ(s.top_k(), 40);
  EXPECT_FLOAT_EQ(s.min_p(), 0.05f);
  EXPECT_FLOAT_EQ(s.repetition_penalty(), 1.1f);
  EXPECT_FLOAT_EQ(s.presence_penalty(), 0.5f);
  EXPECT_FLOAT_EQ(s.frequency_penalty(), -0.5f);
  EXPECT_EQ(s.seed(), 42u);
  ASSERT_EQ(s.stop_size(), 2);
  EXPECT_EQ(s.stop(1), "bc");
  ASSERT_EQ(s.stop_token_ids_size(), 2);
  EXPECT_EQ(s.stop_token_ids(0), 5);
  EXPECT_TRUE(s.ignore_eos());
  EXPECT_TRUE(s.include_stop_str_in_output());
  ASSERT_TRUE(s.has_skip_special_tokens());
  EXPECT_FALSE(s.skip_special_tokens());
  EXPECT_EQ(s.min_tokens(), 2);
  EXPECT_EQ(s.logprobs(), 3);
}

TEST(ParseCompletionRequestTest, DefaultsAndNulls) {
  absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(
      J(R"({"prompt": "x", "temperature": null, "stop": null, "logprobs": null})"));
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::SamplingParams& s = r->prompts[0].sampling();
  EXPECT_FALSE(s.has_temperature());  // the model's generation_config decides
  EXPECT_FALSE(s.has_top_p());
  EXPECT_FALSE(s.has_seed());
  EXPECT_EQ(s.max_tokens(), 16);  // the OpenAI default for completions
  EXPECT_EQ(s.logprobs(), -1);    // none
  EXPECT_EQ(r->logprobs, -1);
  EXPECT_FALSE(r->stream.stream);
  EXPECT_EQ(s.stop_size(), 0);
}

TEST(ParseCompletionRequestTest, PromptShapes) {
  absl::StatusOr<CompletionRequest> ids = ParseCompletionRequest(J(R"({"prompt": [1, 2, 3]})"));
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_EQ(ids->prompts.size(), 1u);
  ASSERT_TRUE(ids->prompts[0].has_token_ids());
  EXPECT_EQ(ids->prompts[0].token_ids().ids_size(), 3);
  EXPECT_EQ(ids->prompts[0].token_ids().ids(2), 3);

  absl::StatusOr<CompletionRequest> texts =
      ParseCompletionRequest(J(R"({"prompt": ["a", "b"], "n": 2, "seed": 7})"));
  ASSERT_TRUE(texts.ok()) << texts.status();
  ASSERT_EQ(texts->prompts.size(), 2u);
  EXPECT_EQ(texts->prompts[1].text(), "b");
  EXPECT_EQ(texts->n, 2);

  absl::StatusOr<CompletionRequest> lists =
      ParseCompletionRequest(J(R"({"prompt": [[1, 2], [3]]})"));
  ASSERT_TRUE(lists.ok()) << lists.status();
  ASSERT_EQ(lists->prompts.size(), 2u);
  EXPECT_EQ(lists->prompts[1].token_ids().ids(0), 3);
  EXPECT_EQ(lists->prompt_texts[1], "");

  // An integral float is an integer; a fractional one is not.
  absl::StatusOr<CompletionRequest> floats =
      ParseCompletionRequest(J(R"({"prompt": [1.0, 2], "max_tokens": 5.0})"));
  ASSERT_TRUE(floats.ok()) << floats.status();
  EXPECT_EQ(floats->prompts[0].sampling().max_tokens(), 5);
}

TEST(ChoiceSamplingTest, SeedsDifferPerChoiceOnlyWithSeveralChoices) {
  v1::SamplingParams base;
  base.set_seed(10);
  EXPECT_EQ(ChoiceSampling(base, 1, 0).seed(), 10u);
  EXPECT_EQ(ChoiceSampling(base, 3, 0).seed(), 10u);
  EXPECT_EQ(ChoiceSampling(base, 3, 2).seed(), 12u);
  v1::SamplingParams unseeded;
  EXPECT_FALSE(ChoiceSampling(unseeded, 3, 2).has_seed());
}

// Each bad body: the error is INVALID_ARGUMENT and ParamOf names `param`.
struct BadCase {
  const char* body;
  const char* param;
  const char* message_part;
};

class BadCompletionTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadCompletionTest, NamesTheField) {
  const BadCase& c = GetParam();
  absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(J(c.body));
  ASSERT_FALSE(r.ok()) << c.body;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParamOf(std::string(r.status().message())), c.param) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), c.message_part)) << r.status();
  EXPECT_EQ(HttpStatusFor(r.status()), 400);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, BadCompletionTest,
    ::testing::Values(
        BadCase{R"([1, 2])", "body", "expected a JSON object"},
        BadCase{R"({})", "prompt", "is required"},
        BadCase{R"({"prompt": 5})", "prompt", "got number"},
        BadCase{R"({"prompt": []})", "prompt", "must not be empty"},
        BadCase{R"({"prompt": [1, "a"]})", "prompt", "prompt[1]: expected an integer"},
        BadCase{R"({"prompt": ["a", 1]})", "prompt", "prompt[1]"},
        BadCase{R"({"prompt": [1.5]})", "prompt", "expected an integer"},
        BadCase{R"({"prompt": [3000000000]})", "prompt", "must be at most"},
        BadCase{R"({"prompt": "x", "temperature": "hot"})", "temperature", "got string"},
        BadCase{R"({"prompt": "x", "top_p": true})", "top_p", "expected a number"},
        BadCase{R"({"prompt": "x", "top_k": 1.5})", "top_k", "expected an integer"},
        BadCase{R"({"prompt": "x", "max_tokens": "10"})", "max_tokens", "expected an integer"},
        BadCase{R"({"prompt": "x", "max_tokens": 1e12})", "max_tokens", "must be at most"},
        BadCase{R"({"prompt": "x", "seed": -1})", "seed", "must be at least 0"},
        BadCase{R"({"prompt": "x", "stop": 3})", "stop", "a string or an array"},
        BadCase{R"({"prompt": "x", "stop": ["a", 3]})", "stop", "stop[1]"},
        BadCase{R"({"prompt": "x", "stop_token_ids": [1, "x"]})", "stop_token_ids",
                "stop_token_ids[1]"},
        BadCase{R"({"prompt": "x", "ignore_eos": 1})", "ignore_eos", "expected a boolean"},
        BadCase{R"({"prompt": "x", "n": 0})", "n", "must be at least 1"},
        BadCase{R"({"prompt": ["a", "b"], "n": 100})", "n", "must be at most 128"},
        BadCase{R"({"prompt": "x", "logprobs": 21})", "logprobs", "must be at most 20"},
        BadCase{R"({"prompt": "x", "logprobs": true})", "logprobs", "expected an integer"},
        BadCase{R"({"prompt": "x", "echo": true, "logprobs": 1})", "echo", "not supported"},
        BadCase{R"({"prompt": "x", "stream": "yes"})", "stream", "expected a boolean"},
        BadCase{R"({"prompt": "x", "stream_options": {"include_usage": 1}})", "stream_options",
                "include_usage"},
        BadCase{R"({"prompt": "x", "suffix": "y"})", "suffix", "not supported"},
        BadCase{R"({"prompt": "x", "best_of": 2})", "best_of", "only 1"},
        BadCase{R"({"prompt": "x", "logit_bias": {"1": 5}})", "logit_bias", "not supported"},
        BadCase{R"({"prompt": "x", "model": 3})", "model", "expected a string"}));

TEST(ParseChatCompletionRequestTest, MessagesToolsAndOptions) {
  absl::StatusOr<ChatCompletionRequest> r = ParseChatCompletionRequest(J(R"({
    "model": "m",
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
      {"role": "assistant", "content": null, "reasoning_content": "hmm",
       "tool_calls": [{"id": "c1", "type": "function",
                       "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
      {"role": "tool", "content": "42", "tool_call_id": "c1", "name": "f"}
    ],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "tool_choice": "auto",
    "max_tokens": 5, "max_completion_tokens": 9, "logprobs": true, "top_logprobs": 2,
    "stream": true, "stream_options": {"include_usage": true}, "n": 2,
    "chat_template_kwargs": {"enable_thinking": false}, "add_generation_prompt": true,
    "temperature": 0})"));
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::ChatRequest& chat = r->chat;
  ASSERT_EQ(chat.messages_size(), 4);
  EXPECT_EQ(chat.messages(0).role(), "system");
  EXPECT_EQ(chat.messages(1).content(), "Hi\nthere");
  EXPECT_EQ(chat.messages(2).content(), "");
  EXPECT_EQ(chat.messages(2).reasoning_content(), "hmm");
  ASSERT_EQ(chat.messages(2).tool_calls_size(), 1);
  EXPECT_EQ(chat.messages(2).tool_calls(0).id(), "c1");
  EXPECT_EQ(chat.messages(2).tool_calls(0).name(), "f");
  EXPECT_EQ(chat.messages(2).tool_calls(0).arguments_json(), "{\"a\": 1}");
  EXPECT_EQ(chat.messages(3).tool_call_id(), "c1");
  EXPECT_EQ(chat.messages(3).name(), "f");
  ASSERT_EQ(chat.tools_json_size(), 1);
  EXPECT_EQ(Json::parse(chat.tools_json(0))["function"]["name"], "f");
  EXPECT_EQ(Json::parse(chat.template_kwargs_json())["enable_thinking"], false);
  EXPECT_TRUE(chat.add_generation_prompt());
  EXPECT_EQ(chat.sampling().max_tokens(), 9);  // max_completion_tokens wins
  EXPECT_EQ(chat.sampling().logprobs(), 2);
  EXPECT_FLOAT_EQ(chat.sampling().temperature(), 0.0f);
  EXPECT_TRUE(r->logprobs);
  EXPECT_EQ(r->top_logprobs, 2);
  EXPECT_EQ(r->n, 2);
  EXPECT_TRUE(r->stream.stream);
  EXPECT_TRUE(r->stream.include_usage);
}

TEST(ParseChatCompletionRequestTest, DefaultsAndToolChoiceNone) {
  absl::StatusOr<ChatCompletionRequest> r = ParseChatCompletionRequest(J(R"({
    "messages": [{"role": "user", "content": "Hi"}],
    "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none"})"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->chat.tools_json_size(), 0);            // "none" keeps the tools out of the prompt
  EXPECT_FALSE(r->chat.sampling().has_max_tokens());  // chat: up to the context
  EXPECT_EQ(r->chat.sampling().logprobs(), -1);
  EXPECT_FALSE(r->chat.has_add_generation_prompt());
  EXPECT_FALSE(r->logprobs);
  EXPECT_FALSE(r->stream.stream);
}

class BadChatTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadChatTest, NamesTheField) {
  const BadCase& c = GetParam();
  absl::StatusOr<ChatCompletionRequest> r = ParseChatCompletionRequest(J(c.body));
  ASSERT_FALSE(r.ok()) << c.body;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParamOf(std::string(r.status().message())), c.param) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), c.message_part)) << r.status();
}

INSTANTIATE_TEST_SUITE_P(
    Fields, BadChatTest,
    ::testing::Values(
        BadCase{R"({})", "messages", "is required"},
        BadCase{R"({"messages": {}})", "messages", "expected an array"},
        BadCase{R"({"messages": [3]})", "messages", "messages[0]: expected an object"},
        BadCase{R"({"messages": [{"content": "x"}]})", "messages", "messages[0].role"},
        BadCase{R"({"messages": [{"role": "user", "content": 5}]})", "messages",
                "messages[0].content"},
        BadCase{R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
                "messages", "messages[0].content[0].type: only \"text\""},
        BadCase{R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "x"}]}]})", "messages",
                "messages[0].tool_calls[0].function"},
        BadCase{R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})", "tools",
                "expected an array"},
        BadCase{R"({"messages": [{"role": "user", "content": "x"}], "tools": [1]})", "tools",
                "tools[0]"},
        BadCase{R"({"messages": [{"role": "user", "content": "x"}], "logprobs": 1})", "logprobs",
                "expected a boolean"},
        BadCase{R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})",
                "top_logprobs", "requires logprobs"},
        BadCase{R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": 1})",
                "chat_template_kwargs", "expected an object"},
        BadCase{R"({"messages": [{"role": "user", "content": "x"}],
                    "max_completion_tokens": "a"})",
                "max_completion_tokens", "expected an integer"},
        BadCase{R"({"messages": [{"role": "user", "content": "x"}],
                    "response_format": {"type": "json_object"}})",
                "response_format", "only \"text\""},
        BadCase{R"({"messages": [{"role": "user", "content": "x"}], "chat_template": "{{x}}"})",
                "chat_template", "not supported"}));

TEST(ErrorTest, BuilderFieldsBecomeOpenAiFields) {
  EXPECT_EQ(
      ToOpenAiFields(absl::InvalidArgumentError("sampling.top_p: must be in (0, 1]")).message(),
      "top_p: must be in (0, 1]");
  EXPECT_EQ(ToOpenAiFields(absl::InvalidArgumentError("prompt.token_ids[3]: 99 is not a token"))
                .message(),
            "prompt[3]: 99 is not a token");
  EXPECT_EQ(ToOpenAiFields(absl::InvalidArgumentError("tools_json[0]: bad")).message(),
            "tools[0]: bad");
  EXPECT_EQ(ToOpenAiFields(absl::InvalidArgumentError("template_kwargs_json: bad")).message(),
            "chat_template_kwargs: bad");
  const absl::Status kept = ToOpenAiFields(absl::FailedPreconditionError("no tokenizer"));
  EXPECT_EQ(kept.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(kept.message(), "no tokenizer");
}

TEST(ErrorTest, StatusCodesAndBody) {
  EXPECT_EQ(HttpStatusFor(absl::InvalidArgumentError("x")), 400);
  EXPECT_EQ(HttpStatusFor(absl::FailedPreconditionError("x")), 400);
  EXPECT_EQ(HttpStatusFor(absl::UnauthenticatedError("x")), 401);
  EXPECT_EQ(HttpStatusFor(absl::NotFoundError("x")), 404);
  EXPECT_EQ(HttpStatusFor(absl::ResourceExhaustedError("x")), 429);
  EXPECT_EQ(HttpStatusFor(absl::UnavailableError("x")), 503);
  EXPECT_EQ(HttpStatusFor(absl::InternalError("x")), 500);

  Json body = ErrorBody(absl::InvalidArgumentError("top_p: must be in (0, 1], got 1.5"));
  EXPECT_EQ(body["error"]["message"], "top_p: must be in (0, 1], got 1.5");
  EXPECT_EQ(body["error"]["type"], "BadRequestError");
  EXPECT_EQ(body["error"]["param"], "top_p");
  EXPECT_EQ(body["error"]["code"], 400);

  Json no_param = ErrorBody(absl::ResourceExhaustedError("the request queue is full (3 waiting)"));
  EXPECT_TRUE(no_param["error"]["param"].is_null());
  EXPECT_EQ(no_param["error"]["type"], "RateLimitError");
  EXPECT_EQ(no_param["error"]["code"], 429);

  EXPECT_EQ(ParamOf("messages[2].role: must not be empty"), "messages");
  EXPECT_EQ(ParamOf("the server is draining"), "");
  EXPECT_EQ(ParamOf("the server: is draining"), "");
}

}  // namespace
}  // namespace moe::openai
