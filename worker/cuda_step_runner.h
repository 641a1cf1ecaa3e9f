// The ShardRunner (worker/shard_runner.h) of a CUDA device (`--device cuda:N`): StepRunner's
// Prepare / hidden / Forward / Sample steps over a CudaQwen3Model (weights in GPU memory,
// paged bf16 KV cache on the device, decode steps in CUDA graphs). Hidden states cross the
// worker boundary in host memory, so pipelines may mix CPU and GPU stages (host staging).
// Rows whose sampling is greedy or plain temperature are sampled on the GPU; rows with top-k,
// top-p, min-p, penalties, logprobs or suppressed tokens use the CPU Sampler on their logits.
//
// Thread-compatible: one thread at a time drives it; Prepare makes the model's device current on
// the calling thread (the in-process coordinator steps it from its scheduler thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/status.h"
#include "model/cuda/cuda_qwen3.h"
#include "model/sampler.h"
#include "moe/v1/step.pb.h"
#include "worker/sequence_table.h"
#include "worker/shard_runner.h"

namespace moe {

class CudaStepRunner : public ShardRunner {
 public:
  explicit CudaStepRunner(std::unique_ptr<CudaQwen3Model> model) : model_(std::move(model)) {}

  // Expert parallel over host memory (MPI): copies the MoE output to the host, calls `fn`, copies
  // it back (turns CUDA graphs off). With NCCL, set the device hook on model().forward() instead.
  void set_ep_all_reduce(std::function<void(float* data, int64_t n)> fn) override;

  // As StepRunner: applies released ids and sequence updates, builds the batch; returns T.
  absl::StatusOr<int64_t> Prepare(const v1::StepPlan& plan) override;
  float* hidden(int64_t T) override;
  // Runs the shard on the prepared batch: the first shard embeds; later shards read `hidden`;
  // shards before the last write their output to `hidden`. The last shard also samples (on the
  // device; `hidden` is left as it was).
  absl::Status Forward(float* hidden) override;
  // Last shard: the prepared plan's sampled tokens (`hidden` is not used).
  absl::StatusOr<v1::StepResult> Sample(const v1::StepPlan& plan, const float* hidden) override;

  const ModelConfig& config() const override { return model_->config(); }
  Device device() const override { return {Device::Kind::kCuda, model_->device()}; }
  int64_t num_sequences() const override { return sequences_.size(); }
  int64_t kv_bytes() const override { return model_->kv_bytes(); }

  CudaQwen3Model& model() { return *model_; }

 private:
  // Whether the GPU sampler gives this row the CPU sampler's answer.
  static bool GpuSamplable(const SequenceState& s);

  std::unique_ptr<CudaQwen3Model> model_;
  Sampler sampler_;
  SequenceTable sequences_;
  StepBatch batch_;
  std::vector<SequenceState*> states_;
  std::vector<CudaSampleRow> samples_;
  std::vector<int> sample_seq_;  // plan index of each sample row
  std::vector<float> hidden_, logits_, staging_;
};

}  // namespace moe
