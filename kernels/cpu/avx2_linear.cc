// AVX2 Linear (compiled with -mavx2 -mfma -mf16c; runs only when the CPU has them). The
// structure of avx512_linear.cc with 8-wide vectors: a GEMV path for decode and a packed GEMM
// (6 x 16 micro-kernel) for prefill.
#include <cstring>

#include "kernels/cpu/avx2_util.h"
#include "kernels/cpu/simd_scratch.h"

namespace moe::kernels {
namespace {

// ------------------------------------------------------------------------------------------
// Weight loaders: 16 consecutive weights as two fp32 vectors (a, b); for BF16 a = even and
// b = odd elements (x packed to match), for F16/F32 a = 0..7, b = 8..15. Tails go through a
// zero-padded copy.

struct Bf16Loader {
  static constexpr int kBytes = 2;
  static constexpr bool kDeinterleave = true;
  static inline void Load(const void* p, __m256& a, __m256& b) {
    const __m256i v = _mm256_loadu_si256(static_cast<const __m256i*>(p));
    a = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    b = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(static_cast<int>(0xffff0000))));
  }
  static inline __m256 Load8(const void* p) {
    const __m128i h = _mm_loadu_si128(static_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
};

struct F16Loader {
  static constexpr int kBytes = 2;
  static constexpr bool kDeinterleave = false;
  static inline void Load(const void* p, __m256& a, __m256& b) {
    const __m256i v = _mm256_loadu_si256(static_cast<const __m256i*>(p));
    a = _mm256_cvtph_ps(_mm256_castsi256_si128(v));
    b = _mm256_cvtph_ps(_mm256_extracti128_si256(v, 1));
  }
  static inline __m256 Load8(const void* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i*>(p)));
  }
};

struct F32Loader {
  static constexpr int kBytes = 4;
  static constexpr bool kDeinterleave = false;
  static inline void Load(const void* p, __m256& a, __m256& b) {
    a = _mm256_loadu_ps(static_cast<const float*>(p));
    b = _mm256_loadu_ps(static_cast<const float*>(p) + 8);
  }
  static inline __m256 Load8(const void* p) {
    return _mm256_loadu_ps(static_cast<const float*>(p));
  }
};

// Copies n (< chunk) elements of `bytes` each from p into a zeroed buffer.
inline const void* PadTail(const void* p, int64_t n, int bytes, uint8_t* buf, int64_t buf_bytes) {
  std::memset(buf, 0, buf_bytes);
  std::memcpy(buf, p, n * bytes);
  return buf;
}

// ------------------------------------------------------------------------------------------
// GEMV path.
#ifndef AVR1
#define AVR1 4
#endif

constexpr int kGemvMaxTokens = 3;
constexpr int64_t kGemvGroupRows = 64;
// Each 64-byte step prefetches the lines it consumes again kPrefetchRows rows further on: one
// stream in address order (see avx512_linear.cc).
constexpr int64_t kPrefetchRows = 4;

// xp: [T, kp], kp = K rounded up to 16, zero padded; BF16: each 16-chunk as evens then odds.
void PackXGemv(const float* x, int64_t T, int64_t K, int64_t kp, bool deinterleave, float* xp) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * K;  // [K]
    float* pt = xp + t * kp;      // [kp]
    for (int64_t k = 0; k < kp; k += 16) {
      for (int64_t j = 0; j < 16; ++j) {
        const int64_t dst = deinterleave ? k + (j % 2) * 8 + j / 2 : k + j;
        pt[dst] = k + j < K ? xt[k + j] : 0.0f;
      }
    }
  }
}

// y[t * ldy + r] = row r of w (R rows from `w0`, `row_bytes` apart) . x[t] for t < TT.
// With 16 ymm registers: the chunk of x for all TT tokens is loaded once, then each row is
// widened and multiplied in turn (only two weight vectors live at a time).
template <class L, int R, int TT>
void GemvKernel(const uint8_t* w0, int64_t row_bytes, int64_t K, const float* xp, int64_t kp,
                float* y, int64_t ldy) {
  __m256 acc[R][TT];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
  }
  alignas(32) uint8_t tail[64];
  for (int64_t k = 0; k < K; k += 16) {
    __m256 xa[TT], xb[TT];
#pragma GCC unroll 4
    for (int t = 0; t < TT; ++t) {
      xa[t] = _mm256_loadu_ps(xp + t * kp + k);
      xb[t] = _mm256_loadu_ps(xp + t * kp + k + 8);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const void* p = w0 + r * row_bytes + k * L::kBytes;
      // The step's lines of rows [0, R) are contiguous in the R rows' bytes: prefetch those of
      // the R rows kPrefetchRows further on, in address order.
      if ((k * L::kBytes) % 64 == 0) {
        _mm_prefetch(reinterpret_cast<const char*>(w0 + kPrefetchRows * row_bytes +
                                                   (k * L::kBytes / 64) * R * 64 + r * 64),
                     _MM_HINT_T0);
      }
      if (k + 16 > K) p = PadTail(p, K - k, L::kBytes, tail, 64);
      __m256 wa, wb;
      L::Load(p, wa, wb);
#pragma GCC unroll 4
      for (int t = 0; t < TT; ++t) {
        acc[r][t] = _mm256_fmadd_ps(wa, xa[t], acc[r][t]);
        acc[r][t] = _mm256_fmadd_ps(wb, xb[t], acc[r][t]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int t = 0; t < TT; ++t) y[t * ldy + r] = HSum(acc[r][t]);
  }
}

template <class L, int TT>
void GemvRows(const Matrix& w, int64_t r0, int64_t r1, const float* xp, int64_t kp, int64_t t0,
              float* y) {
  // R * TT accumulators + 2 * TT x + 2 weights <= 16 registers. (A row at a time at T = 1,
  // as the AVX-512 kernels do, measured slower here: 2 FMAs per 16 values into one chain.)
  constexpr int R = TT <= 2 ? 4 : 2;
  const int64_t row_bytes = w.cols * L::kBytes;
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const float* xt = xp + t0 * kp;
  float* yt = y + t0 * w.rows;
  int64_t r = r0;
  for (; r + R <= r1; r += R) {
    GemvKernel<L, R, TT>(base + r * row_bytes, row_bytes, w.cols, xt, kp, yt + r, w.rows);
  }
  for (; r < r1; ++r) {
    GemvKernel<L, 1, TT>(base + r * row_bytes, row_bytes, w.cols, xt, kp, yt + r, w.rows);
  }
}

// Rows [r0, r1) for all T tokens in passes of at most 3 tokens (4 goes as 2 + 2: a 4-token
// pass fits only one row in the registers and is latency-bound), in blocks of 16 rows so that
// the later passes read the rows from L1.
template <class L>
void GemvRange(const Matrix& w, int64_t r0, int64_t r1, const float* xp, int64_t kp, int64_t T,
               float* y) {
  const int64_t block = T <= kGemvMaxTokens ? r1 - r0 : 16;
  for (int64_t rb = r0; rb < r1; rb += block) {
    const int64_t re = Min(r1, rb + block);
    for (int64_t t0 = 0; t0 < T;) {
      const int64_t left = T - t0;
      const int64_t tt = left == 4 ? 2 : Min(kGemvMaxTokens, left);
      switch (tt) {
        case 1:
          GemvRows<L, 1>(w, rb, re, xp, kp, t0, y);
          break;
        case 2:
          GemvRows<L, 2>(w, rb, re, xp, kp, t0, y);
          break;
        default:
          GemvRows<L, 3>(w, rb, re, xp, kp, t0, y);
          break;
      }
      t0 += tt;
    }
  }
}

template <class L>
void Gemv(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
  const int64_t kp = RoundUp(w.cols, 16);
  static thread_local Scratch x_scratch;
  float* xp = x_scratch.Get(T * kp);  // [T, kp]
  PackXGemv(x, T, w.cols, kp, L::kDeinterleave, xp);
  const int64_t groups = (w.rows + kGemvGroupRows - 1) / kGemvGroupRows;
  const int threads = pool == nullptr ? 1 : pool->num_threads();
  auto body = [&](int64_t g0, int64_t g1) {
    GemvRange<L>(w, g0 * kGemvGroupRows, Min(w.rows, g1 * kGemvGroupRows), xp, kp, T, y);
  };
  if (threads == 1 || w.rows * w.cols < (1 << 17)) {
    body(0, groups);
    return;
  }
  ForRanges(pool, groups, (groups + 4 * threads - 1) / (4 * threads), body);
}

// ------------------------------------------------------------------------------------------
// GEMM path.

constexpr int kMr = 6;
constexpr int kNr = 16;
constexpr int64_t kKc = 256;  // panel [256, 16] fp32 = 16 KiB
constexpr int64_t kGemmGroupRows = 128;
// GEMV (<= 3 tokens per pass) measured as fast or faster below 12 tokens, the GEMM from 12 on.
constexpr int64_t kGemmMinT = 12;

// P: [kc, 16] = rows [r, r + nvalid) of w, columns [k0, k0 + kc), widened; missing rows zero.
template <class L>
void PackPanel(const Matrix& w, int64_t r, int64_t nvalid, int64_t k0, int64_t kc, float* P) {
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const int64_t row_bytes = w.cols * L::kBytes;
  alignas(32) uint8_t tail[32];
  for (int h = 0; h < 2; ++h) {
    for (int64_t kb = 0; kb < kc; kb += 8) {
      const int64_t n = Min(8, kc - kb);
      __m256 v[8];
      for (int j = 0; j < 8; ++j) {
        const int64_t row = 8 * h + j;
        if (row >= nvalid) {
          v[j] = _mm256_setzero_ps();
          continue;
        }
        const void* p = base + (r + row) * row_bytes + (k0 + kb) * L::kBytes;
        if (n < 8) p = PadTail(p, n, L::kBytes, tail, 32);
        v[j] = L::Load8(p);
      }
      Transpose8(v);
      for (int64_t i = 0; i < n; ++i) _mm256_store_ps(P + (kb + i) * kNr + 8 * h, v[i]);
    }
  }
}

// y[m, 0:16] (+)= sum_k xb[k, m] * P[k, 0:16]. xb: [kc, MR], P: [kc, 16], y: [MR, ldy].
// Full tiles only (partial ones go through a scratch tile in GemmRange): no branches on the
// tile width, which made GCC keep the accumulators in memory.
template <int MR>
void MicroKernel(const float* xb, const float* P, int64_t kc, float* y, int64_t ldy,
                 bool accumulate) {
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
    if (accumulate) {
      c0[m] = _mm256_loadu_ps(y + m * ldy);
      c1[m] = _mm256_loadu_ps(y + m * ldy + 8);
    } else {
      c0[m] = _mm256_setzero_ps();
      c1[m] = _mm256_setzero_ps();
    }
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 w0 = _mm256_load_ps(P + k * kNr);
    const __m256 w1 = _mm256_load_ps(P + k * kNr + 8);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const __m256 b = _mm256_broadcast_ss(xb + k * MR + m);
      c0[m] = _mm256_fmadd_ps(w0, b, c0[m]);
      c1[m] = _mm256_fmadd_ps(w1, b, c1[m]);
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
    _mm256_storeu_ps(y + m * ldy, c0[m]);
    _mm256_storeu_ps(y + m * ldy + 8, c1[m]);
  }
}

using MicroFn = void (*)(const float*, const float*, int64_t, float*, int64_t, bool);
constexpr MicroFn kMicro[kMr + 1] = {nullptr,        MicroKernel<1>, MicroKernel<2>, MicroKernel<3>,
                                     MicroKernel<4>, MicroKernel<5>, MicroKernel<6>};

struct TokenBlocks {
  int64_t count;
  int64_t Start(int64_t b, int64_t T) const { return b * (T / count) + Min(b, T % count); }
};

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
  float* P = panel_scratch.Get(kKc * kNr);  // [kKc, 16]
  const int64_t K = w.cols;
  for (int64_t k0 = 0; k0 < K; k0 += kKc) {
    const int64_t kc = Min(kKc, K - k0);
    for (int64_t r = r0; r < r1; r += kNr) {
      const int64_t nvalid = Min(kNr, r1 - r);
      PackPanel<L>(w, r, nvalid, k0, kc, P);
      for (int64_t b = 0; b < tb.count; ++b) {
        const int64_t t0 = tb.Start(b, T), mr = tb.Start(b + 1, T) - t0;
        float* yt = y + t0 * w.rows + r;  // [mr, ldy = w.rows]
        if (nvalid == kNr) {
          kMicro[mr](xp + t0 * K + k0 * mr, P, kc, yt, w.rows, k0 > 0);
          continue;
        }
        alignas(32) float tile[kMr * kNr];  // [mr, 16]
        for (int64_t m = 0; m < mr; ++m) {
          std::memset(tile + m * kNr, 0, sizeof(float) * kNr);
          if (k0 > 0) std::memcpy(tile + m * kNr, yt + m * w.rows, sizeof(float) * nvalid);
        }
        kMicro[mr](xp + t0 * K + k0 * mr, P, kc, tile, kNr, k0 > 0);
        for (int64_t m = 0; m < mr; ++m) {
          std::memcpy(yt + m * w.rows, tile + m * kNr, sizeof(float) * nvalid);
        }
      }
    }
  }
}

template <class L>
void Gemm(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
  const TokenBlocks tb{(T + kMr - 1) / kMr};
  static thread_local Scratch x_scratch;
  float* xp = x_scratch.Get(T * w.cols);
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

void avx2::Linear(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
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
