// Sampler: greedy, filters (top-k / top-p / min-p), penalties, seeded reproducibility,
// logprobs, parameter validation.
#include "model/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

namespace moe {
namespace {

std::vector<float> Logits(std::initializer_list<float> v) { return std::vector<float>(v); }

TEST(Sampler, GreedyTakesFirstMaxAndReportsLogprob) {
  Sampler s;
  auto l = Logits({1.0f, 3.0f, 3.0f, -1.0f});
  SamplingParams p;
  p.temperature = 0.0f;
  p.logprobs = 2;
  SampleResult r = s.Sample(l.data(), 4, p, {}, {}, 0);
  EXPECT_EQ(r.token, 1);
  double z = std::exp(1.0) + 2 * std::exp(3.0) + std::exp(-1.0);
  EXPECT_NEAR(r.logprob, 3.0 - std::log(z), 1e-5);
  ASSERT_EQ(r.top.size(), 2u);
  EXPECT_EQ(r.top[0].id, 1);
  EXPECT_EQ(r.top[1].id, 2);
  EXPECT_NEAR(r.top[1].logprob, r.logprob, 1e-6);
}

TEST(Sampler, TopKOneIsGreedy) {
  Sampler s;
  auto l = Logits({0.5f, 0.1f, 2.0f, 1.9f});
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_k = 1;
  for (int pos = 0; pos < 50; ++pos) EXPECT_EQ(s.Sample(l.data(), 4, p, {}, {}, pos).token, 2);
}

TEST(Sampler, TopKRestrictsCandidates) {
  Sampler s;
  auto l = Logits({3.0f, 2.9f, 2.8f, 0.0f, 0.0f, 0.0f});
  SamplingParams p;
  p.temperature = 10.0f;  // nearly flat
  p.top_k = 2;
  std::set<int32_t> seen;
  for (int pos = 0; pos < 400; ++pos) seen.insert(s.Sample(l.data(), 6, p, {}, {}, pos).token);
  EXPECT_EQ(seen, (std::set<int32_t>{0, 1}));
}

TEST(Sampler, TopPKeepsTheNucleus) {
  Sampler s;
  // Probabilities about 0.5, 0.3, 0.2 * ... : top_p 0.7 keeps the first two.
  auto l = Logits({std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)});
  SamplingParams p;
  p.top_p = 0.7f;
  std::map<int32_t, int> counts;
  for (int pos = 0; pos < 2000; ++pos) counts[s.Sample(l.data(), 4, p, {}, {}, pos).token]++;
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_EQ(counts.count(3), 0u);
  // Renormalised 0.5 / 0.8 = 0.625 for token 0 (binomial sd ~0.011).
  EXPECT_NEAR(counts[0] / 2000.0, 0.625, 0.05);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  Sampler s;
  auto l = Logits({std::log(0.6f), std::log(0.3f), std::log(0.1f)});
  SamplingParams p;
  p.min_p = 0.2f;  // floor 0.12: drops token 2
  std::set<int32_t> seen;
  for (int pos = 0; pos < 500; ++pos) seen.insert(s.Sample(l.data(), 3, p, {}, {}, pos).token);
  EXPECT_EQ(seen, (std::set<int32_t>{0, 1}));
}

TEST(Sampler, DistributionFollowsSoftmaxWithTemperature) {
  Sampler s;
  auto l = Logits({0.0f, 1.0f});
  SamplingParams p;
  p.temperature = 2.0f;
  int ones = 0;
  const int n = 4000;
  for (int pos = 0; pos < n; ++pos) ones += s.Sample(l.data(), 2, p, {}, {}, pos).token;
  const double want = 1.0 / (1.0 + std::exp(-0.5));  // softmax at T=2
  EXPECT_NEAR(ones / static_cast<double>(n), want, 0.03);
}

TEST(Sampler, SeededDrawsDependOnlyOnSeedAndPosition) {
  Sampler a, b;
  std::vector<float> l(100);
  for (int i = 0; i < 100; ++i) l[i] = std::sin(i * 0.7f);
  SamplingParams p;
  p.seed = 42;
  std::vector<int32_t> first, second, other;
  for (int pos = 0; pos < 30; ++pos) first.push_back(a.Sample(l.data(), 100, p, {}, {}, pos).token);
  for (int pos = 0; pos < 30; ++pos)
    second.push_back(b.Sample(l.data(), 100, p, {}, {}, pos).token);
  EXPECT_EQ(first, second);
  p.seed = 43;
  for (int pos = 0; pos < 30; ++pos) other.push_back(b.Sample(l.data(), 100, p, {}, {}, pos).token);
  EXPECT_NE(first, other);
}

TEST(Sampler, RepetitionPenaltyAppliesToPromptAndOutput) {
  Sampler s;
  auto l = Logits({2.0f, 1.9f, -1.0f});
  SamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = 1.5f;  // token 0: 2.0 / 1.5 = 1.33 < 1.9
  EXPECT_EQ(s.Sample(l.data(), 3, p, {0}, {}, 0).token, 1);
  EXPECT_EQ(s.Sample(l.data(), 3, p, {}, {0}, 0).token, 1);
  EXPECT_EQ(s.Sample(l.data(), 3, p, {}, {}, 0).token, 0);
}

TEST(Sampler, PresenceAndFrequencyPenaltiesCountOutputOnly) {
  Sampler s;
  auto l = Logits({2.0f, 1.5f});
  SamplingParams p;
  p.temperature = 0.0f;
  p.frequency_penalty = 0.2f;  // token 0 twice in output: 2.0 - 0.4 = 1.6 > 1.5
  EXPECT_EQ(s.Sample(l.data(), 2, p, {}, {0, 0}, 0).token, 0);
  p.presence_penalty = 0.2f;  // 2.0 - 0.4 - 0.2 = 1.4 < 1.5
  EXPECT_EQ(s.Sample(l.data(), 2, p, {}, {0, 0}, 0).token, 1);
  EXPECT_EQ(s.Sample(l.data(), 2, p, {0, 0, 0}, {}, 0).token, 0);  // prompt not counted
  // The reported logprob is of the model's own distribution, before penalties.
  SampleResult r = s.Sample(l.data(), 2, p, {}, {0, 0}, 0);
  EXPECT_NEAR(r.logprob, 1.5 - std::log(std::exp(2.0) + std::exp(1.5)), 1e-5);
}

TEST(Sampler, ValidateNamesTheField) {
  SamplingParams p;
  EXPECT_TRUE(p.Validate().ok());
  p.temperature = -0.5f;
  EXPECT_NE(p.Validate().message().find("temperature"), std::string::npos);
  p = SamplingParams();
  p.top_p = 0.0f;
  EXPECT_NE(p.Validate().message().find("top_p"), std::string::npos);
  p = SamplingParams();
  p.top_p = 1.5f;
  EXPECT_FALSE(p.Validate().ok());
  p = SamplingParams();
  p.min_p = -0.1f;
  EXPECT_NE(p.Validate().message().find("min_p"), std::string::npos);
  p = SamplingParams();
  p.repetition_penalty = 0.0f;
  EXPECT_NE(p.Validate().message().find("repetition_penalty"), std::string::npos);
  p = SamplingParams();
  p.logprobs = -1;
  EXPECT_NE(p.Validate().message().find("logprobs"), std::string::npos);
}

TEST(Sampler, LargeVocabTopPWithFlatTail) {
  // 150k nearly equal logits: the nucleus is larger than the sorted head.
  Sampler s;
  std::vector<float> l(150000, 0.0f);
  l[7] = 0.01f;
  SamplingParams p;
  p.top_p = 0.9f;
  p.seed = 3;
  std::set<int32_t> seen;
  for (int pos = 0; pos < 20; ++pos) seen.insert(s.Sample(l.data(), 150000, p, {}, {}, pos).token);
  EXPECT_GT(seen.size(), 15u);
}

}  // namespace
}  // namespace moe
