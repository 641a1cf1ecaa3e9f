// Linear: every supported ISA table against the scalar reference, all weight dtypes, odd
// shapes on both GEMV (small T) and GEMM (large T) paths; threaded == single-threaded.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/reference.h"
#include "tests/kernels/kernel_test_util.h"

namespace moe::kernels {
namespace {

using testing::RandomFloats;
using testing::RandomMatrix;

class LinearTest : public ::testing::TestWithParam<std::string> {
 protected:
  const KernelTable& table() const { return *GetKernelTable(GetParam()); }
};

// Checks table.linear against reference::Linear on one shape.
void CheckLinear(const KernelTable& table, int64_t T, int64_t rows, int64_t cols, DType dtype,
                 uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "T=" << T << " rows=" << rows << " cols=" << cols
                                    << " dtype=" << DTypeName(dtype));
  const auto w = RandomMatrix(rows, cols, dtype, seed);
  const std::vector<float> x = RandomFloats(T * cols, seed + 1);  // [T, cols]
  std::vector<float> want(T * rows), got(T * rows, NAN);          // [T, rows]
  reference::Linear(x.data(), T, w.m, want.data());
  table.linear(x.data(), T, w.m, got.data(), nullptr);
  // Tolerance: both are fp32 sums of the same K products in different orders; each has a
  // rounding error within sqrt(K) * u * sum|terms| with high probability (Higham, random
  // rounding), so the two may differ by twice that (u = 2^-24).
  const double u = std::ldexp(1.0, -24);
  int bad = 0;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double abs_sum = 0.0;
      for (int64_t c = 0; c < cols; ++c) {
        abs_sum += std::fabs(static_cast<double>(x[t * cols + c]) * reference::WeightAt(w.m, r, c));
      }
      const double tol = 2.0 * std::sqrt(static_cast<double>(cols)) * u * abs_sum + 1e-30;
      const double diff = std::fabs(static_cast<double>(got[t * rows + r]) - want[t * rows + r]);
      if (!(diff <= tol) && ++bad <= 5) {
        ADD_FAILURE() << "y[" << t << "," << r << "] = " << got[t * rows + r] << ", want "
                      << want[t * rows + r] << " (tol " << tol << ")";
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST_P(LinearTest, MatchesReferenceOddShapes) {
  uint32_t seed = 1;
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
    for (int64_t T : {1, 2, 3, 5, 8, 9, 17}) {
      for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{
               {1, 1}, {7, 5}, {33, 31}, {16, 32}, {65, 64}, {100, 129}, {37, 300}}) {
        CheckLinear(table(), T, rows, cols, dtype, seed++);
      }
    }
  }
}

TEST_P(LinearTest, MatchesReferenceLargeT) {
  uint32_t seed = 100;
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
    CheckLinear(table(), 128, 96, 256, dtype, seed++);
    CheckLinear(table(), 128, 45, 519, dtype, seed++);  // K over one 256-wide k block
    CheckLinear(table(), 31, 200, 1030, dtype, seed++);
  }
}

TEST_P(LinearTest, ThreadedIsBitExact) {
  ThreadPool pool(2);
  uint32_t seed = 200;
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
    for (int64_t T : {1, 3, 8, 17, 128}) {
      SCOPED_TRACE(::testing::Message() << "T=" << T << " dtype=" << DTypeName(dtype));
      const int64_t rows = 1000, cols = 515;
      const auto w = RandomMatrix(rows, cols, dtype, seed++);
      const std::vector<float> x = RandomFloats(T * cols, seed++);  // [T, cols]
      std::vector<float> one(T * rows), two(T * rows);              // [T, rows]
      table().linear(x.data(), T, w.m, one.data(), nullptr);
      table().linear(x.data(), T, w.m, two.data(), &pool);
      EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)));
    }
  }
}

TEST_P(LinearTest, ZeroColumnsGiveZeros) {
  const auto w = RandomMatrix(5, 0, DType::kBF16, 1);
  std::vector<float> y(2 * 5, 1.0f);
  table().linear(nullptr, 2, w.m, y.data(), nullptr);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Isa, LinearTest, ::testing::ValuesIn(testing::SupportedIsas()),
                         [](const auto& info) { return info.param; });

TEST(LinearPublicTest, UsesActiveTable) {
  const auto w = RandomMatrix(70, 90, DType::kBF16, 7);
  const std::vector<float> x = RandomFloats(3 * 90, 8);
  std::vector<float> want(3 * 70), got(3 * 70);
  ActiveKernelTable().linear(x.data(), 3, w.m, want.data(), nullptr);
  ThreadPool pool(2);
  Linear(x.data(), 3, w.m, got.data(), &pool);
  EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
}

}  // namespace
}  // namespace moe::kernels
