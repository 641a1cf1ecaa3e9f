// The fast math mode's Linear (FastLinearKernel(): x rounded to bf16, vdpbf16ps) against the
// scalar reference on odd shapes, tails, misaligned data and T = 1..20, 31..33 and 64 (GEMV
// and GEMM paths); outputs independent of the other tokens of a call and of threads; the public
// Linear following SetMathMode. Skipped where the CPU lacks avx512_bf16.
//
// Tolerances, with S = sum_c |x[c] w[c]| (for one output) and u = 2^-24:
//  - against reference::Linear on x: bf16 keeps 8 significant bits, so rounding x to bf16
//    (round to nearest even) moves each x, and each product, by at most 2^-8 of itself (half
//    a unit in the last place, 2^-7 relative at worst): the exact sum by at most 2^-8 S. The
//    products of bf16 pairs are exact in fp32, and the fp32 sums of K terms (ours and the
//    reference's, in any order) are each within K u (1 + 2^-8) S of their exact sums
//    (Higham's gamma_K, worst case). Asserted: |got - ref| <= (2^-8 + 2.01 K u) S.
//  - against reference::Linear on x already rounded to bf16 (checks the rounding itself): the
//    same products summed in two orders, within 2 sqrt(K) u S with high probability (as in
//    linear_test.cc).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "common/dtype.h"
#include "common/thread_pool.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/reference.h"
#include "tests/kernels/kernel_test_util.h"

namespace moe::kernels {
namespace {

using testing::RandomFloats;

// bf16 weights [rows, cols] at `offset` bytes past a 64-byte boundary, and x [T, cols] at
// `x_offset` floats past one.
struct Case {
  std::vector<uint8_t> wbuf;
  std::vector<float> xbuf;
  Matrix w;
  const float* x = nullptr;
};

Case MakeCase(int64_t T, int64_t rows, int64_t cols, uint32_t seed, int64_t offset = 0,
              int64_t x_offset = 0) {
  Case c;
  const std::vector<float> f = RandomFloats(rows * cols, seed);
  c.wbuf.resize(static_cast<size_t>(rows * cols * 2 + 128 + offset));
  uint8_t* base = c.wbuf.data() + (64 - reinterpret_cast<uintptr_t>(c.wbuf.data()) % 64) + offset;
  for (int64_t i = 0; i < rows * cols; ++i) {
    const uint16_t h = F32ToBf16(f[i]);
    std::memcpy(base + 2 * i, &h, 2);
  }
  c.w = Matrix{base, DType::kBF16, rows, cols};
  const std::vector<float> x = RandomFloats(T * cols, seed + 1);
  c.xbuf.resize(static_cast<size_t>(T * cols + 16 + x_offset));
  float* xa =
      c.xbuf.data() + (16 - reinterpret_cast<uintptr_t>(c.xbuf.data()) % 64 / 4) % 16 + x_offset;
  std::copy(x.begin(), x.end(), xa);
  c.x = xa;
  return c;
}

class FastLinearTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fast_ = FastLinearKernel();
    if (fast_ == nullptr) GTEST_SKIP() << "this CPU (or build) lacks avx512_bf16";
  }
  LinearFn fast_ = nullptr;
};

void CheckFast(LinearFn fast, const Case& c, int64_t T) {
  const Matrix& w = c.w;
  const int64_t rows = w.rows, K = w.cols;
  SCOPED_TRACE(::testing::Message() << "T=" << T << " rows=" << rows << " cols=" << K
                                    << " w%64=" << reinterpret_cast<uintptr_t>(w.data) % 64
                                    << " x%64=" << reinterpret_cast<uintptr_t>(c.x) % 64);
  std::vector<float> xr(c.x, c.x + T * K);  // x rounded to bf16
  for (float& v : xr) v = Bf16ToF32(F32ToBf16(v));
  std::vector<float> ref(T * rows), ref_rounded(T * rows), got(T * rows, NAN);  // [T, rows]
  reference::Linear(c.x, T, w, ref.data());
  reference::Linear(xr.data(), T, w, ref_rounded.data());
  fast(c.x, T, w, got.data(), nullptr);
  const double u = std::ldexp(1.0, -24), kd = static_cast<double>(K);
  int bad = 0;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0.0, sr = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double wk = reference::WeightAt(w, r, k);
        s += std::fabs(c.x[t * K + k] * wk);
        sr += std::fabs(xr[t * K + k] * wk);
      }
      const double g = got[t * rows + r];
      const double tol = (std::ldexp(1.0, -8) + 2.01 * kd * u) * s + 1e-30;
      const double tol_rounded = 2.0 * std::sqrt(kd) * u * sr + 1e-30;
      const double d = std::fabs(g - ref[t * rows + r]);
      const double dr = std::fabs(g - ref_rounded[t * rows + r]);
      if (!(d <= tol && dr <= tol_rounded) && ++bad <= 5) {
        ADD_FAILURE() << "y[" << t << "," << r << "] = " << g << ", reference " << ref[t * rows + r]
                      << " (tol " << tol << "), on x rounded " << ref_rounded[t * rows + r]
                      << " (tol " << tol_rounded << ")";
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST_F(FastLinearTest, MatchesReferenceOddShapesAllT) {
  std::vector<int64_t> ts;
  for (int64_t t = 1; t <= 20; ++t) ts.push_back(t);
  for (int64_t t : {31, 32, 33, 64}) ts.push_back(t);  // around the GEMM crossover
  uint32_t seed = 1;
  for (int64_t T : ts) {
    for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{
             {1, 1}, {7, 5}, {33, 31}, {16, 32}, {65, 64}, {100, 129}, {37, 300}, {45, 1030}}) {
      CheckFast(fast_, MakeCase(T, rows, cols, seed), T);
      seed += 2;
    }
  }
}

// K over one 512-wide k block of the GEMM, odd K (a half pair at the end), many token blocks.
TEST_F(FastLinearTest, MatchesReferenceLargeT) {
  CheckFast(fast_, MakeCase(128, 96, 256, 100), 128);
  CheckFast(fast_, MakeCase(128, 45, 519, 102), 128);
  CheckFast(fast_, MakeCase(31, 200, 1031, 104), 31);
  CheckFast(fast_, MakeCase(70, 33, 1537, 106), 70);
}

// Weights off 64-byte boundaries (rows a multiple of 64 bytes take the realigning loads) and
// x off its alignment.
TEST_F(FastLinearTest, MisalignedData) {
  uint32_t seed = 300;
  for (int64_t offset : {2, 18, 34, 62}) {
    for (int64_t T : {1, 3, 8, 16, 20, 40}) {
      for (auto [rows, cols] :
           std::vector<std::pair<int64_t, int64_t>>{{37, 96}, {10, 1024}, {21, 77}}) {
        CheckFast(fast_, MakeCase(T, rows, cols, seed, offset, offset % 5), T);
        seed += 2;
      }
    }
  }
}

// Within a path (GEMV: T = 2..31, GEMM: T >= 32) a token's outputs do not depend on the other
// tokens of the call: every prefix of a batch, and the batch reversed, give the same bits.
TEST_F(FastLinearTest, OutputsIndependentOfOtherTokens) {
  const int64_t rows = 77, K = 300;
  for (auto [lo, hi] : std::vector<std::pair<int64_t, int64_t>>{{2, 31}, {32, 70}}) {
    const Case c = MakeCase(hi, rows, K, 400 + static_cast<uint32_t>(lo));
    std::vector<float> all(hi * rows), rev_y(hi * rows);
    fast_(c.x, hi, c.w, all.data(), nullptr);
    for (int64_t T = lo; T < hi; ++T) {
      std::vector<float> y(T * rows);
      fast_(c.x, T, c.w, y.data(), nullptr);
      EXPECT_EQ(0, std::memcmp(y.data(), all.data(), y.size() * sizeof(float))) << "T=" << T;
    }
    std::vector<float> rev_x(hi * K);
    for (int64_t t = 0; t < hi; ++t) {
      std::copy(c.x + t * K, c.x + (t + 1) * K, rev_x.begin() + (hi - 1 - t) * K);
    }
    fast_(rev_x.data(), hi, c.w, rev_y.data(), nullptr);
    for (int64_t t = 0; t < hi; ++t) {
      EXPECT_EQ(0, std::memcmp(&rev_y[(hi - 1 - t) * rows], &all[t * rows], rows * sizeof(float)))
          << "token " << t << " of " << hi << " reversed";
    }
  }
}

// 5 to 31 tokens with K large enough (x of a group of up to 8 tokens over 24 KB) take the
// K-blocked GEMV: against the reference, aligned and not, with a tail chunk, an odd row count
// and a partial token group; and bit for bit the same outputs as the plain GEMV gives the same
// tokens in smaller calls (T = 2..4, and 5..6 at K = 2048).
TEST_F(FastLinearTest, KBlockedGemvMatchesAndIsBitExact) {
  uint32_t seed = 700;
  for (auto [rows, K, offset] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {37, 3072, 0}, {37, 3072, 18}, {19, 2100, 0}, {40, 4128, 34}, {33, 2048, 0}}) {
    SCOPED_TRACE(::testing::Message() << rows << "x" << K << " offset " << offset);
    constexpr int64_t kMaxT = 21;
    const Case c = MakeCase(kMaxT, rows, K, seed, offset, offset % 5);
    seed += 2;
    CheckFast(fast_, c, kMaxT);
    std::vector<float> all(kMaxT * rows);
    fast_(c.x, kMaxT, c.w, all.data(), nullptr);
    for (int64_t T = 2; T < kMaxT; ++T) {
      std::vector<float> y(T * rows);
      fast_(c.x, T, c.w, y.data(), nullptr);
      EXPECT_EQ(0, std::memcmp(y.data(), all.data(), y.size() * sizeof(float))) << "T=" << T;
    }
  }
}

TEST_F(FastLinearTest, ThreadedIsBitExact) {
  ThreadPool pool(2);
  uint32_t seed = 500;
  for (int64_t T : {1, 2, 3, 8, 15, 17, 128}) {
    SCOPED_TRACE(::testing::Message() << "T=" << T);
    const Case c = MakeCase(T, 1000, 515, seed);
    seed += 2;
    std::vector<float> one(T * 1000), two(T * 1000);
    fast_(c.x, T, c.w, one.data(), nullptr);
    fast_(c.x, T, c.w, two.data(), &pool);
    EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)));
  }
}

// Other weight dtypes take the exact kernels, bit for bit.
TEST_F(FastLinearTest, OtherDtypesAreExact) {
  for (DType dtype : {DType::kF16, DType::kF32}) {
    const auto w = testing::RandomMatrix(50, 70, dtype, 600);
    const std::vector<float> x = RandomFloats(20 * 70, 601);
    std::vector<float> want(20 * 50), got(20 * 50);
    Avx512KernelTable().linear(x.data(), 20, w.m, want.data(), nullptr);
    fast_(x.data(), 20, w.m, got.data(), nullptr);
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
  }
}

TEST(MathModeTest, ParseAndNames) {
  EXPECT_EQ(*ParseMathMode("exact"), MathMode::kExact);
  EXPECT_EQ(*ParseMathMode("fast"), MathMode::kFast);
  const auto bad = ParseMathMode("quick");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("quick"), std::string::npos);
  EXPECT_NE(bad.status().message().find("exact, fast"), std::string::npos);
  EXPECT_EQ(MathModeName(MathMode::kFast), "fast");
  EXPECT_EQ(MathModeName(MathMode::kExact), "exact");
}

// The public Linear follows the mode: kExact (the default) runs the active table, kFast the
// fast kernel where it is usable (not with MOE_KERNELS below avx512).
TEST(MathModeTest, PublicLinearFollowsMode) {
  EXPECT_EQ(GetMathMode(), MathMode::kExact);
  EXPECT_FALSE(FastLinearActive());
  const auto w = testing::RandomMatrix(70, 90, DType::kBF16, 7);
  const std::vector<float> x = RandomFloats(5 * 90, 8);
  std::vector<float> exact(5 * 70), fast(5 * 70), got(5 * 70);
  ActiveKernelTable().linear(x.data(), 5, w.m, exact.data(), nullptr);
  Linear(x.data(), 5, w.m, got.data(), nullptr);
  EXPECT_EQ(0, std::memcmp(exact.data(), got.data(), got.size() * sizeof(float)));

  SetMathMode(MathMode::kFast);
  const bool usable = FastLinearKernel() != nullptr && ActiveIsa() == "avx512";
  EXPECT_EQ(FastLinearActive(), usable);
  if (usable) FastLinearKernel()(x.data(), 5, w.m, fast.data(), nullptr);
  Linear(x.data(), 5, w.m, got.data(), nullptr);
  SetMathMode(MathMode::kExact);
  EXPECT_EQ(
      0, std::memcmp(usable ? fast.data() : exact.data(), got.data(), got.size() * sizeof(float)));
}

}  // namespace
}  // namespace moe::kernels
