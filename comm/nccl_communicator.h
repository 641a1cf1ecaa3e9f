// NCCL transport for GPU buffers (DESIGN.md section 2, STYLE.md "MPI bootstrap of NCCL"): the
// data calls of a pipeline stage (send / receive activations) and of an expert-parallel group
// (all-reduce of the MoE output) on device memory, enqueued on the worker's CUDA stream.
// Control (step plans, results) stays on the MPI Communicator that bootstraps it.
//
// A separate interface from comm::Communicator (whose calls take host buffers and deadlines):
// NCCL calls are asynchronous on a stream; errors of enqueued work surface through
// CheckAsyncError, which a worker polls between steps. Built only with CUDA + NCCL
// (MOE_WITH_NCCL); comm/README.md.
//
// Thread-compatible: one thread (the worker's) drives it; its device must be current.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdint>
#include <memory>

#include "comm/communicator.h"
#include "common/status.h"

namespace moe::comm {

class NcclCommunicator {
 public:
  // Collective over `bootstrap` (every rank of it calls this; NCCL ranks = its ranks): rank 0
  // draws an ncclUniqueId and sends it to every rank over `bootstrap` (tag kTagControl), then
  // all initialise a non-blocking NCCL communicator, polled until ready or `deadline`
  // (DEADLINE_EXCEEDED, the communicator aborted). REQUIRES: cudaSetDevice(this rank's GPU)
  // done; one rank per GPU.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(
      Communicator& bootstrap, Clock::time_point deadline = kNoDeadline);
  ~NcclCommunicator();  // ncclCommDestroy (ncclCommAbort after an error)
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Pipeline: sends / receives n fp32 device values to / from `peer`. The peer posts the
  // matching call with the same n (send the token count over MPI first).
  absl::Status Send(const float* data, int64_t n, int peer, cudaStream_t stream);
  absl::Status Recv(float* data, int64_t n, int peer, cudaStream_t stream);
  // Steady-state pipeline stage: receives the next micro-batch from `recv_peer` while sending
  // the finished one to `send_peer`, in one NCCL group (either peer may be -1: none).
  absl::Status SendRecv(const float* send, int64_t send_n, int send_peer, float* recv,
                        int64_t recv_n, int recv_peer, cudaStream_t stream);
  // Expert parallel: sums data[0..n) over all ranks in place (ncclAllReduce). Every rank gets
  // the same values; the summation order is NCCL's (not the rank order of the MPI transport's
  // AllReduceSum), so results may differ from it in the last bits. Capturable in CUDA graphs.
  absl::Status AllReduceSum(float* data, int64_t n, cudaStream_t stream);

  // OK, or the asynchronous error of enqueued work (then the communicator is unusable: Abort).
  absl::Status CheckAsyncError();
  // Aborts outstanding work (ncclCommAbort); later calls fail.
  void Abort();

 private:
  NcclCommunicator(ncclComm_t comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}
  absl::Status Check(ncclResult_t r, const char* what);

  ncclComm_t comm_;
  int rank_, size_;
  bool aborted_ = false;
};

}  // namespace moe::comm
