// Scheduler and the KV pool: preemption by recompute (newest first, never a sequence in
// flight) and prefix-cache hits.
#include <gtest/gtest.h>

#include <vector>

#include "coordinator/scheduler/scheduler.h"
#include "tests/coordinator/scheduler/scheduler_test_util.h"

namespace moe {
namespace sched_test {
namespace {

TEST(SchedulerTest, PreemptsTheNewestAndRecomputesItLater) {
  for (bool caching : {true, false}) {
    SCOPED_TRACE(caching ? "prefix caching" : "no prefix caching");
    Scheduler s(Options(/*block_size=*/2, /*num_blocks=*/3, 512, 256, caching));
    s.Add(Spec(1, {10, 11}));
    s.Add(Spec(2, {20, 21}));
    EXPECT_EQ(SeqIds(Step(s)), (Ids{1, 2}));  // one block each; both sample

    // Both need a second block; one is free. 1 gets it, 2 (the newest) is preempted.
    v1::StepPlan p2 = Step(s);
    EXPECT_EQ(SeqIds(p2), Ids{1});
    EXPECT_EQ(Released(p2), Ids{2});
    EXPECT_EQ(s.stats().preemptions, 1);
    EXPECT_EQ(s.stats().waiting, 1);
    EXPECT_EQ(s.stats().running, 1);

    // 2 waits while 1 holds every block it would need.
    v1::StepPlan p3 = Step(s);
    EXPECT_EQ(SeqIds(p3), Ids{1});
    EXPECT_EQ(Released(p3), Ids{});
    s.Release(1);

    // 2 comes back as a new sequence with everything it had: prompt + its sampled token.
    v1::StepPlan p4 = s.Schedule();
    EXPECT_EQ(Released(p4), Ids{1});
    ASSERT_EQ(p4.seqs_size(), 1);
    const v1::SeqPlan& r = p4.seqs(0);
    EXPECT_EQ(r.seq_id(), 2);
    EXPECT_TRUE(r.is_new());
    EXPECT_EQ(r.prompt_len(), 2);
    EXPECT_EQ(r.sampling().seed(), 2u);
    EXPECT_TRUE(r.sample());
    Tokens all = Vec(r.context());
    all.insert(all.end(), r.tokens().begin(), r.tokens().end());
    EXPECT_EQ(all, (Tokens{20, 21, 1002}));
    EXPECT_EQ(r.start_pos(), caching ? 2 : 0);  // block [20 21] was still cached
    EXPECT_EQ(r.block_table_size(), 2);
    EXPECT_EQ(s.cached_prompt_tokens(2), 0);  // counted at its first schedule only
  }
}

TEST(SchedulerTest, PreemptsItselfWhenItIsTheNewest) {
  Scheduler s(Options(2, 3));
  s.Add(Spec(1, {10, 11}));
  v1::StepPlan p1 = s.Schedule();
  s.Add(Spec(2, {20, 21}));
  v1::StepPlan p2 = s.Schedule();
  ASSERT_TRUE(s.OnResult(ResultFor(p1)).ok());
  // 1 decodes while 2 is in flight: 2 cannot be preempted, so 1 takes the last block.
  v1::StepPlan p3 = s.Schedule();
  EXPECT_EQ(SeqIds(p3), Ids{1});
  ASSERT_TRUE(s.OnResult(ResultFor(p2)).ok());
  // 2 needs a block, none is free, 1 is in flight: 2 preempts itself.
  v1::StepPlan p4 = s.Schedule();
  EXPECT_EQ(SeqIds(p4), Ids{});
  EXPECT_EQ(Released(p4), Ids{2});
  EXPECT_EQ(s.stats().preemptions, 1);
  ASSERT_TRUE(s.OnResult(ResultFor(p3)).ok());
}

// An older sequence short of blocks while every newer one is in flight keeps its blocks and
// waits (preempting itself would let the newer ones overtake it); nothing is admitted then.
TEST(SchedulerTest, OlderSequenceWaitsForNewerOnesInFlight) {
  Scheduler s(Options(/*block_size=*/2, /*num_blocks=*/4, /*max_batch_tokens=*/4));
  s.Add(Spec(1, Range(0, 8)));
  v1::StepPlan p1 = s.Schedule();  // 1: [0, 4), 2 blocks
  s.Add(Spec(2, {10, 11}));
  v1::StepPlan p2 = s.Schedule();  // 2: 1 block; one block left
  EXPECT_EQ(SeqIds(p2), Ids{2});
  ASSERT_TRUE(s.OnResult(ResultFor(p1)).ok());
  s.Add(Spec(3, {20}));  // would fit in the free block

  v1::StepPlan p3 = s.Schedule();  // 1 needs 2 blocks; 2 is in flight
  EXPECT_EQ(SeqIds(p3), Ids{});
  EXPECT_EQ(Released(p3), Ids{});
  EXPECT_EQ(s.stats().preemptions, 0);
  EXPECT_EQ(s.stats().running, 2);
  EXPECT_EQ(s.stats().waiting, 1);
  EXPECT_EQ(s.stats().blocks_used, 3);
  ASSERT_TRUE(s.OnResult(ResultFor(p2)).ok());

  // 2 decodes first and takes the last block; 1 still waits.
  v1::StepPlan p4 = s.Schedule();
  EXPECT_EQ(SeqIds(p4), Ids{2});
  ASSERT_TRUE(s.OnResult(ResultFor(p4)).ok());
  s.Release(2);
  v1::StepPlan p5 = s.Schedule();  // 1 continues where it was; no budget left for 3
  EXPECT_EQ(SeqIds(p5), Ids{1});
  EXPECT_EQ(Released(p5), Ids{2});
  EXPECT_EQ(p5.seqs(0).start_pos(), 4);
  EXPECT_FALSE(p5.seqs(0).is_new());
  EXPECT_TRUE(p5.seqs(0).sample());
  EXPECT_EQ(s.stats().preemptions, 0);
}

TEST(SchedulerTest, IdenticalPromptHitsThePrefixCache) {
  Scheduler s(Options(4, 16));
  const Tokens prompt = Range(1, 10);
  s.Add(Spec(1, prompt));
  v1::StepPlan p1 = s.Schedule();
  s.Add(Spec(2, prompt));
  // 1's blocks are registered only when its result is back: no hit yet.
  v1::StepPlan p2 = s.Schedule();
  ASSERT_EQ(SeqIds(p2), Ids{2});
  EXPECT_EQ(p2.seqs(0).start_pos(), 0);
  ASSERT_TRUE(s.OnResult(ResultFor(p1)).ok());
  ASSERT_TRUE(s.OnResult(ResultFor(p2)).ok());

  s.Add(Spec(3, prompt));
  v1::StepPlan p3 = s.Schedule();
  ASSERT_EQ(SeqIds(p3), (Ids{1, 2, 3}));
  const v1::SeqPlan& c = p3.seqs(2);
  EXPECT_TRUE(c.is_new());
  EXPECT_EQ(c.start_pos(), 8);
  EXPECT_EQ(Vec(c.context()), Range(1, 8));
  EXPECT_EQ(Vec(c.tokens()), (Tokens{9, 10}));
  EXPECT_EQ(c.prompt_len(), 10);
  EXPECT_TRUE(c.sample());
  ASSERT_EQ(c.block_table_size(), 3);
  EXPECT_EQ(c.block_table(0), p1.seqs(0).block_table(0));
  EXPECT_EQ(c.block_table(1), p1.seqs(0).block_table(1));
  EXPECT_EQ(s.cached_prompt_tokens(3), 8);
  EXPECT_EQ(s.cached_prompt_tokens(1), 0);
  EXPECT_EQ(s.cached_prompt_tokens(99), 0);
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.prefix_query_tokens, 30);
  EXPECT_EQ(st.prefix_hit_tokens, 8);
  EXPECT_EQ(st.blocks_used, 3 + 3 + 1);

  // Everything released: the registered blocks stay cached, none is used.
  ASSERT_TRUE(s.OnResult(ResultFor(p3)).ok());
  for (int64_t id : {1, 2, 3}) s.Release(id);
  st = s.stats();
  EXPECT_EQ(st.blocks_used, 0);
  EXPECT_EQ(st.blocks_cached, 2);  // 1's [1..4][5..8]; 2's copies were never registered
}

}  // namespace
}  // namespace sched_test
}  // namespace moe
