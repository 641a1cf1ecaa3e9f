// Runs StepPlans (DESIGN.md section 3) on one model shard: keeps each sequence's tokens (for
// the penalties, and to check that plans continue them), runs the shard's layers over its paged
// KV cache and, on the last shard, samples the sequences that ask for it. The in-process worker
// of `moe-serve` (the whole model: Run) and the body of each distributed worker (Prepare,
// Forward, Sample: worker/shard_worker.h).
//
// Thread-compatible: one thread calls Run().
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"
#include "model/kv_cache.h"
#include "model/qwen3.h"
#include "model/sampler.h"
#include "model/weights.h"
#include "moe/v1/step.pb.h"
#include "worker/sequence_table.h"

namespace moe {

class StepRunner {
 public:
  // `weights` (a shard) and `pool` must outlive the runner. The KV cache holds `num_blocks`
  // blocks of `block_size` tokens for each of the shard's layers.
  StepRunner(const ModelWeights* weights, ThreadPool* pool, int64_t num_blocks, int64_t block_size);

  // Runs one plan on a shard holding the whole model: Prepare, Forward, Sample. INVALID_ARGUMENT
  // when the plan is inconsistent (unknown sequence, tokens that do not continue the sequence,
  // blocks outside the cache).
  absl::StatusOr<v1::StepResult> Run(const v1::StepPlan& plan);

  // Applies the plan's released ids and sequence updates and builds its batch; returns the
  // number of tokens T (0: nothing to compute). Errors as Run.
  absl::StatusOr<int64_t> Prepare(const v1::StepPlan& plan);
  // Runs the shard's layers on the prepared batch. hidden: [T, hidden]; the first shard embeds
  // the tokens into it, later shards pass the previous stage's output; holds this shard's output
  // on return.
  void Forward(float* hidden);
  // Last shard: logits and sampling for the prepared plan's sampling sequences.
  v1::StepResult Sample(const v1::StepPlan& plan, const float* hidden);

  Qwen3Model& model() { return model_; }
  // Scratch of [T, hidden] for the prepared batch.
  float* hidden(int64_t T);

  const KvCache& cache() const { return cache_; }
  int64_t num_sequences() const { return sequences_.size(); }

 private:
  const ModelWeights* weights_;
  Qwen3Model model_;
  KvCache cache_;
  Sampler sampler_;
  SequenceTable sequences_;
  // The prepared plan's batch and its sequences' states.
  StepBatch batch_;
  std::vector<SequenceState*> states_;
  std::vector<float> hidden_, logits_;
};

}  // namespace moe
