#include "common/random_weights.h"

#include <cmath>

#include "common/dtype.h"

namespace moe {
namespace {

inline uint64_t Mix(uint64_t x) { return SplitMix64(x); }

inline float Uniform01(uint64_t bits) {  // [0, 1) from the top 24 bits
  return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);
}

}  // namespace

uint64_t TensorSeed(uint64_t seed, std::string_view tensor_name) {
  uint64_t h = 1469598103934665603ull ^ Mix(seed);  // FNV-1a over the name
  for (unsigned char c : tensor_name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return Mix(h);
}

void FillRandomBf16(uint16_t* out, int64_t n, uint64_t tensor_seed, float stddev,
                    ThreadPool* pool) {
  const float a = stddev * std::sqrt(3.0f);
  auto fill = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      uint64_t r = Mix(tensor_seed + static_cast<uint64_t>(i));
      out[i] = F32ToBf16((2.0f * Uniform01(r) - 1.0f) * a);
    }
  };
  if (pool == nullptr) {
    fill(0, n);
  } else {
    pool->ParallelFor(n, 1 << 20, fill);
  }
}

void FillRandomNormBf16(uint16_t* out, int64_t n, uint64_t tensor_seed) {
  for (int64_t i = 0; i < n; ++i) {
    uint64_t r = Mix(tensor_seed + static_cast<uint64_t>(i));
    out[i] = F32ToBf16(1.0f + 0.1f * (2.0f * Uniform01(r) - 1.0f));
  }
}

}  // namespace moe
