// Runs StepPlans (DESIGN.md section 3) on a model shard holding the whole model: keeps each
// sequence's tokens for the penalties, runs the batch over the paged KV cache, samples the
// sequences that ask for it and returns their tokens. The in-process worker of `moe-serve`.
//
// Thread-compatible: one thread calls Run().
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"
#include "model/kv_cache.h"
#include "model/qwen3.h"
#include "model/sampler.h"
#include "model/weights.h"
#include "moe/v1/step.pb.h"

namespace moe {

// The worker's view of StepSampling.
SamplingParams ToSamplingParams(const v1::StepSampling& s);

class StepRunner {
 public:
  // `weights` (the whole model) and `pool` must outlive the runner. The KV cache holds
  // `num_blocks` blocks of `block_size` tokens per layer.
  StepRunner(const ModelWeights* weights, ThreadPool* pool, int64_t num_blocks, int64_t block_size);

  // Runs one plan. INVALID_ARGUMENT when the plan is inconsistent (unknown sequence, tokens
  // that do not continue the sequence, blocks outside the cache).
  absl::StatusOr<v1::StepResult> Run(const v1::StepPlan& plan);

  const KvCache& cache() const { return cache_; }
  int64_t num_sequences() const { return static_cast<int64_t>(seqs_.size()); }

 private:
  struct SeqState {
    SamplingParams sampling;
    int32_t min_tokens = 0;
    std::vector<int32_t> suppressed;
    int64_t prompt_len = 0;
    std::vector<int32_t> prompt;  // tokens [0, prompt_len) seen so far
    std::vector<int32_t> output;  // tokens after the prompt
  };

  const ModelWeights* weights_;
  Qwen3Model model_;
  KvCache cache_;
  Sampler sampler_;
  std::unordered_map<int64_t, SeqState> seqs_;
  std::vector<float> hidden_, logits_;
};

}  // namespace moe
