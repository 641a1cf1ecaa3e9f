// Helpers for the ShardRunner tests: loading a fixture shard and the StepPlans of one greedy
// sequence (prefill in one step, then one token per step).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/model_config.h"
#include "common/safetensors.h"
#include "model/weights.h"
#include "moe/v1/step.pb.h"

namespace moe::testing {

inline std::string FixtureDir(const std::string& name) {
  return std::string(MOE_TEST_DATA_DIR) + "/models/" + name;
}

// The shard `spec` of fixture `dir` (null and a test failure when it does not load).
inline std::unique_ptr<ModelWeights> LoadFixtureShard(const std::string& dir,
                                                      const ModelConfig& config,
                                                      const ShardSpec& spec) {
  auto ckpt = Checkpoint::Open(dir);
  if (!ckpt.ok()) return nullptr;
  auto w = ModelWeights::Load(*std::move(ckpt), config, spec);
  return w.ok() ? *std::move(w) : nullptr;
}

// Step `step` of greedy sequence 7 over `tokens` (the prompt of prompt_len tokens, then what
// was generated): step 0 prefills the prompt, later steps decode the last token. Blocks
// 0, 1, ... of `block_size` tokens.
inline v1::StepPlan GreedyPlan(int64_t step, const std::vector<int32_t>& tokens, int64_t prompt_len,
                               int64_t block_size) {
  v1::StepPlan plan;
  plan.set_step_id(step);
  v1::SeqPlan* sp = plan.add_seqs();
  sp->set_seq_id(7);
  sp->set_is_new(step == 0);
  sp->set_prompt_len(prompt_len);
  sp->mutable_sampling()->set_temperature(0);
  sp->mutable_sampling()->set_top_p(1);
  sp->mutable_sampling()->set_repetition_penalty(1);
  const int64_t len = static_cast<int64_t>(tokens.size());
  const int64_t start = step == 0 ? 0 : len - 1;
  sp->set_start_pos(start);
  for (int64_t t = start; t < len; ++t) sp->add_tokens(tokens[static_cast<size_t>(t)]);
  for (int64_t b = 0; b < (len + block_size - 1) / block_size; ++b) {
    sp->add_block_table(static_cast<int32_t>(b));
  }
  sp->set_sample(true);
  return plan;
}

}  // namespace moe::testing
