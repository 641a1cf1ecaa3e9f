// moe-serve as one MPI job on this machine (mpirun -np 1+P*E): through the gRPC API with
// concurrent requests, every layout gives the single-process answers; a bad layout is refused
// before any weight is read; a worker killed with SIGKILL mid-stream ends every stream with
// UNAVAILABLE naming its rank, and the job exits non-zero.
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>
#include <thread>

#include "tests/model/golden_util.h"
#include "tests/service/service_util.h"
#include "tests/testing/mpi_launch.h"
#include "tests/testing/server_process.h"

namespace moe {
namespace {

using testing::ServerProcess;

const std::string kMoe = std::string(MOE_TEST_DATA_DIR) + "/models/tiny-qwen3-moe";

std::unique_ptr<ServerProcess> StartJob(int np, std::vector<std::string> args) {
  args.insert(args.end(), {"--threads", "1", "--block-size", "4", "--kv-blocks", "256"});
  auto s = ServerProcess::StartUnder(testing::MpirunCommand(np), args, 120);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

TEST(DistributedServiceTest, LayoutsGiveTheSingleProcessAnswers) {
  if (!testing::MpirunAvailable()) GTEST_SKIP() << "mpirun is not installed";
  const std::vector<v1::GenerateRequest> reqs = Mix(8, kMoe);
  auto single = ServerProcess::Start({"--model", kMoe, "--threads", "1", "--block-size", "4"});
  ASSERT_TRUE(single.ok()) << single.status();
  const std::vector<Output> want = RunConcurrently(**single, reqs);
  auto golden = testing::LoadGolden(kMoe);
  ASSERT_TRUE(golden.ok());
  for (size_t i = 0; i < golden->cases.size() && i < want.size(); ++i) {
    const auto& g = golden->cases[i].greedy_ids;
    ASSERT_TRUE(want[i].status.ok()) << want[i].status.error_message();
    if (reqs[i].sampling().temperature() != 0) continue;  // seeded sampling: no reference
    EXPECT_EQ(std::vector<int32_t>(want[i].ids.begin(),
                                   want[i].ids.begin() + std::min(want[i].ids.size(), g.size())),
              std::vector<int32_t>(g.begin(), g.begin() + std::min(want[i].ids.size(), g.size())));
  }
  struct Case {
    int np;
    std::vector<std::string> flags;
  };
  for (const Case& c : {Case{3, {"--pp", "2"}}, Case{5, {"--pp", "2", "--ep", "2"}}}) {
    std::vector<std::string> args = {"--model", kMoe};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    auto job = StartJob(c.np, args);
    ASSERT_NE(job, nullptr);
    const std::vector<Output> got = RunConcurrently(*job, reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
      ASSERT_TRUE(got[i].status.ok()) << got[i].status.error_message() << "\n" << job->log();
      EXPECT_EQ(got[i].ids, want[i].ids) << "request " << i << " with " << c.flags[1];
    }
    // mpirun forwards SIGUSR1 to every rank: the coordinator drains, then stops the workers.
    EXPECT_EQ(job->Terminate(60, SIGUSR1), 0) << job->log();
    EXPECT_NE(job->log().find("moe-serve: stopped"), std::string::npos) << job->log();
  }
}

TEST(DistributedServiceTest, BadLayoutIsRefusedBeforeLoading) {
  if (!testing::MpirunAvailable()) GTEST_SKIP() << "mpirun is not installed";
  // World of 2 for a layout of 3 ranks.
  auto job = ServerProcess::StartUnder(testing::MpirunCommand(2), {"--model", kMoe, "--pp", "2"},
                                       60, /*wait_serving=*/false);
  ASSERT_FALSE(job.ok());
  EXPECT_NE(std::string(job.status().message()).find("needs 3 MPI ranks"), std::string::npos)
      << job.status();
  // Too many stages, without mpirun.
  auto alone = ServerProcess::Start({"--model", kMoe, "--pp", "9"}, 60, false);
  ASSERT_FALSE(alone.ok());
  EXPECT_NE(std::string(alone.status().message()).find("use --pp 4 or fewer"), std::string::npos)
      << alone.status();
}

TEST(DistributedServiceTest, KilledWorkerEndsEveryStreamAndTheJob) {
  if (!testing::MpirunAvailable()) GTEST_SKIP() << "mpirun is not installed";
  // A random 2-layer qwen3-0.6b: its 151k-entry vocabulary makes a step take milliseconds, so
  // the streams are still running when the worker dies.
  auto job =
      StartJob(3, {"--like", "qwen3-0.6b", "--layers", "2", "--pp", "2", "--step-timeout", "3"});
  ASSERT_NE(job, nullptr);
  // The coordinator logs each worker's pid: "rank 2 on HOST (pid N)".
  std::smatch m;
  const std::string log = job->log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("rank 2 on \\S+ \\(pid (\\d+)\\)"))) << log;
  const pid_t victim = static_cast<pid_t>(std::stol(m[1]));

  std::vector<v1::GenerateRequest> reqs = Mix(4, kMoe);
  for (auto& r : reqs) r.mutable_sampling()->set_max_tokens(400);
  std::vector<Output> outs(reqs.size());
  std::vector<std::thread> threads;
  std::atomic<int> streaming{0};
  for (size_t i = 0; i < reqs.size(); ++i) {
    threads.emplace_back([&, i] {
      auto stub = Stub(*job);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      auto reader = stub->Generate(&ctx, reqs[i]);
      v1::GenerateResponse r;
      bool counted = false;
      while (reader->Read(&r)) {
        outs[i].ids.insert(outs[i].ids.end(), r.token_ids().begin(), r.token_ids().end());
        if (!counted) {
          counted = true;
          ++streaming;
        }
      }
      outs[i].status = reader->Finish();
    });
  }
  // Kill once every stream has produced a token (mid-stream).
  for (int i = 0; i < 3000 && streaming.load() < static_cast<int>(reqs.size()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(streaming.load(), static_cast<int>(reqs.size())) << job->log();
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  for (const Output& o : outs) {
    EXPECT_EQ(o.status.error_code(), grpc::StatusCode::UNAVAILABLE) << o.status.error_message();
    EXPECT_LT(o.ids.size(), 400u);
  }
  EXPECT_LT(seconds, 20.0);  // the step timeout (3 s) plus start-up slack, not the 60 s deadline
  const int code = job->Wait(30);
  EXPECT_NE(code, 0) << job->log();
  EXPECT_NE(code, -1) << "the job did not exit:\n" << job->log();
}

}  // namespace
}  // namespace moe
