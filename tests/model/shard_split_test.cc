// The seam distribution uses: a model split into pipeline stages (layers [0, k) and [k, n)) and
// expert-parallel ranks (even / odd experts), composed by hand here, gives the whole model's
// logits. Pipeline splits are bit-identical (same operations in the same order); expert splits
// sum the experts in another order, so they match to 1e-5 (fp32 rounding, far inside the
// fixtures' 1e-3 tolerance) and give the same greedy ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "common/file.h"
#include "common/model_config.h"
#include "common/safetensors.h"
#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "model/qwen3.h"
#include "tests/model/golden_util.h"

namespace moe {
namespace {

std::string ModelDir(const std::string& name) {
  return JoinPath(JoinPath(MOE_TEST_DATA_DIR, "models"), name);
}

// One rank: a shard's weights, its model and its KV cache.
struct Rank {
  std::unique_ptr<ModelWeights> weights;
  std::unique_ptr<Qwen3Model> model;
  std::unique_ptr<KvCache> cache;
};

constexpr int64_t kBlock = 16, kBlocks = 8;

// ranks[stage][ep]: stage s holds layers [split[s], split[s+1]); EP rank r holds experts e with
// e % ep == r.
std::vector<std::vector<Rank>> MakeRanks(const ModelConfig& config,
                                         std::shared_ptr<const Checkpoint> ckpt,
                                         const std::vector<int64_t>& split, int64_t ep,
                                         ThreadPool* pool) {
  std::vector<std::vector<Rank>> ranks(split.size() - 1);
  for (size_t s = 0; s + 1 < split.size(); ++s) {
    for (int64_t r = 0; r < ep; ++r) {
      ShardSpec spec;
      spec.layer_begin = split[s];
      spec.layer_end = split[s + 1];
      if (ep > 1) {
        spec.expert_owned.resize(static_cast<size_t>(config.num_experts));
        for (int64_t e = 0; e < config.num_experts; ++e) spec.expert_owned[e] = (e % ep == r);
      }
      Rank rank;
      auto w = ModelWeights::Load(ckpt, config, spec);
      EXPECT_TRUE(w.ok()) << w.status();
      rank.weights = std::move(*w);
      rank.model = std::make_unique<Qwen3Model>(rank.weights.get(), pool);
      rank.cache =
          std::make_unique<KvCache>(config, spec.layer_end - spec.layer_begin, kBlocks, kBlock);
      ranks[s].push_back(std::move(rank));
    }
  }
  return ranks;
}

// One step through all stages, EP partial MLP outputs summed by hand; returns logits of every row.
std::vector<float> Step(std::vector<std::vector<Rank>>& ranks, const StepBatch& batch,
                        const ModelConfig& c) {
  const int64_t T = batch.num_tokens(), H = c.hidden_size;
  std::vector<float> hidden(static_cast<size_t>(T * H));
  ranks[0][0].model->Embed(batch, hidden.data());
  for (auto& stage : ranks) {
    const int64_t ep = static_cast<int64_t>(stage.size());
    std::vector<std::vector<float>> h(ep, hidden), part(ep, std::vector<float>(hidden.size()));
    const ShardSpec& spec = stage[0].weights->spec();
    for (int64_t l = spec.layer_begin; l < spec.layer_end; ++l) {
      for (int64_t r = 0; r < ep; ++r) {
        stage[r].model->AttentionBlock(l, batch, stage[r].cache.get(), h[r].data());
        stage[r].model->MlpPartial(l, h[r].data(), T, part[r].data());
      }
      // The all-reduce: MoE layers sum the ranks' parts; dense layers are replicated.
      std::vector<float> sum = part[0];
      if (stage[0].weights->layer(l).is_moe) {
        for (int64_t r = 1; r < ep; ++r) kernels::Add(sum.data(), part[r].data(), T * H);
      }
      for (int64_t r = 0; r < ep; ++r) kernels::Add(h[r].data(), sum.data(), T * H);
    }
    hidden = h[0];
  }
  std::vector<int64_t> rows(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) rows[t] = t;
  std::vector<float> logits(static_cast<size_t>(T * c.vocab_size));
  ranks.back()[0].model->Logits(hidden.data(), rows, logits.data());
  return logits;
}

// Prefill then 16 greedy decode steps of one prompt; returns all logits rows concatenated.
std::vector<float> Generate(std::vector<std::vector<Rank>>& ranks,
                            const std::vector<int32_t>& prompt, const ModelConfig& c,
                            std::vector<int32_t>* ids) {
  std::vector<float> all;
  StepBatch batch;
  batch.tokens = prompt;
  SeqStep st;
  st.num_tokens = static_cast<int64_t>(prompt.size());
  for (int32_t b = 0; b < kBlocks; ++b) st.block_table.push_back(kBlocks - 1 - b);
  batch.seqs.push_back(st);
  for (int step = 0; step < 16; ++step) {
    std::vector<float> logits = Step(ranks, batch, c);
    all.insert(all.end(), logits.begin(), logits.end());
    const float* last = logits.data() + (batch.num_tokens() - 1) * c.vocab_size;
    const int32_t next = static_cast<int32_t>(std::max_element(last, last + c.vocab_size) - last);
    ids->push_back(next);
    batch.seqs[0].start_pos += batch.seqs[0].num_tokens;
    batch.seqs[0].num_tokens = 1;
    batch.tokens = {next};
  }
  return all;
}

class ShardSplitTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ShardSplitTest, SplitsMatchWholeModel) {
  const std::string dir = ModelDir(GetParam());
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  auto ckpt_or = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt_or.ok()) << ckpt_or.status();
  std::shared_ptr<const Checkpoint> ckpt = std::move(*ckpt_or);
  auto golden = testing::LoadGolden(dir);
  ASSERT_TRUE(golden.ok()) << golden.status();
  const int64_t L = config->num_hidden_layers, k = L / 2;
  ThreadPool pool(1);

  for (const auto& gc : golden->cases) {
    SCOPED_TRACE(gc.name);
    auto whole = MakeRanks(*config, ckpt, {0, L}, 1, &pool);  // fresh KV caches per case
    std::vector<int32_t> want_ids;
    std::vector<float> want = Generate(whole, gc.prompt, *config, &want_ids);
    EXPECT_EQ(want_ids, gc.greedy_ids);

    // Pipeline: two stages, bit-identical.
    auto pp = MakeRanks(*config, ckpt, {0, k, L}, 1, &pool);
    std::vector<int32_t> pp_ids;
    std::vector<float> got = Generate(pp, gc.prompt, *config, &pp_ids);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float))) << "pp split";
    EXPECT_EQ(pp_ids, want_ids);

    if (!config->is_moe()) continue;
    // Expert parallel (even / odd experts), alone and inside the two pipeline stages.
    for (auto split : {std::vector<int64_t>{0, L}, std::vector<int64_t>{0, k, L}}) {
      auto ep = MakeRanks(*config, ckpt, split, 2, &pool);
      std::vector<int32_t> ep_ids;
      got = Generate(ep, gc.prompt, *config, &ep_ids);
      ASSERT_EQ(got.size(), want.size());
      EXPECT_EQ(testing::CompareClose(got.data(), want.data(), static_cast<int64_t>(got.size()),
                                      1e-5, 0.0),
                "")
          << "ep split with " << split.size() - 1 << " stages";
      EXPECT_EQ(ep_ids, want_ids);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ShardSplitTest,
                         ::testing::Values("tiny-qwen3-dense", "tiny-qwen3-moe",
                                           "tiny-qwen3-moe-sharded"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace moe
