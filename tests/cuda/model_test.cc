// The CUDA forward pass (model/cuda/cuda_qwen3.h) end to end on the fixture models against the
// independent reference's goldens (tests/data/models): prefill logits of every prompt position,
// then 16 greedy decode steps (decode steps through CUDA graphs). GPU sampling picks the tokens.
// Tolerance (bf16 GEMM inputs, fp32 residual stream and accumulation; provisional until measured
// on the H200): |a - g| <= 0.15 + 0.02 |g| on logits of std ~4; greedy ids exactly.
// Main build only (GoogleTest, abseil); skipped without a CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "common/file.h"
#include "common/model_config.h"
#include "common/safetensors.h"
#include "model/cuda/cuda_qwen3.h"
#include "tests/model/golden_util.h"

namespace moe {
namespace {

constexpr int64_t kSteps = 16;
constexpr double kAtol = 0.15, kRtol = 0.02;

bool HaveDevice() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

void CheckModel(const std::string& name) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device";
  const std::string dir = JoinPath(JoinPath(MOE_TEST_DATA_DIR, "models"), name);
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  std::shared_ptr<const Checkpoint> shared = std::move(*ckpt);
  auto weights = ModelWeights::Load(shared, *config, ShardSpec::Whole(*config));
  ASSERT_TRUE(weights.ok()) << weights.status();
  auto golden = testing::LoadGolden(dir);
  ASSERT_TRUE(golden.ok()) << golden.status();
  CudaModelOptions options;
  options.num_blocks = 64;
  options.block_size = 4;  // several blocks per prompt
  options.max_tokens = 256;
  options.max_seqs = 256;
  options.max_seq_len = 256;
  auto model = CudaQwen3Model::Create(**weights, options);
  ASSERT_TRUE(model.ok()) << model.status();
  const int64_t V = config->vocab_size;
  for (const testing::GoldenCase& c : golden->cases) {
    SCOPED_TRACE(c.name);
    const int64_t len = static_cast<int64_t>(c.prompt.size());
    SeqStep seq;
    seq.start_pos = 0;
    seq.num_tokens = len;
    for (int32_t b = 0; b < 64; ++b) seq.block_table.push_back(63 - b);  // not contiguous
    StepBatch batch;
    batch.tokens = c.prompt;
    batch.seqs = {seq};
    std::vector<CudaSampleRow> rows;
    for (int64_t i = 0; i < len; ++i) rows.push_back({i, 0.0f, 0, i + 1});
    ASSERT_TRUE((*model)->Forward(batch, rows, nullptr, nullptr).ok());
    std::vector<float> logits(static_cast<size_t>(len * V));
    ASSERT_TRUE((*model)->CopyLogits(len, logits.data()).ok());
    if (c.logits_all_positions) {
      EXPECT_EQ(testing::CompareClose(logits.data(), c.logits.data(), len * V, kAtol, kRtol), "");
    } else {
      EXPECT_EQ(
          testing::CompareClose(logits.data() + (len - 1) * V, c.logits.data(), V, kAtol, kRtol),
          "");
    }
    std::vector<int32_t> tokens;
    std::vector<float> logprobs;
    ASSERT_TRUE((*model)->Sampled(&tokens, &logprobs).ok());
    std::vector<int32_t> greedy = {tokens.back()};
    for (int64_t s = 1; s < kSteps; ++s) {
      StepBatch step;
      step.tokens = {greedy.back()};
      SeqStep d = seq;
      d.start_pos = len + s - 1;
      d.num_tokens = 1;
      step.seqs = {d};
      ASSERT_TRUE((*model)->Forward(step, {{0, 0.0f, 0, d.start_pos + 1}}, nullptr, nullptr).ok());
      ASSERT_TRUE((*model)->Sampled(&tokens, &logprobs).ok());
      greedy.push_back(tokens[0]);
    }
    EXPECT_EQ(greedy, c.greedy_ids);
  }
}

TEST(CudaModelTest, TinyMoeMatchesGolden) { CheckModel("tiny-qwen3-moe"); }
TEST(CudaModelTest, TinyDenseMatchesGolden) { CheckModel("tiny-qwen3-dense"); }

}  // namespace
}  // namespace moe
