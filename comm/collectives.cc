#include "comm/collectives.h"

#include <vector>

#include "absl/strings/str_format.h"

namespace moe::comm::internal {
namespace {

// Waits for every request (the first error wins, the rest are still waited for so that no
// buffer is released while MPI may write it).
absl::Status WaitAll(std::vector<std::unique_ptr<Request>>& requests, Clock::time_point deadline) {
  absl::Status first;
  for (auto& request : requests) {
    absl::Status status = request->Wait(deadline);
    if (!status.ok() && first.ok()) first = status;
  }
  return first;
}

}  // namespace

absl::Status RankOrderAllReduceSum(Communicator& comm, float* data, int64_t n,
                                   Clock::time_point deadline) {
  const int size = comm.size();
  if (size == 1 || n == 0) return absl::OkStatus();
  const int64_t bytes = n * static_cast<int64_t>(sizeof(float));
  if (comm.rank() != 0) {
    MOE_RETURN_IF_ERROR(comm.Send(0, kTagReduceIn, data, bytes, deadline));
    return comm.Recv(0, kTagReduceOut, data, bytes, deadline);
  }
  // Receive every rank's array at once, then add them in rank order.
  std::vector<std::unique_ptr<Request>> receives;
  for (int src = 1; src < size; ++src) {
    MOE_ASSIGN_OR_RETURN(auto request, comm.IRecvMessage(src, kTagReduceIn));
    receives.push_back(std::move(request));
  }
  MOE_RETURN_IF_ERROR(WaitAll(receives, deadline));
  for (int src = 1; src < size; ++src) {
    const std::string& message = receives[src - 1]->message();
    if (static_cast<int64_t>(message.size()) != bytes) {
      return absl::InternalError(absl::StrFormat(
          "AllReduceSum: rank %d sent %d bytes, rank 0 has %d (%d floats): every rank must pass "
          "the same n",
          src, message.size(), bytes, n));
    }
    const float* other = reinterpret_cast<const float*>(message.data());
    for (int64_t i = 0; i < n; ++i) data[i] += other[i];
  }
  std::vector<std::unique_ptr<Request>> sends;
  for (int dst = 1; dst < size; ++dst) {
    MOE_ASSIGN_OR_RETURN(auto request, comm.ISend(dst, kTagReduceOut, data, bytes));
    sends.push_back(std::move(request));
  }
  return WaitAll(sends, deadline);
}

absl::Status GatherBarrier(Communicator& comm, Clock::time_point deadline) {
  const int size = comm.size();
  if (size == 1) return absl::OkStatus();
  if (comm.rank() != 0) {
    MOE_RETURN_IF_ERROR(comm.Send(0, kTagBarrierIn, nullptr, 0, deadline));
    return comm.Recv(0, kTagBarrierOut, nullptr, 0, deadline);
  }
  for (int src = 1; src < size; ++src) {
    MOE_RETURN_IF_ERROR(comm.Recv(src, kTagBarrierIn, nullptr, 0, deadline));
  }
  for (int dst = 1; dst < size; ++dst) {
    MOE_RETURN_IF_ERROR(comm.Send(dst, kTagBarrierOut, nullptr, 0, deadline));
  }
  return absl::OkStatus();
}

std::string ElapsedText(Clock::time_point start) {
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return absl::StrFormat("after %.3f s", seconds);
}

}  // namespace moe::comm::internal
