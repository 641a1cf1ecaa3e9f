// Helpers shared by the AVX-512 attention translation units (avx512_attention*.cc): loading
// cache rows of either KV dtype as fp32, and the decode kernel's entry point. Include only from
// files compiled with the AVX-512 flags; like avx512_util.h, everything but the avx512::
// functions has internal linkage.
#pragma once

#include <cstdint>

#include "kernels/cpu/avx512_util.h"

namespace moe::kernels {

namespace avx512 {
// Decode attention (avx512_attention_decode.cc): query tokens [i0, i1) of PagedAttention, each
// alone against its cached positions [0, start + i], kv heads [h0, h1). Any head_dim <= 512 and
// GQA ratio; fp32 or bf16 cache (kv.dtype). Each token's result is the same whatever the
// range (no state is shared between tokens).
void DecodeAttention(const PagedKv& kv, const int32_t* block_table, int64_t start, const float* q,
                     int64_t num_q_heads, float scale, float* out, int64_t i0, int64_t i1,
                     int64_t h0, int64_t h1);
// The largest head_dim DecodeAttention takes.
constexpr int64_t kDecodeMaxHeadDim = 512;
}  // namespace avx512

namespace {

// An fp32 cache: rows of floats.
struct F32Kv {
  using T = float;
  // Elements [0, 16) of p with lanes outside m zero.
  static __m512 Load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
  // The query as the scores use it.
  static __m512 Query(__m512 q) { return q; }
};

// A bf16 cache: rows of bf16, widened exactly to fp32 (bf16 is the top half of an fp32).
struct Bf16Kv {
  using T = uint16_t;
  static __m512 Load16(const uint16_t* p, __mmask16 m) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
  // q rounded to bf16 (round to nearest even; as F32ToBf16 for finite values), kept as fp32:
  // its products with bf16 keys are exact in fp32.
  static __m512 Query(__m512 q) {
    __m512i u = _mm512_castps_si512(q);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    u = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
    return _mm512_castsi512_ps(_mm512_and_si512(u, _mm512_set1_epi32(~0xffff)));
  }
};

}  // namespace
}  // namespace moe::kernels
