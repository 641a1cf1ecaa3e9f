// What runs StepPlans (DESIGN.md section 3) on one model shard, whatever the device: the CPU
// StepRunner (worker/step_runner.h) and, in CUDA builds, CudaStepRunner
// (worker/cuda_step_runner.h). The in-process worker of moe-serve / moe-run calls Run (a shard
// holding the whole model); a distributed worker (worker/shard_worker.h) calls Prepare, hidden,
// Forward and Sample around its activation transfers. Also the device a worker runs on
// (`--device cpu|cuda|cuda:N`), whether this build and machine have it, and the factory.
//
// Thread-compatible: one thread drives a runner (for CUDA, the same thread every step is not
// required: each step selects the runner's device).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/model_config.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "model/weights.h"
#include "moe/v1/step.pb.h"

namespace moe {

// A worker's device. `cuda` without an ordinal (index -1) is resolved per process
// (ResolveDevice).
struct Device {
  enum class Kind { kCpu, kCuda };
  Kind kind = Kind::kCpu;
  int index = -1;  // CUDA ordinal; -1: not chosen yet

  bool is_cuda() const { return kind == Kind::kCuda; }
  // "cpu", "cuda" or "cuda:N".
  std::string ToString() const;
  friend bool operator==(const Device& a, const Device& b) {
    return a.kind == b.kind && a.index == b.index;
  }
};

// Whether this binary was built with the CUDA backend.
bool CudaBuilt();

// The concrete device this process uses: cpu as is; `cuda` becomes cuda:(local_rank mod the
// number of visible devices) (so that the workers of one host spread over its GPUs), cuda:N is
// checked to exist. FAILED_PRECONDITION, with the reason, when the build has no CUDA backend or
// the machine no such device.
absl::StatusOr<Device> ResolveDevice(const Device& device, int local_rank = 0);

class ShardRunner {
 public:
  virtual ~ShardRunner() = default;

  // Runs one plan on a shard holding the whole model: Prepare, Forward, Sample, with the step's
  // compute time. Errors as Prepare / Forward / Sample.
  absl::StatusOr<v1::StepResult> Run(const v1::StepPlan& plan);

  // Applies the plan's released ids and sequence updates and builds its batch; returns the
  // number of tokens T (0: nothing to compute). INVALID_ARGUMENT when the plan is inconsistent
  // (unknown sequence, tokens that do not continue the sequence, blocks outside the cache,
  // a step over the runner's limits).
  virtual absl::StatusOr<int64_t> Prepare(const v1::StepPlan& plan) = 0;
  // Host scratch of [T, hidden] for the prepared batch (valid until the next call).
  virtual float* hidden(int64_t T) = 0;
  // Runs the shard's layers on the prepared batch. The first shard embeds the tokens; later
  // shards read the previous stage's output from `hidden`; a shard before the last leaves its
  // output in `hidden` (the last shard may leave anything there).
  virtual absl::Status Forward(float* hidden) = 0;
  // Last shard, after Forward: the prepared plan's sampled tokens. `hidden` is what Forward
  // was given.
  virtual absl::StatusOr<v1::StepResult> Sample(const v1::StepPlan& plan, const float* hidden) = 0;

  // Expert parallelism: `fn` sums [n] host floats across the stage's EP group in place; called
  // once per MoE layer inside Forward. Set before the first step.
  virtual void set_ep_all_reduce(std::function<void(float* data, int64_t n)> fn) = 0;

  virtual const ModelConfig& config() const = 0;
  virtual Device device() const = 0;
  virtual int64_t num_sequences() const = 0;
  // Bytes of this runner's KV cache.
  virtual int64_t kv_bytes() const = 0;
};

struct ShardRunnerOptions {
  Device device;           // resolved (ResolveDevice)
  int64_t num_blocks = 0;  // KV cache blocks
  int64_t block_size = 16;
  // CUDA buffers and graphs are sized for what the scheduler may send: tokens and sequences
  // per step, positions per sequence.
  int64_t max_tokens = 512;
  int64_t max_seqs = 256;
  int64_t max_seq_len = 4096;
};

// A runner over `weights` (a shard; with CUDA, uploaded to the device and no longer needed
// afterwards; on the CPU, it and `pool` must outlive the runner). FAILED_PRECONDITION for a
// CUDA device in a build without CUDA; errors of the upload (device memory, weight dtype).
absl::StatusOr<std::unique_ptr<ShardRunner>> MakeShardRunner(const ModelWeights* weights,
                                                             ThreadPool* pool,
                                                             const ShardRunnerOptions& options);

}  // namespace moe
