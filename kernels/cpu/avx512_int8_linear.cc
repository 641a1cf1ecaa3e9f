// AVX-512 VNNI Linear for int8 weights (DType::kQ8; layout and arithmetic in kernels.h, "Int8
// weights"). Compiled with the AVX-512 + VNNI flags; runs only when the CPU has avx512_vnni
// (see Int8LinearKernel()).
//
// x is quantized per token and block of 32 to s8 with an fp32 scale (QuantizeTokens); the
// weights are stored as u8 = q + 128, the unsigned operand of vpdpbusd (u8 x s8, 4 products per
// 32-bit lane). The offset is taken back exactly in int32: each block's sum starts at
// -128 * sum(qx of the block), so the int32 lanes hold the signed dot products. Choosing the
// offset on the weights (not on x) makes that correction one number per (token, block),
// computed once per call, instead of one per (row, block).
//
//  - GEMV (T < kInt8GemmMinT, decode; this file): a 64-byte weight vector holds 4 values of
//    each of the 16 blocks of a superblock, so 8 vpdpbusd sum 16 whole blocks in the 16 lanes
//    (one block per lane); then one int->float conversion and one FMA with the 16 products
//    (weight scale x activation scale) per (row, token, superblock): ~1 instruction per 64
//    weight bytes besides the load and the vpdpbusd.
//  - GEMM (T >= kInt8GemmMinT, prefill; avx512_int8_gemm.cc).
#include <cstring>

#include "kernels/cpu/avx512_int8_util.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/simd_scratch.h"

namespace moe::kernels {
namespace {

constexpr int kGemvMaxTokens = 4;       // tokens per pass over the weights (accumulator registers)
constexpr int64_t kGemvBlockRows = 24;  // rows per block when T > kGemvMaxTokens (L1-hot)
constexpr int64_t kGemvGroupRows = 64;  // rows per thread task
constexpr int kXRecords = 10;  // 64-byte records per (superblock, token): 8 chunks, corr, dx
// The weights are read one row at a time, as one stream, each chunk prefetching the lines it
// consumes again kPrefetchRows rows further on. 6 rows side by side (6 streams), prefetching
// the next 6 rows, ran 28 layers of qwen3-0.6b's matrices and its lm_head from memory at ~85%
// of the read bandwidth at T = 1 against ~92%, and in 0.8-0.85x the time at T = 2..8
// (bench/results/cpu-2026-11.md; the bf16 GEMV's finding, avx512_bf16_linear.cc).
constexpr int64_t kPrefetchRows = 4;

// x packed for the GEMV: xp: [nsb, T, kXRecords] 64-byte records; for superblock s (nbs
// blocks) and token t: records 0..7 = chunk i (word j = values 4i..4i+3 of block 16s + j, the
// layout of the weights), record 8 = int32 -128 * qsum of block 16s + j, record 9 = fp32 dx of
// block 16s + j (lanes j >= nbs zero).
void PackXGemv(const int8_t* qx, const float* dx, const int32_t* qsum, int64_t T, int64_t K,
               __m512i* xp) {
  const int64_t kp = Q8RowBytes(K), nb = Q8Blocks(K), nsb = (nb + 15) / 16;
  alignas(64) int32_t idx[16];
  for (int j = 0; j < 16; ++j) idx[j] = 8 * j;
  const __m512i gather = _mm512_load_si512(idx);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t s = 0; s < nsb; ++s) {
      const int64_t nbs = Min(16, nb - 16 * s);
      const __mmask16 m = TailMask16(nbs);
      __m512i* rec = xp + (s * T + t) * kXRecords;
      const int32_t* words = reinterpret_cast<const int32_t*>(qx + t * kp + s * 512);
      for (int i = 0; i < 8; ++i) {
        rec[i] = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, gather, words + i, 4);
      }
      const __m512i sums = _mm512_maskz_loadu_epi32(m, qsum + t * nb + 16 * s);
      rec[8] = _mm512_mullo_epi32(sums, _mm512_set1_epi32(-128));
      rec[9] = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, dx + t * nb + 16 * s));
    }
  }
}

// One superblock (nbs blocks; kFull: 16) of R rows for TT tokens: iacc[r][t] lanes = the int32
// dot products of the 16 blocks, then facc[r][t] += float(iacc) * (dw * dx). Prefetches R
// lines of the next block of rows per chunk at *pf (advanced).
template <int R, int TT, bool kFull>
inline void GemvSuperblock(const uint8_t* w, int64_t kp, const uint16_t* sc, int64_t nb,
                           int64_t nbs, const __m512i* xs, const uint8_t*& pf,
                           __m512 (&facc)[R][TT]) {
  __m512i iacc[R][TT];
  for (int t = 0; t < TT; ++t) {
    const __m512i corr = _mm512_load_si512(xs + t * kXRecords + 8);
    for (int r = 0; r < R; ++r) iacc[r][t] = corr;
  }
  const int64_t chunk = kFull ? 64 : 4 * nbs;  // bytes per chunk
  const __mmask16 m = TailMask16(nbs);
  for (int i = 0; i < 8; ++i) {
    __m512i wv[R];
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = w + r * kp + i * chunk;
      wv[r] = kFull ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi32(m, p);
      _mm_prefetch(reinterpret_cast<const char*>(pf + r * 64), _MM_HINT_T0);
    }
    pf += R * 64;
    for (int t = 0; t < TT; ++t) {
      const __m512i xv = _mm512_load_si512(xs + t * kXRecords + i);
      for (int r = 0; r < R; ++r) iacc[r][t] = DotU8S8(iacc[r][t], wv[r], xv);
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m512 dw = LoadBf16x16(sc + r * nb, nbs);
    for (int t = 0; t < TT; ++t) {
      const __m512 d = _mm512_mul_ps(dw, _mm512_castsi512_ps(xs[t * kXRecords + 9]));
      facc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[r][t]), d, facc[r][t]);
    }
  }
}

// y[t * ldy + r] for R rows from w0 (rows kp bytes apart, scales s0, nb apart) and TT tokens
// from xt (token t of superblock s at xt + (s * T + t) * kXRecords). While it streams its R
// rows it prefetches the R rows kPrefetchRows further on (contiguous, R * kp bytes) front to
// back, R lines per 64-byte step.
template <int R, int TT>
void GemvKernel(const uint8_t* w0, int64_t kp, const uint16_t* s0, int64_t nb, const __m512i* xt,
                int64_t T, float* y, int64_t ldy) {
  for (int64_t off = 0; off < R * nb * 2; off += 64) {  // those rows' scales
    _mm_prefetch(reinterpret_cast<const char*>(s0 + kPrefetchRows * nb) + off, _MM_HINT_T0);
  }
  __m512 facc[R][TT];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) facc[r][t] = _mm512_setzero_ps();
  }
  const uint8_t* pf = w0 + kPrefetchRows * kp;
  const int64_t full = nb / 16;
  for (int64_t s = 0; s < full; ++s) {
    GemvSuperblock<R, TT, true>(w0 + s * 512, kp, s0 + 16 * s, nb, 16, xt + s * T * kXRecords, pf,
                                facc);
  }
  if (nb % 16 != 0) {
    GemvSuperblock<R, TT, false>(w0 + full * 512, kp, s0 + 16 * full, nb, nb % 16,
                                 xt + full * T * kXRecords, pf, facc);
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(facc[r][t]);
  }
}

// Rows [r0, r1) for tokens [t0, t0 + TT), a row at a time.
template <int TT>
void GemvRows(const Matrix& w, int64_t r0, int64_t r1, const __m512i* xp, int64_t T, int64_t t0,
              float* y) {
  const int64_t kp = Q8RowBytes(w.cols), nb = Q8Blocks(w.cols);
  const auto* base = static_cast<const uint8_t*>(w.data);
  const auto* scales = static_cast<const uint16_t*>(w.scales);
  const __m512i* xt = xp + t0 * kXRecords;
  float* yt = y + t0 * w.rows;
  // The kernel prefetches kPrefetchRows rows ahead of itself: start with the first row.
  for (int64_t off = 0; r0 < r1 && off < kp; off += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(base + r0 * kp + off), _MM_HINT_T0);
  }
  for (int64_t r = r0; r < r1; ++r) {  // a row at a time: one stream (see kPrefetchRows)
    GemvKernel<1, TT>(base + r * kp, kp, scales + r * nb, nb, xt, T, yt + r, w.rows);
  }
}

void GemvRange(const Matrix& w, int64_t r0, int64_t r1, const __m512i* xp, int64_t T, float* y) {
  const int64_t block = T <= kGemvMaxTokens ? r1 - r0 : kGemvBlockRows;
  for (int64_t rb = r0; rb < r1; rb += block) {
    const int64_t re = Min(r1, rb + block);
    for (int64_t t0 = 0; t0 < T; t0 += kGemvMaxTokens) {
      switch (Min(kGemvMaxTokens, T - t0)) {
        case 1:
          GemvRows<1>(w, rb, re, xp, T, t0, y);
          break;
        case 2:
          GemvRows<2>(w, rb, re, xp, T, t0, y);
          break;
        case 3:
          GemvRows<3>(w, rb, re, xp, T, t0, y);
          break;
        default:
          GemvRows<4>(w, rb, re, xp, T, t0, y);
          break;
      }
    }
  }
}

// y_i = x W_i^T for n matrices of the same cols, x packed once, the rows of all n in one
// fork-join (groups of kGemvGroupRows rows never span two matrices).
void GemvMany(const int8_t* qx, const float* dx, const int32_t* qsum, int64_t T, const Matrix* ws,
              float* const* ys, int n, ThreadPool* pool) {
  const int64_t K = ws[0].cols, nsb = (Q8Blocks(K) + 15) / 16;
  static thread_local Scratch x_scratch;
  auto* xp = reinterpret_cast<__m512i*>(x_scratch.Get(nsb * T * kXRecords * 16));
  PackXGemv(qx, dx, qsum, T, K, xp);
  const RowGroups groups(ws, n, kGemvGroupRows);
  const int threads = pool == nullptr ? 1 : pool->num_threads();
  auto body = [&](int64_t g0, int64_t g1) {
    groups.ForEach(g0, g1,
                   [&](int i, int64_t r0, int64_t r1) { GemvRange(ws[i], r0, r1, xp, T, ys[i]); });
  };
  const int64_t g = groups.groups();
  if (threads == 1 || groups.elements() < (1 << 18)) {  // not worth a fork-join
    body(0, g);
    return;
  }
  ForRanges(pool, g, (g + 4 * threads - 1) / (4 * threads), body);
}

}  // namespace

// 12 independent vpdpbusd chains per round (64 multiply-adds = 128 ops each).
int64_t Avx512Int8DotBurn(int64_t iters, float* sink) {
#define MOE_R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define MOE_DECL(i) __m512i a##i = _mm512_set1_epi32(i);
#define MOE_DOT(i) a##i = DotU8S8(a##i, b, c);
#define MOE_SUM(i) s = _mm512_add_epi32(s, a##i);
  MOE_R12(MOE_DECL)
  const __m512i b = _mm512_set1_epi8(3), c = _mm512_set1_epi8(-2);
  for (int64_t it = 0; it < iters; ++it) {
    MOE_R12(MOE_DOT)
    __asm__ volatile(""
                     : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),
                       "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  __m512i s = _mm512_setzero_si512();
  MOE_R12(MOE_SUM)
  *sink = static_cast<float>(_mm512_reduce_add_epi32(s));
  return iters * 12 * 64 * 2;
#undef MOE_R12
#undef MOE_DECL
#undef MOE_DOT
#undef MOE_SUM
}

void Avx512Int8Linear(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
  Avx512Int8LinearMany(x, T, &w, &y, 1, pool);
}

void Avx512Int8LinearMany(const float* x, int64_t T, const Matrix* ws, float* const* ys, int n,
                          ThreadPool* pool) {
  if (T <= 0 || n <= 0) return;
  const int64_t K = ws[0].cols;
  bool same = n <= kMaxLinearMany && K > 0;
  for (int i = 0; i < n; ++i) same = same && ws[i].cols == K && ws[i].rows > 0;
  if (!same) {
    for (int i = 0; i < n; ++i) {
      if (ws[i].rows <= 0) continue;
      if (ws[i].cols <= 0) {
        std::memset(ys[i], 0, sizeof(float) * T * ws[i].rows);
      } else {
        Avx512Int8LinearMany(x, T, &ws[i], &ys[i], 1, pool);
      }
    }
    return;
  }
  const int64_t kp = Q8RowBytes(K), nb = Q8Blocks(K);
  static thread_local Scratch q_scratch, d_scratch, s_scratch;
  auto* qx = reinterpret_cast<int8_t*>(q_scratch.Get(T * kp / 4));  // [T, kp]
  float* dx = d_scratch.Get(T * nb);                                // [T, nb]
  auto* qsum = reinterpret_cast<int32_t*>(s_scratch.Get(T * nb));   // [T, nb]
  QuantizeTokens(x, T, K, qx, dx, qsum);
  if (T >= kInt8GemmMinT) {
    for (int i = 0; i < n; ++i) avx512int8::Gemm(qx, dx, qsum, T, ws[i], ys[i], pool);
  } else {
    GemvMany(qx, dx, qsum, T, ws, ys, n, pool);
  }
}

}  // namespace moe::kernels
