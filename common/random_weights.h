// Deterministic random weights, drawn from (seed, tensor name, element index) alone, so the
// in-memory --random-weights mode and `moe-tools random-model` produce the same tensors and any
// shard can draw its own part without the rest.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/thread_pool.h"

namespace moe {

// splitmix64's finaliser: a good counter-based generator (also the sampler's).
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A stable 64-bit hash of a tensor name mixed with a seed.
uint64_t TensorSeed(uint64_t seed, std::string_view tensor_name);

// out[i] = bf16 of a uniform value in [-a, a] with a = stddev * sqrt(3) (so its standard
// deviation is `stddev`), drawn from (tensor_seed, i). pool may be null.
void FillRandomBf16(uint16_t* out, int64_t n, uint64_t tensor_seed, float stddev, ThreadPool* pool);

// Norm weights of a random model: 1 + small noise, bf16.
void FillRandomNormBf16(uint16_t* out, int64_t n, uint64_t tensor_seed);

}  // namespace moe
