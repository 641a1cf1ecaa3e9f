// Hands the responses of one HTTP request's choices from the coordinator's thread to the HTTP
// handler thread: each choice's ChoiceSink pushes, the handler pops (with a timeout, so that
// it can notice a shutdown or a closed connection between tokens).
//
// Thread-safe. Push never blocks for long, as StreamSink requires.
#pragma once

#include <deque>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/core/coordinator.h"
#include "moe/v1/inference.pb.h"

namespace moe::openai {

class ResponseQueue {
 public:
  struct Event {
    int choice = 0;
    bool done = false;              // OnDone: `status` holds how the stream ended
    v1::GenerateResponse response;  // when !done
    absl::Status status;
  };

  void Push(Event event);
  // The oldest event, or nullopt when none arrives within `timeout`.
  std::optional<Event> Pop(absl::Duration timeout);

 private:
  absl::Mutex mu_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
};

// One choice's stream, forwarded into a shared queue.
class ChoiceSink : public StreamSink {
 public:
  ChoiceSink(std::shared_ptr<ResponseQueue> queue, int choice)
      : queue_(std::move(queue)), choice_(choice) {}

  void OnResponse(v1::GenerateResponse response) override;
  void OnDone(const absl::Status& status) override;

 private:
  const std::shared_ptr<ResponseQueue> queue_;
  const int choice_;
};

}  // namespace moe::openai
