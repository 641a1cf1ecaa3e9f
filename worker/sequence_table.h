// A worker's record of the sequences the coordinator's StepPlans run: each one's sampling
// parameters and token history (for the penalties and min_tokens), kept in step with the plans,
// and the StepBatch a plan makes. Shared by the CPU and CUDA step runners.
//
// Thread-compatible.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "model/qwen3.h"
#include "model/sampler.h"
#include "moe/v1/step.pb.h"

namespace moe {

// The worker's view of StepSampling.
SamplingParams ToSamplingParams(const v1::StepSampling& s);

struct SequenceState {
  SamplingParams sampling;
  int32_t min_tokens = 0;
  std::vector<int32_t> suppressed;  // token ids masked until min_tokens are out
  int64_t prompt_len = 0;
  std::vector<int32_t> prompt;  // tokens [0, prompt_len) seen so far
  std::vector<int32_t> output;  // tokens after the prompt

  // Whether the suppressed ids are masked at the next sample.
  bool suppressing() const {
    return !suppressed.empty() && static_cast<int64_t>(output.size()) < min_tokens;
  }
  // Samples this sequence's next token from `logits` [vocab] (masked in place while
  // suppressing) at `position`, into `out` (with its top alternatives).
  void Sample(Sampler& sampler, float* logits, int64_t vocab, int64_t position,
              v1::SampledToken* out) const;
};

class SequenceTable {
 public:
  // Drops the plan's released ids, creates (is_new) or continues each sequence of the plan, and
  // builds its batch; states[i] is the plan's sequence i. INVALID_ARGUMENT when the plan is
  // inconsistent (unknown sequence, tokens that do not continue it, bad sampling parameters).
  absl::Status Apply(const v1::StepPlan& plan, StepBatch* batch,
                     std::vector<SequenceState*>* states);

  int64_t size() const { return static_cast<int64_t>(seqs_.size()); }

 private:
  std::unordered_map<int64_t, SequenceState> seqs_;  // node-based: states stay put
};

}  // namespace moe
