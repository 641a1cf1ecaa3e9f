// Helpers of the MPI transport: the polling backoff and MPI error codes as absl::Status.
// Internal to comm/.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/str_format.h"
#include "comm/communicator.h"

namespace moe::comm::internal {

// How a waiting rank polls: MPI_Test back to back for the first kSpin, then sleeps between
// polls, 50 us doubling up to 200 us, so that an idle rank leaves the core to others (OpenMPI's
// own blocking calls spin at 100% CPU). One Backoff per wait; not thread-safe.
class Backoff {
 public:
  static constexpr std::chrono::microseconds kSpin{50};
  static constexpr std::chrono::microseconds kFirstSleep{50};
  static constexpr std::chrono::microseconds kMaxSleep{200};

  void Pause() {
    const Clock::time_point now = Clock::now();
    if (start_ == Clock::time_point()) start_ = now;
    if (now - start_ < kSpin) return;
    std::this_thread::sleep_for(sleep_);
    sleep_ = std::min(sleep_ * 2, kMaxSleep);
  }

 private:
  Clock::time_point start_;
  std::chrono::microseconds sleep_ = kFirstSleep;
};

// "MPI_Isend to rank 2: MPI_ERR_TRUNCATE: message truncated" as UNAVAILABLE (INTERNAL for
// argument errors); `peer` < 0 names no rank.
inline absl::Status MpiError(const char* call, int rc, int peer) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(rc, text, &length) != MPI_SUCCESS) length = 0;
  int error_class = rc;
  MPI_Error_class(rc, &error_class);
  std::string message =
      peer >= 0 ? absl::StrFormat("%s with rank %d: %s (MPI error %d)", call, peer,
                                  std::string(text, length), rc)
                : absl::StrFormat("%s: %s (MPI error %d)", call, std::string(text, length), rc);
  switch (error_class) {
    case MPI_ERR_BUFFER:
    case MPI_ERR_COUNT:
    case MPI_ERR_TYPE:
    case MPI_ERR_TAG:
    case MPI_ERR_RANK:
    case MPI_ERR_ARG:
      return absl::InvalidArgumentError(message);
    case MPI_ERR_TRUNCATE:
      return absl::InternalError(message);
    default:
      return absl::UnavailableError(message);
  }
}

}  // namespace moe::comm::internal
