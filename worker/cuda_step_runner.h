// StepRunner's counterpart on a CUDA device (`--device cuda:N`): the same Prepare / hidden /
// Forward / Sample steps (worker/step_runner.h) over a CudaQwen3Model (weights in GPU memory,
// paged bf16 KV cache on the device, decode steps in CUDA graphs). Hidden states cross the
// worker boundary in host memory, so pipelines may mix CPU and GPU stages (host staging).
// Rows whose sampling is greedy or plain temperature are sampled on the GPU; rows with top-k,
// top-p, min-p, penalties, logprobs or suppressed tokens use the CPU Sampler on their logits.
//
// Thread-compatible: one thread drives it (the device must be current on that thread).
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

namespace moe {

class CudaStepRunner {
 public:
  explicit CudaStepRunner(std::unique_ptr<CudaQwen3Model> model) : model_(std::move(model)) {}

  // Expert parallel over host memory (MPI): copies the MoE output to the host, calls `fn`, copies
  // it back (turns CUDA graphs off). With NCCL, set the device hook on model().forward() instead.
  void set_ep_all_reduce_host(std::function<void(float* data, int64_t n)> fn);

  // As StepRunner: applies released ids and sequence updates, builds the batch; returns T.
  absl::StatusOr<int64_t> Prepare(const v1::StepPlan& plan);
  // Host scratch of [T, hidden] for the prepared batch.
  float* hidden(int64_t T);
  // Runs the shard on the prepared batch: the first shard embeds; later shards read `hidden`;
  // shards before the last write their output to `hidden`. The last shard also samples.
  absl::Status Forward(float* hidden);
  // Last shard: the prepared plan's sampled tokens.
  absl::StatusOr<v1::StepResult> Sample(const v1::StepPlan& plan);

  CudaQwen3Model& model() { return *model_; }
  int64_t num_sequences() const { return sequences_.size(); }

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
