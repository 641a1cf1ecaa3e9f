// moe.v1 responses -> OpenAI bodies, chunks and both logprobs shapes.
#include "coordinator/http/openai_response.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace moe::openai {
namespace {

const ResponseMeta kMeta = {"cmpl-1", 1700000000, "tiny"};

v1::TokenLogprob Lp(int32_t id, const std::string& token, float logprob,
                    std::vector<std::pair<std::string, float>> top) {
  v1::TokenLogprob lp;
  lp.set_token_id(id);
  lp.set_token(token);
  lp.set_logprob(logprob);
  int32_t alt_id = 100;
  for (const auto& [text, value] : top) {
    v1::TopLogprob* t = lp.add_top();
    t->set_token_id(alt_id++);
    t->set_token(text);
    t->set_logprob(value);
  }
  return lp;
}

// Two deltas of one choice: " Hel" + "lo" (finished by a stop string).
std::vector<v1::GenerateResponse> TwoDeltas() {
  std::vector<v1::GenerateResponse> deltas(2);
  deltas[0].add_token_ids(1);
  deltas[0].set_text(" Hel");
  *deltas[0].add_logprobs() = Lp(1, " Hel", -0.5f, {{" Hel", -0.5f}, {" Hi", -1.5f}});
  deltas[1].add_token_ids(2);
  deltas[1].set_text("lo");
  *deltas[1].add_logprobs() =
      Lp(2, "lo", -std::numeric_limits<float>::infinity(), {{"lo", -0.1f}, {"l", -3.0f}});
  deltas[1].set_finish_reason(v1::FINISH_REASON_STOP);
  deltas[1].set_stop_reason("!");
  deltas[1].mutable_usage()->set_prompt_tokens(4);
  deltas[1].mutable_usage()->set_completion_tokens(2);
  deltas[1].mutable_usage()->set_cached_prompt_tokens(1);
  return deltas;
}

Choice Accumulated() {
  Choice choice;
  for (const v1::GenerateResponse& d : TwoDeltas()) Accumulate(d, &choice);
  return choice;
}

TEST(AccumulateTest, JoinsTextLogprobsAndKeepsTheEnd) {
  Choice c = Accumulated();
  EXPECT_EQ(c.text, " Hello");
  EXPECT_EQ(c.logprobs.size(), 2);
  EXPECT_EQ(c.finish_reason, v1::FINISH_REASON_STOP);
  EXPECT_EQ(c.stop_reason, "!");
  EXPECT_EQ(c.usage.completion_tokens(), 2);
  EXPECT_EQ(c.token_ids, (std::vector<int32_t>{1, 2}));
}

TEST(TokenIdsTest, ReturnedWhenAsked) {
  Choice c = Accumulated();
  c.prompt_token_ids = {7, 8};
  UsageTotals usage;
  Json completion = CompletionBody(kMeta, {c}, -1, usage, true);
  EXPECT_EQ(completion["choices"][0]["prompt_token_ids"], Json::parse("[7, 8]"));
  EXPECT_EQ(completion["choices"][0]["token_ids"], Json::parse("[1, 2]"));
  Json chat = ChatCompletionBody(kMeta, {c}, false, 0, nullptr, usage, true);
  EXPECT_EQ(chat["prompt_token_ids"], Json::parse("[7, 8]"));
  EXPECT_EQ(chat["choices"][0]["token_ids"], Json::parse("[1, 2]"));
  EXPECT_FALSE(CompletionBody(kMeta, {c}, -1, usage)["choices"][0].contains("token_ids"));
}

TEST(UsageTest, PromptCountedOncePerPrompt) {
  v1::Usage u;
  u.set_prompt_tokens(10);
  u.set_completion_tokens(3);
  u.set_cached_prompt_tokens(8);
  UsageTotals totals;
  AddUsage(u, true, &totals);
  AddUsage(u, false, &totals);  // a second choice of the same prompt
  Json json = UsageJson(totals);
  EXPECT_EQ(json["prompt_tokens"], 10);
  EXPECT_EQ(json["completion_tokens"], 6);
  EXPECT_EQ(json["total_tokens"], 16);
  EXPECT_EQ(json["prompt_tokens_details"]["cached_tokens"], 8);
}

TEST(CompletionBodyTest, LegacyLogprobsShape) {
  UsageTotals usage;
  AddUsage(Accumulated().usage, true, &usage);
  Json body = CompletionBody(kMeta, {Accumulated()}, 2, usage);
  EXPECT_EQ(body["id"], "cmpl-1");
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["created"], 1700000000);
  EXPECT_EQ(body["model"], "tiny");
  ASSERT_EQ(body["choices"].size(), 1u);
  const Json& choice = body["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["text"], " Hello");
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(choice["stop_reason"], "!");
  const Json& lp = choice["logprobs"];
  EXPECT_EQ(lp["tokens"], Json::parse(R"([" Hel", "lo"])"));
  EXPECT_EQ(lp["token_logprobs"][0], -0.5);
  EXPECT_EQ(lp["token_logprobs"][1], -9999.0);  // -inf is not JSON
  EXPECT_EQ(lp["text_offset"], Json::parse("[0, 4]"));
  ASSERT_EQ(lp["top_logprobs"].size(), 2u);
  EXPECT_EQ(lp["top_logprobs"][0].size(), 2u);
  EXPECT_DOUBLE_EQ(lp["top_logprobs"][0][" Hi"].get<double>(), -1.5);
  EXPECT_DOUBLE_EQ(lp["top_logprobs"][1]["l"].get<double>(), -3.0);
  EXPECT_EQ(body["usage"]["total_tokens"], 6);

  Json no_logprobs = CompletionBody(kMeta, {Accumulated()}, -1, usage);
  EXPECT_TRUE(no_logprobs["choices"][0]["logprobs"].is_null());
  // logprobs=0: the sampled tokens only, no alternatives.
  Json zero = CompletionBody(kMeta, {Accumulated()}, 0, usage);
  EXPECT_EQ(zero["choices"][0]["logprobs"]["tokens"].size(), 2u);
  EXPECT_TRUE(zero["choices"][0]["logprobs"]["top_logprobs"][0].is_null());
}

TEST(CompletionLogprobsTest, TextOffsetCountsCodePointsAcrossDeltas) {
  v1::GenerateResponse d;
  *d.add_logprobs() = Lp(1, "h\xC3\xA9", -1, {});  // "hé": 2 code points, 3 bytes
  *d.add_logprobs() = Lp(2, "y", -1, {});
  int64_t offset = 5;
  Json lp = CompletionLogprobs(d.logprobs(), 0, &offset);
  EXPECT_EQ(lp["text_offset"], Json::parse("[5, 7]"));
  EXPECT_EQ(offset, 8);
}

TEST(ChatBodyTest, MessageAndChatLogprobsShape) {
  UsageTotals usage;
  Json body = ChatCompletionBody(kMeta, {Accumulated(), Accumulated()}, true, 1, nullptr, usage);
  EXPECT_EQ(body["object"], "chat.completion");
  ASSERT_EQ(body["choices"].size(), 2u);
  EXPECT_EQ(body["choices"][1]["index"], 1);
  const Json& message = body["choices"][0]["message"];
  EXPECT_EQ(message["role"], "assistant");
  EXPECT_EQ(message["content"], " Hello");
  const Json& content = body["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0]["token"], " Hel");
  EXPECT_EQ(content[0]["logprob"], -0.5);
  EXPECT_EQ(content[0]["bytes"], Json::parse("[32, 72, 101, 108]"));
  ASSERT_EQ(content[0]["top_logprobs"].size(), 1u);  // top_logprobs=1 of the 2 given
  EXPECT_EQ(content[0]["top_logprobs"][0]["token"], " Hel");
  EXPECT_EQ(content[0]["top_logprobs"][0]["bytes"].size(), 4u);

  Json plain = ChatCompletionBody(kMeta, {Accumulated()}, false, 0, nullptr, usage);
  EXPECT_TRUE(plain["choices"][0]["logprobs"].is_null());
}

TEST(ChunkTest, CompletionAndChatChunks) {
  Json c = CompletionChunk(kMeta, 3, "abc", nullptr, v1::FINISH_REASON_UNSPECIFIED, "");
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["choices"][0]["index"], 3);
  EXPECT_EQ(c["choices"][0]["text"], "abc");
  EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(c["choices"][0]["stop_reason"].is_null());

  Json last = ChatChunk(kMeta, 0, Json::object(), nullptr, v1::FINISH_REASON_LENGTH, "");
  EXPECT_EQ(last["object"], "chat.completion.chunk");
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(last["choices"][0]["delta"].is_object());
  EXPECT_TRUE(last["choices"][0]["delta"].empty());

  // A stop token id is a number, as in vLLM.
  Json stop_id = ChatChunk(kMeta, 0, Json::object(), nullptr, v1::FINISH_REASON_STOP, "151645");
  EXPECT_EQ(stop_id["choices"][0]["stop_reason"], 151645);

  UsageTotals totals;
  totals.prompt_tokens = 3;
  totals.completion_tokens = 4;
  Json usage = UsageChunk(kMeta, "chat.completion.chunk", totals);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 7);
}

TEST(SseTest, EventsAndInvalidUtf8) {
  EXPECT_EQ(SseData(Json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_EQ(std::string(kSseDone), "data: [DONE]\n\n");
  // A token that is half a UTF-8 character must not break the stream.
  const std::string dumped = Dump(Json{{"t", std::string("\xE2\x80")}});
  EXPECT_TRUE(absl::StrContains(dumped, "\xEF\xBF\xBD")) << dumped;  // U+FFFD
}

}  // namespace
}  // namespace moe::openai
