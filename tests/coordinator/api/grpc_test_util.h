// In-process fixtures for the gRPC API tests: a real Coordinator over a fake StepExecutor
// (every sampling sequence gets token 5, optionally behind a gate or after a delay), the tiny
// token-id model, and a GrpcServer on free ports.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/model_config.h"
#include "coordinator/api/grpc_server.h"
#include "coordinator/core/coordinator.h"
#include "coordinator/metrics/metrics.h"
#include "moe/v1/inference.grpc.pb.h"
#include "stub_util.h"

namespace moe::testing {

class FakeExecutor : public StepExecutor {
 public:
  absl::StatusOr<v1::StepResult> Execute(const v1::StepPlan& plan) override {
    v1::StepResult result;
    result.set_step_id(plan.step_id());
    if (plan.shutdown()) return result;
    {
      absl::MutexLock lock(&mu_);
      ++entered_;
      mu_.Await(absl::Condition(&open_));
    }
    if (delay_ > absl::ZeroDuration()) absl::SleepFor(delay_);
    for (const v1::SeqPlan& seq : plan.seqs()) {
      if (!seq.sample()) continue;
      v1::SampledToken* token = result.add_tokens();
      token->set_seq_id(seq.seq_id());
      token->set_token(5);
      token->set_logprob(-0.5f);
    }
    return result;
  }

  void set_delay(absl::Duration delay) { delay_ = delay; }  // REQUIRES: before serving
  void SetOpen(bool open) {
    absl::MutexLock lock(&mu_);
    open_ = open;
  }
  // Waits until Execute has been entered `n` times in all.
  bool WaitEntered(int n, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return entered_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

 private:
  absl::Duration delay_ = absl::ZeroDuration();
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
};

// The tiny token-id model (vocab 1000, eos 999) with a 4096-token context.
inline std::unique_ptr<ServedModel> TinyModel() {
  auto model = std::make_unique<ServedModel>();
  auto config = LoadModelConfig(TestDataPath("models/tiny-qwen3-moe"));
  EXPECT_TRUE(config.ok()) << config.status();
  if (config.ok()) model->config = *config;
  model->model_id = "tiny-qwen3-moe";
  model->max_model_len = 4096;
  model->kv_block_size = 16;
  model->kv_blocks_total = 1024;
  return model;
}

// A coordinator over FakeExecutor plus a GrpcServer; `start_coordinator` false leaves the
// model "loading".
class ServerFixture {
 public:
  struct Options {
    GrpcServerOptions grpc;
    int64_t max_queued = 1024;
    bool start_coordinator = true;
    absl::Duration step_delay = absl::ZeroDuration();
  };

  explicit ServerFixture(Options options) : model_(TinyModel()) {
    executor_.set_delay(options.step_delay);
    CoordinatorOptions coordinator_options;
    coordinator_options.scheduler.block_size = model_->kv_block_size;
    coordinator_options.scheduler.num_blocks = model_->kv_blocks_total;
    coordinator_options.max_queued = options.max_queued;
    coordinator_ =
        std::make_unique<Coordinator>(model_.get(), &executor_, &metrics_, coordinator_options);
    if (options.start_coordinator) coordinator_->Start();
    options.grpc.host = "127.0.0.1";
    options.grpc.port = 0;
    auto server = GrpcServer::Start(options.grpc, coordinator_.get(), &metrics_);
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = std::move(server).value();
  }
  ~ServerFixture() {
    executor_.SetOpen(true);
    if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
    coordinator_->Stop();
  }

  bool ok() const { return server_ != nullptr; }
  GrpcServer& server() { return *server_; }
  Coordinator& coordinator() { return *coordinator_; }
  FakeExecutor& executor() { return executor_; }
  Metrics& metrics() { return metrics_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(target(), grpc::InsecureChannelCredentials());
  }
  std::unique_ptr<v1::Inference::Stub> Stub() const { return v1::Inference::NewStub(Channel()); }

 private:
  std::unique_ptr<ServedModel> model_;
  FakeExecutor executor_;
  Metrics metrics_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<GrpcServer> server_;
};

}  // namespace moe::testing
