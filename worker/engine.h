// An in-process engine over one model shard holding the whole model: runs steps (a batch of
// sequences' prefill chunks and decode tokens) and samples. `moe-run` and `moe-bench offline`
// drive it; the service's coordinator sends it the same steps as StepPlans.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"
#include "model/kv_cache.h"
#include "model/qwen3.h"
#include "model/sampler.h"
#include "model/weights.h"

namespace moe {

struct EngineOptions {
  int64_t block_size = 16;         // tokens per KV block
  int64_t max_batch_tokens = 512;  // token budget of one step (prefill is chunked to it)
};

struct GenerateRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int64_t max_tokens = 256;
  std::vector<int32_t> stop_ids;  // stop after emitting one of these (unless ignore_eos)
  bool ignore_eos = false;
};

// Why a sequence stopped.
enum class FinishReason { kNone, kStop, kLength };

struct GenerateStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_seconds = 0;  // steps that carried prompt tokens
  double decode_seconds = 0;   // steps of decode tokens only
  int64_t decode_steps = 0;
  int64_t decode_weight_bytes = 0;  // weight bytes streamed by the decode-only steps
};

class Engine {
 public:
  // `weights` (a whole-model shard) and `pool` must outlive the engine.
  Engine(const ModelWeights* weights, ThreadPool* pool, EngineOptions options);

  // Called for every generated token of request `index`; `finish` is set on its last token.
  // Return false to stop that request early.
  using TokenFn =
      std::function<bool(int64_t index, const SampleResult& token, FinishReason finish)>;

  // Runs the requests together (continuous batching: decodes first, then prefill chunks under
  // the token budget) until each stops. INVALID_ARGUMENT for a bad request (names which and why).
  absl::Status Generate(const std::vector<GenerateRequest>& requests, const TokenFn& on_token,
                        GenerateStats* stats);

  Qwen3Model& model() { return model_; }

 private:
  const ModelWeights* weights_;
  EngineOptions options_;
  Qwen3Model model_;
  Sampler sampler_;
};

}  // namespace moe
