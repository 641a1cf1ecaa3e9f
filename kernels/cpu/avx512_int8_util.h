// Helpers shared by the AVX-512 VNNI int8 translation units (avx512_int8_*.cc): the per-token
// quantization of x. Include only from files compiled with the AVX-512 + VNNI flags; like
// avx512_util.h, everything but the avx512int8:: entry points has internal linkage.
#pragma once

#include <cstdint>

#include "kernels/cpu/avx512_util.h"
#include "kernels/cpu/reference.h"

namespace moe::kernels {

// The int8 Linear's GEMM path (avx512_int8_gemm.cc), for T >= kInt8GemmMinT. qx, dx, qsum:
// x quantized per token (QuantizeTokens below). T, w.rows, w.cols >= 1.
namespace avx512int8 {
void Gemm(const int8_t* qx, const float* dx, const int32_t* qsum, int64_t T, const Matrix& w,
          float* y, ThreadPool* pool);
}  // namespace avx512int8

// The GEMV (weights streamed once for all tokens) below this many tokens, the packed GEMM
// from it on (as the bf16 kernels).
constexpr int64_t kInt8GemmMinT = 32;

namespace {

// x: [T, K] quantized per token as reference::QuantizeActivations, with the same bits:
// qx: [T, Q8RowBytes(K)] (natural order, padding zero), dx and qsum: [T, Q8Blocks(K)].
inline void QuantizeTokens(const float* x, int64_t T, int64_t K, int8_t* qx, float* dx,
                           int32_t* qsum) {
  const int64_t kp = Q8RowBytes(K), nb = Q8Blocks(K);
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * K;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t n = K - b * 32;
      const __m512 a = _mm512_maskz_loadu_ps(TailMask16(n), xt + b * 32);
      const __m512 c = _mm512_maskz_loadu_ps(TailMask16(n < 16 ? 0 : n - 16), xt + b * 32 + 16);
      const float amax =
          _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, a), _mm512_andnot_ps(sign, c)));
      const bool zero = !(amax >= reference::kQ8MinAbs);
      const __m512 inv = _mm512_set1_ps(zero ? 0.0f : 127.0f / amax);
      dx[t * nb + b] = zero ? 0.0f : amax / 127.0f;
      // Round to nearest even (the default MXCSR mode), as std::nearbyint in the reference.
      __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, inv));
      __m512i qc = _mm512_cvtps_epi32(_mm512_mul_ps(c, inv));
      qa = _mm512_min_epi32(_mm512_max_epi32(qa, lo), hi);
      qc = _mm512_min_epi32(_mm512_max_epi32(qc, lo), hi);
      qsum[t * nb + b] = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qc));
      int8_t* dst = qx + t * kp + b * 32;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm512_cvtepi32_epi8(qa));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), _mm512_cvtepi32_epi8(qc));
    }
  }
}

// acc + the sums of 4 products u8 a * s8 b per 32-bit lane (vpdpbusd).
inline __m512i DotU8S8(__m512i acc, __m512i a, __m512i b) { return _mm512_dpbusd_epi32(acc, a, b); }

// 16 bf16 (n valid, rest zero) widened to fp32.
inline __m512 LoadBf16x16(const uint16_t* p, int64_t n) {
  const __m256i h = _mm256_maskz_loadu_epi16(TailMask16(n), p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

}  // namespace
}  // namespace moe::kernels
