// The Qwen3 / Qwen3-MoE forward pass against the independent reference's goldens
// (tests/data/models, README there). Tolerance: the fixtures' own, |a - g| <= 1e-3 + 1e-4 |g|
// (fp32 activations on bf16 weights); greedy ids and router expert choices exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "common/file.h"
#include "common/model_config.h"
#include "common/safetensors.h"
#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "model/qwen3.h"
#include "tests/model/golden_util.h"

namespace moe {
namespace {

using testing::CompareClose;
using testing::Golden;
using testing::GoldenCase;
using testing::RunGreedy;
using testing::RunOutput;

constexpr int64_t kSteps = 16;

struct Fixture {
  ModelConfig config;
  std::shared_ptr<const Checkpoint> ckpt;
  std::unique_ptr<ModelWeights> weights;
  Golden golden;
};

std::string ModelDir(const std::string& name) {
  return JoinPath(JoinPath(MOE_TEST_DATA_DIR, "models"), name);
}

std::unique_ptr<Fixture> LoadFixture(const std::string& dir, const ShardSpec* spec = nullptr) {
  auto f = std::make_unique<Fixture>();
  auto config = LoadModelConfig(dir);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return nullptr;
  f->config = *config;
  auto ckpt = Checkpoint::Open(dir);
  EXPECT_TRUE(ckpt.ok()) << ckpt.status();
  if (!ckpt.ok()) return nullptr;
  f->ckpt = std::move(*ckpt);
  auto weights = ModelWeights::Load(f->ckpt, f->config, spec ? *spec : ShardSpec::Whole(f->config));
  EXPECT_TRUE(weights.ok()) << weights.status();
  if (!weights.ok()) return nullptr;
  f->weights = std::move(*weights);
  auto golden = testing::LoadGolden(dir);
  EXPECT_TRUE(golden.ok()) << golden.status();
  if (!golden.ok()) return nullptr;
  f->golden = std::move(*golden);
  return f;
}

// Checks one sequence's run against its golden case.
void ExpectMatches(const Fixture& f, const GoldenCase& gc, const RunOutput& out,
                   const std::string& what) {
  SCOPED_TRACE(what + " case " + gc.name);
  const int64_t V = f.config.vocab_size, len = static_cast<int64_t>(gc.prompt.size());
  ASSERT_EQ(static_cast<int64_t>(out.prompt_logits.size()), len * V);
  if (gc.logits_all_positions) {
    EXPECT_EQ(CompareClose(out.prompt_logits.data(), gc.logits.data(), len * V, f.golden.atol,
                           f.golden.rtol),
              "");
  } else {
    EXPECT_EQ(CompareClose(out.prompt_logits.data() + (len - 1) * V, gc.logits.data(), V,
                           f.golden.atol, f.golden.rtol),
              "");
  }
  EXPECT_EQ(out.greedy_ids, gc.greedy_ids);
  ASSERT_EQ(static_cast<int64_t>(out.step_logits.size()), kSteps * V);
  if (!gc.step_logits.empty()) {
    EXPECT_EQ(CompareClose(out.step_logits.data(), gc.step_logits.data(), kSteps * V, f.golden.atol,
                           f.golden.rtol),
              "");
  }
  // Top-5 per step: our logit of each golden top-5 id.
  for (int64_t j = 0; j < kSteps; ++j) {
    for (int64_t r = 0; r < 5; ++r) {
      const int32_t id = gc.top5_ids[j * 5 + r];
      const float got = out.step_logits[j * V + id];
      EXPECT_EQ(CompareClose(&got, &gc.top5_logits[j * 5 + r], 1, f.golden.atol, f.golden.rtol), "")
          << "step " << j << " top" << r;
    }
  }
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

// Each case alone, whole prompt in one chunk, block size 16.
TEST_P(GoldenTest, EachCaseAlone) {
  auto f = LoadFixture(GetParam());
  ASSERT_NE(f, nullptr);
  ThreadPool pool(1);
  Qwen3Model model(f->weights.get(), &pool);
  for (const GoldenCase& gc : f->golden.cases) {
    auto out = RunGreedy(&model, {gc.prompt}, kSteps, 16, 1 << 20);
    ExpectMatches(*f, gc, out[0], "alone");
  }
}

// All cases in one batch, with several KV block sizes and prefill chunk sizes (prefill chunks
// then mix with other sequences' decode tokens), on two threads.
TEST_P(GoldenTest, AllCasesBatchedBlockAndChunkSizes) {
  auto f = LoadFixture(GetParam());
  ASSERT_NE(f, nullptr);
  ThreadPool pool(2);
  Qwen3Model model(f->weights.get(), &pool);
  std::vector<std::vector<int32_t>> prompts;
  for (const GoldenCase& gc : f->golden.cases) prompts.push_back(gc.prompt);
  const std::pair<int64_t, int64_t> layouts[] = {{1, 1 << 20}, {5, 3}, {16, 7}, {32, 1}};
  for (auto [block, chunk] : layouts) {
    auto out = RunGreedy(&model, prompts, kSteps, block, chunk);
    for (size_t i = 0; i < prompts.size(); ++i) {
      ExpectMatches(*f, f->golden.cases[i], out[i],
                    "block " + std::to_string(block) + " chunk " + std::to_string(chunk));
    }
  }
}

// Router decisions on the prompt, layer by layer: expert ids exactly, weights within tolerance.
TEST_P(GoldenTest, RouterTopK) {
  auto f = LoadFixture(GetParam());
  ASSERT_NE(f, nullptr);
  if (!f->config.is_moe()) GTEST_SKIP() << "dense model";
  ThreadPool pool(1);
  Qwen3Model model(f->weights.get(), &pool);
  const int64_t H = f->config.hidden_size, L = f->config.num_hidden_layers;
  const int64_t K = f->config.num_experts_per_tok;
  for (const GoldenCase& gc : f->golden.cases) {
    SCOPED_TRACE(gc.name);
    const int64_t T = static_cast<int64_t>(gc.prompt.size());
    KvCache cache(f->config, L, (T + 15) / 16, 16);
    StepBatch batch;
    batch.tokens = gc.prompt;
    SeqStep st;
    st.num_tokens = T;
    for (int64_t b = 0; b < cache.num_blocks(); ++b)
      st.block_table.push_back(static_cast<int32_t>(b));
    batch.seqs.push_back(st);
    std::vector<float> hidden(static_cast<size_t>(T * H)), mlp(static_cast<size_t>(T * H));
    std::vector<float> norm(static_cast<size_t>(T * H));
    model.Embed(batch, hidden.data());
    for (int64_t l = 0; l < L; ++l) {
      model.AttentionBlock(l, batch, &cache, hidden.data());
      kernels::RmsNorm(hidden.data(), f->weights->layer(l).post_norm.data(), T, H,
                       static_cast<float>(f->config.rms_norm_eps), norm.data());
      std::vector<ExpertAssignment> routes;
      model.Route(l, norm.data(), T, &routes);
      ASSERT_EQ(static_cast<int64_t>(routes.size()), T * K);
      for (int64_t i = 0; i < T * K; ++i) {
        EXPECT_EQ(routes[i].expert, gc.router_ids[l * T * K + i]) << "layer " << l << " slot " << i;
        EXPECT_EQ(CompareClose(&routes[i].weight, &gc.router_weights[l * T * K + i], 1,
                               f->golden.atol, f->golden.rtol),
                  "")
            << "layer " << l << " slot " << i;
      }
      model.MlpPartial(l, hidden.data(), T, mlp.data());
      kernels::Add(hidden.data(), mlp.data(), T * H);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTest,
                         ::testing::Values(ModelDir("tiny-qwen3-dense"), ModelDir("tiny-qwen3-moe"),
                                           ModelDir("tiny-qwen3-moe-sharded"),
                                           std::string(MOE_DEMO_MODEL_DIR)),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(info.param.rfind('/') + 1);
                           for (char& ch : name) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

// The 39 MB e2e fixture stays in ../shared (not in git): checked when it is there.
TEST(GoldenE2E, SharedE2EModel) {
  const std::string dir = std::string(MOE_SHARED_FIXTURES_DIR) + "/models/e2e-qwen3-moe";
  if (!FileExists(dir + "/config.json")) GTEST_SKIP() << dir << " not present";
  auto f = LoadFixture(dir);
  ASSERT_NE(f, nullptr);
  ThreadPool pool(2);
  Qwen3Model model(f->weights.get(), &pool);
  for (const GoldenCase& gc : f->golden.cases) {
    auto out = RunGreedy(&model, {gc.prompt}, kSteps, 16, 1 << 20);
    ExpectMatches(*f, gc, out[0], "e2e");
  }
}

// A single-file and a sharded checkpoint of the same weights give bit-identical logits.
TEST(Checkpoints, ShardedEqualsUnsharded) {
  auto a = LoadFixture(ModelDir("tiny-qwen3-moe"));
  auto b = LoadFixture(ModelDir("tiny-qwen3-moe-sharded"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ThreadPool pool(1);
  Qwen3Model ma(a->weights.get(), &pool), mb(b->weights.get(), &pool);
  for (const GoldenCase& gc : a->golden.cases) {
    auto oa = RunGreedy(&ma, {gc.prompt}, kSteps, 16, 1 << 20);
    auto ob = RunGreedy(&mb, {gc.prompt}, kSteps, 16, 1 << 20);
    ASSERT_EQ(oa[0].prompt_logits.size(), ob[0].prompt_logits.size());
    EXPECT_EQ(0, std::memcmp(oa[0].prompt_logits.data(), ob[0].prompt_logits.data(),
                             oa[0].prompt_logits.size() * sizeof(float)));
    EXPECT_EQ(oa[0].greedy_ids, ob[0].greedy_ids);
  }
}

// MoeExperts adds only valid assignments: out-of-range tokens or experts change nothing, and a
// valid one changes exactly its token's row.
TEST(MoeExperts, SkipsOutOfRangeAssignments) {
  auto f = LoadFixture(ModelDir("tiny-qwen3-moe"));
  ASSERT_NE(f, nullptr);
  ThreadPool pool(1);
  Qwen3Model model(f->weights.get(), &pool);
  const int64_t H = f->config.hidden_size, T = 2;
  std::vector<float> h(static_cast<size_t>(T * H));
  for (size_t i = 0; i < h.size(); ++i) h[i] = 0.01f * static_cast<float>(i % 17);
  std::vector<float> out(h.size(), 0.0f);
  model.MoeExperts(0, h.data(), T, {{2, 0, 1.0f}, {-1, 0, 1.0f}, {0, 8, 1.0f}, {0, -1, 1.0f}},
                   out.data());
  for (float v : out) ASSERT_EQ(v, 0.0f);
  model.MoeExperts(0, h.data(), T, {{1, 3, 0.5f}}, out.data());
  for (int64_t i = 0; i < H; ++i) ASSERT_EQ(out[i], 0.0f);
  float norm = 0.0f;
  for (int64_t i = H; i < 2 * H; ++i) norm += std::fabs(out[i]);
  EXPECT_GT(norm, 0.0f);
}

// MoeExperts runs whole experts per thread when there are at least two routed experts per
// thread, and splits each expert's rows over the threads otherwise: the output is the same bits
// for 1, 2 and 3 threads (both paths, and both against the one-thread path).
TEST(MoeExperts, SameBitsForAnyThreadCount) {
  auto f = LoadFixture(ModelDir("tiny-qwen3-moe"));
  ASSERT_NE(f, nullptr);
  const int64_t H = f->config.hidden_size, T = 5;
  std::vector<float> h(static_cast<size_t>(T * H));
  for (size_t i = 0; i < h.size(); ++i) h[i] = 0.013f * static_cast<float>(i % 23) - 0.1f;
  // 8 of the 8 experts routed (expert-parallel with 2 and 3 threads), then 3 (row split).
  std::vector<ExpertAssignment> many, few;
  for (int32_t t = 0; t < T; ++t) {
    many.push_back({t, (2 * t) % 8, 0.25f + 0.1f * static_cast<float>(t)});
    many.push_back({t, (2 * t + 3) % 8, 0.75f - 0.1f * static_cast<float>(t)});
    few.push_back({t, t % 3, 1.0f - 0.05f * static_cast<float>(t)});
  }
  for (const auto* assignments : {&many, &few}) {
    std::vector<std::vector<float>> outs;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      Qwen3Model model(f->weights.get(), &pool);
      std::vector<float> out(h.size(), 0.0f);
      model.MoeExperts(0, h.data(), T, *assignments, out.data());
      outs.push_back(out);
    }
    for (size_t i = 1; i < outs.size(); ++i) {
      EXPECT_EQ(0, std::memcmp(outs[0].data(), outs[i].data(), outs[0].size() * sizeof(float)))
          << "threads index " << i;
    }
    float norm = 0.0f;
    for (float v : outs[0]) norm += std::fabs(v);
    EXPECT_GT(norm, 0.0f);
  }
}

}  // namespace
}  // namespace moe
