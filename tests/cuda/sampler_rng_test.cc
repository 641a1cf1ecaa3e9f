// The GPU sampler's uniform equals the CPU sampler's CounterUniform bit for bit (main build
// only: links moe_model).
#include "model/sampler.h"
#include "tests/cuda/cuda_test_util.h"

namespace moe::cuda::testing {
namespace {

TEST_CASE(CounterUniformBitIdentical) {
  for (uint64_t seed : {0ull, 1ull, 42ull, 0xdeadbeefcafef00dull}) {
    for (int64_t p = 0; p < 5000; p += 7)
      CHECK(CounterUniformHost(seed, p) == moe::CounterUniform(seed, p));
  }
}

}  // namespace
}  // namespace moe::cuda::testing

int main() { return moe::cuda::testing::RunAll(/*needs_device=*/false); }
