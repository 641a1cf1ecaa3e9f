// The coordinator's step loop with a fake worker: streams, stop conditions, cancellation,
// admission control, worker failure and drain.
#include "coordinator/core/coordinator.h"

#include <gtest/gtest.h>

#include <memory>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace moe {
namespace {

// Samples (last token + 1) % 100 for every sequence that asks; can be told to fail or to block
// until released.
class FakeExecutor : public StepExecutor {
 public:
  absl::StatusOr<v1::StepResult> Execute(const v1::StepPlan& plan) override {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](bool* open) { return *open; }, &open_));
    if (fail_) return absl::UnavailableError("rank 1 died");
    v1::StepResult r;
    r.set_step_id(plan.step_id());
    for (const v1::SeqPlan& sp : plan.seqs()) {
      if (!sp.sample()) continue;
      v1::SampledToken* t = r.add_tokens();
      t->set_seq_id(sp.seq_id());
      t->set_token((sp.tokens(sp.tokens_size() - 1) + 1) % 100);
    }
    ++steps_;
    return r;
  }
  void set_open(bool open) {
    absl::MutexLock lock(&mu_);
    open_ = open;
  }
  void set_fail() {
    absl::MutexLock lock(&mu_);
    fail_ = true;
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  bool fail_ ABSL_GUARDED_BY(mu_) = false;
  int steps_ ABSL_GUARDED_BY(mu_) = 0;
};

class Collect : public StreamSink {
 public:
  void OnResponse(v1::GenerateResponse r) override {
    absl::MutexLock lock(&mu_);
    for (int32_t id : r.token_ids()) ids_.push_back(id);
    if (r.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) last_ = r;
  }
  void OnDone(const absl::Status& s) override {
    absl::MutexLock lock(&mu_);
    status_ = s;
    done_.Notify();
  }
  bool Wait() { return done_.WaitForNotificationWithTimeout(absl::Seconds(30)); }
  std::vector<int32_t> ids() {
    absl::MutexLock lock(&mu_);
    return ids_;
  }
  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  v1::GenerateResponse last() {
    absl::MutexLock lock(&mu_);
    return last_;
  }

 private:
  absl::Mutex mu_;
  std::vector<int32_t> ids_;
  absl::Status status_;
  v1::GenerateResponse last_;
  absl::Notification done_;
};

RequestParams Params(std::vector<int32_t> prompt, int64_t max_tokens) {
  RequestParams p;
  p.prompt = std::move(prompt);
  p.max_tokens = max_tokens;
  p.detokenize = false;
  p.sampling.set_temperature(0);
  return p;
}

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_.model_id = "fake";
    model_.max_model_len = 1000;
    CoordinatorOptions options;
    options.scheduler.block_size = 4;
    options.scheduler.num_blocks = 64;
    options.scheduler.max_batch_tokens = 16;
    options.max_queued = 4;
    coordinator_ = std::make_unique<Coordinator>(&model_, &executor_, nullptr, options);
  }
  ServedModel model_;
  FakeExecutor executor_;
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(CoordinatorTest, RefusesBeforeStart) {
  auto sink = std::make_shared<Collect>();
  auto id = coordinator_->Submit(Params({1, 2}, 3), sink);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(coordinator_->ready());
}

TEST_F(CoordinatorTest, StreamsUntilMaxTokensAndStopIds) {
  coordinator_->Start();
  EXPECT_TRUE(coordinator_->ready());
  auto a = std::make_shared<Collect>();
  auto b = std::make_shared<Collect>();
  RequestParams pb =
      Params({10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26}, 50);
  pb.stop_token_ids = {30};
  ASSERT_TRUE(coordinator_->Submit(Params({5, 6, 7}, 4), a).ok());
  ASSERT_TRUE(coordinator_->Submit(pb, b).ok());
  ASSERT_TRUE(a->Wait());
  ASSERT_TRUE(b->Wait());
  EXPECT_TRUE(a->status().ok()) << a->status();
  EXPECT_EQ(a->ids(), (std::vector<int32_t>{8, 9, 10, 11}));
  EXPECT_EQ(a->last().finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(a->last().usage().prompt_tokens(), 3);
  EXPECT_EQ(a->last().usage().completion_tokens(), 4);
  EXPECT_EQ(b->ids(), (std::vector<int32_t>{27, 28, 29, 30}));
  EXPECT_EQ(b->last().finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(coordinator_->active_requests(), 0);
}

TEST_F(CoordinatorTest, CancelEndsTheStream) {
  coordinator_->Start();
  executor_.set_open(false);
  auto a = std::make_shared<Collect>();
  auto id = coordinator_->Submit(Params({1, 2, 3}, 500), a);
  ASSERT_TRUE(id.ok());
  coordinator_->Cancel(*id);
  executor_.set_open(true);
  ASSERT_TRUE(a->Wait());
  EXPECT_EQ(a->status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(a->ids().size(), 500u);
  EXPECT_EQ(coordinator_->active_requests(), 0);
}

TEST_F(CoordinatorTest, QueueLimitGivesResourceExhausted) {
  coordinator_->Start();
  executor_.set_open(false);  // nothing finishes
  std::vector<std::shared_ptr<Collect>> sinks;
  absl::Status refused;
  for (int i = 0; i < 20 && refused.ok(); ++i) {
    sinks.push_back(std::make_shared<Collect>());
    refused = coordinator_->Submit(Params({1, 2, 3}, 5), sinks.back()).status();
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_NE(refused.message().find("--max-queued"), std::string::npos);
  executor_.set_open(true);
  for (size_t i = 0; i + 1 < sinks.size(); ++i) {
    ASSERT_TRUE(sinks[i]->Wait());
    EXPECT_TRUE(sinks[i]->status().ok());
  }
}

TEST_F(CoordinatorTest, WorkerFailureEndsEveryStreamWithUnavailable) {
  coordinator_->Start();
  executor_.set_fail();
  auto a = std::make_shared<Collect>();
  auto b = std::make_shared<Collect>();
  ASSERT_TRUE(coordinator_->Submit(Params({1, 2, 3}, 5), a).ok());
  ASSERT_TRUE(a->Wait());
  EXPECT_EQ(a->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(a->status().message().find("rank 1 died"), std::string::npos);
  EXPECT_FALSE(coordinator_->healthy());
  EXPECT_EQ(coordinator_->Submit(Params({1}, 5), b).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(CoordinatorTest, DrainRefusesNewButFinishesRunning) {
  coordinator_->Start();
  executor_.set_open(false);
  auto a = std::make_shared<Collect>();
  ASSERT_TRUE(coordinator_->Submit(Params({1, 2, 3}, 6), a).ok());
  coordinator_->Drain();
  auto b = std::make_shared<Collect>();
  EXPECT_EQ(coordinator_->Submit(Params({1}, 5), b).status().code(),
            absl::StatusCode::kUnavailable);
  executor_.set_open(true);
  ASSERT_TRUE(a->Wait());
  EXPECT_TRUE(a->status().ok());
  EXPECT_EQ(a->ids().size(), 6u);
}

TEST_F(CoordinatorTest, StopEndsOpenStreams) {
  coordinator_->Start();
  executor_.set_open(false);
  auto a = std::make_shared<Collect>();
  ASSERT_TRUE(coordinator_->Submit(Params({1, 2, 3}, 100), a).ok());
  executor_.set_open(true);
  coordinator_->Stop();
  ASSERT_TRUE(a->Wait());
  // Either it finished or it was ended by the stop; never left open.
  EXPECT_TRUE(a->status().ok() || a->status().code() == absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace moe
