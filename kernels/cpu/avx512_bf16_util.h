// Helpers shared by the AVX-512 BF16 translation units (avx512_bf16_*.cc). Include only from
// files compiled with the AVX-512 + BF16 flags; like avx512_util.h, everything but the
// avx512bf16:: entry points has internal linkage.
#pragma once

#include <cstdint>

#include "kernels/cpu/avx512_util.h"

namespace moe::kernels {

// The fast Linear's GEMM path (avx512_bf16_gemm.cc), for T >= kBf16GemmMinT; bf16 weights,
// T >= 1, w.rows >= 1, w.cols >= 1.
namespace avx512bf16 {
void Gemm(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool);
}  // namespace avx512bf16

// The GEMV below this many tokens, the packed GEMM from it on. Weights from memory (as in
// decode), qwen3-0.6b's matrices: at T = 16 and 24 the GEMV ran ~245 / ~280 GFLOP/s on
// K = 1024 against the GEMM's ~195 / ~230 (K = 3072: the GEMM ahead, ~195 / ~235 against
// ~175 / ~200); at T = 32 the GEMM ~260 against ~210.
constexpr int64_t kBf16GemmMinT = 32;

namespace {

// The first n (<= 32) 16-bit lanes.
inline __mmask32 TailMask32(int64_t n) {
  return n >= 32 ? static_cast<__mmask32>(0xffffffffu)
                 : static_cast<__mmask32>((uint64_t{1} << n) - 1);
}

// src[0:n] (n may exceed 32: the first 32 are taken; n <= 0: none) rounded to bf16 (round to
// nearest even) as 32 bf16 in order, missing ones zero: word i holds (src[2i], src[2i+1]).
inline __m512i Bf16Chunk(const float* src, int64_t n) {
  const __m512 lo = _mm512_maskz_loadu_ps(TailMask16(n < 0 ? 0 : n), src);
  const __m512 hi = _mm512_maskz_loadu_ps(TailMask16(n < 16 ? 0 : n - 16), src + 16);
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
}

// acc[i] += a.bf16[2i] * b.bf16[2i] + a.bf16[2i + 1] * b.bf16[2i + 1] (vdpbf16ps).
inline __m512 DotBf16(__m512 acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(a), reinterpret_cast<__m512bh>(b));
}

}  // namespace
}  // namespace moe::kernels
