// Helpers shared by the kernel tests: random inputs and the ISA tables this CPU supports.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/kernels.h"

namespace moe::kernels::testing {

// Every ISA table this CPU (and build) supports, best first; "scalar" is always there.
inline std::vector<std::string> SupportedIsas() {
  std::vector<std::string> out;
  for (const char* isa : {"avx512", "avx2", "scalar"}) {
    if (GetKernelTable(isa) != nullptr) out.push_back(isa);
  }
  return out;
}

inline std::vector<float> RandomFloats(int64_t n, uint32_t seed, float lo = -1.0f,
                                       float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A weight matrix stored in `dtype`, with the bytes owned here.
struct OwnedMatrix {
  std::vector<uint8_t> bytes;
  Matrix m;
};

inline OwnedMatrix RandomMatrix(int64_t rows, int64_t cols, DType dtype, uint32_t seed) {
  const std::vector<float> f = RandomFloats(rows * cols, seed);
  OwnedMatrix out;
  out.bytes.resize(static_cast<size_t>(rows * cols * DTypeSize(dtype)) + 1);
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (dtype == DType::kF32) {
      reinterpret_cast<float*>(out.bytes.data())[i] = f[i];
    } else {
      reinterpret_cast<uint16_t*>(out.bytes.data())[i] =
          dtype == DType::kBF16 ? F32ToBf16(f[i]) : F32ToF16(f[i]);
    }
  }
  out.m = Matrix{out.bytes.data(), dtype, rows, cols};
  return out;
}

}  // namespace moe::kernels::testing
