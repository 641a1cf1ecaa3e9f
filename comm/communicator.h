// Moving bytes between the processes of one job (DESIGN.md section 2): the coordinator and its
// workers. One interface, several transports: `mpi` (OpenMPI, host buffers, any hosts),
// `local` (threads of one process, for tests), later `nccl` (GPU buffers).
//
// Ranks are 0..size()-1 of this communicator. A Communicator is used from one thread at a time
// (MPI_THREAD_SERIALIZED: any thread, never two at once; the coordinator hands its world from
// the main thread to its step loop and back). Messages
// between one pair of ranks with the same tag arrive in the order they were sent.
//
// Every call that waits takes a deadline: a peer that died or hangs gives DEADLINE_EXCEEDED
// (naming the peer rank) instead of blocking forever, so that the coordinator can end its
// streams and exit. Waiting polls with a short backoff (spin, then sleep 50..200 us), so an idle
// rank does not eat a core.
//
// Failures (comm/README.md): after a peer failed, end the rank with Abort(), not by returning
// from main: MPI_Finalize waits for every rank, and a rank blocked on the failed peer never
// gets there. Run jobs with `mpirun --mca orte_abort_on_non_zero_status 0 --mca
// odls_base_sigkill_timeout 0` so that mpirun does not kill rank 0 before its deadline names
// the failed rank.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace moe::comm {

using Clock = std::chrono::steady_clock;
// No deadline: wait as long as it takes.
inline constexpr Clock::time_point kNoDeadline = Clock::time_point::max();

// Tags of the job's message streams.
enum Tag : int {
  kTagPlan = 1,        // coordinator -> every worker: a serialized v1::StepPlan
  kTagResult = 2,      // last stage's EP rank 0 -> coordinator: a serialized v1::StepResult
  kTagActivation = 3,  // stage s -> stage s + 1: hidden states [T, hidden] fp32
  kTagAck = 4,         // every worker -> coordinator: step done (liveness, names a slow rank)
  kTagControl = 5,     // start-up and shutdown messages
  // Tags from kTagReserved up are the communicator's own (AllReduceSum, Barrier).
  kTagReserved = 32000,
};

// A receive started with IRecvMessage / a send started with ISend: poll it or wait for it.
// A Request must not outlive the Communicator that made it. Destroying a pending send request
// abandons it: its data must then stay valid until the process ends.
class Request {
 public:
  virtual ~Request() = default;
  // True once complete (then message() holds the bytes of a receive). Errors end it too.
  virtual absl::StatusOr<bool> Test() = 0;
  // Waits until complete or `deadline` (DEADLINE_EXCEEDED, the request stays pending).
  virtual absl::Status Wait(Clock::time_point deadline) = 0;
  // The received bytes (receives only), valid after completion.
  virtual std::string& message() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "mpi", "local".
  virtual std::string_view transport() const = 0;
  // Where this rank runs (host name for MPI), for messages.
  virtual std::string host() const = 0;

  // Blocking send of `bytes` to `dst` (returns when `data` may be reused). On
  // DEADLINE_EXCEEDED the message may still be in flight: `data` must stay valid until the
  // process ends (treat the peer as lost and Abort). Tags: 0 <= tag < kTagReserved.
  virtual absl::Status Send(int dst, int tag, const void* data, int64_t bytes,
                            Clock::time_point deadline = kNoDeadline) = 0;
  // Non-blocking send: `data` must stay valid and unchanged until the request completes.
  virtual absl::StatusOr<std::unique_ptr<Request>> ISend(int dst, int tag, const void* data,
                                                         int64_t bytes) = 0;
  // Receives one message of exactly `bytes` from `src` (INTERNAL when the size differs). On
  // DEADLINE_EXCEEDED nothing was received: a later message is left for the next receive.
  virtual absl::Status Recv(int src, int tag, void* data, int64_t bytes,
                            Clock::time_point deadline = kNoDeadline) = 0;
  // Receives one message of any size from `src`.
  absl::StatusOr<std::string> RecvMessage(int src, int tag,
                                          Clock::time_point deadline = kNoDeadline) {
    MOE_ASSIGN_OR_RETURN(std::unique_ptr<Request> request, IRecvMessage(src, tag));
    MOE_RETURN_IF_ERROR(request->Wait(deadline));
    return std::move(request->message());
  }
  // Starts receiving one message of any size from `src`.
  virtual absl::StatusOr<std::unique_ptr<Request>> IRecvMessage(int src, int tag) = 0;

  // Sums data[0..n) over all ranks of this communicator, in place (same result on every rank,
  // bit for bit: rank 0 adds the ranks' arrays in rank order, ((x0 + x1) + x2) + ..., and sends
  // the sum back). Every rank passes the same n.
  virtual absl::Status AllReduceSum(float* data, int64_t n,
                                    Clock::time_point deadline = kNoDeadline) = 0;
  // Waits until every rank has called it.
  virtual absl::Status Barrier(Clock::time_point deadline = kNoDeadline) = 0;

  // A communicator over the ranks that pass the same `color` (>= 0), ordered by `key`, ties by
  // rank (MPI_Comm_split). Collective: every rank of this communicator calls it; it has no
  // deadline (start-up only). The result is independent of this one (either may go first).
  virtual absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key) = 0;

  // Ends the whole job now with `code` (MPI_Abort): for a rank that cannot go on.
  [[noreturn]] virtual void Abort(int code) = 0;
};

// The MPI world of this process (MPI_Init_thread(SERIALIZED) on first call, MPI_Finalize at exit;
// a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN). Collective over the world. For
// processes started by mpirun or as singletons; comm/mpi_communicator.cc.
absl::StatusOr<std::unique_ptr<Communicator>> MpiWorld();
// True when this process was started by mpirun with more than one rank (reads the launcher's
// environment, does not initialise MPI).
bool LaunchedByMpirun();

// `size` communicators joined in this process, one per rank, for tests: hand each to its own
// thread. comm/local_communicator.cc.
std::vector<std::unique_ptr<Communicator>> LocalWorld(int size);

}  // namespace moe::comm
