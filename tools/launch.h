// What moe-serve and moe-run share to run as one MPI job (DESIGN.md section 2): the layout
// flags, the worker ranks' life, the in-process worker (LocalExecutor), and (moe-run) one
// generation driven through the coordinator's scheduler.
#pragma once

#include <cstdint>
#include <functional>

#include "comm/communicator.h"
#include "common/model_config.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "coordinator/core/coordinator.h"
#include "model/sampler.h"
#include "tools/model_source.h"
#include "worker/engine.h"
#include "worker/layout.h"
#include "worker/shard_runner.h"

namespace moe {

class Flags;

// The flag names LayoutFromFlags reads (add them to Flags::Parse's list).
inline constexpr const char* kLayoutFlags[] = {"pp", "ep", "layer-split", "expert-map",
                                               "step-timeout"};

// Sequences in one step of moe-run (one request).
inline constexpr int64_t kRunMaxSeqs = 1;

struct JobFlags {
  LayoutOptions layout;
  double step_timeout_seconds = 30;
};
// Reads --pp, --ep, --layer-split, --expert-map, --step-timeout.
absl::StatusOr<JobFlags> JobFlagsFrom(const Flags& flags);

// Sets *world to the MPI world when this process was started by mpirun, null when alone (then
// `layout` must be a single worker: otherwise says how to launch), then checks the world's size
// against `layout`. *world is set before the check so that the caller's error exit can abort the
// job (with mpirun's recommended flags a rank's non-zero exit alone does not end it). The world
// lives as long as the process.
absl::Status JoinJob(const Layout& layout, const char* program, comm::Communicator** world);

// What a worker rank needs beyond the layout and the model (see WorkerLaunch).
struct WorkerRankOptions {
  int64_t kv_blocks = 0;
  int64_t block_size = 16;
  double step_timeout_seconds = 30;
  Device device;  // --device: cpu, cuda (by local rank) or cuda:N
  // The scheduler's limits: --max-batch-tokens, --max-num-seqs, the model length.
  int64_t max_tokens = 512;
  int64_t max_seqs = 256;
  int64_t max_seq_len = 4096;
};

// A worker rank's whole life (see RunWorker): loads its shard of `source` onto its device.
absl::Status RunWorkerRank(comm::Communicator* world, const Layout& layout,
                           const ModelSource& source, const ModelConfig& config,
                           const WorkerRankOptions& options, ThreadPool* pool);

// The in-process worker: a ShardRunner holding the whole model. REQUIRES: set_runner() before
// the coordinator starts; the runner outlives the executor's use.
class LocalExecutor : public StepExecutor {
 public:
  void set_runner(ShardRunner* runner) { runner_ = runner; }
  absl::StatusOr<v1::StepResult> Execute(const v1::StepPlan& plan) override {
    if (plan.shutdown() || runner_ == nullptr) return v1::StepResult();
    return runner_->Run(plan);
  }

 private:
  ShardRunner* runner_ = nullptr;
};

// moe-run through `executor` (its workers ready): runs `request` under the coordinator's
// scheduler (chunked prefill under options.max_batch_tokens, kRunMaxSeqs sequences per step,
// `kv_blocks` blocks of options.block_size), calling on_token for every token like
// Engine::Generate; stops the coordinator (and so the executor's workers) at the end.
absl::Status GenerateWith(StepExecutor* executor, const ModelConfig& config,
                          const GenerateRequest& request, const EngineOptions& options,
                          int64_t kv_blocks,
                          const std::function<void(const SampleResult&)>& on_token,
                          GenerateStats* stats);

// moe-run on rank 0: GenerateWith on the job's workers (a RemoteExecutor), which it shuts down
// at the end.
absl::Status GenerateOnJob(comm::Communicator* world, const Layout& layout,
                           const ModelConfig& config, const GenerateRequest& request,
                           const EngineOptions& options, int64_t kv_blocks,
                           double step_timeout_seconds,
                           const std::function<void(const SampleResult&)>& on_token,
                           GenerateStats* stats);

// KV blocks for moe-run's job: one sequence of the model's whole context.
int64_t RunKvBlocks(const ModelConfig& config, int64_t block_size);

}  // namespace moe
