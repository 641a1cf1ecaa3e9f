// The MPI transport (OpenMPI): host buffers, any hosts. MPI_Init_thread(SERIALIZED) once per
// process, MPI_Finalize at exit; each communicator owns an MPI_Comm with MPI_ERRORS_RETURN.
// Waits poll MPI_Test / MPI_Improbe (comm/mpi_poll.h) so every wait has a deadline.
#include <mpi.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "absl/strings/str_format.h"
#include "comm/collectives.h"
#include "comm/communicator.h"
#include "comm/mpi_poll.h"

namespace moe::comm {
namespace {

using internal::Backoff;
using internal::MpiError;

void FinalizeAtExit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

absl::Status InitMpiOnce() {
  static std::once_flag once;
  static absl::Status status;
  std::call_once(once, [] {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return;  // someone else owns MPI_Init / MPI_Finalize
    int provided = 0;
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) {
      status = MpiError("MPI_Init_thread", rc, -1);
      return;
    }
    std::atexit(FinalizeAtExit);
    if (provided < MPI_THREAD_SERIALIZED) {
      status = absl::FailedPreconditionError(
          absl::StrFormat("MPI_Init_thread: the MPI library gives thread level %d, moe-serve needs "
                          "MPI_THREAD_SERIALIZED (%d)",
                          provided, MPI_THREAD_SERIALIZED));
    }
  });
  return status;
}

absl::Status CheckBytes(int64_t bytes, const char* what) {
  if (bytes < 0 || bytes > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrFormat("MPI %s: %d bytes, at most %d in one message", what, bytes, INT_MAX));
  }
  return absl::OkStatus();
}

// A send (MPI_Isend) or a receive of any size (MPI_Improbe, then MPI_Imrecv).
class MpiRequest : public Request {
 public:
  // A started send.
  MpiRequest(MPI_Request request, int peer, int tag)
      : comm_(MPI_COMM_NULL), peer_(peer), tag_(tag), is_send_(true), request_(request) {}
  // A receive from `peer`, not yet matched.
  MpiRequest(MPI_Comm comm, int peer, int tag)
      : comm_(comm), peer_(peer), tag_(tag), is_send_(false) {}

  ~MpiRequest() override {
    if (request_ == MPI_REQUEST_NULL) return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    // Still in flight: let MPI finish it on its own; a receive keeps its buffer alive.
    MPI_Request_free(&request_);
    if (!is_send_) message_.release();  // leaked on purpose: MPI may still write it
  }

  absl::StatusOr<bool> Test() override {
    if (done_) return true;
    if (!is_send_ && request_ == MPI_REQUEST_NULL) {
      int found = 0;
      MPI_Message matched;
      MPI_Status status;
      int rc = MPI_Improbe(peer_, tag_, comm_, &found, &matched, &status);
      if (rc != MPI_SUCCESS) return MpiError("MPI_Improbe", rc, peer_);
      if (!found) return false;
      int count = 0;
      MPI_Get_count(&status, MPI_BYTE, &count);
      message_->resize(count);
      rc = MPI_Imrecv(message_->data(), count, MPI_BYTE, &matched, &request_);
      if (rc != MPI_SUCCESS) return MpiError("MPI_Imrecv", rc, peer_);
    }
    int flag = 0;
    int rc = MPI_Test(&request_, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return MpiError(is_send_ ? "MPI_Isend" : "MPI_Imrecv", rc, peer_);
    done_ = flag != 0;
    return done_;
  }

  absl::Status Wait(Clock::time_point deadline) override {
    const Clock::time_point start = Clock::now();
    Backoff backoff;
    while (true) {
      MOE_ASSIGN_OR_RETURN(bool done, Test());
      if (done) return absl::OkStatus();
      if (Clock::now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrFormat(
            "MPI %s rank %d (tag %d) not done %s; the rank died or hangs",
            is_send_ ? "send to" : "receive from", peer_, tag_, internal::ElapsedText(start)));
      }
      backoff.Pause();
    }
  }

  std::string& message() override { return *message_; }

 private:
  const MPI_Comm comm_;
  const int peer_, tag_;
  const bool is_send_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool done_ = false;
  std::unique_ptr<std::string> message_ = std::make_unique<std::string>();
};

class MpiCommunicator : public Communicator {
 public:
  // Takes ownership of `comm` (MPI_Comm_free on destruction).
  explicit MpiCommunicator(MPI_Comm comm) : comm_(comm) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string_view transport() const override { return "mpi"; }
  std::string host() const override {
    char name[MPI_MAX_PROCESSOR_NAME];
    int length = 0;
    if (MPI_Get_processor_name(name, &length) != MPI_SUCCESS) return "?";
    return std::string(name, length);
  }

  absl::Status Send(int dst, int tag, const void* data, int64_t bytes,
                    Clock::time_point deadline) override {
    MOE_ASSIGN_OR_RETURN(auto request, ISend(dst, tag, data, bytes));
    return request->Wait(deadline);
  }

  absl::StatusOr<std::unique_ptr<Request>> ISend(int dst, int tag, const void* data,
                                                 int64_t bytes) override {
    MOE_RETURN_IF_ERROR(CheckBytes(bytes, "send"));
    MPI_Request request;
    int rc = MPI_Isend(data, static_cast<int>(bytes), MPI_BYTE, dst, tag, comm_, &request);
    if (rc != MPI_SUCCESS) return MpiError("MPI_Isend", rc, dst);
    return std::unique_ptr<Request>(new MpiRequest(request, dst, tag));
  }

  absl::Status Recv(int src, int tag, void* data, int64_t bytes,
                    Clock::time_point deadline) override {
    MOE_RETURN_IF_ERROR(CheckBytes(bytes, "receive"));
    const Clock::time_point start = Clock::now();
    MPI_Request request;
    int rc = MPI_Irecv(data, static_cast<int>(bytes), MPI_BYTE, src, tag, comm_, &request);
    if (rc != MPI_SUCCESS) return MpiError("MPI_Irecv", rc, src);
    MPI_Status status;
    Backoff backoff;
    int flag = 0;
    while (true) {
      rc = MPI_Test(&request, &flag, &status);
      if (rc != MPI_SUCCESS || flag) break;
      if (Clock::now() >= deadline) {
        MOE_RETURN_IF_ERROR(CancelReceive(&request, &status, src, tag, start));
        rc = status.MPI_ERROR;  // matched just in time
        break;
      }
      backoff.Pause();
    }
    int error_class = rc;
    MPI_Error_class(rc, &error_class);
    if (error_class == MPI_ERR_TRUNCATE) {
      return absl::InternalError(absl::StrFormat(
          "MPI receive from rank %d (tag %d): message longer than the %d bytes expected", src, tag,
          bytes));
    }
    if (rc != MPI_SUCCESS) return MpiError("MPI_Irecv", rc, src);
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    if (count != bytes) {
      return absl::InternalError(absl::StrFormat(
          "MPI receive from rank %d (tag %d): expected %d bytes, got %d", src, tag, bytes, count));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Request>> IRecvMessage(int src, int tag) override {
    if (src < 0 || src >= size_) {
      return absl::InvalidArgumentError(
          absl::StrFormat("MPI receive: rank %d is not in 0..%d", src, size_ - 1));
    }
    return std::unique_ptr<Request>(new MpiRequest(comm_, src, tag));
  }

  absl::Status AllReduceSum(float* data, int64_t n, Clock::time_point deadline) override {
    return internal::RankOrderAllReduceSum(*this, data, n, deadline);
  }

  absl::Status Barrier(Clock::time_point deadline) override {
    return internal::GatherBarrier(*this, deadline);
  }

  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key) override {
    if (color < 0) return absl::InvalidArgumentError(absl::StrFormat("Split: color %d", color));
    MPI_Comm sub;
    int rc = MPI_Comm_split(comm_, color, key, &sub);
    if (rc != MPI_SUCCESS) return MpiError("MPI_Comm_split", rc, -1);
    MPI_Comm_set_errhandler(sub, MPI_ERRORS_RETURN);
    return std::unique_ptr<Communicator>(new MpiCommunicator(sub));
  }

  [[noreturn]] void Abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this is for the compiler
  }

 private:
  // Takes back a receive whose deadline passed: DEADLINE_EXCEEDED. A message that matched it
  // meanwhile and arrives within kCancelGrace counts (OK).
  static absl::Status CancelReceive(MPI_Request* request, MPI_Status* status, int src, int tag,
                                    Clock::time_point start) {
    static constexpr std::chrono::milliseconds kCancelGrace{100};
    MPI_Cancel(request);
    int flag = 0;
    const Clock::time_point give_up = Clock::now() + kCancelGrace;
    Backoff backoff;
    while (MPI_Test(request, &flag, status) == MPI_SUCCESS && !flag && Clock::now() < give_up) {
      backoff.Pause();
    }
    int cancelled = 0;
    if (flag) MPI_Test_cancelled(status, &cancelled);
    if (flag && !cancelled) return absl::OkStatus();
    if (!flag) MPI_Request_free(request);  // matched, but the sender stopped mid-message
    return absl::DeadlineExceededError(
        absl::StrFormat("MPI receive from rank %d (tag %d): no message %s; the rank died or hangs",
                        src, tag, internal::ElapsedText(start)));
  }

  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Communicator>> MpiWorld() {
  MOE_RETURN_IF_ERROR(InitMpiOnce());
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm world;
  int rc = MPI_Comm_dup(MPI_COMM_WORLD, &world);
  if (rc != MPI_SUCCESS) return MpiError("MPI_Comm_dup", rc, -1);
  MPI_Comm_set_errhandler(world, MPI_ERRORS_RETURN);
  return std::unique_ptr<Communicator>(new MpiCommunicator(world));
}

bool LaunchedByMpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && std::atoi(value) > 1) return true;
  }
  return false;
}

}  // namespace moe::comm
