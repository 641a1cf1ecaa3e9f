#include "comm/nccl_communicator.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"

namespace moe::comm {
namespace {

absl::Status NcclError(ncclResult_t r, const char* what, ncclComm_t comm) {
  const char* last = comm != nullptr ? ncclGetLastError(comm) : nullptr;
  return absl::InternalError(absl::StrCat(
      "nccl: ", what, ": ", ncclGetErrorString(r), last != nullptr && *last != '\0' ? " (" : "",
      last != nullptr ? last : "", last != nullptr && *last != '\0' ? ")" : ""));
}

// Polls a non-blocking communicator until its pending operation finished.
absl::Status WaitReady(ncclComm_t comm, Clock::time_point deadline, const char* what) {
  while (true) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t r = ncclCommGetAsyncError(comm, &state);
    if (r != ncclSuccess) return NcclError(r, what, comm);
    if (state == ncclSuccess) return absl::OkStatus();
    if (state != ncclInProgress) return NcclError(state, what, comm);
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("nccl: ", what, " did not finish in time"));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    Communicator& bootstrap, Clock::time_point deadline) {
  const int rank = bootstrap.rank(), size = bootstrap.size();
  ncclUniqueId id;
  if (rank == 0) {
    const ncclResult_t r = ncclGetUniqueId(&id);
    if (r != ncclSuccess) return NcclError(r, "ncclGetUniqueId", nullptr);
    for (int dst = 1; dst < size; ++dst) {
      MOE_RETURN_IF_ERROR(bootstrap.Send(dst, kTagControl, &id, sizeof(id), deadline));
    }
  } else {
    MOE_RETURN_IF_ERROR(bootstrap.Recv(0, kTagControl, &id, sizeof(id), deadline));
  }
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // init may then time out instead of hanging on a lost rank
  ncclComm_t comm = nullptr;
  const ncclResult_t r = ncclCommInitRankConfig(&comm, size, id, rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) return NcclError(r, "ncclCommInitRankConfig", comm);
  absl::Status ready = WaitReady(comm, deadline, "ncclCommInitRankConfig");
  if (!ready.ok()) {
    ncclCommAbort(comm);
    return ready;
  }
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(comm, rank, size));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ == nullptr) return;
  if (aborted_ || !CheckAsyncError().ok()) {
    ncclCommAbort(comm_);
  } else {
    ncclCommDestroy(comm_);
  }
}

absl::Status NcclCommunicator::Check(ncclResult_t r, const char* what) {
  if (aborted_) return absl::FailedPreconditionError("nccl: communicator aborted");
  // Non-blocking communicators return ncclInProgress for enqueued work: that is success here;
  // errors of the work itself come from CheckAsyncError.
  if (r == ncclSuccess || r == ncclInProgress) return absl::OkStatus();
  return NcclError(r, what, comm_);
}

absl::Status NcclCommunicator::Send(const float* data, int64_t n, int peer, cudaStream_t stream) {
  return Check(ncclSend(data, static_cast<size_t>(n), ncclFloat32, peer, comm_, stream),
               "ncclSend");
}

absl::Status NcclCommunicator::Recv(float* data, int64_t n, int peer, cudaStream_t stream) {
  return Check(ncclRecv(data, static_cast<size_t>(n), ncclFloat32, peer, comm_, stream),
               "ncclRecv");
}

absl::Status NcclCommunicator::SendRecv(const float* send, int64_t send_n, int send_peer,
                                        float* recv, int64_t recv_n, int recv_peer,
                                        cudaStream_t stream) {
  MOE_RETURN_IF_ERROR(Check(ncclGroupStart(), "ncclGroupStart"));
  absl::Status s;
  if (recv_peer >= 0) s = Recv(recv, recv_n, recv_peer, stream);
  if (s.ok() && send_peer >= 0) s = Send(send, send_n, send_peer, stream);
  const absl::Status end = Check(ncclGroupEnd(), "ncclGroupEnd");  // always close the group
  MOE_RETURN_IF_ERROR(s);
  return end;
}

absl::Status NcclCommunicator::AllReduceSum(float* data, int64_t n, cudaStream_t stream) {
  return Check(
      ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat32, ncclSum, comm_, stream),
      "ncclAllReduce");
}

absl::Status NcclCommunicator::CheckAsyncError() {
  if (aborted_) return absl::FailedPreconditionError("nccl: communicator aborted");
  ncclResult_t state = ncclSuccess;
  const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
  if (r != ncclSuccess) return NcclError(r, "ncclCommGetAsyncError", comm_);
  if (state != ncclSuccess && state != ncclInProgress) return NcclError(state, "async", comm_);
  return absl::OkStatus();
}

void NcclCommunicator::Abort() {
  if (aborted_) return;
  ncclCommAbort(comm_);
  comm_ = nullptr;
  aborted_ = true;
}

}  // namespace moe::comm
