// The coordinator's step loop: admits requests, runs the scheduler, sends each StepPlan to
// the workers through a StepExecutor, and turns sampled tokens into stream deltas (stop
// conditions, incremental detokenization, logprobs, usage).
//
// Thread-safe: Submit/Cancel/Drain may be called from any thread (gRPC reactions, HTTP
// handlers); one internal thread owns the scheduler and calls the executor and the sinks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "coordinator/core/served_model.h"
#include "coordinator/scheduler/scheduler.h"
#include "moe/v1/inference.pb.h"
#include "moe/v1/step.pb.h"

namespace moe {

class Metrics;

// Runs StepPlans on the workers (in process, or over MPI). An error means the workers are
// lost: every stream ends with UNAVAILABLE.
//
// The coordinator keeps up to max_in_flight() plans submitted (over disjoint sequences) so that
// every pipeline stage has work; results come back in submission order. A simple executor
// implements Execute only: Submit runs it at once and Next hands its result back.
class StepExecutor {
 public:
  virtual ~StepExecutor() = default;
  // Runs one plan to completion.
  virtual absl::StatusOr<v1::StepResult> Execute(const v1::StepPlan& plan) = 0;
  // Plans the coordinator may have submitted whose result it has not taken yet.
  virtual int max_in_flight() const { return 1; }
  // Starts a plan. An error means the workers are lost.
  virtual absl::Status Submit(const v1::StepPlan& plan);
  // The result of the oldest submitted plan whose result was not taken yet (waits for it).
  virtual absl::StatusOr<v1::StepResult> Next();
  // Tells the workers to exit (after the last result was taken).
  virtual void Shutdown();
  // > 0: the coordinator sends an empty plan after this many idle seconds (workers that hear
  // nothing for long take the coordinator for dead).
  virtual double heartbeat_seconds() const { return 0; }

 private:
  std::vector<absl::StatusOr<v1::StepResult>> done_;  // Submit's results not taken yet
};

// A validated request, ready to schedule (built by coordinator/api/request_builder.h).
struct RequestParams {
  std::string request_id;
  std::vector<int32_t> prompt;
  v1::StepSampling sampling;  // resolved (defaults applied), validated
  int64_t max_tokens = 0;     // >= 1 and prompt + max_tokens <= max_model_len
  int64_t min_tokens = 0;
  std::vector<std::string> stop;        // stop strings
  std::vector<int32_t> stop_token_ids;  // eos ids + the request's (unless ignore_eos)
  bool include_stop_str_in_output = false;
  bool skip_special_tokens = true;
  bool return_logprobs = false;  // fill GenerateResponse.logprobs
  bool detokenize = true;        // false when the model has no tokenizer
};

// Receives one request's stream. Called only from the coordinator's thread; must not block
// for long (queue the message and return).
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // A delta: new token ids/text/logprobs; the last one has finish_reason and usage.
  virtual void OnResponse(v1::GenerateResponse response) = 0;
  // The end: OK after the last response, or the error that ended the stream.
  virtual void OnDone(const absl::Status& status) = 0;
};

struct CoordinatorOptions {
  SchedulerOptions scheduler;
  int64_t max_queued = 1024;  // requests waiting beyond this are refused (RESOURCE_EXHAUSTED)
};

class Coordinator {
 public:
  // `model`, `executor` and `metrics` (may be null) must outlive the coordinator.
  Coordinator(const ServedModel* model, StepExecutor* executor, Metrics* metrics,
              CoordinatorOptions options);
  ~Coordinator();  // Stop()s

  // Starts the step loop. Until then Submit() refuses with UNAVAILABLE (the model is loading)
  // and ready() is false.
  void Start();
  // REQUIRES: before Start() (the KV pool size is known once the model is loaded).
  void set_scheduler_options(const SchedulerOptions& options);
  // Ends every stream (UNAVAILABLE "server shutting down"), sends a shutdown plan, joins.
  void Stop();

  // Queues a request. RESOURCE_EXHAUSTED when max_queued requests wait, UNAVAILABLE while
  // draining or after the workers were lost. On success the sink gets the stream; returns
  // the internal id to Cancel() with.
  absl::StatusOr<int64_t> Submit(RequestParams params, std::shared_ptr<StreamSink> sink);

  // The client is gone or its deadline passed: the sequence's KV blocks are freed at the next
  // step and the sink gets OnDone(CANCELLED). Unknown / finished ids are ignored.
  void Cancel(int64_t id, absl::Status why = absl::CancelledError("cancelled by the client"));

  // Stops admitting (UNAVAILABLE) and lets running requests finish.
  void Drain();
  bool draining() const { return draining_.load(); }
  bool healthy() const { return !failed_.load(); }  // false once the workers are lost
  // Started, not draining, workers alive: API handlers check this before touching model().
  // Why the workers were lost (OK while healthy).
  absl::Status failure() const {
    absl::MutexLock lock(&mu_);
    return failure_;
  }
  bool ready() const { return started_.load() && !draining_.load() && !failed_.load(); }
  int64_t active_requests() const;  // queued + running

  const ServedModel& model() const { return *model_; }

 private:
  struct Request;
  struct Inbox {
    std::vector<std::unique_ptr<Request>> added;
    std::vector<std::pair<int64_t, absl::Status>> cancelled;
  };

  void Loop();
  // Applies queued submissions and cancellations. Loop thread only.
  void ApplyInbox(Inbox inbox);
  // Streams one sampled token; ends the request when it finishes. Loop thread only.
  void OnToken(const v1::SampledToken& token, double now);
  // Ends a request: the sink gets `status`, the scheduler frees its blocks. Loop thread only.
  void End(int64_t id, const absl::Status& status, const std::string& outcome);
  void FailAll(const absl::Status& status);
  // Publishes the scheduler's gauges (metrics, queue length for admission). Loop thread only.
  void PublishStats();

  // Constant after construction.
  const ServedModel* model_;
  StepExecutor* executor_;
  Metrics* metrics_;
  CoordinatorOptions options_;

  std::atomic<bool> draining_{false};
  std::atomic<bool> failed_{false};
  std::atomic<bool> started_{false};  // set once, under mu_
  std::atomic<int64_t> active_{0};    // submitted and not ended
  std::atomic<int64_t> waiting_{0};   // in the scheduler's queue after the last step

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  Inbox inbox_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);  // why the workers were lost

  // Loop thread only (after Start()).
  std::unique_ptr<Scheduler> scheduler_;
  std::unordered_map<int64_t, std::unique_ptr<Request>> requests_;
  std::thread thread_;
  int64_t in_flight_ = 0;  // plans submitted and not answered (the loop's thread, then Stop's)
};

}  // namespace moe
