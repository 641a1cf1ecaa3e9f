// Helpers shared by the scheduler unit tests: options, specs, plan accessors, and a fake
// worker answer (token 1000 + seq_id for every sampling sequence).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "coordinator/scheduler/scheduler.h"

namespace moe {
namespace sched_test {

using Ids = std::vector<int64_t>;
using Tokens = std::vector<int32_t>;

inline SchedulerOptions Options(int64_t block_size, int64_t num_blocks,
                                int64_t max_batch_tokens = 512, int64_t max_num_seqs = 256,
                                bool prefix_caching = true) {
  SchedulerOptions o;
  o.block_size = block_size;
  o.num_blocks = num_blocks;
  o.max_batch_tokens = max_batch_tokens;
  o.max_num_seqs = max_num_seqs;
  o.enable_prefix_caching = prefix_caching;
  return o;
}

inline SeqSpec Spec(int64_t id, Tokens prompt) {
  SeqSpec s;
  s.seq_id = id;
  s.prompt = std::move(prompt);
  s.sampling.set_seed(static_cast<uint64_t>(id));
  s.sampling.set_temperature(0.5f);
  return s;
}

inline Tokens Range(int32_t from, int32_t n) {
  Tokens t;
  for (int32_t i = 0; i < n; ++i) t.push_back(from + i);
  return t;
}

inline Ids SeqIds(const v1::StepPlan& plan) {
  Ids ids;
  for (const auto& s : plan.seqs()) ids.push_back(s.seq_id());
  return ids;
}

inline Ids Released(const v1::StepPlan& plan) {
  return Ids(plan.released_seq_ids().begin(), plan.released_seq_ids().end());
}

inline Tokens Vec(const google::protobuf::RepeatedField<int32_t>& f) {
  return Tokens(f.begin(), f.end());
}

// The worker's answer: token 1000 + seq_id for every sampling sequence.
inline v1::StepResult ResultFor(const v1::StepPlan& plan) {
  v1::StepResult r;
  r.set_step_id(plan.step_id());
  for (const auto& s : plan.seqs()) {
    if (!s.sample()) continue;
    v1::SampledToken* t = r.add_tokens();
    t->set_seq_id(s.seq_id());
    t->set_token(static_cast<int32_t>(1000 + s.seq_id()));
  }
  return r;
}

// Schedules one step and applies its result at once.
inline v1::StepPlan Step(Scheduler& s) {
  v1::StepPlan plan = s.Schedule();
  if (plan.seqs_size() > 0) {
    EXPECT_TRUE(s.OnResult(ResultFor(plan)).ok());
  }
  return plan;
}

}  // namespace sched_test
}  // namespace moe
