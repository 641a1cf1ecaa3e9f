// AVX-512 Linear (compiled with the AVX-512 flags; runs only when the CPU has them).
//
//  - GEMV (T < kGemmMinT, decode): weights streamed once for all T rows of x, 4 tokens per
//    pass over a block of rows (later passes hit L1), bf16 widened in registers, one fp32
//    accumulator vector per (weight row, token), reduced at the end.
//  - GEMM (T >= kGemmMinT, prefill): a 32-row panel of weights widened and transposed to
//    fp32 [kc][32], x packed per token block as [K][mr], and an mr x 32 register micro-kernel
//    (broadcast x, FMA). Each output is one FMA chain in k order.
// Every output's arithmetic is independent of how the rows are split over threads.
#include <cstring>

#include "kernels/cpu/avx512_util.h"
#include "kernels/cpu/simd_scratch.h"

namespace moe::kernels {
namespace {

// ------------------------------------------------------------------------------------------
// Weight loaders: 32 consecutive weights of a row as two fp32 vectors (a, b). The layout of
// x must match: for BF16, a = the even and b = the odd elements (a 32-bit lane holds two
// bf16: shift left = the even one, mask = the odd one; no cross-lane shuffle); for F16 and
// F32, a = elements 0..15 and b = 16..31.

struct Bf16Loader {
  static constexpr int kBytes = 2;
  static constexpr bool kDeinterleave = true;
  static inline void Convert(__m512i v, __m512& a, __m512& b) {
    a = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    b = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xffff0000))));
  }
  static inline void Load(const void* p, __m512& a, __m512& b) {
    Convert(_mm512_loadu_si512(p), a, b);
  }
  static inline void LoadTail(const void* p, int64_t n, __m512& a, __m512& b) {
    const __mmask32 m = static_cast<__mmask32>((uint64_t{1} << n) - 1);
    const __m512i v = _mm512_maskz_loadu_epi16(m, p);
    a = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    b = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xffff0000))));
  }
  // 16 consecutive weights in order (n valid, rest zero).
  static inline __m512 Load16(const void* p, int64_t n) {
    const __m256i h = n >= 16 ? _mm256_loadu_si256(static_cast<const __m256i*>(p))
                              : _mm256_maskz_loadu_epi16(TailMask16(n), p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
};

struct F16Loader {
  static constexpr int kBytes = 2;
  static constexpr bool kDeinterleave = false;
  static inline void Convert(__m512i v, __m512& a, __m512& b) {
    a = _mm512_cvtph_ps(_mm512_castsi512_si256(v));
    b = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v, 1));
  }
  static inline void Load(const void* p, __m512& a, __m512& b) {
    Convert(_mm512_loadu_si512(p), a, b);
  }
  static inline void LoadTail(const void* p, int64_t n, __m512& a, __m512& b) {
    const __mmask32 m = static_cast<__mmask32>((uint64_t{1} << n) - 1);
    const __m512i v = _mm512_maskz_loadu_epi16(m, p);
    a = _mm512_cvtph_ps(_mm512_castsi512_si256(v));
    b = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v, 1));
  }
  static inline __m512 Load16(const void* p, int64_t n) {
    const __m256i h = n >= 16 ? _mm256_loadu_si256(static_cast<const __m256i*>(p))
                              : _mm256_maskz_loadu_epi16(TailMask16(n), p);
    return _mm512_cvtph_ps(h);
  }
};

struct F32Loader {
  static constexpr int kBytes = 4;
  static constexpr bool kDeinterleave = false;
  static inline void Load(const void* p, __m512& a, __m512& b) {
    a = _mm512_loadu_ps(p);
    b = _mm512_loadu_ps(static_cast<const float*>(p) + 16);
  }
  static inline void LoadTail(const void* p, int64_t n, __m512& a, __m512& b) {
    const float* f = static_cast<const float*>(p);
    a = _mm512_maskz_loadu_ps(TailMask16(n), f);
    b = n > 16 ? _mm512_maskz_loadu_ps(TailMask16(n - 16), f + 16) : _mm512_setzero_ps();
  }
  static inline __m512 Load16(const void* p, int64_t n) {
    return _mm512_maskz_loadu_ps(TailMask16(n), p);
  }
};

// ------------------------------------------------------------------------------------------
// GEMV path.

constexpr int kGemvMaxTokens = 4;  // tokens per pass over a block of weight rows (L1-hot)
constexpr int64_t kGemvGroupRows = 64;
// Each chunk prefetches the lines it consumes again kPrefetchRows rows further on, so the
// prefetches form one stream in address order (see GemvKernel).
constexpr int64_t kPrefetchRows = 4;
constexpr int64_t kFirstPrefetchBytes = 1024;  // of each of the first rows, before the kernel

// x packed for the GEMV kernel, chunk-major so one pointer serves every token:
// xp: [kp / 32, T, 32], kp = K rounded up to 32, zero padded. For BF16 each 32-chunk is
// reordered as its 16 even then its 16 odd elements (see Bf16Loader).
void PackXGemv(const float* x, int64_t T, int64_t K, int64_t kp, bool deinterleave, float* xp) {
  for (int64_t c = 0; c < kp / 32; ++c) {
    for (int64_t t = 0; t < T; ++t) {
      const float* src = x + t * K + c * 32;  // [32] (fewer at the end of the row)
      float* dst = xp + (c * T + t) * 32;     // [32]
      for (int64_t j = 0; j < 32; ++j) {
        const int64_t to = deinterleave ? (j % 2) * 16 + j / 2 : j;
        dst[to] = c * 32 + j < K ? src[j] : 0.0f;
      }
    }
  }
}

// Loads of rows that start off a 64-byte boundary (std::vector gives 16-byte aligned
// weights): every 64-byte chunk would span two cache lines, which measured ~7% slower on a
// whole decode. Instead each line is loaded once, aligned, and a chunk is put together from
// two neighbouring lines with one permute; the chunk's values (so the arithmetic) are the
// same. Only for 2-byte weights with rows a multiple of 64 bytes (all rows equally off).
struct Realign {
  __m512i idx;    // word j of a chunk = word shift + j of (line, next line)
  int64_t shift;  // bytes the rows are past a 64-byte boundary, > 0
};

// One 32-column chunk of GemvKernel: acc[r][t] += w[r, k:k+32] . x[t, k:k+32]. Prefetches
// kPrefetchBytes per row (see GemvKernel). `n` < 32: a masked tail chunk. kRealign: the
// chunk is built from line[r] (the aligned line it starts in, updated to the next line).
template <class L, int R, int TT, int kPrefetchBytes, bool kRealign = false>
inline void GemvChunk(const uint8_t* w0, int64_t row_bytes, int64_t k, int64_t n, const float* xc,
                      __m512 (&acc)[R][TT], const Realign* ra = nullptr, __m512i* line = nullptr) {
  __m512 wa[R], wb[R];
  for (int r = 0; r < R; ++r) {
    const uint8_t* p = w0 + r * row_bytes + k * L::kBytes;
    // The chunk pair's lines of rows [0, R) are contiguous in the R rows' bytes; prefetch
    // those of the R rows kPrefetchRows further on, in address order.
    const uint8_t* ahead = w0 + kPrefetchRows * row_bytes + (k * L::kBytes / 64) * R * 64;
    for (int off = 0; off < kPrefetchBytes; off += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(ahead + r * kPrefetchBytes + off), _MM_HINT_T0);
    }
    if constexpr (kRealign) {
      const __m512i next = _mm512_load_si512(p - ra->shift + 64);
      L::Convert(_mm512_permutex2var_epi16(line[r], ra->idx, next), wa[r], wb[r]);
      line[r] = next;
    } else if (n == 32) {
      L::Load(p, wa[r], wb[r]);
    } else {
      L::LoadTail(p, n, wa[r], wb[r]);
    }
  }
  for (int t = 0; t < TT; ++t) {
    const __m512 xa = _mm512_load_ps(xc + t * 32);
    for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wa[r], xa, acc[r][t]);
  }
  for (int t = 0; t < TT; ++t) {
    const __m512 xb = _mm512_load_ps(xc + t * 32 + 16);
    for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wb[r], xb, acc[r][t]);
  }
}

// y[t * ldy + r] = row r of w (R rows from `w0`, `row_bytes` apart) . x[t] for t < TT.
// xt: the packed x of the first token; chunk c of token t is at xt + (c * T + t) * 32.
// Each (row, token) sums its chunks in k order into one accumulator vector, whatever R is.
//
// Software prefetch runs kPrefetchRows rows ahead, over the R rows' lines in address order:
// one stream, which this machine's prefetchers follow far better than R streams (one per
// row, each prefetched 1 KiB ahead, as before: avx512_bf16_linear.cc has the figures). Two
// chunks per iteration (128 B per bf16 row) measured faster than one.
//
// ra: rows off a 64-byte boundary, see Realign (then K is a multiple of 32).
template <class L, int R, int TT>
void GemvKernel(const uint8_t* w0, int64_t row_bytes, int64_t K, const float* xt, int64_t T,
                float* y, int64_t ldy, const Realign* ra) {
  __m512 acc[R][TT];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  const int64_t xstride = T * 32;
  int64_t k = 0;
  const float* xc = xt;
  if constexpr (L::kBytes == 2) {
    if (ra != nullptr) {
      __m512i line[R];
      for (int r = 0; r < R; ++r) line[r] = _mm512_load_si512(w0 + r * row_bytes - ra->shift);
      for (; k + 64 <= K; k += 64, xc += 2 * xstride) {
        GemvChunk<L, R, TT, 64 * L::kBytes, true>(w0, row_bytes, k, 32, xc, acc, ra, line);
        GemvChunk<L, R, TT, 0, true>(w0, row_bytes, k + 32, 32, xc + xstride, acc, ra, line);
      }
      for (; k < K; k += 32, xc += xstride) {
        GemvChunk<L, R, TT, 32 * L::kBytes, true>(w0, row_bytes, k, 32, xc, acc, ra, line);
      }
    }
  }
  for (; k + 64 <= K; k += 64, xc += 2 * xstride) {
    GemvChunk<L, R, TT, 64 * L::kBytes>(w0, row_bytes, k, 32, xc, acc);
    GemvChunk<L, R, TT, 0>(w0, row_bytes, k + 32, 32, xc + xstride, acc);
  }
  for (; k < K; k += 32, xc += xstride) {
    GemvChunk<L, R, TT, 32 * L::kBytes>(w0, row_bytes, k, Min(32, K - k), xc, acc);
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
  }
}

// Rows [r0, r1) for tokens [t0, t0 + TT): R rows at a time, then single rows (the same
// arithmetic per row, so the split does not change results).
template <class L, int TT>
void GemvRows(const Matrix& w, int64_t r0, int64_t r1, const float* xp, int64_t T, int64_t t0,
              float* y) {
  // T = 1: a row at a time, one stream (28 layers of qwen3-0.6b's matrices from memory:
  // ~30 ms against ~35.5 for 4 rows). More tokens: 4 rows, 4 x TT accumulators, x reused by
  // the 4 rows (1 or 2 rows measured ~1.5-2x slower at T = 4: loads of x per weight line).
  constexpr int R = TT == 1 ? 1 : 4;
  const int64_t row_bytes = w.cols * L::kBytes;
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const float* xt = xp + t0 * 32;
  float* yt = y + t0 * w.rows;
  Realign realign;
  const Realign* ra = nullptr;
  const int64_t shift = reinterpret_cast<uintptr_t>(base) % 64;
  if (L::kBytes == 2 && shift != 0 && row_bytes % 64 == 0) {
    alignas(64) uint16_t idx[32];
    for (int j = 0; j < 32; ++j) idx[j] = static_cast<uint16_t>(shift / 2 + j);
    realign = {_mm512_load_si512(idx), shift};
    ra = &realign;
  }
  int64_t r = r0;
  // The kernel's prefetch runs kPrefetchRows rows ahead of its loads: start the first rows'.
  for (int64_t i = 0; i < R && r0 + i < r1; ++i) {
    const uint8_t* p = base + (r0 + i) * row_bytes;
    for (int64_t off = 0; off < Min(row_bytes, kFirstPrefetchBytes); off += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(p + off), _MM_HINT_T0);
    }
  }
  for (; r + R <= r1; r += R) {
    GemvKernel<L, R, TT>(base + r * row_bytes, row_bytes, w.cols, xt, T, yt + r, w.rows, ra);
  }
  for (; r < r1; ++r) {
    GemvKernel<L, 1, TT>(base + r * row_bytes, row_bytes, w.cols, xt, T, yt + r, w.rows, ra);
  }
}

// Rows [r0, r1) for all T tokens, kGemvMaxTokens at a time: in blocks of 16 rows so that
// the later token groups read the rows from L1.
template <class L>
void GemvRange(const Matrix& w, int64_t r0, int64_t r1, const float* xp, int64_t T, float* y) {
  const int64_t block = T <= kGemvMaxTokens ? r1 - r0 : 16;
  for (int64_t rb = r0; rb < r1; rb += block) {
    const int64_t re = Min(r1, rb + block);
    for (int64_t t0 = 0; t0 < T; t0 += kGemvMaxTokens) {
      switch (Min(kGemvMaxTokens, T - t0)) {
        case 1:
          GemvRows<L, 1>(w, rb, re, xp, T, t0, y);
          break;
        case 2:
          GemvRows<L, 2>(w, rb, re, xp, T, t0, y);
          break;
        case 3:
          GemvRows<L, 3>(w, rb, re, xp, T, t0, y);
          break;
        default:
          GemvRows<L, 4>(w, rb, re, xp, T, t0, y);
          break;
      }
    }
  }
}

template <class L>
void Gemv(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
  const int64_t kp = RoundUp(w.cols, 32);
  static thread_local Scratch x_scratch;
  float* xp = x_scratch.Get(T * kp);  // [kp / 32, T, 32]
  PackXGemv(x, T, w.cols, kp, L::kDeinterleave, xp);
  const int64_t groups = (w.rows + kGemvGroupRows - 1) / kGemvGroupRows;
  const int threads = pool == nullptr ? 1 : pool->num_threads();
  auto body = [&](int64_t g0, int64_t g1) {
    GemvRange<L>(w, g0 * kGemvGroupRows, Min(w.rows, g1 * kGemvGroupRows), xp, T, y);
  };
  // Small matrices are not worth a fork-join (a few microseconds).
  if (threads == 1 || w.rows * w.cols < (1 << 17)) {
    body(0, groups);
    return;
  }
  ForRanges(pool, groups, (groups + 4 * threads - 1) / (4 * threads), body);
}

// ------------------------------------------------------------------------------------------
// GEMM path.

constexpr int kMr = 14;  // max tokens per micro-kernel (2 * 14 accumulators)
constexpr int kNr = 32;  // weight rows per panel (two zmm)
constexpr int64_t kKc =
    512;  // k per packed panel: [512, 32] fp32 = 64 KiB (L2); 256..512 measured equal
constexpr int64_t kGemmGroupRows = 128;
// GEMV (4 tokens per pass) measured faster below 16 tokens, the packed GEMM from 16 on.
constexpr int64_t kGemmMinT = 16;
constexpr int64_t kGemmTokenChunk = 128;  // tokens per pass over a panel (x chunk stays in L2)

// P: [kc, 32] = rows [r, r + nvalid) of w, columns [k0, k0 + kc), widened; missing rows zero.
template <class L>
void PackPanel(const Matrix& w, int64_t r, int64_t nvalid, int64_t k0, int64_t kc, float* P) {
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const int64_t row_bytes = w.cols * L::kBytes;
  for (int h = 0; h < 2; ++h) {
    for (int64_t kb = 0; kb < kc; kb += 16) {
      const int64_t n = Min(16, kc - kb);
      __m512 v[16];
      for (int j = 0; j < 16; ++j) {
        const int64_t row = 16 * h + j;
        v[j] = row < nvalid ? L::Load16(base + (r + row) * row_bytes + (k0 + kb) * L::kBytes, n)
                            : _mm512_setzero_ps();
      }
      Transpose16(v);
      for (int64_t i = 0; i < n; ++i) _mm512_store_ps(P + (kb + i) * kNr + 16 * h, v[i]);
    }
  }
}

// y[m, 0:32] (+)= sum_k xb[k, m] * P[k, 0:32] for m < MR; columns masked by m0/m1.
// xb: [kc, MR], P: [kc, 32], y: [MR, ldy].
template <int MR>
void MicroKernel(const float* xb, const float* P, int64_t kc, float* y, int64_t ldy,
                 bool accumulate, __mmask16 m0, __mmask16 m1) {
  __m512 c0[MR], c1[MR];
  for (int m = 0; m < MR; ++m) {
    if (accumulate) {
      c0[m] = _mm512_maskz_loadu_ps(m0, y + m * ldy);
      c1[m] = _mm512_maskz_loadu_ps(m1, y + m * ldy + 16);
    } else {
      c0[m] = _mm512_setzero_ps();
      c1[m] = _mm512_setzero_ps();
    }
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 w0 = _mm512_load_ps(P + k * kNr);
    const __m512 w1 = _mm512_load_ps(P + k * kNr + 16);
    for (int m = 0; m < MR; ++m) {
      const __m512 b = _mm512_set1_ps(xb[k * MR + m]);
      c0[m] = _mm512_fmadd_ps(w0, b, c0[m]);
      c1[m] = _mm512_fmadd_ps(w1, b, c1[m]);
    }
  }
  for (int m = 0; m < MR; ++m) {
    _mm512_mask_storeu_ps(y + m * ldy, m0, c0[m]);
    _mm512_mask_storeu_ps(y + m * ldy + 16, m1, c1[m]);
  }
}

using MicroFn = void (*)(const float*, const float*, int64_t, float*, int64_t, bool, __mmask16,
                         __mmask16);
constexpr MicroFn kMicro[kMr + 1] = {
    nullptr,         MicroKernel<1>,  MicroKernel<2>,  MicroKernel<3>,  MicroKernel<4>,
    MicroKernel<5>,  MicroKernel<6>,  MicroKernel<7>,  MicroKernel<8>,  MicroKernel<9>,
    MicroKernel<10>, MicroKernel<11>, MicroKernel<12>, MicroKernel<13>, MicroKernel<14>};

// Token blocks: T split into ceil(T / kMr) blocks of nearly equal size.
struct TokenBlocks {
  int64_t count;
  int64_t Start(int64_t b, int64_t T) const { return b * (T / count) + Min(b, T % count); }
};

// xp: per token block b (tokens [t0, t0 + mr)), at xp + t0 * K: [K, mr].
void PackXGemm(const float* x, int64_t T, int64_t K, const TokenBlocks& tb, float* xp) {
  for (int64_t b = 0; b < tb.count; ++b) {
    const int64_t t0 = tb.Start(b, T), mr = tb.Start(b + 1, T) - t0;
    float* dst = xp + t0 * K;  // [K, mr]
    for (int64_t m = 0; m < mr; ++m) {
      const float* src = x + (t0 + m) * K;  // [K]
      for (int64_t k = 0; k < K; ++k) dst[k * mr + m] = src[k];
    }
  }
}

template <class L>
void GemmRange(const Matrix& w, int64_t r0, int64_t r1, const float* xp, int64_t T,
               const TokenBlocks& tb, float* y) {
  static thread_local Scratch panel_scratch;
  float* P = panel_scratch.Get(kKc * kNr);  // [kKc, 32]
  const int64_t K = w.cols;
  // Token blocks in chunks of about kGemmTokenChunk tokens, so that the x of one chunk and
  // k block stays in L2 while the panels go by.
  for (int64_t b0 = 0; b0 < tb.count;) {
    int64_t b1 = b0 + 1;
    while (b1 < tb.count && tb.Start(b1 + 1, T) - tb.Start(b0, T) <= kGemmTokenChunk) ++b1;
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
      const int64_t kc = Min(kKc, K - k0);
      for (int64_t r = r0; r < r1; r += kNr) {
        const int64_t nvalid = Min(kNr, r1 - r);
        PackPanel<L>(w, r, nvalid, k0, kc, P);
        const __mmask16 m0 = TailMask16(nvalid);
        const __mmask16 m1 = TailMask16(nvalid > 16 ? nvalid - 16 : 0);
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t t0 = tb.Start(b, T), mr = tb.Start(b + 1, T) - t0;
          kMicro[mr](xp + t0 * K + k0 * mr, P, kc, y + t0 * w.rows + r, w.rows, k0 > 0, m0, m1);
        }
      }
    }
    b0 = b1;
  }
}

template <class L>
void Gemm(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
  const TokenBlocks tb{(T + kMr - 1) / kMr};
  static thread_local Scratch x_scratch;
  float* xp = x_scratch.Get(T * w.cols);  // token blocks of [K, mr]
  PackXGemm(x, T, w.cols, tb, xp);
  const int64_t groups = (w.rows + kGemmGroupRows - 1) / kGemmGroupRows;
  auto body = [&](int64_t g0, int64_t g1) {
    GemmRange<L>(w, g0 * kGemmGroupRows, Min(w.rows, g1 * kGemmGroupRows), xp, T, tb, y);
  };
  // Below ~2M multiply-adds (~10 us) a fork-join costs more than it saves.
  if (T * w.rows * w.cols < (int64_t{1} << 21)) pool = nullptr;
  ForRanges(pool, groups, 1, body);
}

template <class L>
void LinearTyped(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
  if (T >= kGemmMinT) {
    Gemm<L>(x, T, w, y, pool);
  } else {
    Gemv<L>(x, T, w, y, pool);
  }
}

}  // namespace

void avx512::Linear(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
  if (T <= 0 || w.rows <= 0) return;
  if (w.cols <= 0) {
    std::memset(y, 0, sizeof(float) * T * w.rows);
    return;
  }
  switch (w.dtype) {
    case DType::kBF16:
      LinearTyped<Bf16Loader>(x, T, w, y, pool);
      break;
    case DType::kF16:
      LinearTyped<F16Loader>(x, T, w, y, pool);
      break;
    default:
      LinearTyped<F32Loader>(x, T, w, y, pool);
      break;
  }
}

}  // namespace moe::kernels
