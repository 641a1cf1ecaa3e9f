// The ShardRunner interface and its factory (worker/shard_runner.h): the CPU runner it makes
// reproduces the fixtures' greedy continuations through Run; devices print and resolve as the
// `--device` flag promises; a worker asked for a GPU that is not there reports it to the
// coordinator instead of crashing (skipped where a GPU exists: tests/worker/cuda_worker_test.cc
// covers that machine).
#include "worker/shard_runner.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "comm/communicator.h"
#include "coordinator/remote/remote_executor.h"
#include "model/weights.h"
#include "tests/model/golden_util.h"
#include "tests/worker/runner_util.h"
#include "worker/shard_worker.h"

namespace moe {
namespace {

constexpr int64_t kBlock = 4;

const std::string kDir = testing::FixtureDir("tiny-qwen3-moe");

std::unique_ptr<ModelWeights> LoadWhole() {
  auto config = LoadModelConfig(kDir);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return nullptr;
  return testing::LoadFixtureShard(kDir, *config, ShardSpec::Whole(*config));
}

// Prefill of `tokens` in one step, then greedy decode steps, through ShardRunner::Run.
std::vector<int32_t> Greedy(ShardRunner* runner, std::vector<int32_t> tokens, int steps) {
  std::vector<int32_t> out;
  const int64_t prompt_len = static_cast<int64_t>(tokens.size());
  for (int i = 0; i < steps; ++i) {
    auto r = runner->Run(testing::GreedyPlan(i, tokens, prompt_len, kBlock));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->tokens_size() != 1) return out;
    out.push_back(r->tokens(0).token());
    tokens.push_back(r->tokens(0).token());
  }
  return out;
}

TEST(Device, PrintsAsTheFlagIsWritten) {
  EXPECT_EQ(Device().ToString(), "cpu");
  EXPECT_EQ((Device{Device::Kind::kCuda, -1}).ToString(), "cuda");
  EXPECT_EQ((Device{Device::Kind::kCuda, 3}).ToString(), "cuda:3");
}

TEST(Device, CpuResolvesToItselfAndAMissingGpuIsRefused) {
  auto cpu = ResolveDevice(Device());
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_FALSE(cpu->is_cuda());
  // No machine has 10000 GPUs: refused whether the build has CUDA or not.
  auto far = ResolveDevice({Device::Kind::kCuda, 9999});
  ASSERT_FALSE(far.ok());
  EXPECT_EQ(far.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(far.status().message().find("cuda:9999"), absl::string_view::npos) << far.status();
  // `cuda` picks a device by local rank when there is one.
  auto any = ResolveDevice({Device::Kind::kCuda, -1}, /*local_rank=*/5);
  if (any.ok()) {
    EXPECT_TRUE(any->is_cuda());
    EXPECT_GE(any->index, 0);
  } else {
    EXPECT_EQ(any.status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST(ShardRunner, CpuRunnerFromTheFactoryMatchesGolden) {
  std::unique_ptr<ModelWeights> weights = LoadWhole();
  ASSERT_NE(weights, nullptr);
  auto golden = testing::LoadGolden(kDir);
  ASSERT_TRUE(golden.ok()) << golden.status();
  ThreadPool pool(1);
  ShardRunnerOptions o;
  o.num_blocks = 64;
  o.block_size = kBlock;
  auto runner = MakeShardRunner(weights.get(), &pool, o);
  ASSERT_TRUE(runner.ok()) << runner.status();
  EXPECT_FALSE((*runner)->device().is_cuda());
  EXPECT_GT((*runner)->kv_bytes(), 0);
  const testing::GoldenCase& c = golden->cases[0];
  const int steps = static_cast<int>(c.greedy_ids.size());
  EXPECT_EQ(Greedy(runner->get(), c.prompt, steps), c.greedy_ids);
  EXPECT_EQ((*runner)->num_sequences(), 1);
}

TEST(ShardRunner, UnresolvedCudaDeviceIsRefused) {
  std::unique_ptr<ModelWeights> weights = LoadWhole();
  ASSERT_NE(weights, nullptr);
  ShardRunnerOptions o;
  o.device = {Device::Kind::kCuda, -1};
  o.num_blocks = 8;
  auto runner = MakeShardRunner(weights.get(), nullptr, o);
  EXPECT_FALSE(runner.ok());
}

TEST(RunWorker, AMissingGpuIsReportedToTheCoordinator) {
  if (ResolveDevice({Device::Kind::kCuda, 0}).ok()) GTEST_SKIP() << "a CUDA device is present";
  auto config = LoadModelConfig(kDir);
  ASSERT_TRUE(config.ok()) << config.status();
  auto layout = Layout::Make(*config, LayoutOptions());
  ASSERT_TRUE(layout.ok()) << layout.status();
  auto world = comm::LocalWorld(2);
  absl::Status worker_status;
  bool loaded = false;
  std::thread worker([&] {
    WorkerLaunch launch;
    launch.layout = *layout;
    launch.kv_blocks = 8;
    launch.block_size = kBlock;
    launch.device = {Device::Kind::kCuda, 0};
    launch.load = [&](const ShardSpec&) -> absl::StatusOr<std::unique_ptr<ModelWeights>> {
      loaded = true;
      return absl::InternalError("not reached");
    };
    worker_status = RunWorker(world[1].get(), launch);
  });
  auto stage = SplitStages(world[0].get(), *layout);
  ASSERT_TRUE(stage.ok()) << stage.status();
  RemoteExecutor executor(world[0].get(), {layout->pp(), layout->ep(), 20});
  auto hellos = executor.AwaitWorkers();
  worker.join();
  ASSERT_FALSE(hellos.ok());
  EXPECT_NE(hellos.status().message().find("cuda:0"), absl::string_view::npos) << hellos.status();
  EXPECT_EQ(worker_status.code(), absl::StatusCode::kFailedPrecondition) << worker_status;
  EXPECT_FALSE(loaded) << "the device is checked before the weights are read";
}

}  // namespace
}  // namespace moe
