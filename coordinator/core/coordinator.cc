#include "coordinator/core/coordinator.h"

#include <chrono>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/core/output_processor.h"
#include "coordinator/metrics/metrics.h"

namespace moe {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

const char* OutcomeOf(const absl::Status& status) {
  if (status.ok()) return "ok";
  if (status.code() == absl::StatusCode::kCancelled ||
      status.code() == absl::StatusCode::kDeadlineExceeded) {
    return "cancelled";
  }
  return "error";
}

}  // namespace

absl::Status StepExecutor::Submit(const v1::StepPlan& plan) {
  done_.push_back(Execute(plan));
  return absl::OkStatus();
}

absl::StatusOr<v1::StepResult> StepExecutor::Next() {
  if (done_.empty()) return absl::InternalError("no step plan is in flight");
  absl::StatusOr<v1::StepResult> r = std::move(done_.front());
  done_.erase(done_.begin());
  return r;
}

void StepExecutor::Shutdown() {
  v1::StepPlan shutdown;
  shutdown.set_shutdown(true);
  Execute(shutdown).IgnoreError();
}

struct Coordinator::Request {
  int64_t id = 0;
  RequestParams params;
  std::shared_ptr<StreamSink> sink;
  std::unique_ptr<OutputProcessor> output;
  double submitted = 0;
  double last_token = 0;  // 0 until the first token
};

Coordinator::Coordinator(const ServedModel* model, StepExecutor* executor, Metrics* metrics,
                         CoordinatorOptions options)
    : model_(model), executor_(executor), metrics_(metrics), options_(options) {}

Coordinator::~Coordinator() { Stop(); }

void Coordinator::set_scheduler_options(const SchedulerOptions& options) {
  options_.scheduler = options;
}

void Coordinator::Start() {
  absl::MutexLock lock(&mu_);
  if (started_.load()) return;
  scheduler_ = std::make_unique<Scheduler>(options_.scheduler);
  thread_ = std::thread([this] { Loop(); });
  started_.store(true);
}

void Coordinator::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    stop_ = true;
    cv_.Signal();
  }
  if (thread_.joinable()) thread_.join();
  // The loop has exited: end what it left, on this thread.
  Inbox rest;
  {
    absl::MutexLock lock(&mu_);
    rest = std::move(inbox_);
  }
  for (auto& r : rest.added) {
    active_.fetch_sub(1);
    r->sink->OnDone(absl::UnavailableError("the server is shutting down"));
  }
  FailAll(absl::UnavailableError("the server is shutting down"));
  if (!failed_.load()) {
    // Take the results still due so that the workers are idle, then let them go.
    for (; in_flight_ > 0; --in_flight_) executor_->Next().IgnoreError();
    executor_->Shutdown();
  }
}

absl::StatusOr<int64_t> Coordinator::Submit(RequestParams params,
                                            std::shared_ptr<StreamSink> sink) {
  auto request = std::make_unique<Request>();
  request->params = std::move(params);
  request->sink = std::move(sink);
  request->submitted = Now();
  absl::MutexLock lock(&mu_);
  if (!failure_.ok()) {
    return absl::UnavailableError(absl::StrCat("the workers were lost: ", failure_.message()));
  }
  if (!started_.load()) return absl::UnavailableError("the model is still loading: retry later");
  if (stop_ || draining_.load()) return absl::UnavailableError("the server is draining");
  const int64_t queued = static_cast<int64_t>(inbox_.added.size()) + waiting_.load();
  if (queued >= options_.max_queued) {
    return absl::ResourceExhaustedError(absl::StrCat("the request queue is full (", queued,
                                                     " waiting; --max-queued ", options_.max_queued,
                                                     "): retry later"));
  }
  const int64_t id = next_id_++;
  request->id = id;
  inbox_.added.push_back(std::move(request));
  active_.fetch_add(1);
  cv_.Signal();
  return id;
}

void Coordinator::Cancel(int64_t id, absl::Status why) {
  absl::MutexLock lock(&mu_);
  inbox_.cancelled.emplace_back(id, std::move(why));
  cv_.Signal();
}

void Coordinator::Drain() { draining_.store(true); }

int64_t Coordinator::active_requests() const { return active_.load(); }

void Coordinator::ApplyInbox(Inbox inbox) {
  for (std::unique_ptr<Request>& r : inbox.added) {
    r->output = std::make_unique<OutputProcessor>(model_->tokenizer.get(), &r->params);
    SeqSpec spec;
    spec.seq_id = r->id;
    spec.prompt = r->params.prompt;
    spec.sampling = r->params.sampling;
    scheduler_->Add(std::move(spec));
    if (metrics_ != nullptr) metrics_->PromptTokens(static_cast<int64_t>(r->params.prompt.size()));
    const int64_t id = r->id;
    requests_[id] = std::move(r);
  }
  for (auto& [id, why] : inbox.cancelled) {
    if (requests_.count(id) != 0) End(id, why, OutcomeOf(why));
  }
}

void Coordinator::End(int64_t id, const absl::Status& status, const std::string& outcome) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  std::unique_ptr<Request> r = std::move(it->second);
  requests_.erase(it);
  scheduler_->Release(id);
  active_.fetch_sub(1);
  r->sink->OnDone(status);
  if (metrics_ != nullptr) {
    metrics_->RequestFinished(outcome);
    if (status.ok()) metrics_->EndToEndLatency(Now() - r->submitted);
  }
}

void Coordinator::FailAll(const absl::Status& status) {
  std::vector<int64_t> ids;
  for (const auto& [id, r] : requests_) ids.push_back(id);
  for (int64_t id : ids) End(id, status, "error");
}

void Coordinator::OnToken(const v1::SampledToken& token, double now) {
  auto it = requests_.find(token.seq_id());
  if (it == requests_.end()) return;  // cancelled while its step ran
  Request& r = *it->second;
  v1::GenerateResponse delta;
  delta.set_request_id(r.params.request_id);
  if (r.output->num_generated() == 0) {
    delta.mutable_prompt_token_ids()->Add(r.params.prompt.begin(), r.params.prompt.end());
  }
  const bool finished = r.output->Append(token, &delta);
  if (metrics_ != nullptr) {
    metrics_->GeneratedTokens(1);
    if (r.last_token == 0) {
      metrics_->TimeToFirstToken(now - r.submitted);
    } else {
      metrics_->InterTokenLatency(now - r.last_token);
    }
  }
  r.last_token = now;
  if (finished) {
    v1::Usage* usage = delta.mutable_usage();
    usage->set_prompt_tokens(static_cast<int32_t>(r.params.prompt.size()));
    usage->set_completion_tokens(static_cast<int32_t>(r.output->num_generated()));
    usage->set_cached_prompt_tokens(static_cast<int32_t>(scheduler_->cached_prompt_tokens(r.id)));
  }
  r.sink->OnResponse(std::move(delta));
  if (finished) End(r.id, absl::OkStatus(), "ok");
}

void Coordinator::PublishStats() {
  const SchedulerStats stats = scheduler_->stats();
  waiting_.store(stats.waiting);
  if (metrics_ != nullptr) metrics_->SetSchedulerStats(stats);
}

void Coordinator::Loop() {
  // Plans submitted and not yet answered, oldest first: their start times and whether the
  // scheduler tracks them (a plan of released ids only is not tracked).
  struct InFlight {
    double t0;
    bool tracked;
  };
  std::deque<InFlight> pending;
  // Remote workers take a silent coordinator for a dead one: an idle loop sends them an empty
  // plan every heartbeat_seconds().
  const double heartbeat = executor_->heartbeat_seconds();
  bool heartbeat_due = false;
  // Waits (mu_ held) until `ready` or, with a heartbeat, until one is due.
  auto wait = [&](auto ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (!stop_ && !ready()) {
      if (heartbeat <= 0) {
        cv_.Wait(&mu_);
      } else if (cv_.WaitWithTimeout(&mu_, absl::Seconds(heartbeat))) {
        heartbeat_due = true;
        return;
      }
    }
  };
  for (;;) {
    Inbox inbox;
    {
      absl::MutexLock lock(&mu_);
      wait([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !pending.empty() || !inbox_.added.empty() || !inbox_.cancelled.empty() ||
               scheduler_->has_work();
      });
      if (stop_) return;
      inbox = std::move(inbox_);
      inbox_ = Inbox();
    }
    ApplyInbox(std::move(inbox));
    if (pending.empty() && !scheduler_->has_work() && !heartbeat_due) {
      PublishStats();  // idle: gauges must not keep the last step's values
      continue;
    }

    // Fill the pipeline: one plan per free slot, over sequences not already in flight.
    absl::Status status;
    while (status.ok() && static_cast<int>(pending.size()) < executor_->max_in_flight() &&
           scheduler_->has_work()) {
      v1::StepPlan plan = scheduler_->Schedule();
      if (plan.seqs_size() == 0 && plan.released_seq_ids_size() == 0) break;
      status = executor_->Submit(plan);
      pending.push_back({Now(), plan.seqs_size() > 0});
      in_flight_ = static_cast<int64_t>(pending.size());
    }
    if (status.ok() && pending.empty()) {
      if (heartbeat_due) {
        status = executor_->Submit(v1::StepPlan());
        pending.push_back({Now(), false});
      } else {
        // Nothing can run until something ends: wait for a cancellation or a stop.
        absl::MutexLock lock(&mu_);
        wait([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !inbox_.added.empty() || !inbox_.cancelled.empty();
        });
        continue;
      }
    }
    heartbeat_due = false;  // any plan tells the workers the coordinator lives

    absl::StatusOr<v1::StepResult> result;
    const InFlight done = pending.empty() ? InFlight{Now(), false} : pending.front();
    if (status.ok()) {
      result = executor_->Next();
      pending.pop_front();
      in_flight_ = static_cast<int64_t>(pending.size());
      status = result.status();
    }
    if (status.ok() && done.tracked) status = scheduler_->OnResult(*result);
    if (status.ok() && !result->error().empty()) status = absl::InternalError(result->error());
    if (!status.ok()) {
      // The workers are gone or broken: no request can finish.
      absl::Status lost =
          absl::UnavailableError(absl::StrCat("worker failure: ", status.message()));
      {
        absl::MutexLock lock(&mu_);
        failure_ = lost;
      }
      failed_.store(true);
      FailAll(lost);
      absl::MutexLock lock(&mu_);
      for (auto& r : inbox_.added) {
        active_.fetch_sub(1);
        r->sink->OnDone(lost);
      }
      inbox_.added.clear();
      return;
    }
    const double now = Now();
    for (const v1::SampledToken& token : result->tokens()) OnToken(token, now);
    if (metrics_ != nullptr) metrics_->StepTime(now - done.t0);
    PublishStats();
  }
}

}  // namespace moe
