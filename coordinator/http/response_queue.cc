#include "coordinator/http/response_queue.h"

#include <utility>

namespace moe::openai {

void ResponseQueue::Push(Event event) {
  absl::MutexLock lock(&mu_);
  events_.push_back(std::move(event));
}

std::optional<ResponseQueue::Event> ResponseQueue::Pop(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto has_event = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !events_.empty(); };
  if (!mu_.AwaitWithTimeout(absl::Condition(&has_event), timeout)) return std::nullopt;
  Event event = std::move(events_.front());
  events_.pop_front();
  return event;
}

void ChoiceSink::OnResponse(v1::GenerateResponse response) {
  ResponseQueue::Event event;
  event.choice = choice_;
  event.response = std::move(response);
  queue_->Push(std::move(event));
}

void ChoiceSink::OnDone(const absl::Status& status) {
  ResponseQueue::Event event;
  event.choice = choice_;
  event.done = true;
  event.status = status;
  queue_->Push(std::move(event));
}

}  // namespace moe::openai
