// moe-serve end to end on the tiny MoE fixture (token-id prompts): greedy outputs equal the
// reference, concurrent requests equal the same requests run alone (also when a tiny KV pool
// forces preemption, and on prefix-cache hits), cancellation returns every KV block, and
// SIGTERM drains.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <map>
#include <thread>

#include "grpcpp/grpcpp.h"
#include "moe/v1/inference.grpc.pb.h"
#include "tests/model/golden_util.h"
#include "tests/service/service_util.h"
#include "tests/testing/server_process.h"

namespace moe {
namespace {

using testing::ServerProcess;

const std::string kModel = std::string(MOE_TEST_DATA_DIR) + "/models/tiny-qwen3-moe";

TEST(ServiceTest, GreedyMatchesTheReference) {
  auto server = ServerProcess::Start({"--model", kModel, "--threads", "1"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto golden = testing::LoadGolden(kModel);
  ASSERT_TRUE(golden.ok());
  auto stub = Stub(**server);
  for (const auto& c : golden->cases) {
    Output out =
        Generate(stub.get(), Request(c.prompt, static_cast<int>(c.greedy_ids.size()), 0, 0));
    ASSERT_TRUE(out.status.ok()) << out.status.error_message();
    EXPECT_EQ(out.ids, c.greedy_ids) << c.name;
    EXPECT_EQ(out.last.finish_reason(), v1::FINISH_REASON_LENGTH);
    EXPECT_EQ(out.last.usage().prompt_tokens(), static_cast<int>(c.prompt.size()));
    EXPECT_EQ(out.last.usage().completion_tokens(), static_cast<int>(c.greedy_ids.size()));
    EXPECT_EQ(out.responses, static_cast<int>(c.greedy_ids.size()));  // one per token
  }
}

TEST(ServiceTest, ConcurrentEqualsAloneAlsoUnderPreemptionAndPrefixHits) {
  const std::vector<v1::GenerateRequest> reqs = Mix(16, kModel);
  // Exact math: fast math rounds activations to bf16, which turns the tiny summation-order
  // differences between batch shapes into different tokens (not batch-invariant; README).
  auto roomy = ServerProcess::Start(
      {"--model", kModel, "--threads", "1", "--block-size", "4", "--math", "exact"});
  ASSERT_TRUE(roomy.ok()) << roomy.status();
  const std::vector<Output> alone = RunAlone(**roomy, reqs);
  const std::vector<Output> together = RunConcurrently(**roomy, reqs);
  // A second round of the same prompts hits the prefix cache.
  const std::vector<Output> cached = RunConcurrently(**roomy, reqs);
  int cached_tokens = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(alone[i].status.ok()) << alone[i].status.error_message();
    ASSERT_TRUE(together[i].status.ok()) << together[i].status.error_message();
    ASSERT_TRUE(cached[i].status.ok()) << cached[i].status.error_message();
    EXPECT_EQ(together[i].ids, alone[i].ids) << "request " << i;
    EXPECT_EQ(cached[i].ids, alone[i].ids) << "request " << i;
    cached_tokens += cached[i].last.usage().cached_prompt_tokens();
  }
  EXPECT_GT(cached_tokens, 0);
  EXPECT_GT(Metric(**roomy, "moe_prefix_cache_hits_total"), 0);

  // 12 KV blocks of 4 tokens hold about 48 tokens: 16 requests of up to 57 tokens each must
  // preempt and recompute.
  auto tight =
      ServerProcess::Start({"--model", kModel, "--threads", "1", "--block-size", "4", "--math",
                            "exact", "--kv-blocks", "16", "--no-prefix-caching"});
  ASSERT_TRUE(tight.ok()) << tight.status();
  const std::vector<Output> squeezed = RunConcurrently(**tight, reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(squeezed[i].status.ok()) << squeezed[i].status.error_message();
    EXPECT_EQ(squeezed[i].ids, alone[i].ids) << "request " << i;
  }
  EXPECT_GT(Metric(**tight, "moe_preemptions_total"), 0) << (*tight)->log();
  EXPECT_TRUE(WaitMetric(**tight, "moe_kv_blocks_used", 0));
}

TEST(ServiceTest, CancellingHalfOf32StreamsReturnsAllBlocks) {
  auto server = ServerProcess::Start({"--model", kModel, "--threads", "1", "--block-size", "4"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::vector<v1::GenerateRequest> reqs = Mix(32, kModel);
  std::vector<Output> outs(reqs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i) {
    threads.emplace_back([&, i] {
      auto stub = Stub(**server);
      v1::GenerateRequest r = reqs[i];
      if (i % 2 == 0) r.mutable_sampling()->set_max_tokens(3000);  // long: cancelled early
      outs[i] = Generate(stub.get(), r, i % 2 == 0 ? 2 : 0);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < reqs.size(); ++i) {
    if (i % 2 == 0) {
      EXPECT_EQ(outs[i].status.error_code(), grpc::StatusCode::CANCELLED) << i;
      EXPECT_LT(outs[i].ids.size(), 3000u);
    } else {
      EXPECT_TRUE(outs[i].status.ok()) << outs[i].status.error_message();
    }
  }
  EXPECT_TRUE(WaitMetric(**server, "moe_kv_blocks_used", 0))
      << Metric(**server, "moe_kv_blocks_used");
  EXPECT_TRUE(WaitMetric(**server, "moe_requests_running", 0));
}

TEST(ServiceTest, SigtermDrainsRunningRequestsAndRefusesNewOnes) {
  auto server =
      ServerProcess::Start({"--model", kModel, "--threads", "1", "--drain-seconds", "60"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = Stub(**server);
  std::atomic<int> seen{0};
  Output running;
  std::thread t([&] {
    grpc::ClientContext ctx;
    auto reader = stub->Generate(&ctx, Request({1, 2, 3}, 2000, 0, 0));
    v1::GenerateResponse r;
    while (reader->Read(&r)) {
      running.ids.insert(running.ids.end(), r.token_ids().begin(), r.token_ids().end());
      seen.fetch_add(1);
    }
    running.status = reader->Finish();
  });
  while (seen.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill((*server)->pid(), SIGTERM);
  // Health goes NOT_SERVING and new requests are refused while the running one finishes.
  bool refused = false;
  for (int i = 0; i < 500 && !refused; ++i) {
    Output late = Generate(stub.get(), Request({4, 5}, 2, 0, 0));
    if (late.status.error_code() == grpc::StatusCode::UNAVAILABLE) refused = true;
    if (!late.status.ok() && !refused) break;
  }
  EXPECT_TRUE(refused);
  auto health = (*server)->Health();
  EXPECT_TRUE(!health.ok() || *health == "NOT_SERVING") << *health;
  t.join();
  EXPECT_TRUE(running.status.ok()) << running.status.error_message();
  EXPECT_EQ(running.ids.size(), 2000u);
  EXPECT_EQ((*server)->Wait(60), 0) << (*server)->log();
}

}  // namespace
}  // namespace moe
