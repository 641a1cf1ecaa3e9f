#include "coordinator/metrics/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "coordinator/scheduler/scheduler.h"

namespace moe {
namespace {

// The value of the sample line `name` (exactly, labels included), or -1 when absent.
double Sample(const std::string& text, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, name + " ")) {
      double value = 0;
      if (absl::SimpleAtod(line.substr(name.size() + 1), &value)) return value;
    }
  }
  return -1;
}

TEST(MetricsTest, RendersEveryFamily) {
  Metrics metrics;
  std::string text = metrics.Render();
  for (const char* family :
       {"moe_requests_total", "moe_prompt_tokens_total", "moe_generation_tokens_total",
        "moe_preemptions_total", "moe_prefix_cache_queries_total", "moe_prefix_cache_hits_total",
        "moe_time_to_first_token_seconds", "moe_inter_token_latency_seconds",
        "moe_e2e_request_latency_seconds", "moe_step_seconds", "moe_requests_waiting",
        "moe_requests_running", "moe_kv_blocks_used", "moe_kv_blocks_free", "moe_kv_blocks_total",
        "moe_kv_blocks_cached", "moe_prefix_cache_hit_rate"}) {
    EXPECT_TRUE(absl::StrContains(text, std::string("# TYPE ") + family + " "))
        << family << " missing in:\n"
        << text;
  }
  // Every outcome is there before the first request.
  EXPECT_EQ(Sample(text, "moe_requests_total{outcome=\"rejected\"}"), 0);
  EXPECT_EQ(Sample(text, "moe_requests_total{outcome=\"ok\"}"), 0);
}

TEST(MetricsTest, CountersAndHistogramsMove) {
  Metrics metrics;
  metrics.RequestFinished("ok");
  metrics.RequestFinished("ok");
  metrics.RequestFinished("invalid");
  metrics.PromptTokens(12);
  metrics.GeneratedTokens(5);
  metrics.GeneratedTokens(0);
  metrics.TimeToFirstToken(0.03);
  metrics.InterTokenLatency(0.002);
  metrics.InterTokenLatency(0.004);
  metrics.EndToEndLatency(1.5);
  metrics.StepTime(0.01);
  std::string text = metrics.Render();
  EXPECT_EQ(Sample(text, "moe_requests_total{outcome=\"ok\"}"), 2);
  EXPECT_EQ(Sample(text, "moe_requests_total{outcome=\"invalid\"}"), 1);
  EXPECT_EQ(Sample(text, "moe_requests_total{outcome=\"error\"}"), 0);
  EXPECT_EQ(Sample(text, "moe_prompt_tokens_total"), 12);
  EXPECT_EQ(Sample(text, "moe_generation_tokens_total"), 5);
  EXPECT_EQ(Sample(text, "moe_time_to_first_token_seconds_count"), 1);
  EXPECT_EQ(Sample(text, "moe_inter_token_latency_seconds_count"), 2);
  EXPECT_NEAR(Sample(text, "moe_inter_token_latency_seconds_sum"), 0.006, 1e-9);
  EXPECT_EQ(Sample(text, "moe_inter_token_latency_seconds_bucket{le=\"0.001\"}"), 0);
  EXPECT_EQ(Sample(text, "moe_inter_token_latency_seconds_bucket{le=\"0.005\"}"), 2);
  EXPECT_EQ(Sample(text, "moe_e2e_request_latency_seconds_bucket{le=\"+Inf\"}"), 1);
  EXPECT_EQ(Sample(text, "moe_step_seconds_count"), 1);
}

TEST(MetricsTest, SchedulerStatsSetGaugesAndAdvanceCounters) {
  Metrics metrics;
  SchedulerStats stats;
  stats.waiting = 3;
  stats.running = 2;
  stats.blocks_total = 100;
  stats.blocks_used = 40;
  stats.blocks_cached = 7;
  stats.preemptions = 4;
  stats.prefix_query_tokens = 200;
  stats.prefix_hit_tokens = 50;
  metrics.SetSchedulerStats(stats);
  std::string text = metrics.Render();
  EXPECT_EQ(Sample(text, "moe_requests_waiting"), 3);
  EXPECT_EQ(Sample(text, "moe_requests_running"), 2);
  EXPECT_EQ(Sample(text, "moe_kv_blocks_total"), 100);
  EXPECT_EQ(Sample(text, "moe_kv_blocks_used"), 40);
  EXPECT_EQ(Sample(text, "moe_kv_blocks_free"), 60);
  EXPECT_EQ(Sample(text, "moe_kv_blocks_cached"), 7);
  EXPECT_EQ(Sample(text, "moe_preemptions_total"), 4);
  EXPECT_EQ(Sample(text, "moe_prefix_cache_queries_total"), 200);
  EXPECT_EQ(Sample(text, "moe_prefix_cache_hits_total"), 50);
  EXPECT_DOUBLE_EQ(Sample(text, "moe_prefix_cache_hit_rate"), 0.25);

  // Cumulative scheduler counts: the counters follow them, never counting twice.
  stats.running = 0;
  stats.blocks_used = 0;
  stats.preemptions = 6;
  stats.prefix_query_tokens = 300;
  stats.prefix_hit_tokens = 150;
  metrics.SetSchedulerStats(stats);
  metrics.SetSchedulerStats(stats);
  text = metrics.Render();
  EXPECT_EQ(Sample(text, "moe_requests_running"), 0);
  EXPECT_EQ(Sample(text, "moe_kv_blocks_free"), 100);
  EXPECT_EQ(Sample(text, "moe_preemptions_total"), 6);
  EXPECT_EQ(Sample(text, "moe_prefix_cache_queries_total"), 300);
  EXPECT_EQ(Sample(text, "moe_prefix_cache_hits_total"), 150);
  EXPECT_DOUBLE_EQ(Sample(text, "moe_prefix_cache_hit_rate"), 0.5);
}

TEST(MetricsTest, ConcurrentUpdatesAreCounted) {
  Metrics metrics;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&metrics] {
      for (int i = 0; i < 1000; ++i) {
        metrics.RequestFinished("cancelled");
        metrics.GeneratedTokens(1);
        if (i % 100 == 0) metrics.Render();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::string text = metrics.Render();
  EXPECT_EQ(Sample(text, "moe_requests_total{outcome=\"cancelled\"}"), 4000);
  EXPECT_EQ(Sample(text, "moe_generation_tokens_total"), 4000);
}

}  // namespace
}  // namespace moe
