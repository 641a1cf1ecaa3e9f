// What moe-serve and moe-run share to run as one MPI job (DESIGN.md section 2): the layout
// flags, the worker ranks' life, and (moe-run) one generation driven from rank 0.
#pragma once

#include <cstdint>
#include <functional>

#include "comm/communicator.h"
#include "common/model_config.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "model/sampler.h"
#include "tools/model_source.h"
#include "worker/engine.h"
#include "worker/layout.h"

namespace moe {

class Flags;

// The flag names LayoutFromFlags reads (add them to Flags::Parse's list).
inline constexpr const char* kLayoutFlags[] = {"pp", "ep", "layer-split", "expert-map",
                                               "step-timeout"};

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

// A worker rank's whole life (see RunWorker): loads its shard of `source`.
absl::Status RunWorkerRank(comm::Communicator* world, const Layout& layout,
                           const ModelSource& source, const ModelConfig& config, int64_t kv_blocks,
                           int64_t block_size, double step_timeout_seconds, ThreadPool* pool);

// moe-run on rank 0: runs `request` on the job's workers through the coordinator's scheduler
// (chunked prefill under options.max_batch_tokens), calling on_token for every token like
// Engine::Generate, and shuts the workers down at the end.
absl::Status GenerateOnJob(comm::Communicator* world, const Layout& layout,
                           const ModelConfig& config, const GenerateRequest& request,
                           const EngineOptions& options, int64_t kv_blocks,
                           double step_timeout_seconds,
                           const std::function<void(const SampleResult&)>& on_token,
                           GenerateStats* stats);

// KV blocks for moe-run's job: one sequence of the model's whole context.
int64_t RunKvBlocks(const ModelConfig& config, int64_t block_size);

}  // namespace moe
