// Int8 weights (DType::kQ8): the quantizer and layout, the scalar reference, and the AVX-512
// VNNI Linear (Int8LinearKernel()) against the reference on odd sizes, tails, misaligned data,
// T = 1..40 and 64 (GEMV and GEMM paths); outputs independent of the other tokens and of
// threads; the public Linear routing kQ8 weights. The VNNI tests skip without avx512_vnni.
//
// Tolerances, with u = 2^-24 and, for one output, blocks b of scale s_b = dw_b * dx_b and int32
// dot products dot_b:
//  - the int32 sums are exact in both, and with inputs whose scales are powers of two and
//    whose sums stay below 2^24 units every fp32 operation is exact too: bit-equal results
//    (ExactIntegerInputsBitEqual);
//  - otherwise the fp32 scaling and outer sum (nb terms, in another order, FMA vs multiply
//    and add) differ by at most (2 nb + 8) u sum_b |s_b dot_b| (Higham's gamma bound, doubled);
//  - against the fp32 product with the original weights: each weight is within 0.51 dw of
//    dw * q (half a step, a hair more where the bf16 scale rounded down and 127 clamps) and each
//    activation within 0.51 dx, so |got - x.w| <= sum_k 0.51 dw |x| + 0.51 dx (|w| + 0.51 dw)
//    plus the fp32 rounding of both sums.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <vector>

#include "common/dtype.h"
#include "common/thread_pool.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/reference.h"
#include "tests/kernels/kernel_test_util.h"

namespace moe::kernels {
namespace {

using testing::RandomFloats;

// A kQ8 matrix quantized from bf16 weights (kept, for the fp32 comparison), its int8 values
// `offset` bytes past a 64-byte boundary; x [T, cols] `x_offset` floats past one.
struct Case {
  std::vector<uint16_t> src;  // [rows, cols] bf16
  std::vector<uint8_t> qbuf;
  std::vector<uint16_t> scales;
  std::vector<float> xbuf;
  Matrix w;
  const float* x = nullptr;
};

// exact: weights q * 2^-7 and activations q * 2^-6 with |q| <= 127 and one |q| = 127 per
// block, so that every scale is a power of two and every fp32 operation of Linear is exact.
Case MakeCase(int64_t T, int64_t rows, int64_t cols, uint32_t seed, int64_t offset = 0,
              int64_t x_offset = 0, bool exact = false) {
  Case c;
  std::vector<float> f = RandomFloats(rows * cols, seed);
  std::vector<float> x = RandomFloats(T * cols, seed + 1, -2.0f, 2.0f);
  if (exact) {
    auto snap = [](std::vector<float>& v, int64_t n, int64_t K, float step) {
      for (int64_t i = 0; i < n * K; ++i) {
        v[i] = std::fmin(127.0f, std::fmax(-127.0f, std::nearbyint(v[i] * 127.0f))) * step;
      }
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t b = 0; b * 32 < K; ++b) v[r * K + b * 32] = (b % 2 ? -127.0f : 127.0f) * step;
      }
    };
    snap(f, rows, cols, std::ldexp(1.0f, -7));
    snap(x, T, cols, std::ldexp(1.0f, -6));
  }
  c.src.resize(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows * cols; ++i) c.src[i] = F32ToBf16(f[i]);
  const Matrix src{c.src.data(), DType::kBF16, rows, cols};
  c.qbuf.resize(static_cast<size_t>(rows * Q8RowBytes(cols) + 128 + offset));
  uint8_t* q = c.qbuf.data() + (64 - reinterpret_cast<uintptr_t>(c.qbuf.data()) % 64) + offset;
  c.scales.resize(static_cast<size_t>(rows * Q8Blocks(cols)));
  c.w = QuantizeQ8(src, q, c.scales.data(), nullptr);
  c.xbuf.resize(static_cast<size_t>(T * cols + 16 + x_offset));
  float* xa =
      c.xbuf.data() + (16 - reinterpret_cast<uintptr_t>(c.xbuf.data()) % 64 / 4) % 16 + x_offset;
  std::copy(x.begin(), x.end(), xa);
  c.x = xa;
  return c;
}

// Checks fn against the reference (see the tolerances above); exact: bit-equal.
void Check(LinearFn fn, const Case& c, int64_t T, bool exact = false, ThreadPool* pool = nullptr) {
  const Matrix& w = c.w;
  const int64_t rows = w.rows, K = w.cols, kp = Q8RowBytes(K), nb = Q8Blocks(K);
  SCOPED_TRACE(::testing::Message() << "T=" << T << " rows=" << rows << " cols=" << K
                                    << " w%64=" << reinterpret_cast<uintptr_t>(w.data) % 64
                                    << " x%64=" << reinterpret_cast<uintptr_t>(c.x) % 64);
  std::vector<float> ref(T * rows), got(T * rows, NAN);  // [T, rows]
  reference::Linear(c.x, T, w, ref.data());
  fn(c.x, T, w, got.data(), pool);
  std::vector<int8_t> qx(kp);
  std::vector<float> dx(nb);
  std::vector<int32_t> qsum(nb);
  const double u = std::ldexp(1.0, -24);
  const auto* qw = static_cast<const uint8_t*>(w.data);
  const auto* dw = static_cast<const uint16_t*>(w.scales);
  int bad = 0;
  for (int64_t t = 0; t < T && bad <= 5; ++t) {
    const float* xt = c.x + t * K;
    reference::QuantizeActivations(xt, K, qx.data(), dx.data(), qsum.data());
    for (int64_t r = 0; r < rows; ++r) {
      const double g = got[t * rows + r], rf = ref[t * rows + r];
      if (exact) {
        if (!(g == rf) && ++bad <= 5)
          ADD_FAILURE() << "y[" << t << "," << r << "] " << g << " != " << rf;
        continue;
      }
      double scaled = 0.0, exact_sum = 0.0, qerr = 0.0, abs_sum = 0.0;
      for (int64_t b = 0; b < nb; ++b) {
        const double d = Bf16ToF32(dw[r * nb + b]);
        int64_t dot = 0;
        for (int64_t e = 0; e < 32 && b * 32 + e < K; ++e) {
          const int64_t k = b * 32 + e;
          dot += (static_cast<int64_t>(qw[r * kp + reference::Q8Offset(K, k)]) - 128) * qx[k];
          const double wk = Bf16ToF32(c.src[r * K + k]);
          exact_sum += xt[k] * wk;
          abs_sum += std::fabs(xt[k] * wk);
          qerr += 0.51 * d * std::fabs(xt[k]) + 0.51 * dx[b] * (std::fabs(wk) + 0.51 * d);
        }
        scaled += std::fabs(static_cast<double>(static_cast<float>(d) * dx[b]) * dot);
      }
      const double tol = (2.0 * nb + 8.0) * u * scaled + 1e-30;
      const double tol_f = qerr + 2.01 * K * u * (abs_sum + qerr) + 1e-30;
      if (!(std::fabs(g - rf) <= tol && std::fabs(g - exact_sum) <= tol_f) && ++bad <= 5) {
        ADD_FAILURE() << "y[" << t << "," << r << "] = " << g << ", reference " << rf << " (tol "
                      << tol << "), fp32 on the original weights " << exact_sum << " (tol " << tol_f
                      << ")";
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

const std::vector<std::pair<int64_t, int64_t>> kShapes = {
    {1, 1}, {7, 5}, {33, 31}, {16, 32}, {65, 64}, {100, 129}, {37, 300}, {20, 600}, {45, 1030}};

std::vector<int64_t> AllT() {
  std::vector<int64_t> ts;
  for (int64_t t = 1; t <= 40; ++t) ts.push_back(t);
  ts.push_back(64);
  return ts;
}

// The layout: every value of a row has its own byte; quantized weights within half a step.
TEST(Int8Format, OffsetsArePermutationAndQuantizationWithinHalfStep) {
  for (int64_t cols : {1, 31, 32, 33, 512, 600, 1030, 1536}) {
    std::set<int64_t> seen;
    for (int64_t k = 0; k < Q8RowBytes(cols); ++k) {
      const int64_t o = reference::Q8Offset(cols, k);
      EXPECT_TRUE(o >= 0 && o < Q8RowBytes(cols)) << cols << " " << k;
      seen.insert(o);
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), Q8RowBytes(cols)) << cols;
  }
  const Case c = MakeCase(1, 9, 1030, 7);
  for (int64_t r = 0; r < 9; ++r) {
    for (int64_t k = 0; k < 1030; ++k) {
      const float d = Bf16ToF32(c.scales[r * Q8Blocks(1030) + k / 32]);
      const float w = Bf16ToF32(c.src[r * 1030 + k]);
      ASSERT_LE(std::fabs(reference::WeightAt(c.w, r, k) - w), 0.51f * d) << r << " " << k;
    }
    for (int64_t k = 1030; k < Q8RowBytes(1030); ++k) {  // padding: the value 0
      EXPECT_EQ(static_cast<const uint8_t*>(
                    c.w.data)[r * Q8RowBytes(1030) + reference::Q8Offset(1030, k)],
                128);
    }
  }
  EXPECT_EQ(MatrixBytes(c.w), 9 * (Q8RowBytes(1030) + 2 * Q8Blocks(1030)));
}

// A zero block quantizes to zero scale and values; Linear gives exact zeros.
TEST(Int8Format, ZeroBlocks) {
  std::vector<uint16_t> src(4 * 64, 0);
  std::vector<uint8_t> q(4 * 64);
  std::vector<uint16_t> s(4 * 2);
  const Matrix w = QuantizeQ8(Matrix{src.data(), DType::kBF16, 4, 64}, q.data(), s.data(), nullptr);
  for (uint16_t v : s) EXPECT_EQ(v, 0);
  std::vector<float> x(64, 1.0f), y(4, NAN);
  Linear(x.data(), 1, w, y.data(), nullptr);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

class Int8LinearTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fn_ = Int8LinearKernel();
    if (fn_ == nullptr) GTEST_SKIP() << "this CPU (or build) lacks avx512_vnni";
  }
  LinearFn fn_ = nullptr;
};

TEST_F(Int8LinearTest, ExactIntegerInputsBitEqual) {
  uint32_t seed = 1;
  for (int64_t T : AllT()) {
    for (auto [rows, cols] : kShapes) {
      if (cols > 992) continue;  // partial sums stay below 2^24 units (exact)
      Check(fn_, MakeCase(T, rows, cols, seed, 0, 0, true), T, true);
      seed += 2;
    }
  }
}

TEST_F(Int8LinearTest, MatchesReferenceOddShapesAllT) {
  uint32_t seed = 1000;
  for (int64_t T : AllT()) {
    for (auto [rows, cols] : kShapes) {
      Check(fn_, MakeCase(T, rows, cols, seed), T);
      seed += 2;
    }
  }
}

// Several superblocks and a 1-block tail, panel row tails, many token blocks.
TEST_F(Int8LinearTest, MatchesReferenceLargeT) {
  Check(fn_, MakeCase(128, 96, 256, 100), 128);
  Check(fn_, MakeCase(70, 33, 1537, 102), 70);
  Check(fn_, MakeCase(31, 200, 1031, 104), 31);
  Check(fn_, MakeCase(45, 70, 3072, 106, 0, 0, false), 45);
}

// Int8 values off 64-byte boundaries and x off its alignment.
TEST_F(Int8LinearTest, MisalignedData) {
  uint32_t seed = 300;
  for (int64_t offset : {1, 18, 33, 63}) {
    for (int64_t T : {1, 3, 5, 8, 20, 40}) {
      for (auto [rows, cols] :
           std::vector<std::pair<int64_t, int64_t>>{{37, 96}, {10, 1024}, {21, 77}}) {
        Check(fn_, MakeCase(T, rows, cols, seed, offset, offset % 5), T);
        seed += 2;
      }
    }
  }
}

// Within a path (GEMV: T = 2..31, GEMM: T >= 32) a token's outputs do not depend on the other
// tokens of the call; threads do not change any bit.
TEST_F(Int8LinearTest, OutputsIndependentOfOtherTokensAndThreads) {
  const int64_t rows = 300, K = 1100;
  ThreadPool pool(3);
  for (auto [lo, hi] : std::vector<std::pair<int64_t, int64_t>>{{1, 31}, {32, 70}}) {
    const Case c = MakeCase(hi, rows, K, 400 + static_cast<uint32_t>(lo));
    std::vector<float> all(hi * rows), threaded(hi * rows);
    fn_(c.x, hi, c.w, all.data(), nullptr);
    fn_(c.x, hi, c.w, threaded.data(), &pool);
    EXPECT_EQ(std::memcmp(all.data(), threaded.data(), all.size() * 4), 0);
    for (int64_t n : {lo, (lo + hi) / 2}) {
      std::vector<float> part(n * rows);
      fn_(c.x + (hi - n) * K, n, c.w, part.data(), &pool);
      EXPECT_EQ(std::memcmp(part.data(), all.data() + (hi - n) * rows, part.size() * 4), 0)
          << "last " << n << " of " << hi;
    }
  }
}

// kernels::Linear on kQ8 weights: the VNNI kernel where active, else the reference; both
// held to the reference.
TEST(Int8Dispatch, PublicLinearRoutesQ8) {
  ThreadPool pool(2);
  for (int64_t T : {1, 5, 33}) {
    const Case c = MakeCase(T, 70, 200, 500 + static_cast<uint32_t>(T));
    Check(Linear, c, T, false, &pool);
    if (Int8LinearActive()) {
      std::vector<float> a(T * 70), b(T * 70);
      Linear(c.x, T, c.w, a.data(), &pool);
      Int8LinearKernel()(c.x, T, c.w, b.data(), nullptr);
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
    }
  }
}

}  // namespace
}  // namespace moe::kernels
