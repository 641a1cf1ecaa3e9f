// One distributed worker (DESIGN.md sections 2 and 3): MPI rank w + 1 of a job laid out by a
// Layout, holding the shard Layout::Shard(w). It receives every StepPlan from the coordinator
// (rank 0), takes the previous stage's activations (or embeds the tokens on stage 0), runs its
// layers (EP partial expert sums added up across its stage group), passes the activations on
// (or, on the last stage's EP rank 0, samples) and acknowledges each plan to the coordinator:
// the acknowledgement is a StepResult carrying the step id, the sampled tokens (sampling rank
// only) or an error. Plans run in the order they arrive.
//
// The shard runs on the worker's device through a ShardRunner (worker/shard_runner.h): the CPU
// StepRunner or, with `--device cuda[:N]`, CudaStepRunner. Activations cross stages in host
// memory, so CPU and GPU stages may be mixed.
//
// Start-up: after loading, each worker sends the coordinator a v1::WorkerHello (kTagControl):
// its host, pid, shard, device and bytes, or the error (no such device, load failure:
// SendHello).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "common/status.h"
#include "worker/layout.h"
#include "worker/shard_runner.h"

namespace moe {

struct ShardWorkerOptions {
  // Waits inside a step (activations from the previous stage, the EP all-reduce, sends) give up
  // after this long and report the peer that did not answer.
  double step_timeout_seconds = 30;
};

// Sends `hello` to the coordinator (rank 0 of `world`).
absl::Status SendHello(comm::Communicator* world, const v1::WorkerHello& hello);

class ShardWorker {
 public:
  // `world`: the job (rank 0 = coordinator); `stage`: this worker's EP group (size ep); both and
  // `runner` (over this worker's shard) must outlive the worker.
  ShardWorker(const Layout& layout, int64_t worker, comm::Communicator* world,
              comm::Communicator* stage, ShardRunner* runner, ShardWorkerOptions options);

  // Serves plans until a shutdown plan (OK) or a lost coordinator (UNAVAILABLE: no plan for two
  // step timeouts; the caller must then end the job, see comm/README.md).
  absl::Status Run();

 private:
  // Runs one plan; the StepResult to acknowledge it with (error set on failure).
  v1::StepResult Step(const v1::StepPlan& plan);
  // Waits for the previous activation send to finish.
  absl::Status FinishSend(comm::Clock::time_point deadline);

  Layout layout_;
  int64_t worker_, stage_index_, ep_rank_;
  comm::Communicator* world_;
  comm::Communicator* stage_;
  ShardRunner* runner_;
  ShardWorkerOptions options_;
  comm::Clock::time_point deadline_;
  absl::Status comm_error_;  // first EP all-reduce failure of the current step
  double comm_seconds_ = 0;  // the current step's time waiting for peers
  // The activation send in flight and its buffer.
  std::unique_ptr<comm::Request> send_;
  std::vector<float> send_buf_;
};

// Everything a worker process needs to serve its rank of a job.
struct WorkerLaunch {
  Layout layout;
  int64_t kv_blocks = 0;  // KV blocks (of the whole job's pool; each worker holds its layers')
  int64_t block_size = 16;
  // cpu, cuda:N, or cuda: this worker's local rank (WorkerLocalRank) modulo its host's devices.
  Device device;
  // The largest step the coordinator's scheduler sends (sizes CUDA buffers and graphs): tokens
  // (--max-batch-tokens), sequences (--max-num-seqs), positions per sequence (model length).
  int64_t max_tokens = 512;
  int64_t max_seqs = 256;
  int64_t max_seq_len = 4096;
  ShardWorkerOptions options;
  ThreadPool* pool = nullptr;
  // Loads (or draws) the weights of one shard.
  std::function<absl::StatusOr<std::unique_ptr<ModelWeights>>(const ShardSpec&)> load;
};

// The stage groups every rank of `world` creates at start (collective; rank 0, the coordinator,
// gets a group of its own). Workers of one stage, ordered by EP rank.
absl::StatusOr<std::unique_ptr<comm::Communicator>> SplitStages(comm::Communicator* world,
                                                                const Layout& layout);

// The life of worker rank world->rank() >= 1: splits the stage groups, resolves its device,
// loads its shard onto it, reports to the coordinator (SendHello; a device or load error is
// reported, then returned) and serves plans until shutdown.
absl::Status RunWorker(comm::Communicator* world, const WorkerLaunch& launch);

// This worker's index among the processes of its host (OpenMPI's OMPI_COMM_WORLD_LOCAL_RANK),
// or world->rank() - 1 when the launcher does not say.
int WorkerLocalRank(const comm::Communicator& world);

// This process's resident memory in bytes (0 where /proc is unavailable).
int64_t ResidentBytes();

}  // namespace moe
