// Token sampling: greedy, temperature, top-k, top-p, min-p, repetition / presence / frequency
// penalties, logprobs with top-n alternatives.
//
// Randomness is counter-based: the uniform draw for a token depends only on (seed, position),
// so a seeded request gives the same tokens whatever else is in the batch and whatever the
// pipeline / expert-parallel layout.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace moe {

struct SamplingParams {
  float temperature = 1.0f;         // 0: greedy (argmax, first index on ties)
  int32_t top_k = 0;                // <= 0: off
  float top_p = 1.0f;               // in (0, 1]
  float min_p = 0.0f;               // in [0, 1]
  float repetition_penalty = 1.0f;  // > 0; applies to prompt and output tokens
  float presence_penalty = 0.0f;    // in [-2, 2]; output tokens
  float frequency_penalty = 0.0f;   // in [-2, 2]; output tokens
  uint64_t seed = 0;
  int32_t logprobs = 0;  // number of top alternatives to report, >= 0

  // INVALID_ARGUMENT naming the field and the accepted range.
  absl::Status Validate() const;
  bool greedy() const { return temperature == 0.0f || top_k == 1; }
};

struct TokenLogprob {
  int32_t id;
  float logprob;
};

struct SampleResult {
  int32_t token = -1;
  float logprob = 0.0f;           // of `token` under the model's distribution (raw logits)
  std::vector<TokenLogprob> top;  // the `logprobs` most likely tokens, descending
};

// The uniform in [0, 1) a sequence draws at `position`.
double CounterUniform(uint64_t seed, int64_t position);

class Sampler {
 public:
  // Samples one token from logits [vocab]. `prompt` and `output` are the sequence's tokens so
  // far (for penalties); `position` is the position of the token being sampled.
  SampleResult Sample(const float* logits, int64_t vocab, const SamplingParams& params,
                      const std::vector<int32_t>& prompt, const std::vector<int32_t>& output,
                      int64_t position);

 private:
  int32_t SampleFiltered(const float* l, int64_t vocab, const SamplingParams& params, double u);

  std::vector<float> work_;
  std::vector<double> prob_;
  std::vector<int32_t> order_;
  std::vector<int32_t> idx_;
  std::vector<int32_t> counts_;
};

}  // namespace moe
