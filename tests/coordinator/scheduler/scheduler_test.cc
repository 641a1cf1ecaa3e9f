// Scheduler: options validation, plan fields, decode-first ordering, chunked prefill,
// max_num_seqs, FCFS head-of-line blocking, plans in flight, Release, and OnResult errors.
#include "coordinator/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/coordinator/scheduler/scheduler_test_util.h"

namespace moe {
namespace sched_test {
namespace {

TEST(SchedulerOptionsTest, ValidateNamesTheOption) {
  EXPECT_TRUE(Options(16, 100).Validate().ok());
  struct Case {
    SchedulerOptions o;
    const char* message;
  } cases[] = {
      {Options(0, 100), "--block-size must be >= 1, got 0"},
      {Options(16, 0), "--kv-blocks must be >= 1, got 0"},
      {Options(16, 100, 0), "--max-batch-tokens must be >= 1, got 0"},
      {Options(16, 100, 512, -3), "--max-num-seqs must be >= 1, got -3"},
  };
  for (const Case& c : cases) {
    absl::Status st = c.o.Validate();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(st.message(), c.message);
  }
}

TEST(SchedulerTest, PrefillThenDecode) {
  Scheduler s(Options(4, 8));
  EXPECT_FALSE(s.has_work());
  s.Add(Spec(7, Range(1, 5)));
  EXPECT_TRUE(s.has_work());
  EXPECT_EQ(s.stats().waiting, 1);

  v1::StepPlan p1 = s.Schedule();
  EXPECT_EQ(p1.step_id(), 1);
  ASSERT_EQ(p1.seqs_size(), 1);
  const v1::SeqPlan& a = p1.seqs(0);
  EXPECT_EQ(a.seq_id(), 7);
  EXPECT_EQ(a.start_pos(), 0);
  EXPECT_EQ(Vec(a.tokens()), Range(1, 5));
  EXPECT_EQ(a.block_table_size(), 2);
  EXPECT_TRUE(a.sample());
  EXPECT_TRUE(a.is_new());
  EXPECT_EQ(a.context_size(), 0);
  EXPECT_EQ(a.prompt_len(), 5);
  EXPECT_EQ(a.sampling().seed(), 7u);
  EXPECT_FLOAT_EQ(a.sampling().temperature(), 0.5f);
  EXPECT_EQ(s.in_flight(), 1);
  EXPECT_EQ(s.stats().running, 1);
  EXPECT_EQ(s.stats().blocks_used, 2);
  ASSERT_TRUE(s.OnResult(ResultFor(p1)).ok());
  EXPECT_EQ(s.in_flight(), 0);

  v1::StepPlan p2 = s.Schedule();
  EXPECT_EQ(p2.step_id(), 2);
  ASSERT_EQ(p2.seqs_size(), 1);
  const v1::SeqPlan& b = p2.seqs(0);
  EXPECT_EQ(b.start_pos(), 5);
  EXPECT_EQ(Vec(b.tokens()), Tokens{1007});
  EXPECT_EQ(Vec(b.block_table()), Vec(a.block_table()));
  EXPECT_TRUE(b.sample());
  EXPECT_FALSE(b.is_new());
  EXPECT_FALSE(b.has_sampling());
  EXPECT_EQ(b.prompt_len(), 0);
  ASSERT_TRUE(s.OnResult(ResultFor(p2)).ok());

  // Positions 6 and 7 fill block 1; position 8 needs a third block.
  Step(s);
  Step(s);
  v1::StepPlan p5 = s.Schedule();
  ASSERT_EQ(p5.seqs_size(), 1);
  EXPECT_EQ(p5.seqs(0).start_pos(), 8);
  EXPECT_EQ(p5.seqs(0).block_table_size(), 3);
  EXPECT_EQ(s.stats().blocks_used, 3);

  s.Release(7);
  EXPECT_EQ(s.stats().blocks_used, 0);
  EXPECT_FALSE(s.has_work());
  EXPECT_TRUE(s.OnResult(ResultFor(p5)).ok());  // token dropped
  v1::StepPlan p6 = s.Schedule();
  EXPECT_EQ(p6.seqs_size(), 0);
  EXPECT_EQ(Released(p6), Ids{7});
  EXPECT_TRUE(s.OnResult(ResultFor(p6)).ok());  // a plan without seqs: ignored
  EXPECT_EQ(s.Schedule().released_seq_ids_size(), 0);
}

TEST(SchedulerTest, ChunkedPrefillUnderTheTokenBudget) {
  Scheduler s(Options(4, 8, /*max_batch_tokens=*/4));
  s.Add(Spec(1, Range(1, 10)));
  std::vector<v1::StepPlan> plans;
  for (int i = 0; i < 3; ++i) plans.push_back(Step(s));
  const int64_t starts[] = {0, 4, 8};
  const int sizes[] = {4, 4, 2};
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(plans[i].seqs_size(), 1);
    const v1::SeqPlan& p = plans[i].seqs(0);
    EXPECT_EQ(p.start_pos(), starts[i]);
    EXPECT_EQ(p.tokens_size(), sizes[i]);
    EXPECT_EQ(Vec(p.tokens()), Range(1 + starts[i], sizes[i]));
    EXPECT_EQ(p.block_table_size(), i + 1);
    EXPECT_EQ(p.sample(), i == 2);
    EXPECT_EQ(p.is_new(), i == 0);
  }
  EXPECT_EQ(plans[1].seqs(0).block_table(0), plans[0].seqs(0).block_table(0));
}

TEST(SchedulerTest, DecodesFirstThenChunkedPrefillsThenWaiting) {
  Scheduler s(Options(4, 32, /*max_batch_tokens=*/20));
  s.Add(Spec(1, Range(1, 37)));
  v1::StepPlan p1 = s.Schedule();  // 1: [0, 20)
  s.Add(Spec(2, Range(100, 3)));
  v1::StepPlan p2 = s.Schedule();  // 1 is in flight: only 2
  EXPECT_EQ(SeqIds(p1), Ids{1});
  EXPECT_EQ(SeqIds(p2), Ids{2});
  ASSERT_TRUE(s.OnResult(ResultFor(p1)).ok());
  ASSERT_TRUE(s.OnResult(ResultFor(p2)).ok());
  s.Add(Spec(3, Range(200, 3)));

  // 2 decodes (although admitted after 1), 1 continues its prefill, 3 gets what is left.
  v1::StepPlan p3 = s.Schedule();
  EXPECT_EQ(SeqIds(p3), (Ids{2, 1, 3}));
  EXPECT_EQ(p3.seqs(0).tokens_size(), 1);
  EXPECT_EQ(p3.seqs(1).start_pos(), 20);
  EXPECT_EQ(p3.seqs(1).tokens_size(), 17);
  EXPECT_TRUE(p3.seqs(1).sample());
  EXPECT_EQ(p3.seqs(2).tokens_size(), 2);  // chunked: budget 20 - 1 - 17
  EXPECT_FALSE(p3.seqs(2).sample());
}

TEST(SchedulerTest, AtMostMaxNumSeqsPerStep) {
  Scheduler s(Options(4, 32, 512, /*max_num_seqs=*/2));
  for (int64_t id = 1; id <= 3; ++id) s.Add(Spec(id, Range(1, 3)));
  v1::StepPlan p1 = s.Schedule();
  EXPECT_EQ(SeqIds(p1), (Ids{1, 2}));
  v1::StepPlan p2 = s.Schedule();
  EXPECT_EQ(SeqIds(p2), Ids{3});
  ASSERT_TRUE(s.OnResult(ResultFor(p1)).ok());
  ASSERT_TRUE(s.OnResult(ResultFor(p2)).ok());
  EXPECT_EQ(SeqIds(s.Schedule()), (Ids{1, 2}));
}

TEST(SchedulerTest, WaitingQueueIsStrictlyFcfs) {
  Scheduler s(Options(4, 4));    // 16 tokens of KV
  s.Add(Spec(1, Range(1, 9)));   // 3 blocks
  s.Add(Spec(2, Range(20, 9)));  // 3 blocks: does not fit while 1 runs
  s.Add(Spec(3, Range(40, 2)));  // 1 block would fit, but waits behind 2
  v1::StepPlan p1 = Step(s);
  EXPECT_EQ(SeqIds(p1), Ids{1});
  EXPECT_EQ(s.stats().waiting, 2);
  EXPECT_EQ(SeqIds(Step(s)), Ids{1});
  s.Release(1);
  EXPECT_EQ(SeqIds(Step(s)), (Ids{2, 3}));
}

TEST(SchedulerTest, PlansInFlightHaveDisjointSequences) {
  Scheduler s(Options(4, 32));
  for (int64_t id = 1; id <= 3; ++id) s.Add(Spec(id, Range(1, 3)));
  v1::StepPlan p1 = s.Schedule();
  v1::StepPlan p2 = s.Schedule();
  EXPECT_EQ(SeqIds(p1), (Ids{1, 2, 3}));
  EXPECT_EQ(p2.seqs_size(), 0);  // everything in flight
  s.Add(Spec(4, Range(1, 3)));
  v1::StepPlan p3 = s.Schedule();
  EXPECT_EQ(SeqIds(p3), Ids{4});
  EXPECT_EQ(s.in_flight(), 2);

  // Results must come in plan order.
  absl::Status st = s.OnResult(ResultFor(p3));
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
  EXPECT_NE(st.message().find("step 3"), std::string::npos) << st;
  ASSERT_TRUE(s.OnResult(ResultFor(p1)).ok());
  EXPECT_EQ(SeqIds(s.Schedule()), (Ids{1, 2, 3}));
  ASSERT_TRUE(s.OnResult(ResultFor(p3)).ok());
  EXPECT_EQ(s.in_flight(), 1);
}

TEST(SchedulerTest, MismatchedResultsAreInternalAndChangeNothing) {
  Scheduler s(Options(4, 32));
  s.Add(Spec(1, Range(1, 3)));
  s.Add(Spec(2, Range(1, 9)));
  s.Add(Spec(3, Range(5, 3)));
  v1::StepPlan p = s.Schedule();
  ASSERT_EQ(SeqIds(p), (Ids{1, 2, 3}));
  const v1::StepResult good = ResultFor(p);

  v1::StepResult missing = good;
  missing.mutable_tokens()->RemoveLast();
  v1::StepResult extra = good;
  *extra.add_tokens() = good.tokens(0);
  v1::StepResult swapped = good;
  swapped.mutable_tokens()->SwapElements(0, 1);
  v1::StepResult wrong_step = good;
  wrong_step.set_step_id(5);
  for (const v1::StepResult& bad : {missing, extra, swapped, wrong_step}) {
    absl::Status st = s.OnResult(bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kInternal) << st;
    EXPECT_EQ(s.in_flight(), 1);
  }
  ASSERT_TRUE(s.OnResult(good).ok());
  v1::StepPlan next = s.Schedule();
  ASSERT_EQ(SeqIds(next), (Ids{1, 2, 3}));
  EXPECT_EQ(Vec(next.seqs(0).tokens()), Tokens{1001});
  EXPECT_EQ(s.OnResult(good).code(), absl::StatusCode::kInternal);  // applied already
}

TEST(SchedulerTest, FailedStepRecomputesItsSequences) {
  Scheduler s(Options(4, 32));
  s.Add(Spec(1, Range(1, 3)));
  v1::StepPlan p1 = Step(s);
  v1::StepPlan p2 = s.Schedule();
  v1::StepResult failed;
  failed.set_step_id(p2.step_id());
  failed.set_error("rank 3 lost");
  absl::Status st = s.OnResult(failed);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
  EXPECT_NE(st.message().find("rank 3 lost"), std::string::npos);
  // Rescheduled at once as a new sequence (is_new resets the worker: no release needed).
  v1::StepPlan p3 = s.Schedule();
  EXPECT_EQ(Released(p3), Ids{});
  ASSERT_EQ(SeqIds(p3), Ids{1});
  EXPECT_TRUE(p3.seqs(0).is_new());
  EXPECT_EQ(p3.seqs(0).start_pos() + p3.seqs(0).tokens_size(), 4);
  EXPECT_EQ(s.stats().preemptions, 0);
}

TEST(SchedulerTest, ReleaseWaitingRunningAndInFlight) {
  Scheduler s(Options(4, 32, 512, /*max_num_seqs=*/2));
  for (int64_t id = 1; id <= 4; ++id) s.Add(Spec(id, Range(1, 5)));
  v1::StepPlan p1 = s.Schedule();  // 1, 2
  ASSERT_EQ(SeqIds(p1), (Ids{1, 2}));
  s.Release(3);   // waiting, never seen by a worker
  s.Release(2);   // in flight
  s.Release(42);  // unknown: ignored
  EXPECT_EQ(s.stats().waiting, 1);
  EXPECT_EQ(s.stats().running, 1);
  EXPECT_EQ(s.stats().blocks_used, 2);
  ASSERT_TRUE(s.OnResult(ResultFor(p1)).ok());  // 2's token is dropped

  v1::StepPlan p2 = s.Schedule();
  EXPECT_EQ(SeqIds(p2), (Ids{1, 4}));
  EXPECT_EQ(Released(p2), Ids{2});
  ASSERT_TRUE(s.OnResult(ResultFor(p2)).ok());
  s.Release(1);  // running
  v1::StepPlan p3 = s.Schedule();
  EXPECT_EQ(SeqIds(p3), Ids{4});
  EXPECT_EQ(Released(p3), Ids{1});
  s.Release(4);
  EXPECT_FALSE(s.has_work());
  EXPECT_EQ(s.stats().blocks_used, 0);
  ASSERT_TRUE(s.OnResult(ResultFor(p3)).ok());
  EXPECT_EQ(s.in_flight(), 0);
}

}  // namespace
}  // namespace sched_test
}  // namespace moe
