// A ModelWeights shard on a CUDA device: uploads the weights once (bf16; F16/F32 converted on
// the way) into a CudaForward, or draws random weights on the device, and runs StepBatches
// (model/qwen3.h) on it. The worker's `--device cuda:N` path (worker/cuda_step_runner.h).
//
// Thread-compatible: one thread at a time drives it. Create selects the device (cudaSetDevice)
// on the calling thread; a thread that takes over calls MakeCurrent first.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "model/cuda/cuda_forward.h"
#include "model/qwen3.h"
#include "model/weights.h"

namespace moe {

// Buffers and graphs are sized for the largest step the scheduler may send: the worker takes
// max_tokens from --max-batch-tokens, max_seqs from --max-num-seqs and max_seq_len from the
// served model length (worker/shard_runner.h: ShardRunnerOptions).
struct CudaModelOptions {
  int device = 0;          // cuda:N
  int64_t num_blocks = 0;  // KV cache blocks per layer
  int64_t block_size = 16;
  int64_t max_tokens = 2048;   // tokens per step
  int64_t max_seqs = 256;      // sequences per step
  int64_t max_seq_len = 8192;  // positions per sequence (block table width)
  bool use_graphs = true;
};

// The sampling request of one row of a step (last shard).
struct CudaSampleRow {
  int64_t row = 0;           // row of the step's hidden states
  float temperature = 0.0f;  // 0: greedy
  uint64_t seed = 0;
  int64_t position = 0;  // position of the token being sampled
};

class CudaQwen3Model {
 public:
  // Uploads `weights` (BF16, F16 or F32 matrices; int8 is refused) to device options.device.
  static absl::StatusOr<std::unique_ptr<CudaQwen3Model>> Create(const ModelWeights& weights,
                                                                const CudaModelOptions& options);
  // Random weights drawn on the device (the values of ModelWeights::Random for `seed`).
  static absl::StatusOr<std::unique_ptr<CudaQwen3Model>> CreateRandom(
      const ModelConfig& config, const ShardSpec& spec, uint64_t seed,
      const CudaModelOptions& options);

  const ModelConfig& config() const { return config_; }
  const ShardSpec& spec() const { return spec_; }
  cuda::CudaForward& forward() { return *forward_; }
  int device() const { return device_; }
  // Bytes of the device KV cache (bf16 keys and values of the shard's layers).
  int64_t kv_bytes() const;

  // Makes this model's device the calling thread's current device.
  absl::Status MakeCurrent() const;

  // Checks a batch as Qwen3Model::ValidateBatch does, against this model's cache and limits.
  absl::Status ValidateBatch(const StepBatch& batch) const;
  // Runs the shard on `batch`. hidden_in: [T, hidden] host fp32 from the previous stage (null on
  // the first shard). hidden_out: [T, hidden] host (null: not copied out; the last shard needs
  // only its samples). `samples`: last shard only. Waits for the step.
  absl::Status Forward(const StepBatch& batch, const std::vector<CudaSampleRow>& samples,
                       const float* hidden_in, float* hidden_out);
  // After Forward on the last shard: the sampled tokens and their logprobs, [samples] each.
  absl::Status Sampled(std::vector<int32_t>* tokens, std::vector<float>* logprobs);
  // After Forward on the last shard: logits [samples, vocab] copied to the host (for the CPU
  // sampler when a row needs top-k/top-p/penalties/logprobs).
  absl::Status CopyLogits(int64_t rows, float* logits);

 private:
  CudaQwen3Model(const ModelConfig& config, const ShardSpec& spec) : config_(config), spec_(spec) {}
  absl::Status Init(const CudaModelOptions& options);
  absl::Status Upload(const ModelWeights& weights);

  ModelConfig config_;
  ShardSpec spec_;
  int device_ = 0;
  int64_t block_table_width_ = 0;
  std::unique_ptr<cuda::CudaForward> forward_;
};

}  // namespace moe
