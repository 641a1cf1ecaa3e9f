// Service metrics in Prometheus text format (prometheus-cpp core): requests by outcome,
// prompt / generated tokens, time to first token and inter-token latency histograms, queue
// length, running sequences, KV blocks used / free, prefix cache hit rate. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace moe {

struct SchedulerStats;

class Metrics {
 public:
  Metrics();
  ~Metrics();

  // Outcome: "ok", "cancelled", "invalid", "rejected" (queue full / draining), "error".
  void RequestFinished(const std::string& outcome);
  void PromptTokens(int64_t n);
  void GeneratedTokens(int64_t n);
  void TimeToFirstToken(double seconds);
  void InterTokenLatency(double seconds);
  void EndToEndLatency(double seconds);
  void StepTime(double seconds);
  // Gauges from the scheduler, set after every step.
  void SetSchedulerStats(const SchedulerStats& stats);

  // The text exposition (Content-Type: text/plain; version=0.0.4).
  std::string Render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moe
