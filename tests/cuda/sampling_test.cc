// GPU sampling against the CPU sampler's rules (model/sampler.cc): greedy argmax with the first
// index on ties, temperature draws with CounterUniform(seed, position) over softmax(l / T) in
// index order (double), and the raw-logit logprob. The draw must equal the CPU's token
// exactly (rows whose uniform lands within 1e-9 of a boundary would be ambiguous: none here).
#include <algorithm>
#include <cmath>

#include "tests/cuda/cuda_test_util.h"

namespace moe::cuda::testing {
namespace {

int32_t RefDraw(const float* logits, int64_t V, float temp, double u) {
  std::vector<float> l(logits, logits + V);
  for (float& x : l) x /= temp;
  const float top = *std::max_element(l.begin(), l.end());
  std::vector<double> p(V);
  double total = 0.0;
  for (int64_t i = 0; i < V; ++i) total += (p[i] = std::exp(static_cast<double>(l[i] - top)));
  const double target = u * total;
  double acc = 0.0;
  for (int64_t i = 0; i < V; ++i) {
    acc += p[i];
    if (target < acc) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(V - 1);
}

TEST_CASE(SampleRowsMatchesCpuSampler) {
  const int64_t R = 6, V = 5003;
  std::vector<float> logits = RandomVector(R * V, -8, 8, 1);
  logits[2 * V + 17] = 30.0f;                     // row 2: a clear argmax
  logits[3 * V + 5] = logits[3 * V + 9] = 40.0f;  // row 3: a tie, first index wins
  std::vector<float> temp = {0.7f, 1.0f, 0.0f, 0.0f, 1.3f, 0.05f};
  std::vector<uint64_t> seed = {1, 2, 3, 4, 0xdeadbeefull, 42};
  std::vector<int64_t> position = {5, 100, 7, 8, 4095, 1};
  DeviceBuffer<float> d_logits(logits), d_temp(temp), d_lp(R);
  DeviceBuffer<uint64_t> d_seed(seed);
  DeviceBuffer<int64_t> d_pos(position);
  DeviceBuffer<int32_t> d_tok(R);
  CHECK_CUDA(SampleRows(d_logits.get(), R, V, d_temp.get(), d_seed.get(), d_pos.get(), d_tok.get(),
                        d_lp.get(), 0));
  std::vector<int32_t> tok = d_tok.ToHost();
  std::vector<float> lp = d_lp.ToHost();
  for (int64_t r = 0; r < R; ++r) {
    const float* l = logits.data() + r * V;
    int32_t want;
    if (temp[r] == 0.0f) {
      want = static_cast<int32_t>(std::max_element(l, l + V) - l);  // first max
    } else {
      want = RefDraw(l, V, temp[r], CounterUniformHost(seed[r], position[r]));
    }
    CHECK(tok[r] == want);
    const float mx = *std::max_element(l, l + V);
    double z = 0.0;
    for (int64_t i = 0; i < V; ++i) z += std::exp(static_cast<double>(l[i] - mx));
    const float want_lp = l[want] - (mx + static_cast<float>(std::log(z)));
    CHECK(std::fabs(lp[r] - want_lp) <= 1e-4f);
  }
  CHECK(tok[2] == 17);
  CHECK(tok[3] == 5);
}

}  // namespace
}  // namespace moe::cuda::testing

int main() { return moe::cuda::testing::RunAll(/*needs_device=*/true); }
