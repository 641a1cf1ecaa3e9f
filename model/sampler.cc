#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/random_weights.h"
#include "kernels/kernels.h"

namespace moe {
namespace {

inline uint64_t Mix(uint64_t x) { return SplitMix64(x); }

// Stable argmax: first index on ties.
int32_t Argmax(const float* x, int64_t n) { return static_cast<int32_t>(kernels::ArgMax(x, n)); }

}  // namespace

absl::Status SamplingParams::Validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature: must be >= 0 (0 is greedy), got ", temperature));
  }
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p: must be in (0, 1], got ", top_p));
  }
  if (!(min_p >= 0.0f && min_p <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("min_p: must be in [0, 1], got ", min_p));
  }
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty)) {
    return absl::InvalidArgumentError(
        absl::StrCat("repetition_penalty: must be > 0, got ", repetition_penalty));
  }
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("presence_penalty: must be in [-2, 2], got ", presence_penalty));
  }
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("frequency_penalty: must be in [-2, 2], got ", frequency_penalty));
  }
  if (logprobs < 0 || logprobs > 20) {
    return absl::InvalidArgumentError(absl::StrCat("logprobs: must be in [0, 20], got ", logprobs));
  }
  return absl::OkStatus();
}

double CounterUniform(uint64_t seed, int64_t position) {
  uint64_t r = Mix(Mix(seed) ^ static_cast<uint64_t>(position));
  return static_cast<double>(r >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

// Draws from softmax(l) restricted by top-k, min-p and top-p, with the uniform `u`.
int32_t Sampler::SampleFiltered(const float* l, int64_t vocab, const SamplingParams& p, double u) {
  auto by_logit = [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); };
  idx_.resize(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) idx_[i] = static_cast<int32_t>(i);
  // 1. top-k: the k largest logits.
  int64_t n = vocab;
  if (p.top_k > 0 && p.top_k < vocab) {
    n = p.top_k;
    std::nth_element(idx_.begin(), idx_.begin() + n, idx_.end(), by_logit);
  }
  // 2. Probabilities of the candidates.
  float top = l[idx_[0]];
  for (int64_t i = 1; i < n; ++i) top = std::max(top, l[idx_[i]]);
  prob_.resize(static_cast<size_t>(n));
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    prob_[i] = std::exp(static_cast<double>(l[idx_[i]] - top));
    total += prob_[i];
  }
  // 3. min-p: drop candidates below min_p times the most likely one (which has weight 1).
  if (p.min_p > 0.0f) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (prob_[i] >= p.min_p) {
        idx_[m] = idx_[i];
        prob_[m] = prob_[i];
        ++m;
      }
    }
    n = m;
    total = 0.0;
    for (int64_t i = 0; i < n; ++i) total += prob_[i];
  }
  // 4. top-p: the smallest most-likely set whose mass reaches top_p. Sort a head of the
  // candidates first; sort them all only when the head does not reach top_p.
  if (p.top_p < 1.0f) {
    order_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order_[i] = static_cast<int32_t>(i);
    auto by_prob = [&](int32_t a, int32_t b) { return by_logit(idx_[a], idx_[b]); };
    int64_t sorted = std::min<int64_t>(n, 1024);
    std::partial_sort(order_.begin(), order_.begin() + sorted, order_.begin() + n, by_prob);
    const double target = p.top_p * total;
    double cum = 0.0;
    int64_t keep = -1;
    for (int64_t pass = 0; pass < 2 && keep < 0; ++pass) {
      cum = 0.0;
      for (int64_t i = 0; i < sorted; ++i) {
        cum += prob_[order_[i]];
        if (cum >= target) {
          keep = i + 1;
          break;
        }
      }
      if (keep < 0 && sorted < n) {
        std::sort(order_.begin() + sorted, order_.begin() + n, by_prob);
        sorted = n;
      }
    }
    if (keep < 0) keep = n;  // rounding: keep everything
    std::vector<int32_t> kept_idx(static_cast<size_t>(keep));
    std::vector<double> kept_prob(static_cast<size_t>(keep));
    total = 0.0;
    for (int64_t i = 0; i < keep; ++i) {
      kept_idx[i] = idx_[order_[i]];
      kept_prob[i] = prob_[order_[i]];
      total += kept_prob[i];
    }
    std::copy(kept_idx.begin(), kept_idx.end(), idx_.begin());
    std::copy(kept_prob.begin(), kept_prob.end(), prob_.begin());
    n = keep;
  }
  // 5. Draw.
  const double target = u * total;
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    acc += prob_[i];
    if (target < acc) return idx_[i];
  }
  return idx_[n - 1];
}

SampleResult Sampler::Sample(const float* logits, int64_t vocab, const SamplingParams& p,
                             const std::vector<int32_t>& prompt, const std::vector<int32_t>& output,
                             int64_t position) {
  SampleResult result;
  // Log-softmax normaliser of the raw logits, for reported logprobs.
  const float log_z = kernels::LogSumExp(logits, vocab);

  work_.assign(logits, logits + vocab);
  float* l = work_.data();
  // Penalties (vLLM semantics).
  if (p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    counts_.assign(static_cast<size_t>(vocab), 0);
    for (int32_t t : output) {
      if (t >= 0 && t < vocab) counts_[t]++;
    }
    if (p.repetition_penalty != 1.0f) {
      auto penalise = [&](int32_t t) {
        if (t < 0 || t >= vocab || counts_[t] < 0) return;
        l[t] = l[t] > 0 ? l[t] / p.repetition_penalty : l[t] * p.repetition_penalty;
        counts_[t] = -1 - counts_[t];  // mark done, keep the count recoverable
      };
      for (int32_t t : prompt) penalise(t);
      for (int32_t t : output) penalise(t);
      for (int64_t i = 0; i < vocab; ++i) {
        if (counts_[i] < 0) counts_[i] = -1 - counts_[i];
      }
    }
    for (int64_t i = 0; i < vocab; ++i) {
      if (counts_[i] > 0) {
        l[i] -= p.frequency_penalty * static_cast<float>(counts_[i]) + p.presence_penalty;
      }
    }
  }

  if (p.greedy()) {
    result.token = Argmax(l, vocab);
  } else {
    for (int64_t i = 0; i < vocab; ++i) l[i] /= p.temperature;
    result.token = SampleFiltered(l, vocab, p, CounterUniform(p.seed, position));
  }

  result.logprob = logits[result.token] - log_z;
  if (p.logprobs > 0) {
    const int64_t n = std::min<int64_t>(p.logprobs, vocab);
    idx_.resize(static_cast<size_t>(vocab));
    for (int64_t i = 0; i < vocab; ++i) idx_[i] = static_cast<int32_t>(i);
    std::partial_sort(idx_.begin(), idx_.begin() + n, idx_.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (int64_t i = 0; i < n; ++i) result.top.push_back({idx_[i], logits[idx_[i]] - log_z});
  }
  return result;
}

}  // namespace moe
