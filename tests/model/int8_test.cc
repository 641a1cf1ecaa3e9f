// The fixture models with int8 weights (WeightFormat::kInt8: matrices quantized at load, x
// quantized per token inside Linear; kernels.h "Int8 weights") against the independent
// reference's goldens.
//
// What int8 weights can reproduce here, measured (VNNI kernels; every layout and both math
// modes):
//  - These random tiny models are built to be sensitive (fixtures README: bf16 activations in
//    the reference already move the logits by 0.5 (dense) and 6-7 (MoE)). Int8 per block of 32
//    perturbs each weight by up to 1/254 of its block's maximum (~0.6% relative RMS per Linear
//    output, ~3x bf16 rounding of x), so greedy ids are NOT all identical to the goldens:
//    teacher forced (golden history), dense flips 1 of 48 steps (case len7 step 5, golden
//    top1 - top2 margin 0.146; one more in fast math mode, margin 0.203), MoE 5 of 48 (margins
//    0.137 to 0.917; the MoE router, bf16 on perturbed activations, picks other experts).
//    Free running: dense 2 of 3 cases identical for all 16 steps (len7 leaves at step 5), MoE
//    1 of 3 (len7 at step 5, len40 at step 3). The same flips happen with the int8 weights
//    dequantized and fp32 activations (weight rounding alone), so they are not a kernel error.
//    Keeping lm_head in bf16 (as int8 recipes often do) leaves them too: dense RMS 0.160 ->
//    0.156, the same 4 flips; the error comes from the layers.
//  - Logits (teacher forced): dense max |diff| 1.19, RMS 0.16 (per comparison <= 0.25); MoE max
//    7.13 and per-comparison RMS up to 0.69 where an expert choice flips, 0.32 overall.
// Asserted (per fixture, Limits below): those figures with a small margin, so that a kernel or
// loading error (RMS ~4 once logits decorrelate) fails. The exact mode's tolerance is 1e-3 +
// 1e-4 |g| (qwen3_golden_test.cc); the fast (bf16 activations) mode's 1.5 / 0.15.
// Runs with the VNNI kernels where the CPU has them, else with the scalar reference (the same
// arithmetic up to fp32 rounding).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

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

// Asserted bounds per fixture (measured figures in the header comment).
struct Limits {
  double max_abs;     // every logit
  double rms;         // RMS of one comparison (a case's prompt or step logits, one layout)
  double total_rms;   // RMS over everything
  int64_t max_flips;  // teacher-forced greedy flips over 4 runs x 3 cases x 16 steps
  int64_t identical;  // free-running cases with all 16 ids identical, at least
};

Limits LimitsFor(const std::string& model) {
  if (model == "tiny-qwen3-moe") return {9.0, 0.9, 0.4, 24, 1};
  return {1.5, 0.25, 0.2, 5, 2};
}

struct Fixture {
  ModelConfig config;
  std::unique_ptr<ModelWeights> weights;
  Golden golden;
};

std::string FixtureDir(const std::string& name) {
  return JoinPath(JoinPath(MOE_TEST_DATA_DIR, "models"), name);
}

absl::StatusOr<std::unique_ptr<Fixture>> LoadFixture(const std::string& name, ThreadPool* pool) {
  const std::string dir = FixtureDir(name);
  auto f = std::make_unique<Fixture>();
  MOE_ASSIGN_OR_RETURN(f->config, LoadModelConfig(dir));
  MOE_ASSIGN_OR_RETURN(std::shared_ptr<const Checkpoint> ckpt, Checkpoint::Open(dir));
  LoadOptions options;
  options.weight_format = WeightFormat::kInt8;
  options.pool = pool;
  MOE_ASSIGN_OR_RETURN(f->weights,
                       ModelWeights::Load(ckpt, f->config, ShardSpec::Whole(f->config), options));
  MOE_ASSIGN_OR_RETURN(f->golden, testing::LoadGolden(dir));
  return f;
}

struct Diff {
  double max_abs = 0.0;
  double sum_sq = 0.0;
  int64_t n = 0;
  void Add(const float* a, const float* g, int64_t count) {
    for (int64_t i = 0; i < count; ++i) {
      const double d = static_cast<double>(a[i]) - g[i];
      max_abs = std::max(max_abs, std::fabs(d));
      sum_sq += d * d;
    }
    n += count;
  }
  double Rms() const { return n == 0 ? 0.0 : std::sqrt(sum_sq / static_cast<double>(n)); }
};

// Checks n logits against the golden ones (see the tolerance above), adding them to `total`.
void ExpectClose(const Limits& lim, const float* got, const float* golden, int64_t n,
                 const char* what, Diff* total) {
  Diff d;
  d.Add(got, golden, n);
  EXPECT_EQ(CompareClose(got, golden, n, lim.max_abs, 0.0), "") << what;
  EXPECT_LE(d.Rms(), lim.rms) << what;
  total->Add(got, golden, n);
}

class Int8ModelTest : public ::testing::TestWithParam<std::string> {};

// The Linear matrices are int8; the embedding and the router stay as stored.
TEST_P(Int8ModelTest, MatricesQuantizedEmbeddingAndRouterKept) {
  ThreadPool pool(2);
  auto f = LoadFixture(GetParam(), &pool);
  ASSERT_TRUE(f.ok()) << f.status();
  const ModelWeights& w = *(*f)->weights;
  EXPECT_EQ(w.weight_format(), WeightFormat::kInt8);
  EXPECT_EQ(w.embedding().dtype, DType::kBF16);
  EXPECT_EQ(w.lm_head().dtype, DType::kQ8);
  const LayerWeights& l0 = w.layer(0);
  EXPECT_EQ(l0.q.dtype, DType::kQ8);
  EXPECT_EQ(l0.o.dtype, DType::kQ8);
  if (l0.is_moe) {
    EXPECT_EQ(l0.router.dtype, DType::kBF16);
    EXPECT_EQ(l0.experts[0].down.dtype, DType::kQ8);
  } else {
    EXPECT_EQ(l0.down.dtype, DType::kQ8);
  }
}

// A flip of the greedy choice at a teacher-forced step: the golden top1 - top2 margin there.
struct Flip {
  std::string where;
  int64_t step;
  double margin;
};

// Teacher forcing: each case's prompt followed by its golden continuation (15 tokens) in one
// prefill gives the logits of the prompt positions and of the 16 decode steps (the last prompt
// position is step 0) for the golden token history. Checks them against the goldens and
// collects the steps whose argmax is not the golden greedy id.
void CheckTeacherForced(const Limits& lim, const Fixture& f, const std::vector<RunOutput>& out,
                        const std::string& what, Diff* total, std::vector<Flip>* flips) {
  const int64_t V = f.config.vocab_size;
  for (size_t c = 0; c < f.golden.cases.size(); ++c) {
    const GoldenCase& gc = f.golden.cases[c];
    SCOPED_TRACE(what + " case " + gc.name);
    const int64_t len = static_cast<int64_t>(gc.prompt.size());
    const std::vector<float>& logits = out[c].prompt_logits;  // [len + kSteps - 1, V]
    ASSERT_EQ(static_cast<int64_t>(logits.size()), (len + kSteps - 1) * V);
    const int64_t rows = gc.logits_all_positions ? len : 1;
    ExpectClose(lim, logits.data() + (len - rows) * V, gc.logits.data(), rows * V, "prompt logits",
                total);
    ASSERT_FALSE(gc.step_logits.empty());
    ExpectClose(lim, logits.data() + (len - 1) * V, gc.step_logits.data(), kSteps * V,
                "step logits", total);
    for (int64_t j = 0; j < kSteps; ++j) {
      const float* row = logits.data() + (len - 1 + j) * V;
      const int64_t argmax = std::max_element(row, row + V) - row;
      if (argmax != gc.greedy_ids[j]) {
        flips->push_back(
            {what + " " + gc.name, j, gc.top5_logits[j * 5] - gc.top5_logits[j * 5 + 1]});
      }
    }
  }
}

// Teacher-forced logits and greedy choices: each case alone (one chunk), then all cases in one
// batch with several block and chunk sizes, on two threads, in both math modes (int8 weights do
// not follow the mode; the MoE router, bf16, does).
TEST_P(Int8ModelTest, TeacherForcedLogitsAndGreedyIds) {
  ThreadPool pool(2);
  auto f = LoadFixture(GetParam(), &pool);
  ASSERT_TRUE(f.ok()) << f.status();
  const Fixture& fx = **f;
  const Limits lim = LimitsFor(GetParam());
  Qwen3Model model(fx.weights.get(), &pool);
  std::vector<std::vector<int32_t>> forced;
  for (const GoldenCase& gc : fx.golden.cases) {
    std::vector<int32_t> p = gc.prompt;
    p.insert(p.end(), gc.greedy_ids.begin(), gc.greedy_ids.begin() + kSteps - 1);
    forced.push_back(std::move(p));
  }
  Diff total;
  std::vector<Flip> flips;
  std::vector<RunOutput> alone;
  for (const auto& p : forced) alone.push_back(RunGreedy(&model, {p}, 1, 16, 1 << 20)[0]);
  CheckTeacherForced(lim, fx, alone, "alone", &total, &flips);
  const std::pair<int64_t, int64_t> layouts[] = {{5, 3}, {32, 40}};
  for (auto [block, chunk] : layouts) {
    CheckTeacherForced(lim, fx, RunGreedy(&model, forced, 1, block, chunk),
                       "block " + std::to_string(block) + " chunk " + std::to_string(chunk), &total,
                       &flips);
  }
  kernels::SetMathMode(kernels::MathMode::kFast);
  const std::vector<RunOutput> fast = RunGreedy(&model, forced, 1, 16, 7);
  kernels::SetMathMode(kernels::MathMode::kExact);
  CheckTeacherForced(lim, fx, fast, "fast math mode", &total, &flips);
  for (const Flip& fl : flips) {
    std::printf("  greedy flip: %s step %ld, golden top1 - top2 margin %.4f\n", fl.where.c_str(),
                static_cast<long>(fl.step), fl.margin);
  }
  std::printf(
      "%s: int8 weights (%s), teacher forced: |logit - golden| max %.4f, rms %.4f; "
      "%zu greedy flips in %zu steps\n",
      GetParam().c_str(), kernels::Int8LinearActive() ? "vnni" : "scalar reference", total.max_abs,
      total.Rms(), flips.size(), 4 * fx.golden.cases.size() * kSteps);
  EXPECT_LE(total.Rms(), lim.total_rms);
  EXPECT_LE(static_cast<int64_t>(flips.size()), lim.max_flips);
}

// Free-running greedy decode (the model's own tokens fed back), reported: where the ids leave
// the golden continuation and the golden top1 - top2 margin there; until then the step logits
// are held to the tolerance.
TEST_P(Int8ModelTest, FreeRunningGreedy) {
  ThreadPool pool(2);
  auto f = LoadFixture(GetParam(), &pool);
  ASSERT_TRUE(f.ok()) << f.status();
  const Fixture& fx = **f;
  const Limits lim = LimitsFor(GetParam());
  Qwen3Model model(fx.weights.get(), &pool);
  const int64_t V = fx.config.vocab_size;
  int64_t identical = 0;
  for (const GoldenCase& gc : fx.golden.cases) {
    const RunOutput out = RunGreedy(&model, {gc.prompt}, kSteps, 16, 1 << 20)[0];
    ASSERT_EQ(static_cast<int64_t>(out.step_logits.size()), kSteps * V);
    int64_t j = 0;
    while (j < kSteps && out.greedy_ids[j] == gc.greedy_ids[j]) ++j;
    Diff d;
    // Steps up to and including the first different id saw the golden history.
    const int64_t seen = std::min(kSteps, j + 1);
    ExpectClose(lim, out.step_logits.data(), gc.step_logits.data(), seen * V, "step logits", &d);
    if (j == kSteps) {
      ++identical;
      std::printf("  %s case %s: 16 greedy ids identical\n", GetParam().c_str(), gc.name.c_str());
    } else {
      std::printf(
          "  %s case %s: greedy ids identical for %ld steps, then %d instead of %d "
          "(golden top1 - top2 margin %.4f)\n",
          GetParam().c_str(), gc.name.c_str(), static_cast<long>(j), out.greedy_ids[j],
          gc.greedy_ids[j], gc.top5_logits[j * 5] - gc.top5_logits[j * 5 + 1]);
    }
  }
  EXPECT_GE(identical, lim.identical);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Int8ModelTest,
                         ::testing::Values("tiny-qwen3-dense", "tiny-qwen3-moe"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& ch : name) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

// A tied lm_head in a shard without the embedding is read from the embedding tensor and
// quantized; random weights quantize as they are drawn.
TEST(Int8Weights, TiedHeadInLastShardAndRandomWeights) {
  const std::string dir = FixtureDir("tiny-qwen3-dense");
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok());
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok());
  ShardSpec spec;
  spec.layer_begin = 1;
  spec.layer_end = config->num_hidden_layers;
  LoadOptions options;
  options.weight_format = WeightFormat::kInt8;
  auto w = ModelWeights::Load(std::move(*ckpt), *config, spec, options);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->lm_head().dtype, DType::kQ8);
  EXPECT_EQ((*w)->embedding().data, nullptr);

  auto r =
      ModelWeights::Random(*config, ShardSpec::Whole(*config), 7, nullptr, WeightFormat::kInt8);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->layer(0).gate.dtype, DType::kQ8);
  EXPECT_EQ((*r)->lm_head().dtype, DType::kQ8);
  EXPECT_EQ((*r)->embedding().dtype, DType::kBF16);
  EXPECT_EQ((*r)->matrix_bytes(),
            kernels::MatrixBytes((*r)->embedding()) + kernels::MatrixBytes((*r)->lm_head()) + [&] {
              int64_t b = 0;
              for (int64_t l = 0; l < config->num_hidden_layers; ++l) {
                const LayerWeights& lw = (*r)->layer(l);
                for (const kernels::Matrix* m :
                     {&lw.q, &lw.k, &lw.v, &lw.o, &lw.gate, &lw.up, &lw.down}) {
                  b += kernels::MatrixBytes(*m);
                }
              }
              return b;
            }());
  EXPECT_EQ(ParseWeightFormat("int8").value(), WeightFormat::kInt8);
  EXPECT_EQ(ParseWeightFormat("bf16").value(), WeightFormat::kBf16);
  EXPECT_FALSE(ParseWeightFormat("int4").ok());
}

}  // namespace
}  // namespace moe
