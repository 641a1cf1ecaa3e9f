// A tiny MPI job for the failure tests (run_worker_death.sh): rank 0 sends a step to every
// worker and waits for each worker's ack with a deadline; workers wait for steps with a longer
// deadline. One rank fails at step 3:
//   kill: the victim worker SIGKILLs itself; hang: the victim stops answering;
//   coordinator: rank 0 SIGKILLs itself.
// Whoever notices first says which rank stopped answering and ends the job with Abort:
// rank 0 with code 3, a worker with code 4. The job passes all 10 steps only with --mode none.
//
// Usage: mpi_worker_death --mode kill|hang|coordinator|none [--victim R] [--timeout-ms MS]
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "comm/communicator.h"

namespace moe::comm {
namespace {

struct Options {
  std::string mode = "none";
  int victim = 2;
  int timeout_ms = 1000;
};

void Report(const Communicator& world, const absl::Status& status) {
  std::fprintf(stderr, "rank %d (%s): %s\n", world.rank(), world.host().c_str(),
               std::string(status.message()).c_str());
}

int Coordinator(Communicator& world, const Options& options) {
  const auto timeout = std::chrono::milliseconds(options.timeout_ms);
  for (int step = 0; step < 10; ++step) {
    if (options.mode == "coordinator" && step == 3) std::raise(SIGKILL);
    for (int w = 1; w < world.size(); ++w) {
      absl::Status status = world.Send(w, kTagPlan, &step, sizeof(step), Clock::now() + timeout);
      if (!status.ok()) {
        Report(world, status);
        world.Abort(3);
      }
    }
    const Clock::time_point deadline = Clock::now() + timeout;
    for (int w = 1; w < world.size(); ++w) {
      int ack = -1;
      absl::Status status = world.Recv(w, kTagAck, &ack, sizeof(ack), deadline);
      if (!status.ok()) {
        Report(world, status);
        std::fprintf(stderr, "coordinator: worker rank %d stopped answering at step %d\n", w, step);
        world.Abort(3);
      }
    }
  }
  int stop = -1;
  for (int w = 1; w < world.size(); ++w) {
    if (!world.Send(w, kTagPlan, &stop, sizeof(stop), Clock::now() + timeout).ok()) return 3;
  }
  std::fprintf(stderr, "coordinator: 10 steps done\n");
  return 0;
}

int Worker(Communicator& world, const Options& options) {
  // Twice the coordinator's timeout, so that rank 0 notices a failed worker first.
  const auto timeout = std::chrono::milliseconds(2 * options.timeout_ms);
  while (true) {
    int step = 0;
    absl::Status status = world.Recv(0, kTagPlan, &step, sizeof(step), Clock::now() + timeout);
    if (!status.ok()) {
      Report(world, status);
      std::fprintf(stderr, "worker %d: the coordinator (rank 0) stopped answering\n", world.rank());
      world.Abort(4);
    }
    if (step < 0) return 0;
    if (world.rank() == options.victim && step == 3) {
      if (options.mode == "kill") std::raise(SIGKILL);
      if (options.mode == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
    }
    status = world.Send(0, kTagAck, &step, sizeof(step), Clock::now() + timeout);
    if (!status.ok()) {
      Report(world, status);
      world.Abort(4);
    }
  }
}

}  // namespace
}  // namespace moe::comm

int main(int argc, char** argv) {
  moe::comm::Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--mode")) options.mode = argv[i + 1];
    if (!std::strcmp(argv[i], "--victim")) options.victim = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--timeout-ms")) options.timeout_ms = std::atoi(argv[i + 1]);
  }
  auto world = moe::comm::MpiWorld();
  if (!world.ok()) {
    std::fprintf(stderr, "%s\n", std::string(world.status().message()).c_str());
    return 1;
  }
  const int code = (*world)->rank() == 0 ? moe::comm::Coordinator(**world, options)
                                         : moe::comm::Worker(**world, options);
  world->reset();
  return code;
}
