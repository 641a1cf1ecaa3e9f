// Reading the model fixtures' goldens (golden.json + golden.safetensors) and driving a model
// through prefill and greedy decode with a paged KV cache, for the model tests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/model_config.h"
#include "common/safetensors.h"
#include "model/qwen3.h"
#include "model/weights.h"

namespace moe::testing {

struct GoldenCase {
  std::string name;
  std::vector<int32_t> prompt;
  std::vector<int32_t> greedy_ids;
  std::vector<float> logits;  // [rows, vocab]: all positions or the last one
  bool logits_all_positions = false;
  std::vector<float> step_logits;     // [16, vocab] (tiny models only; else empty)
  std::vector<int32_t> top5_ids;      // [16, 5]
  std::vector<float> top5_logits;     // [16, 5]
  std::vector<int32_t> router_ids;    // [layers, len, k] (MoE only)
  std::vector<float> router_weights;  // [layers, len, k]
};

struct Golden {
  double atol = 0, rtol = 0;
  std::vector<GoldenCase> cases;
};

// Reads DIR/golden.json and DIR/golden.safetensors.
absl::StatusOr<Golden> LoadGolden(const std::string& dir);

// |a - g| <= atol + rtol * |g| for all elements; on failure returns a message naming the first
// bad index, else "".
std::string CompareClose(const float* actual, const float* golden, int64_t n, double atol,
                         double rtol);

// What a run produced for one sequence.
struct RunOutput {
  std::vector<float> prompt_logits;  // [len, vocab]
  std::vector<int32_t> greedy_ids;   // [steps]
  std::vector<float> step_logits;    // [steps, vocab]: row j picked greedy_ids[j]
};

// Runs prompts through `model` together in one batch per step: prefill in chunks of at most
// `chunk` tokens (mixed with other sequences' decode tokens), then `steps` greedy decode steps.
// KV blocks are handed out interleaved across sequences so block tables are not contiguous.
std::vector<RunOutput> RunGreedy(Qwen3Model* model,
                                 const std::vector<std::vector<int32_t>>& prompts, int64_t steps,
                                 int64_t block_size, int64_t chunk);

}  // namespace moe::testing
