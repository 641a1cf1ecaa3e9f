// The in-process transport: ranks are threads of one process sharing a Hub of mailboxes, one
// FIFO per (src, dst, tag). Sends copy into the mailbox and never block; receives wait on the
// hub's condition variable until a message or the deadline.
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <tuple>

#include "absl/strings/str_format.h"
#include "comm/collectives.h"
#include "comm/communicator.h"

namespace moe::comm {
namespace {

struct Hub;

// One Split call in progress on a hub: each rank leaves (color, key), the last one to arrive
// builds the new hubs.
struct SplitRound {
  std::vector<int> color, key;
  int arrived = 0;
  int taken = 0;
  bool ready = false;
  std::vector<std::shared_ptr<Hub>> hub;  // per old rank: its new hub
  std::vector<int> new_rank;              // per old rank
};

struct Hub {
  explicit Hub(int size) : size(size) {}
  const int size;
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::tuple<int, int, int>, std::deque<std::string>> mail;  // (src, dst, tag)
  std::map<int64_t, SplitRound> splits;                               // by generation
};

// Waits on `hub.cv` with `lock` held until `done()` or `deadline`; true when done.
template <typename Done>
bool WaitUntil(Hub& hub, std::unique_lock<std::mutex>& lock, Clock::time_point deadline,
               Done done) {
  if (deadline == kNoDeadline) {
    hub.cv.wait(lock, done);
    return true;
  }
  return hub.cv.wait_until(lock, deadline, done);
}

absl::Status CheckPeer(const Hub& hub, int peer, int tag, const char* what) {
  if (peer < 0 || peer >= hub.size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("local %s: rank %d is not in 0..%d", what, peer, hub.size - 1));
  }
  if (tag < 0) return absl::InvalidArgumentError(absl::StrFormat("local %s: tag %d", what, tag));
  return absl::OkStatus();
}

absl::Status DeadlineError(const char* what, int peer, int tag, Clock::time_point start) {
  return absl::DeadlineExceededError(
      absl::StrFormat("local %s from rank %d (tag %d): no message %s; the rank died or hangs", what,
                      peer, tag, internal::ElapsedText(start)));
}

class LocalRequest : public Request {
 public:
  // A receive from `src` (hub != nullptr) or a completed send (hub == nullptr).
  LocalRequest(std::shared_ptr<Hub> hub, int src, int dst, int tag)
      : hub_(std::move(hub)), src_(src), dst_(dst), tag_(tag), done_(hub_ == nullptr) {}

  absl::StatusOr<bool> Test() override {
    if (done_) return true;
    std::lock_guard<std::mutex> lock(hub_->mu);
    return TakeLocked();
  }

  absl::Status Wait(Clock::time_point deadline) override {
    if (done_) return absl::OkStatus();
    const Clock::time_point start = Clock::now();
    std::unique_lock<std::mutex> lock(hub_->mu);
    if (!WaitUntil(*hub_, lock, deadline, [&] { return TakeLocked(); })) {
      return DeadlineError("receive", src_, tag_, start);
    }
    return absl::OkStatus();
  }

  std::string& message() override { return message_; }

 private:
  bool TakeLocked() {
    if (done_) return true;
    auto it = hub_->mail.find({src_, dst_, tag_});
    if (it == hub_->mail.end() || it->second.empty()) return false;
    message_ = std::move(it->second.front());
    it->second.pop_front();
    done_ = true;
    return true;
  }

  std::shared_ptr<Hub> hub_;
  const int src_, dst_, tag_;
  bool done_;
  std::string message_;
};

class LocalCommunicator : public Communicator {
 public:
  LocalCommunicator(std::shared_ptr<Hub> hub, int rank) : hub_(std::move(hub)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return hub_->size; }
  std::string_view transport() const override { return "local"; }
  std::string host() const override { return "local"; }

  absl::Status Send(int dst, int tag, const void* data, int64_t bytes,
                    Clock::time_point deadline) override {
    MOE_RETURN_IF_ERROR(CheckPeer(*hub_, dst, tag, "send"));
    std::string message(static_cast<const char*>(data), bytes);
    {
      std::lock_guard<std::mutex> lock(hub_->mu);
      hub_->mail[{rank_, dst, tag}].push_back(std::move(message));
    }
    hub_->cv.notify_all();
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Request>> ISend(int dst, int tag, const void* data,
                                                 int64_t bytes) override {
    MOE_RETURN_IF_ERROR(Send(dst, tag, data, bytes, kNoDeadline));
    return std::unique_ptr<Request>(new LocalRequest(nullptr, dst, dst, tag));
  }

  absl::Status Recv(int src, int tag, void* data, int64_t bytes,
                    Clock::time_point deadline) override {
    MOE_ASSIGN_OR_RETURN(std::string message, RecvMessage(src, tag, deadline));
    if (static_cast<int64_t>(message.size()) != bytes) {
      return absl::InternalError(
          absl::StrFormat("local receive from rank %d (tag %d): expected %d bytes, got %d", src,
                          tag, bytes, message.size()));
    }
    if (bytes > 0) std::memcpy(data, message.data(), bytes);
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Request>> IRecvMessage(int src, int tag) override {
    MOE_RETURN_IF_ERROR(CheckPeer(*hub_, src, tag, "receive"));
    return std::unique_ptr<Request>(new LocalRequest(hub_, src, rank_, tag));
  }

  absl::Status AllReduceSum(float* data, int64_t n, Clock::time_point deadline) override {
    return internal::RankOrderAllReduceSum(*this, data, n, deadline);
  }

  absl::Status Barrier(Clock::time_point deadline) override {
    return internal::GatherBarrier(*this, deadline);
  }

  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key) override {
    if (color < 0) return absl::InvalidArgumentError(absl::StrFormat("Split: color %d", color));
    const int64_t generation = splits_++;
    std::unique_lock<std::mutex> lock(hub_->mu);
    SplitRound& round = hub_->splits[generation];
    if (round.color.empty()) {
      round.color.assign(hub_->size, -1);
      round.key.assign(hub_->size, 0);
    }
    round.color[rank_] = color;
    round.key[rank_] = key;
    if (++round.arrived == hub_->size) {
      BuildSplit(round);
      hub_->cv.notify_all();
    } else {
      hub_->cv.wait(lock, [&] { return round.ready; });
    }
    auto result = std::make_unique<LocalCommunicator>(round.hub[rank_], round.new_rank[rank_]);
    if (++round.taken == hub_->size) hub_->splits.erase(generation);
    return std::unique_ptr<Communicator>(std::move(result));
  }

  [[noreturn]] void Abort(int code) override {
    std::fprintf(stderr, "local rank %d: abort with code %d\n", rank_, code);
    std::fflush(stderr);
    std::_Exit(code);
  }

 private:
  // Groups the ranks by color, orders each group by (key, old rank), makes one hub per group.
  void BuildSplit(SplitRound& round) {
    const int size = hub_->size;
    round.hub.assign(size, nullptr);
    round.new_rank.assign(size, -1);
    std::vector<int> order(size);
    for (int r = 0; r < size; ++r) order[r] = r;
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      return std::tie(round.color[a], round.key[a], a) < std::tie(round.color[b], round.key[b], b);
    });
    for (int begin = 0; begin < size;) {
      int end = begin;
      while (end < size && round.color[order[end]] == round.color[order[begin]]) ++end;
      auto hub = std::make_shared<Hub>(end - begin);
      for (int i = begin; i < end; ++i) {
        round.hub[order[i]] = hub;
        round.new_rank[order[i]] = i - begin;
      }
      begin = end;
    }
    round.ready = true;
  }

  std::shared_ptr<Hub> hub_;
  const int rank_;
  int64_t splits_ = 0;  // Split calls made by this rank: the round's generation
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> LocalWorld(int size) {
  auto hub = std::make_shared<Hub>(size);
  std::vector<std::unique_ptr<Communicator>> world;
  for (int rank = 0; rank < size; ++rank) {
    world.push_back(std::make_unique<LocalCommunicator>(hub, rank));
  }
  return world;
}

}  // namespace moe::comm
