// RmsNorm, Rope, SiluMul, EmbeddingGather, KvWrite, Add, Axpy, Sum, LogSumExp, ArgMax: every
// supported ISA table against the scalar reference on odd sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/reference.h"
#include "tests/kernels/kernel_test_util.h"

namespace moe::kernels {
namespace {

using testing::RandomFloats;
using testing::RandomMatrix;

class ElementwiseTest : public ::testing::TestWithParam<std::string> {
 protected:
  const KernelTable& table() const { return *GetKernelTable(GetParam()); }
};

constexpr int64_t kSizes[] = {1, 7, 16, 31, 64, 100, 1024, 1031};

TEST_P(ElementwiseTest, RmsNorm) {
  for (int64_t n : kSizes) {
    const int64_t rows = 3;
    std::vector<float> x = RandomFloats(rows * n, 1 + n, -3.0f, 3.0f);  // [rows, n]
    const std::vector<float> g = RandomFloats(n, 2 + n, 0.5f, 1.5f);    // [n]
    std::vector<float> want(rows * n), got(rows * n);
    reference::RmsNorm(x.data(), g.data(), rows, n, 1e-6f, want.data());
    table().rms_norm(x.data(), g.data(), rows, n, 1e-6f, got.data());
    // The sum of squares is accumulated in another order (all terms positive: relative
    // error <= n * u); everything after it is the same arithmetic.
    for (int64_t i = 0; i < rows * n; ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-5f * std::fabs(want[i]) + 1e-30f) << "n=" << n << " i=" << i;
    }
    // In place (y aliases x).
    table().rms_norm(x.data(), g.data(), rows, n, 1e-6f, x.data());
    for (int64_t i = 0; i < rows * n; ++i) ASSERT_EQ(x[i], got[i]);
  }
}

TEST_P(ElementwiseTest, Rope) {
  for (int64_t head_dim : {2, 16, 34, 64, 128}) {
    const int64_t T = 5, heads = 3, half = head_dim / 2;
    std::vector<float> inv_freq(half);  // [half]
    for (int64_t i = 0; i < half; ++i) {
      inv_freq[i] = std::pow(1e6f, -2.0f * static_cast<float>(i) / static_cast<float>(head_dim));
    }
    const std::vector<int32_t> pos = {0, 1, 17, 900, 40000};
    std::vector<float> want = RandomFloats(T * heads * head_dim, 3);  // [T, heads, head_dim]
    std::vector<float> got = want;
    reference::Rope(want.data(), T, heads, head_dim, pos.data(), inv_freq.data());
    table().rope(got.data(), T, heads, head_dim, pos.data(), inv_freq.data());
    // Same cos/sin and the same multiply/add sequence: exact.
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)))
        << "head_dim=" << head_dim;
  }
}

TEST_P(ElementwiseTest, SiluMul) {
  for (int64_t n : kSizes) {
    const std::vector<float> gate = RandomFloats(n, 4 + n, -20.0f, 20.0f);
    const std::vector<float> up = RandomFloats(n, 5 + n, -2.0f, 2.0f);
    std::vector<float> want(n), got(n);
    reference::SiluMul(gate.data(), up.data(), want.data(), n);
    table().silu_mul(gate.data(), up.data(), got.data(), n);
    // The vector exp is a polynomial with relative error ~2e-7; silu's division damps it.
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-6f * std::fabs(want[i]) + 1e-30f) << "g=" << gate[i];
    }
  }
  // Saturation: very negative gates give (almost) zero, very positive give g * up.
  const std::vector<float> gate = {-100.0f, -88.0f, 88.0f, 100.0f};
  const std::vector<float> up = {1.0f, 1.0f, 1.0f, 1.0f};
  std::vector<float> got(4);
  table().silu_mul(gate.data(), up.data(), got.data(), 4);
  EXPECT_NEAR(got[0], 0.0f, 1e-30f);
  EXPECT_NEAR(got[1], 0.0f, 1e-30f);
  EXPECT_EQ(got[2], 88.0f);
  EXPECT_EQ(got[3], 100.0f);
}

TEST_P(ElementwiseTest, EmbeddingGather) {
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
    for (int64_t cols : {1, 15, 64, 100}) {
      const auto table = RandomMatrix(50, cols, dtype, 6);
      const std::vector<int32_t> ids = {3, 0, 49, 3, 17};
      std::vector<float> want(5 * cols), got(5 * cols);
      reference::EmbeddingGather(table.m, ids.data(), 5, want.data());
      this->table().embedding_gather(table.m, ids.data(), 5, got.data());
      // Widening is exact.
      EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
    }
  }
}

TEST_P(ElementwiseTest, AddAndAxpy) {
  for (int64_t n : kSizes) {
    const std::vector<float> y = RandomFloats(n, 7 + n);
    std::vector<float> want = RandomFloats(n, 8 + n), got = want;
    reference::Add(want.data(), y.data(), n);
    table().add(got.data(), y.data(), n);
    // Element-wise with the same rounding steps: exact.
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), n * sizeof(float)));
    reference::Axpy(want.data(), -0.37f, y.data(), n);
    table().axpy(got.data(), -0.37f, y.data(), n);
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), n * sizeof(float)));
  }
}

TEST_P(ElementwiseTest, Sum) {
  for (int64_t n : kSizes) {
    const std::vector<float> x = RandomFloats(n, 9 + n, 0.0f, 1.0f);
    double want = 0.0;
    for (float v : x) want += v;
    // Positive terms: relative error <= n * u.
    EXPECT_NEAR(table().sum(x.data(), n), want, 1e-6 * n * want);
  }
}

TEST_P(ElementwiseTest, LogSumExp) {
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{100}, int64_t{1031}, int64_t{151936}}) {
    std::vector<float> x = RandomFloats(n, 12 + n, -20.0f, 20.0f);
    // Per-term exp error ~1e-7 relative, sums in double: ~1e-6 in the log.
    EXPECT_NEAR(table().log_sum_exp(x.data(), n), reference::LogSumExp(x.data(), n), 2e-6f)
        << "n=" << n;
    x[n / 2] = 80.0f;  // one dominant term: log_sum_exp is ~80 + tiny
    EXPECT_NEAR(table().log_sum_exp(x.data(), n), reference::LogSumExp(x.data(), n), 1e-5f);
  }
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> all_masked(37, -inf);
  EXPECT_EQ(table().log_sum_exp(all_masked.data(), 37), -inf);
  all_masked[36] = 0.0f;  // one finite logit among masked ones: log(1)
  EXPECT_FLOAT_EQ(table().log_sum_exp(all_masked.data(), 37), 0.0f);
}

TEST_P(ElementwiseTest, ArgMaxIsTheFirstLargest) {
  for (int64_t n : kSizes) {
    std::vector<float> x = RandomFloats(n, 13 + n);
    EXPECT_EQ(table().argmax(x.data(), n), reference::ArgMax(x.data(), n)) << "n=" << n;
    // Ties: the lowest index wins, wherever it sits relative to the vector lanes.
    if (n >= 3) {
      x[n - 1] = 100.0f;
      x[n / 2] = 100.0f;
      EXPECT_EQ(table().argmax(x.data(), n), n / 2) << "n=" << n;
    }
  }
  const std::vector<float> x = {-1.0f, -std::numeric_limits<float>::infinity(), -0.5f};
  EXPECT_EQ(table().argmax(x.data(), 3), 2);
}

INSTANTIATE_TEST_SUITE_P(Isa, ElementwiseTest, ::testing::ValuesIn(testing::SupportedIsas()),
                         [](const auto& info) { return info.param; });

TEST(KvWriteTest, ScattersIntoBlocks) {
  // 6 blocks of 4 slots, 2 kv heads of dim 3; the sequence owns blocks 5, 1, 3.
  const int64_t bs = 4, heads = 2, d = 3, width = heads * d;
  std::vector<float> kbuf(6 * bs * width, 0.0f), vbuf(6 * bs * width, 0.0f);
  const PagedKv kv{kbuf.data(), vbuf.data(), 6, bs, heads, d};
  const std::vector<int32_t> block_table = {5, 1, 3};
  const std::vector<float> k = RandomFloats(7 * width, 10), v = RandomFloats(7 * width, 11);
  KvWrite(kv, block_table.data(), 2, 7, k.data(), v.data());  // positions 2..8
  for (int64_t i = 0; i < 7; ++i) {
    const int64_t p = 2 + i;
    const int64_t slot = block_table[p / bs] * bs + p % bs;
    for (int64_t j = 0; j < width; ++j) {
      EXPECT_EQ(kbuf[slot * width + j], k[i * width + j]);
      EXPECT_EQ(vbuf[slot * width + j], v[i * width + j]);
    }
  }
}

}  // namespace
}  // namespace moe::kernels
