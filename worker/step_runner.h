// The CPU ShardRunner (worker/shard_runner.h): keeps each sequence's tokens (for the penalties,
// and to check that plans continue them), runs the shard's layers (model/qwen3.h) over its paged
// KV cache in host memory and, on the last shard, samples the sequences that ask for it. The
// in-process worker of `moe-serve` (the whole model: Run) and the body of each distributed
// worker on `--device cpu` (Prepare, Forward, Sample: worker/shard_worker.h).
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
#include "worker/shard_runner.h"

namespace moe {

class StepRunner : public ShardRunner {
 public:
  // `weights` (a shard) and `pool` must outlive the runner. The KV cache holds `num_blocks`
  // blocks of `block_size` tokens for each of the shard's layers.
  StepRunner(const ModelWeights* weights, ThreadPool* pool, int64_t num_blocks, int64_t block_size);

  absl::StatusOr<int64_t> Prepare(const v1::StepPlan& plan) override;
  float* hidden(int64_t T) override;
  // Never fails once Prepare succeeded.
  absl::Status Forward(float* hidden) override;
  absl::StatusOr<v1::StepResult> Sample(const v1::StepPlan& plan, const float* hidden) override;

  void set_ep_all_reduce(std::function<void(float* data, int64_t n)> fn) override {
    model_.set_ep_all_reduce(std::move(fn));
  }
  const ModelConfig& config() const override { return weights_->config(); }
  Device device() const override { return Device(); }
  int64_t num_sequences() const override { return sequences_.size(); }
  int64_t kv_bytes() const override { return cache_.num_blocks() * cache_.bytes_per_block(); }

  Qwen3Model& model() { return model_; }
  const KvCache& cache() const { return cache_; }

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
