// ShardRunners on a CUDA device (label gpu; skipped without one): the runner MakeShardRunner
// makes for cuda:0 reproduces the fixtures' greedy continuations, alone and as the last stage
// of a two-stage pipeline after a GPU or a CPU stage (activations staged through host memory,
// as ShardWorker passes them).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "tests/model/golden_util.h"
#include "tests/worker/runner_util.h"
#include "worker/layout.h"
#include "worker/shard_runner.h"

namespace moe {
namespace {

constexpr int64_t kBlock = 4;

bool HaveGpu() { return ResolveDevice({Device::Kind::kCuda, 0}).ok(); }

ShardRunnerOptions Options(Device device) {
  ShardRunnerOptions o;
  o.device = device;
  o.num_blocks = 64;
  o.block_size = kBlock;
  o.max_tokens = 64;
  o.max_seqs = 4;
  o.max_seq_len = 256;
  return o;
}

// Greedy steps through the stages in order: each prepares the plan, the first embeds, each
// later one takes the previous stage's output, the last samples.
std::vector<int32_t> Greedy(const std::vector<ShardRunner*>& stages, std::vector<int32_t> tokens,
                            int steps) {
  std::vector<int32_t> out;
  const int64_t prompt_len = static_cast<int64_t>(tokens.size());
  for (int i = 0; i < steps; ++i) {
    const v1::StepPlan plan = testing::GreedyPlan(i, tokens, prompt_len, kBlock);
    float* prev = nullptr;
    int64_t T = 0;
    for (ShardRunner* s : stages) {
      auto t = s->Prepare(plan);
      EXPECT_TRUE(t.ok()) << t.status();
      if (!t.ok()) return out;
      T = *t;
      float* h = s->hidden(T);
      if (prev != nullptr) std::copy(prev, prev + T * s->config().hidden_size, h);
      absl::Status f = s->Forward(h);
      EXPECT_TRUE(f.ok()) << f;
      if (!f.ok()) return out;
      prev = h;
    }
    auto r = stages.back()->Sample(plan, prev);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->tokens_size() != 1) return out;
    out.push_back(r->tokens(0).token());
    tokens.push_back(r->tokens(0).token());
  }
  return out;
}

class CudaWorkerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaWorkerTest, WholeModelMatchesGolden) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const std::string dir = testing::FixtureDir(GetParam());
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  auto golden = testing::LoadGolden(dir);
  ASSERT_TRUE(golden.ok()) << golden.status();
  for (const testing::GoldenCase& c : golden->cases) {
    SCOPED_TRACE(c.name);
    auto weights = testing::LoadFixtureShard(dir, *config, ShardSpec::Whole(*config));
    ASSERT_NE(weights, nullptr);
    auto runner = MakeShardRunner(weights.get(), nullptr, Options({Device::Kind::kCuda, 0}));
    ASSERT_TRUE(runner.ok()) << runner.status();
    EXPECT_EQ((*runner)->device().ToString(), "cuda:0");
    weights.reset();  // the device holds its own copy
    EXPECT_EQ(Greedy({runner->get()}, c.prompt, static_cast<int>(c.greedy_ids.size())),
              c.greedy_ids);
  }
}

TEST_P(CudaWorkerTest, TwoStagesMatchGolden) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  const std::string dir = testing::FixtureDir(GetParam());
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  auto golden = testing::LoadGolden(dir);
  ASSERT_TRUE(golden.ok()) << golden.status();
  LayoutOptions lo;
  lo.pp = 2;
  auto layout = Layout::Make(*config, lo);
  ASSERT_TRUE(layout.ok()) << layout.status();
  ThreadPool pool(1);
  const testing::GoldenCase& c = golden->cases[0];
  for (const Device first : {Device{Device::Kind::kCuda, 0}, Device()}) {
    SCOPED_TRACE(first.ToString());
    auto w0 = testing::LoadFixtureShard(dir, *config, layout->Shard(0));
    auto w1 = testing::LoadFixtureShard(dir, *config, layout->Shard(1));
    ASSERT_TRUE(w0 != nullptr && w1 != nullptr);
    auto s0 = MakeShardRunner(w0.get(), &pool, Options(first));
    auto s1 = MakeShardRunner(w1.get(), &pool, Options({Device::Kind::kCuda, 0}));
    ASSERT_TRUE(s0.ok()) << s0.status();
    ASSERT_TRUE(s1.ok()) << s1.status();
    EXPECT_EQ(Greedy({s0->get(), s1->get()}, c.prompt, static_cast<int>(c.greedy_ids.size())),
              c.greedy_ids);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaWorkerTest,
                         ::testing::Values("tiny-qwen3-dense", "tiny-qwen3-moe"));

}  // namespace
}  // namespace moe
