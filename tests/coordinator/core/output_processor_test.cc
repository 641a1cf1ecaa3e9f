// OutputProcessor with the real Qwen3 tokenizer: stop strings across token boundaries, held-back
// text, stop ids, max tokens, min tokens, and logprob text.
#include "coordinator/core/output_processor.h"

#include <gtest/gtest.h>

#include <memory>

namespace moe {
namespace {

class OutputProcessorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto t = Tokenizer::Load(std::string(MOE_TEST_DATA_DIR) + "/tokenizer/qwen3");
    ASSERT_TRUE(t.ok()) << t.status();
    tokenizer_ = std::move(*t).release();
  }
  static void TearDownTestSuite() { delete tokenizer_; }

  std::vector<int32_t> Ids(const std::string& text) {
    auto ids = tokenizer_->Encode(text);
    EXPECT_TRUE(ids.ok());
    return *ids;
  }

  // Feeds `ids` one by one; returns the concatenated text and fills the last delta.
  std::string Run(const RequestParams& params, const std::vector<int32_t>& ids,
                  v1::GenerateResponse* last, int* steps, std::vector<std::string>* pieces) {
    OutputProcessor out(tokenizer_, &params);
    std::string text;
    *steps = 0;
    for (int32_t id : ids) {
      v1::SampledToken t;
      t.set_token(id);
      v1::GenerateResponse delta;
      ++*steps;
      const bool done = out.Append(t, &delta);
      text += delta.text();
      if (pieces) pieces->push_back(delta.text());
      *last = delta;
      if (done) break;
    }
    return text;
  }

  static Tokenizer* tokenizer_;
};
Tokenizer* OutputProcessorTest::tokenizer_ = nullptr;

TEST_F(OutputProcessorTest, MaxTokensFlushesAllText) {
  RequestParams p;
  p.max_tokens = 1000;
  const std::vector<int32_t> ids = Ids("Hello, wörld — ünïcode 日本語!");
  p.max_tokens = static_cast<int64_t>(ids.size());
  v1::GenerateResponse last;
  int steps = 0;
  std::vector<std::string> pieces;
  EXPECT_EQ(Run(p, ids, &last, &steps, &pieces), "Hello, wörld — ünïcode 日本語!");
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(steps, static_cast<int>(ids.size()));
  // No piece is half a UTF-8 character: each one is valid on its own.
  for (const std::string& piece : pieces) {
    auto again = tokenizer_->Encode(piece);
    EXPECT_TRUE(again.ok()) << "not valid UTF-8: " << piece;
  }
}

TEST_F(OutputProcessorTest, StopStringAcrossTokensIsCutAndHeldBack) {
  RequestParams p;
  p.max_tokens = 1000;
  p.stop = {"STOP here"};
  const std::vector<int32_t> ids = Ids("one two STOP here three four");
  v1::GenerateResponse last;
  int steps = 0;
  std::vector<std::string> pieces;
  EXPECT_EQ(Run(p, ids, &last, &steps, &pieces), "one two ");
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(last.stop_reason(), "STOP here");
  EXPECT_LT(steps, static_cast<int>(ids.size()));
  // "STOP" never went out before the match completed.
  for (const std::string& piece : pieces) EXPECT_EQ(piece.find("STOP"), std::string::npos);
}

TEST_F(OutputProcessorTest, IncludeStopString) {
  RequestParams p;
  p.max_tokens = 1000;
  p.stop = {"\n\n", "three"};
  p.include_stop_str_in_output = true;
  v1::GenerateResponse last;
  int steps = 0;
  EXPECT_EQ(Run(p, Ids("one two three four"), &last, &steps, nullptr), "one two three");
  EXPECT_EQ(last.stop_reason(), "three");
}

TEST_F(OutputProcessorTest, StopIdEndsWithoutItsText) {
  RequestParams p;
  p.max_tokens = 1000;
  auto eos = tokenizer_->TokenToId("<|im_end|>");
  ASSERT_TRUE(eos.has_value());
  p.stop_token_ids = {*eos};
  std::vector<int32_t> ids = Ids("Fair is foul");
  ids.push_back(*eos);
  ids.push_back(Ids("x")[0]);
  v1::GenerateResponse last;
  int steps = 0;
  EXPECT_EQ(Run(p, ids, &last, &steps, nullptr), "Fair is foul");
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(last.token_ids(0), *eos);
  EXPECT_EQ(last.stop_reason(), std::to_string(*eos));
}

TEST_F(OutputProcessorTest, MinTokensDefersStops) {
  RequestParams p;
  p.max_tokens = 1000;
  p.min_tokens = 3;
  p.stop = {"a"};
  v1::GenerateResponse last;
  int steps = 0;
  const std::vector<int32_t> ids = Ids(" a b c a d");
  const std::string text = Run(p, ids, &last, &steps, nullptr);
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(text, " a b c ");
}

TEST_F(OutputProcessorTest, LogprobsCarryTokenText) {
  RequestParams p;
  p.max_tokens = 10;
  p.return_logprobs = true;
  OutputProcessor out(tokenizer_, &p);
  v1::SampledToken t;
  t.set_token(Ids("Hello")[0]);
  t.set_logprob(-0.5f);
  t.add_top_ids(t.token());
  t.add_top_logprobs(-0.5f);
  t.add_top_ids(Ids(" world")[0]);
  t.add_top_logprobs(-2.0f);
  v1::GenerateResponse delta;
  out.Append(t, &delta);
  ASSERT_EQ(delta.logprobs_size(), 1);
  EXPECT_EQ(delta.logprobs(0).token(), "Hello");
  EXPECT_FLOAT_EQ(delta.logprobs(0).logprob(), -0.5f);
  ASSERT_EQ(delta.logprobs(0).top_size(), 2);
  EXPECT_EQ(delta.logprobs(0).top(1).token(), " world");
}

TEST_F(OutputProcessorTest, NoTokenizerStreamsIdsOnly) {
  RequestParams p;
  p.max_tokens = 2;
  p.detokenize = false;
  OutputProcessor out(nullptr, &p);
  v1::SampledToken t;
  t.set_token(5);
  v1::GenerateResponse d1, d2;
  EXPECT_FALSE(out.Append(t, &d1));
  EXPECT_TRUE(out.Append(t, &d2));
  EXPECT_EQ(d1.text(), "");
  EXPECT_EQ(d2.finish_reason(), v1::FINISH_REASON_LENGTH);
}

}  // namespace
}  // namespace moe
