// StepRunner against the fixtures: StepPlans built by hand (chunked prefill, decode, a
// prefix-cache hit, preemption and recompute) give the reference greedy continuations.
#include "worker/step_runner.h"

#include <gtest/gtest.h>

#include <memory>

#include "model/weights.h"
#include "tests/model/golden_util.h"

namespace moe {
namespace {

constexpr int64_t kBlock = 4;

struct Fixture {
  std::unique_ptr<ModelWeights> weights;
  testing::Golden golden;
};

Fixture Load(const std::string& name) {
  const std::string dir = std::string(MOE_TEST_DATA_DIR) + "/models/" + name;
  Fixture f;
  auto ckpt = Checkpoint::Open(dir);
  EXPECT_TRUE(ckpt.ok()) << ckpt.status();
  auto config = LoadModelConfig(dir);
  EXPECT_TRUE(config.ok()) << config.status();
  auto w = ModelWeights::Load(*std::move(ckpt), *config, ShardSpec::Whole(*config));
  EXPECT_TRUE(w.ok()) << w.status();
  f.weights = *std::move(w);
  auto g = testing::LoadGolden(dir);
  EXPECT_TRUE(g.ok()) << g.status();
  f.golden = *std::move(g);
  return f;
}

v1::SeqPlan NewSeq(int64_t id, const std::vector<int32_t>& tokens, int64_t start, int64_t n,
                   int64_t prompt_len, int32_t first_block) {
  v1::SeqPlan sp;
  sp.set_seq_id(id);
  sp.set_start_pos(start);
  sp.set_is_new(true);
  sp.set_prompt_len(prompt_len);
  sp.mutable_sampling()->set_temperature(0);
  sp.mutable_sampling()->set_top_p(1);
  sp.mutable_sampling()->set_repetition_penalty(1);
  sp.mutable_sampling()->set_logprobs(3);
  for (int64_t i = 0; i < start; ++i) sp.add_context(tokens[i]);
  for (int64_t i = start; i < start + n; ++i) sp.add_tokens(tokens[i]);
  const int64_t blocks = (start + n + kBlock - 1) / kBlock;
  for (int64_t b = 0; b < blocks; ++b) sp.add_block_table(first_block + static_cast<int32_t>(b));
  sp.set_sample(start + n == static_cast<int64_t>(tokens.size()));
  return sp;
}

// Decodes `steps` tokens for sequence `id` whose blocks start at first_block.
std::vector<int32_t> Decode(StepRunner* runner, int64_t id, std::vector<int32_t> tokens,
                            int32_t first_block, int steps, int64_t* step_id) {
  std::vector<int32_t> out;
  for (int i = 0; i < steps; ++i) {
    v1::StepPlan plan;
    plan.set_step_id((*step_id)++);
    v1::SeqPlan* sp = plan.add_seqs();
    sp->set_seq_id(id);
    sp->set_start_pos(static_cast<int64_t>(tokens.size()) - 1);
    sp->add_tokens(tokens.back());
    const int64_t blocks = (static_cast<int64_t>(tokens.size()) + kBlock - 1) / kBlock;
    for (int64_t b = 0; b < blocks; ++b) sp->add_block_table(first_block + static_cast<int32_t>(b));
    sp->set_sample(true);
    auto r = runner->Run(plan);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return out;
    EXPECT_EQ(r->tokens_size(), 1);
    out.push_back(r->tokens(0).token());
    tokens.push_back(r->tokens(0).token());
  }
  return out;
}

class StepRunnerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StepRunnerTest, ChunkedPrefillThenDecodeMatchesGolden) {
  Fixture f = Load(GetParam());
  ThreadPool pool(1);
  StepRunner runner(f.weights.get(), &pool, 256, kBlock);
  int64_t step_id = 0;
  for (size_t c = 0; c < f.golden.cases.size(); ++c) {
    const testing::GoldenCase& gc = f.golden.cases[c];
    const int64_t id = static_cast<int64_t>(c) + 1;
    const int32_t first_block = static_cast<int32_t>(c) * 32;
    const int64_t len = static_cast<int64_t>(gc.prompt.size());
    // Prefill in chunks of 3 tokens.
    int32_t first = -1;
    for (int64_t start = 0; start < len; start += 3) {
      v1::StepPlan plan;
      plan.set_step_id(step_id++);
      v1::SeqPlan sp =
          NewSeq(id, gc.prompt, start, std::min<int64_t>(3, len - start), len, first_block);
      if (start > 0) {
        sp.set_is_new(false);
        sp.clear_context();
      }
      *plan.add_seqs() = sp;
      auto r = runner.Run(plan);
      ASSERT_TRUE(r.ok()) << r.status();
      if (sp.sample()) {
        ASSERT_EQ(r->tokens_size(), 1);
        first = r->tokens(0).token();
        EXPECT_EQ(r->tokens(0).top_ids_size(), 3);
        EXPECT_EQ(r->tokens(0).top_ids(0), first);
      } else {
        EXPECT_EQ(r->tokens_size(), 0);
      }
    }
    std::vector<int32_t> tokens = gc.prompt;
    tokens.push_back(first);
    const int steps = static_cast<int>(gc.greedy_ids.size()) - 1;
    std::vector<int32_t> rest = Decode(&runner, id, tokens, first_block, steps, &step_id);
    std::vector<int32_t> got = {first};
    got.insert(got.end(), rest.begin(), rest.end());
    EXPECT_EQ(got, gc.greedy_ids) << gc.name;
  }
}

TEST_P(StepRunnerTest, PrefixReuseAndRecomputeGiveTheSameTokens) {
  Fixture f = Load(GetParam());
  ThreadPool pool(1);
  StepRunner runner(f.weights.get(), &pool, 256, kBlock);
  size_t longest = 0;
  for (size_t c = 0; c < f.golden.cases.size(); ++c) {
    if (f.golden.cases[c].prompt.size() > f.golden.cases[longest].prompt.size()) longest = c;
  }
  const testing::GoldenCase& gc = f.golden.cases[longest];
  const int64_t len = static_cast<int64_t>(gc.prompt.size());
  ASSERT_GT(len, kBlock);
  int64_t step_id = 0;
  // Sequence 1 computes the whole prompt in blocks 0...
  v1::StepPlan plan;
  plan.set_step_id(step_id++);
  *plan.add_seqs() = NewSeq(1, gc.prompt, 0, len, len, 0);
  auto r = runner.Run(plan);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tokens(0).token(), gc.greedy_ids[0]);
  // ...sequence 2 shares its first full block (a prefix-cache hit) and computes the rest in
  // blocks of its own.
  v1::StepPlan plan2;
  plan2.set_step_id(step_id++);
  v1::SeqPlan sp = NewSeq(2, gc.prompt, kBlock, len - kBlock, len, 100);
  sp.set_block_table(0, 0);
  *plan2.add_seqs() = sp;
  r = runner.Run(plan2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tokens(0).token(), gc.greedy_ids[0]);
  // A preempted sequence is recomputed from prompt + output as a new sequence.
  std::vector<int32_t> tokens = gc.prompt;
  tokens.insert(tokens.end(), gc.greedy_ids.begin(), gc.greedy_ids.begin() + 3);
  v1::StepPlan plan3;
  plan3.set_step_id(step_id++);
  plan3.add_released_seq_ids(1);
  *plan3.add_seqs() = NewSeq(3, tokens, 0, static_cast<int64_t>(tokens.size()), len, 200);
  r = runner.Run(plan3);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tokens(0).token(), gc.greedy_ids[3]);
  EXPECT_EQ(runner.num_sequences(), 2);  // 1 released
}

TEST_P(StepRunnerTest, InconsistentPlansAreRefused) {
  Fixture f = Load(GetParam());
  ThreadPool pool(1);
  StepRunner runner(f.weights.get(), &pool, 8, kBlock);
  const testing::GoldenCase& gc = f.golden.cases[0];
  v1::StepPlan plan;
  v1::SeqPlan* sp = plan.add_seqs();
  sp->set_seq_id(7);
  sp->add_tokens(gc.prompt[0]);
  sp->add_block_table(0);
  auto r = runner.Run(plan);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("unknown"), std::string::npos) << r.status();

  v1::StepPlan bad_block;
  *bad_block.add_seqs() = NewSeq(1, gc.prompt, 0, 2, 2, 99);
  r = runner.Run(bad_block);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, StepRunnerTest,
                         ::testing::Values("tiny-qwen3-dense", "tiny-qwen3-moe"));

}  // namespace
}  // namespace moe
