// The coordinator's side of a distributed job (DESIGN.md sections 2 and 3): sends every
// StepPlan to all workers (MPI ranks 1..P*E) and collects each worker's acknowledgement; the
// one from the sampling worker (last stage, EP rank 0) carries the sampled tokens. Keeps up to P
// plans in flight so that every pipeline stage has work.
//
// A worker that reports an error, or does not acknowledge a plan within the step timeout, makes
// Next() fail with UNAVAILABLE naming its rank, stage, EP rank and host: the coordinator then
// ends every stream and the job exits non-zero.
//
// Thread-compatible: the coordinator's loop thread calls everything (after AwaitWorkers).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "coordinator/core/coordinator.h"
#include "moe/v1/step.pb.h"

namespace moe {

struct RemoteExecutorOptions {
  int64_t pp = 1;
  int64_t ep = 1;
  double step_timeout_seconds = 30;
};

// Totals over the steps run so far (plans with sequences).
struct RemoteStats {
  int64_t steps = 0;
  double step_seconds = 0;     // from the plan's turn (its predecessor's end) to its result
  double compute_seconds = 0;  // per step, the slowest worker's time on it
  double comm_seconds = 0;     // per step, the longest any worker waited for peers
  int64_t most_in_flight = 0;  // the most plans submitted and not answered at once
};

class RemoteExecutor : public StepExecutor {
 public:
  // `world` (rank 0 of a job of 1 + pp * ep ranks) must outlive the executor.
  RemoteExecutor(comm::Communicator* world, RemoteExecutorOptions options);

  // Waits for every worker's start-up report (no time limit: loading takes what it takes).
  // FAILED_PRECONDITION naming the rank when one could not load its shard.
  absl::StatusOr<std::vector<v1::WorkerHello>> AwaitWorkers();

  absl::StatusOr<v1::StepResult> Execute(const v1::StepPlan& plan) override;
  int max_in_flight() const override { return static_cast<int>(options_.pp); }
  absl::Status Submit(const v1::StepPlan& plan) override;
  absl::StatusOr<v1::StepResult> Next() override;
  void Shutdown() override;
  // Half the step timeout: workers wait two step timeouts for the next plan.
  double heartbeat_seconds() const override { return options_.step_timeout_seconds / 2; }

  // "rank 3 (stage 1, ep 0, host h)".
  std::string DescribeRank(int rank) const;
  const RemoteStats& stats() const { return stats_; }

 private:
  struct Pending {
    int64_t step_id = 0;
    bool has_seqs = false;                     // not a heartbeat or a plan of released ids only
    std::shared_ptr<const std::string> bytes;  // the plan, alive until its sends complete
    std::vector<std::unique_ptr<comm::Request>> sends;
  };

  int num_workers() const { return static_cast<int>(options_.pp * options_.ep); }
  int sampling_rank() const { return static_cast<int>(1 + (options_.pp - 1) * options_.ep); }

  comm::Communicator* world_;
  RemoteExecutorOptions options_;
  std::vector<std::string> hosts_;  // [rank], from the workers' hellos
  std::deque<Pending> pending_;
  comm::Clock::time_point last_done_;
  RemoteStats stats_;
};

}  // namespace moe
