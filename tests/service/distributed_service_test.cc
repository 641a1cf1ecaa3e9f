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
  // Exact math: layouts change summation orders (EP) and batch shapes (PP plans in flight),
  // which fast math's bf16 rounding can turn into different tokens (README).
  args.insert(args.end(),
              {"--threads", "1", "--block-size", "4", "--kv-blocks", "256", "--math", "exact"});
  auto s = ServerProcess::StartUnder(testing::MpirunCommand(np), args, 120);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

// Greedy and seeded ids equal; top-5 ids equal and their logprobs within twice the fixture's
// logit tolerance (EP sums the experts in another order).
void ExpectSame(const std::vector<Output>& got, const std::vector<Output>& want,
                const std::string& what, const ServerProcess& job) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(got[i].status.ok()) << got[i].status.error_message() << "\n" << job.log();
    EXPECT_EQ(got[i].ids, want[i].ids) << "request " << i << " with " << what;
    EXPECT_EQ(got[i].text, want[i].text) << "request " << i << " with " << what;
    ASSERT_EQ(got[i].logprobs.size(), want[i].logprobs.size());
    for (size_t j = 0; j < got[i].logprobs.size(); ++j) {
      const v1::TokenLogprob& g = got[i].logprobs[j];
      const v1::TokenLogprob& w = want[i].logprobs[j];
      ASSERT_EQ(g.top_size(), w.top_size());
      for (int k = 0; k < g.top_size(); ++k) {
        EXPECT_EQ(g.top(k).token_id(), w.top(k).token_id()) << what << " request " << i;
        EXPECT_NEAR(g.top(k).logprob(), w.top(k).logprob(),
                    2 * (1e-3 + 1e-4 * std::abs(w.top(k).logprob())))
            << what << " request " << i << " token " << j;
      }
    }
  }
}

struct Layout {
  int np;
  std::vector<std::string> flags;
  std::string Name() const {
    std::string s;
    for (const auto& f : flags) s += f + " ";
    return s;
  }
};

TEST(DistributedServiceTest, LayoutsGiveTheSingleProcessAnswers) {
  if (!testing::MpirunAvailable()) GTEST_SKIP() << "mpirun is not installed";
  std::vector<v1::GenerateRequest> reqs = Mix(8, kMoe);
  for (auto& r : reqs) r.mutable_sampling()->set_logprobs(5);
  auto single = ServerProcess::Start(
      {"--model", kMoe, "--threads", "1", "--block-size", "4", "--math", "exact"});
  ASSERT_TRUE(single.ok()) << single.status();
  const std::vector<Output> want = RunConcurrently(**single, reqs);
  auto golden = testing::LoadGolden(kMoe);
  ASSERT_TRUE(golden.ok());
  for (size_t i = 0; i < golden->cases.size() && i < want.size(); ++i) {
    const auto& g = golden->cases[i].greedy_ids;
    ASSERT_TRUE(want[i].status.ok()) << want[i].status.error_message();
    if (reqs[i].sampling().temperature() != 0) continue;  // seeded sampling: no reference
    const size_t n = std::min(want[i].ids.size(), g.size());
    EXPECT_EQ(std::vector<int32_t>(want[i].ids.begin(), want[i].ids.begin() + n),
              std::vector<int32_t>(g.begin(), g.begin() + n));
  }
  for (const Layout& c : {Layout{3, {"--pp", "2"}}, Layout{3, {"--ep", "2"}},
                          Layout{5, {"--pp", "2", "--ep", "2"}}}) {
    std::vector<std::string> args = {"--model", kMoe};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    auto job = StartJob(c.np, args);
    ASSERT_NE(job, nullptr);
    ExpectSame(RunConcurrently(*job, reqs), want, c.Name(), *job);
    // mpirun forwards SIGUSR1 to every rank: the coordinator drains, then stops the workers.
    EXPECT_EQ(job->Terminate(60, SIGUSR1), 0) << job->log();
    EXPECT_NE(job->log().find("moe-serve: stopped"), std::string::npos) << job->log();
  }
}

// A random-weight model with the real Qwen3 tokenizer (the demo model's config and tokenizer):
// text prompts in, text out, the same through every layout.
TEST(DistributedServiceTest, RandomModelWithTheRealTokenizer) {
  if (!testing::MpirunAvailable()) GTEST_SKIP() << "mpirun is not installed";
  const std::string demo = MOE_DEMO_MODEL_DIR;
  std::vector<v1::GenerateRequest> reqs;
  for (const char* text : {"To be, or not to be", "Hello world", "The quick brown fox",
                           "Now is the winter of our discontent"}) {
    v1::GenerateRequest r;
    r.set_text(text);
    r.mutable_sampling()->set_max_tokens(10);
    r.mutable_sampling()->set_temperature(reqs.size() % 2 == 0 ? 0.0f : 0.9f);
    r.mutable_sampling()->set_seed(100 + reqs.size());
    r.mutable_sampling()->set_ignore_eos(true);
    r.mutable_sampling()->set_logprobs(5);
    reqs.push_back(r);
  }
  const std::vector<std::string> model = {"--model", demo, "--random-weights"};
  std::vector<std::string> args = model;
  args.insert(args.end(), {"--threads", "1", "--block-size", "4", "--math", "exact"});
  auto single = ServerProcess::Start(args);
  ASSERT_TRUE(single.ok()) << single.status();
  const std::vector<Output> want = RunConcurrently(**single, reqs);
  for (const Output& o : want) {
    ASSERT_TRUE(o.status.ok()) << o.status.error_message();
    EXPECT_EQ(o.ids.size(), 10u);
    EXPECT_FALSE(o.text.empty());
  }
  for (const Layout& c : {Layout{3, {"--pp", "2"}}, Layout{3, {"--ep", "2"}}}) {
    std::vector<std::string> job_args = model;
    job_args.insert(job_args.end(), c.flags.begin(), c.flags.end());
    auto job = StartJob(c.np, job_args);
    ASSERT_NE(job, nullptr);
    ExpectSame(RunConcurrently(*job, reqs), want, c.Name(), *job);
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
