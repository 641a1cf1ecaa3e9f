#include "coordinator/metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "coordinator/scheduler/scheduler.h"

namespace moe {
namespace {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;

// Latencies from a millisecond to several minutes (vLLM uses similar bounds).
const Histogram::BucketBoundaries& LatencyBuckets() {
  static const Histogram::BucketBoundaries kBuckets = {
      0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
      1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
  return kBuckets;
}

// Inter-token and step times: mostly below a second.
const Histogram::BucketBoundaries& TokenBuckets() {
  static const Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075,
      0.1,   0.15,   0.2,   0.3,  0.4,   0.5,  0.75,  1.0,  2.5,  5.0,  10.0};
  return kBuckets;
}

Counter& AddCounter(prometheus::Registry& registry, const std::string& name,
                    const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

Gauge& AddGauge(prometheus::Registry& registry, const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

Histogram& AddHistogram(prometheus::Registry& registry, const std::string& name,
                        const std::string& help, const Histogram::BucketBoundaries& buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add({}, buckets);
}

// Advances `counter` to a cumulative value reported by the scheduler (counters only grow).
void AdvanceTo(Counter& counter, int64_t total, int64_t* last) {
  if (total > *last) counter.Increment(static_cast<double>(total - *last));
  *last = total;
}

}  // namespace

struct Metrics::Impl {
  // The registry and the metric objects it owns; prometheus-cpp metrics are thread-safe.
  prometheus::Registry registry;

  prometheus::Family<Counter>& requests = prometheus::BuildCounter()
                                              .Name("moe_requests_total")
                                              .Help("Finished requests by outcome.")
                                              .Register(registry);
  Counter& prompt_tokens =
      AddCounter(registry, "moe_prompt_tokens_total", "Prompt tokens of admitted requests.");
  Counter& generation_tokens =
      AddCounter(registry, "moe_generation_tokens_total", "Generated tokens.");
  Counter& preemptions = AddCounter(registry, "moe_preemptions_total",
                                    "Sequences preempted (KV blocks freed, recomputed later).");
  Counter& prefix_queries = AddCounter(registry, "moe_prefix_cache_queries_total",
                                       "Prompt tokens looked up in the prefix cache.");
  Counter& prefix_hits = AddCounter(registry, "moe_prefix_cache_hits_total",
                                    "Prompt tokens served from the prefix cache.");

  Histogram& ttft =
      AddHistogram(registry, "moe_time_to_first_token_seconds",
                   "Time from arrival to the first generated token.", LatencyBuckets());
  Histogram& itl =
      AddHistogram(registry, "moe_inter_token_latency_seconds",
                   "Time between consecutive generated tokens of a request.", TokenBuckets());
  Histogram& e2e = AddHistogram(registry, "moe_e2e_request_latency_seconds",
                                "Time from arrival to the end of a request.", LatencyBuckets());
  Histogram& step =
      AddHistogram(registry, "moe_step_seconds",
                   "Duration of one scheduler step (plan, execute, apply).", TokenBuckets());

  Gauge& waiting =
      AddGauge(registry, "moe_requests_waiting", "Sequences queued (including preempted ones).");
  Gauge& running = AddGauge(registry, "moe_requests_running", "Sequences holding KV blocks.");
  Gauge& blocks_used =
      AddGauge(registry, "moe_kv_blocks_used", "KV blocks referenced by a sequence.");
  Gauge& blocks_free = AddGauge(registry, "moe_kv_blocks_free",
                                "KV blocks not referenced by a sequence (cached ones included).");
  Gauge& blocks_total = AddGauge(registry, "moe_kv_blocks_total", "KV blocks in the pool.");
  Gauge& blocks_cached = AddGauge(registry, "moe_kv_blocks_cached",
                                  "Free KV blocks that still hold a reusable prefix.");
  Gauge& hit_rate = AddGauge(registry, "moe_prefix_cache_hit_rate",
                             "Prefix cache hits / queries (tokens) since start.");

  // The scheduler's cumulative counts already applied to the counters above.
  absl::Mutex mu;
  int64_t last_preemptions ABSL_GUARDED_BY(mu) = 0;
  int64_t last_prefix_queries ABSL_GUARDED_BY(mu) = 0;
  int64_t last_prefix_hits ABSL_GUARDED_BY(mu) = 0;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {
  // Every outcome is exported from the start, so that rates work before the first one.
  for (const char* outcome : {"ok", "cancelled", "invalid", "rejected", "error"}) {
    impl_->requests.Add({{"outcome", outcome}});
  }
}

Metrics::~Metrics() = default;

void Metrics::RequestFinished(const std::string& outcome) {
  impl_->requests.Add({{"outcome", outcome}}).Increment();
}

void Metrics::PromptTokens(int64_t n) {
  if (n > 0) impl_->prompt_tokens.Increment(static_cast<double>(n));
}

void Metrics::GeneratedTokens(int64_t n) {
  if (n > 0) impl_->generation_tokens.Increment(static_cast<double>(n));
}

void Metrics::TimeToFirstToken(double seconds) { impl_->ttft.Observe(seconds); }
void Metrics::InterTokenLatency(double seconds) { impl_->itl.Observe(seconds); }
void Metrics::EndToEndLatency(double seconds) { impl_->e2e.Observe(seconds); }
void Metrics::StepTime(double seconds) { impl_->step.Observe(seconds); }

void Metrics::SetSchedulerStats(const SchedulerStats& stats) {
  Impl& m = *impl_;
  m.waiting.Set(static_cast<double>(stats.waiting));
  m.running.Set(static_cast<double>(stats.running));
  m.blocks_total.Set(static_cast<double>(stats.blocks_total));
  m.blocks_used.Set(static_cast<double>(stats.blocks_used));
  m.blocks_free.Set(static_cast<double>(stats.blocks_total - stats.blocks_used));
  m.blocks_cached.Set(static_cast<double>(stats.blocks_cached));
  m.hit_rate.Set(stats.prefix_query_tokens > 0 ? static_cast<double>(stats.prefix_hit_tokens) /
                                                     static_cast<double>(stats.prefix_query_tokens)
                                               : 0.0);
  absl::MutexLock lock(&m.mu);
  AdvanceTo(m.preemptions, stats.preemptions, &m.last_preemptions);
  AdvanceTo(m.prefix_queries, stats.prefix_query_tokens, &m.last_prefix_queries);
  AdvanceTo(m.prefix_hits, stats.prefix_hit_tokens, &m.last_prefix_hits);
}

std::string Metrics::Render() const {
  return prometheus::TextSerializer().Serialize(impl_->registry.Collect());
}

}  // namespace moe
