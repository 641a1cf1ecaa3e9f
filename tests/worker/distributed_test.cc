// Distributed execution in one process: the coordinator (a real Coordinator over a
// RemoteExecutor) and the workers (RunWorker, each on its own thread) joined by the local
// transport. Every layout gives the reference greedy continuations of the fixtures, and top-5
// logprobs within the fixture tolerance of the single-process run; requests run concurrently so
// that the pipeline has several plans in flight.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "comm/communicator.h"
#include "coordinator/core/coordinator.h"
#include "coordinator/remote/remote_executor.h"
#include "model/weights.h"
#include "tests/model/golden_util.h"
#include "worker/layout.h"
#include "worker/shard_worker.h"

namespace moe {
namespace {

class Collect : public StreamSink {
 public:
  void OnResponse(v1::GenerateResponse r) override {
    absl::MutexLock lock(&mu_);
    for (int32_t id : r.token_ids()) ids_.push_back(id);
    for (const v1::TokenLogprob& lp : r.logprobs()) {
      std::vector<std::pair<int32_t, float>> top;
      for (const v1::TopLogprob& t : lp.top()) top.emplace_back(t.token_id(), t.logprob());
      tops_.push_back(std::move(top));
    }
  }
  void OnDone(const absl::Status& s) override {
    absl::MutexLock lock(&mu_);
    status_ = s;
    done_.Notify();
  }
  bool Wait() { return done_.WaitForNotificationWithTimeout(absl::Seconds(60)); }
  std::vector<int32_t> ids() {
    absl::MutexLock lock(&mu_);
    return ids_;
  }
  std::vector<std::vector<std::pair<int32_t, float>>> tops() {
    absl::MutexLock lock(&mu_);
    return tops_;
  }
  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  absl::Mutex mu_;
  std::vector<int32_t> ids_;
  std::vector<std::vector<std::pair<int32_t, float>>> tops_;
  absl::Status status_;
  absl::Notification done_;
};

struct Output {
  int64_t most_in_flight = 0;
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::vector<std::vector<std::pair<int32_t, float>>>> tops;
};

std::string ModelDir(const std::string& name) {
  return std::string(MOE_TEST_DATA_DIR) + "/models/" + name;
}

// Serves the golden prompts (all at once) on `options`' layout in one process.
Output Serve(const std::string& name, const LayoutOptions& options, int64_t max_tokens = 8,
             absl::Status* status = nullptr) {
  const std::string dir = ModelDir(name);
  auto config = LoadModelConfig(dir);
  EXPECT_TRUE(config.ok()) << config.status();
  auto layout = Layout::Make(*config, options);
  EXPECT_TRUE(layout.ok()) << layout.status();
  auto golden = testing::LoadGolden(dir);
  EXPECT_TRUE(golden.ok()) << golden.status();

  std::vector<std::unique_ptr<comm::Communicator>> world =
      comm::LocalWorld(static_cast<int>(layout->world_size()));
  constexpr int64_t kBlocks = 256, kBlockSize = 4;
  std::vector<std::thread> workers;
  std::vector<absl::Status> worker_status(world.size());
  for (size_t r = 1; r < world.size(); ++r) {
    workers.emplace_back([&, r] {
      WorkerLaunch launch;
      launch.layout = *layout;
      launch.kv_blocks = kBlocks;
      launch.block_size = kBlockSize;
      launch.options.step_timeout_seconds = 20;
      launch.load = [&](const ShardSpec& spec) -> absl::StatusOr<std::unique_ptr<ModelWeights>> {
        MOE_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> ckpt, Checkpoint::Open(dir));
        return ModelWeights::Load(std::move(ckpt), *config, spec);
      };
      worker_status[r] = RunWorker(world[r].get(), launch);
    });
  }
  auto stage = SplitStages(world[0].get(), *layout);
  EXPECT_TRUE(stage.ok()) << stage.status();
  RemoteExecutor executor(world[0].get(), {layout->pp(), layout->ep(), 20});
  auto hellos = executor.AwaitWorkers();
  EXPECT_TRUE(hellos.ok()) << hellos.status();
  EXPECT_EQ(static_cast<int64_t>(hellos->size()), layout->num_workers());

  ServedModel model;
  model.model_id = name;
  model.config = *config;
  model.max_model_len = 1000;
  CoordinatorOptions copts;
  copts.scheduler.block_size = kBlockSize;
  copts.scheduler.num_blocks = kBlocks;
  copts.scheduler.max_batch_tokens = 8;  // chunked prefill beside decodes
  Output out;
  {
    Coordinator coordinator(&model, &executor, nullptr, copts);
    coordinator.Start();
    std::vector<std::shared_ptr<Collect>> sinks;
    for (const testing::GoldenCase& c : golden->cases) {
      RequestParams p;
      p.prompt = c.prompt;
      p.max_tokens = max_tokens;
      p.detokenize = false;
      p.return_logprobs = true;
      p.sampling.set_temperature(0);
      p.sampling.set_top_p(1);
      p.sampling.set_repetition_penalty(1);
      p.sampling.set_logprobs(5);
      sinks.push_back(std::make_shared<Collect>());
      auto id = coordinator.Submit(p, sinks.back());
      EXPECT_TRUE(id.ok()) << id.status();
    }
    for (auto& s : sinks) {
      EXPECT_TRUE(s->Wait());
      if (status != nullptr && !s->status().ok()) *status = s->status();
      if (status == nullptr) {
        EXPECT_TRUE(s->status().ok()) << s->status();
      }
      out.ids.push_back(s->ids());
      out.tops.push_back(s->tops());
    }
    coordinator.Stop();  // sends the shutdown plan
  }
  out.most_in_flight = executor.stats().most_in_flight;
  for (auto& t : workers) t.join();
  for (size_t r = 1; r < world.size(); ++r) {
    EXPECT_TRUE(worker_status[r].ok()) << "rank " << r << ": " << worker_status[r];
  }
  return out;
}

void ExpectSameAsSingle(const std::string& name, const LayoutOptions& options) {
  auto golden = testing::LoadGolden(ModelDir(name));
  ASSERT_TRUE(golden.ok());
  const int64_t steps = 8;
  const Output single = Serve(name, LayoutOptions{});
  const Output got = Serve(name, options);
  ASSERT_GE(golden->cases.size(), 2u);  // concurrent requests
  ASSERT_EQ(got.ids.size(), golden->cases.size());
  EXPECT_EQ(single.most_in_flight, 1);
  EXPECT_EQ(got.most_in_flight, options.pp);  // every stage had a plan
  for (size_t i = 0; i < golden->cases.size(); ++i) {
    const auto& g = golden->cases[i].greedy_ids;
    std::vector<int32_t> want(g.begin(), g.begin() + std::min<size_t>(g.size(), steps));
    std::vector<int32_t> have(got.ids[i].begin(),
                              got.ids[i].begin() + std::min<size_t>(got.ids[i].size(), steps));
    ASSERT_EQ(have.size(), static_cast<size_t>(steps));
    EXPECT_EQ(have, want) << golden->cases[i].name;
    ASSERT_EQ(got.tops[i].size(), single.tops[i].size());
    for (size_t j = 0; j < got.tops[i].size(); ++j) {
      ASSERT_EQ(got.tops[i][j].size(), 5u);
      for (size_t k = 0; k < 5; ++k) {
        EXPECT_EQ(got.tops[i][j][k].first, single.tops[i][j][k].first)
            << golden->cases[i].name << " token " << j << " top " << k;
        // Logprobs are differences of logits: twice the fixture's logit tolerance.
        const double g_lp = single.tops[i][j][k].second;
        EXPECT_NEAR(got.tops[i][j][k].second, g_lp,
                    2 * (golden->atol + golden->rtol * std::abs(g_lp)));
      }
    }
  }
}

TEST(DistributedTest, SingleWorkerRankMatchesReference) {
  auto golden = testing::LoadGolden(ModelDir("tiny-qwen3-moe"));
  ASSERT_TRUE(golden.ok());
  LayoutOptions o;
  const Output got = Serve("tiny-qwen3-moe", o, 8);
  for (size_t i = 0; i < golden->cases.size(); ++i) {
    const auto& g = golden->cases[i].greedy_ids;
    EXPECT_EQ(got.ids[i], std::vector<int32_t>(g.begin(), g.begin() + 8));
  }
}

TEST(DistributedTest, MoePipelineTwoStages) {
  LayoutOptions o;
  o.pp = 2;
  ExpectSameAsSingle("tiny-qwen3-moe", o);
}

TEST(DistributedTest, MoeExpertParallelTwo) {
  LayoutOptions o;
  o.ep = 2;
  ExpectSameAsSingle("tiny-qwen3-moe", o);
}

TEST(DistributedTest, MoePipelineTwoByExpertTwo) {
  LayoutOptions o;
  o.pp = 2;
  o.ep = 2;
  ExpectSameAsSingle("tiny-qwen3-moe", o);
}

TEST(DistributedTest, MoeOneExpertPerRank) {
  auto config = LoadModelConfig(ModelDir("tiny-qwen3-moe"));
  ASSERT_TRUE(config.ok());
  LayoutOptions o;
  o.ep = config->num_experts;
  ExpectSameAsSingle("tiny-qwen3-moe", o);
}

TEST(DistributedTest, DensePipelineUnevenSplit) {
  auto config = LoadModelConfig(ModelDir("tiny-qwen3-dense"));
  ASSERT_TRUE(config.ok());
  ASSERT_GE(config->num_hidden_layers, 2);
  LayoutOptions o;
  o.pp = 2;
  o.layer_split = absl::StrCat(1, ",", config->num_hidden_layers - 1);
  ExpectSameAsSingle("tiny-qwen3-dense", o);
}

}  // namespace
}  // namespace moe
