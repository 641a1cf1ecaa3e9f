// kernels::LinearMany (matrices sharing x: decode's q/k/v and gate/up) gives the same bits as
// one kernels::Linear per matrix: bf16 weights in both math modes, int8 and fp32 weights, mixed
// dtypes or columns (the fallback), more matrices than kMaxLinearMany, GEMV and GEMM token
// counts, 1 and 2 threads, shapes above and below the fork-join threshold. Runs with whatever
// kernels the CPU and MOE_KERNELS select (the scalar reference too).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "common/dtype.h"
#include "common/thread_pool.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/kernels.h"
#include "tests/kernels/kernel_test_util.h"

namespace moe::kernels {
namespace {

using testing::RandomFloats;

// Owns the bytes of a matrix of `dtype` (kBF16, kF32 or kQ8) with random values.
struct Owned {
  std::vector<float> f32;
  std::vector<uint16_t> bf16;
  std::vector<uint8_t> q;
  std::vector<uint16_t> scales;
  Matrix m;
};

std::unique_ptr<Owned> MakeMatrix(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
  auto o = std::make_unique<Owned>();
  o->f32 = RandomFloats(rows * cols, seed);
  const Matrix f{o->f32.data(), DType::kF32, rows, cols};
  if (dtype == DType::kF32) {
    o->m = f;
  } else if (dtype == DType::kBF16) {
    for (float v : o->f32) o->bf16.push_back(F32ToBf16(v));
    o->m = Matrix{o->bf16.data(), DType::kBF16, rows, cols};
  } else {
    o->q.resize(static_cast<size_t>(rows * Q8RowBytes(cols)));
    o->scales.resize(static_cast<size_t>(rows * Q8Blocks(cols)));
    o->m = QuantizeQ8(f, o->q.data(), o->scales.data(), nullptr);
  }
  return o;
}

struct Spec {
  DType dtype;
  int64_t rows, cols;
};

// LinearMany over `specs` against Linear per matrix, bit for bit.
void Check(const std::vector<Spec>& specs, int64_t T, ThreadPool* pool) {
  std::vector<std::unique_ptr<Owned>> owned;
  std::vector<Matrix> ws;
  int64_t max_cols = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    owned.push_back(MakeMatrix(specs[i].dtype, specs[i].rows, specs[i].cols, 7 + 13 * i));
    ws.push_back(owned.back()->m);
    max_cols = std::max(max_cols, specs[i].cols);
  }
  const std::vector<float> x = RandomFloats(T * max_cols, 99);
  std::vector<std::vector<float>> want(specs.size()), got(specs.size());
  std::vector<float*> ys;
  for (size_t i = 0; i < specs.size(); ++i) {
    want[i].assign(static_cast<size_t>(T * specs[i].rows), 0.0f);
    got[i].assign(static_cast<size_t>(T * specs[i].rows), -1.0f);
    // Matrices of other widths read the first T * cols floats of x as [T, cols].
    Linear(x.data(), T, ws[i], want[i].data(), pool);
    ys.push_back(got[i].data());
  }
  LinearMany(x.data(), T, ws.data(), ys.data(), static_cast<int>(ws.size()), pool);
  for (size_t i = 0; i < specs.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "matrix " << i << " of " << specs.size() << ", T=" << T
                                      << ", threads " << pool->num_threads());
    ASSERT_EQ(std::memcmp(got[i].data(), want[i].data(), want[i].size() * sizeof(float)), 0);
  }
}

class LinearManyTest : public ::testing::TestWithParam<MathMode> {
 protected:
  void SetUp() override { SetMathMode(GetParam()); }
  void TearDown() override { SetMathMode(MathMode::kExact); }
};

TEST_P(LinearManyTest, SameBitsAsOneLinearPerMatrix) {
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (int64_t T : {1, 2, 5, 8, 12, 31, 40}) {
      for (DType dtype : {DType::kBF16, DType::kQ8, DType::kF32}) {
        // q/k/v-like, above the fork-join threshold, rows not multiples of the row groups.
        Check({{dtype, 200, 1024}, {dtype, 130, 1024}, {dtype, 70, 1024}}, T, &pool);
        // Small and odd: under the threshold, column tails.
        Check({{dtype, 7, 33}, {dtype, 65, 33}}, T, &pool);
        Check({{dtype, 3, 100}}, T, &pool);
      }
      // Mixed dtypes, mixed widths, and more matrices than kMaxLinearMany: one Linear each.
      Check({{DType::kBF16, 64, 96}, {DType::kF32, 32, 96}}, T, &pool);
      Check({{DType::kQ8, 64, 96}, {DType::kQ8, 32, 64}}, T, &pool);
      std::vector<Spec> many(kMaxLinearMany + 1, Spec{DType::kBF16, 17, 64});
      Check(many, T, &pool);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, LinearManyTest,
                         ::testing::Values(MathMode::kExact, MathMode::kFast),
                         [](const ::testing::TestParamInfo<MathMode>& info) {
                           return std::string(MathModeName(info.param));
                         });

}  // namespace
}  // namespace moe::kernels
