// AVX-512 BF16 Linear: the fast math mode (MathMode::kFast) for bf16 weights (compiled with
// the AVX-512 + BF16 flags; runs only when the CPU has avx512_bf16, see FastLinearKernel()).
//
// x is rounded to bf16 (round to nearest even, vcvtne2ps2bf16) once per call and multiplied
// with the bf16 weights by vdpbf16ps: one instruction does 32 multiply-adds of bf16 pairs
// into 16 fp32 sums (the products are exact in fp32; the sums are fp32). A weight row's bytes
// already hold the pairs (w[2i], w[2i+1]) in each 32-bit lane, so x packed the same way needs
// no shuffles.
//
//  - GEMV (T < kBf16GemmMinT, decode; this file): the shape of avx512_linear.cc's GEMV, with
//    one vdpbf16ps per (row, token, 32 weights) instead of two widenings and two FMAs, and up
//    to 8 tokens per pass over the weights.
//  - GEMM (T >= kBf16GemmMinT, prefill; avx512_bf16_gemm.cc).
//
// Results per (row, token) depend only on that row and that token's x: not on the other
// tokens of the call, nor on how rows are split over threads (bit-exact threading).
#include <cstring>
#include <type_traits>

#include "kernels/cpu/avx512_bf16_util.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/simd_scratch.h"

namespace moe::kernels {
namespace {

// Tokens per pass over the weight rows: one pass for up to 8 tokens; more tokens take more
// passes over blocks of kGemvBlockRows rows (L1-hot after the first).
constexpr int kGemvMaxTokens = 8;
constexpr int64_t kGemvBlockRows = 24;
constexpr int64_t kGemvGroupRows = 64;
// The weights are read as one stream: a row at a time for up to kGemvOneRowTokens tokens, else
// 3 rows (24 accumulator registers at 8 tokens). Each chunk prefetches the lines it consumes
// again kPrefetchRows rows further on, in address order. Several rows read side by side (the
// earlier 4 x 4 and 3 x 8 blocking, with a per-row prefetch 1 KB ahead) are several streams,
// which this machine's prefetchers follow poorly: 28 layers of qwen3-0.6b's matrices and its
// lm_head, from memory, ran at ~84% of the read bandwidth at T = 1 against ~94% for one row
// at a time, and in 0.78-0.91x the time at T = 2..8 (bench/results/cpu-2026-11.md). With the
// address-order prefetch, 3 rows beat 1 row from 5 tokens and 2 rows at 7-8 and 16: fewer x
// loads per weight line (8 per 3 lines) where the vdpbf16ps work is no longer hidden
// (3072 x 1024 at T = 5 / 6 / 8 / 16: 172 / 173 / 190 / 383 us against 186 / 180 / 220 / 420).
constexpr int kGemvOneRowTokens = 4;
constexpr int64_t kPrefetchRows = 4;
constexpr int64_t kFirstPrefetchBytes = 1024;  // of each of the first rows, before the kernel

// x rounded to bf16 and packed chunk-major so one pointer serves every token:
// xp: [kp / 32, T, 16] 32-bit words, word i of chunk c = the bf16 pair (x[c*32 + 2i],
// x[c*32 + 2i + 1]); kp = K rounded up to 32, zero padded.
void PackXGemv(const float* x, int64_t T, int64_t K, int64_t kp, uint32_t* xp) {
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t c = 0; c < kp / 32; ++c) {
      _mm512_store_si512(xp + (c * T + t) * 16, Bf16Chunk(x + t * K + c * 32, K - c * 32));
    }
  }
}

// Rows that start off a 64-byte boundary: each line is loaded once, aligned, and a chunk is
// put together from two neighbouring lines with one permute (same values; see the Realign of
// avx512_linear.cc, measured ~7% faster on a whole decode). Rows a multiple of 64 bytes only.
struct Realign {
  __m512i idx;    // word j of a chunk = word shift + j of (line, next line)
  int64_t shift;  // bytes the rows are past a 64-byte boundary, > 0
};

// The Realign for rows from `base`, `row_bytes` apart, in *storage; null when none is needed
// (aligned rows) or possible (rows not a multiple of 64 bytes).
const Realign* MakeRealign(const uint8_t* base, int64_t row_bytes, Realign* storage) {
  const int64_t shift = reinterpret_cast<uintptr_t>(base) % 64;
  if (shift == 0 || row_bytes % 64 != 0) return nullptr;
  alignas(64) uint16_t idx[32];
  for (int j = 0; j < 32; ++j) idx[j] = static_cast<uint16_t>(shift / 2 + j);
  *storage = {_mm512_load_si512(idx), shift};
  return storage;
}

// f(std::integral_constant<int, tt>{}) for a token count tt in 1..kGemvMaxTokens (larger: 8).
template <class F>
void WithTokens(int64_t tt, F&& f) {
  switch (tt) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    case 5:
      return f(std::integral_constant<int, 5>{});
    case 6:
      return f(std::integral_constant<int, 6>{});
    case 7:
      return f(std::integral_constant<int, 7>{});
    default:
      return f(std::integral_constant<int, 8>{});
  }
}

// One 32-column chunk: acc[r][t] += w[r, k:k+32] . x[t, k:k+32] (bf16 pairs). Prefetches
// kPrefetchBytes per row kPrefetchRows rows ahead, the R rows' lines in address order. `n` <
// 32: a masked tail chunk. kRealign: built from line[r] (see Realign).
template <int R, int TT, int kPrefetchBytes, bool kRealign = false>
inline void GemvChunk(const uint8_t* w0, int64_t row_bytes, int64_t k, int64_t n,
                      const uint32_t* xc, __m512 (&acc)[R][TT], const Realign* ra = nullptr,
                      __m512i* line = nullptr) {
  __m512i wv[R];
  for (int r = 0; r < R; ++r) {
    const uint8_t* p = w0 + r * row_bytes + k * 2;
    // The chunk's lines of rows [0, R) are lines [k / 32 * R, (k / 32 + 1) * R) of the R rows'
    // bytes (they are contiguous); prefetch those of the R rows kPrefetchRows further on.
    const uint8_t* ahead = w0 + kPrefetchRows * row_bytes + (k * 2 / 64) * R * 64;
    for (int off = 0; off < kPrefetchBytes; off += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(ahead + r * kPrefetchBytes + off), _MM_HINT_T0);
    }
    if constexpr (kRealign) {
      const __m512i next = _mm512_load_si512(p - ra->shift + 64);
      wv[r] = _mm512_permutex2var_epi16(line[r], ra->idx, next);
      line[r] = next;
    } else if (n == 32) {
      wv[r] = _mm512_loadu_si512(p);
    } else {
      wv[r] = _mm512_maskz_loadu_epi16(TailMask32(n), p);
    }
  }
  for (int t = 0; t < TT; ++t) {
    const __m512i xv = _mm512_load_si512(xc + t * 16);
    for (int r = 0; r < R; ++r) acc[r][t] = DotBf16(acc[r][t], wv[r], xv);
  }
}

// y[t * ldy + r] = row r of w (R rows from `w0`, `row_bytes` apart) . x[t] for t < TT.
// xt: the packed x of the first token; chunk c of token t is at xt + (c * T + t) * 16.
// Each (row, token) sums its chunks in k order into one accumulator vector, whatever R is.
// ra: rows off a 64-byte boundary, see Realign (then K is a multiple of 32).
template <int R, int TT>
void GemvKernel(const uint8_t* w0, int64_t row_bytes, int64_t K, const uint32_t* xt, int64_t T,
                float* y, int64_t ldy, const Realign* ra) {
  __m512 acc[R][TT];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  const int64_t xstride = T * 16;
  int64_t k = 0;
  const uint32_t* xc = xt;
  if (ra != nullptr) {
    __m512i line[R];
    for (int r = 0; r < R; ++r) line[r] = _mm512_load_si512(w0 + r * row_bytes - ra->shift);
    for (; k + 64 <= K; k += 64, xc += 2 * xstride) {
      GemvChunk<R, TT, 128, true>(w0, row_bytes, k, 32, xc, acc, ra, line);
      GemvChunk<R, TT, 0, true>(w0, row_bytes, k + 32, 32, xc + xstride, acc, ra, line);
    }
    for (; k < K; k += 32, xc += xstride) {
      GemvChunk<R, TT, 64, true>(w0, row_bytes, k, 32, xc, acc, ra, line);
    }
  }
  for (; k + 64 <= K; k += 64, xc += 2 * xstride) {
    GemvChunk<R, TT, 128>(w0, row_bytes, k, 32, xc, acc);
    GemvChunk<R, TT, 0>(w0, row_bytes, k + 32, 32, xc + xstride, acc);
  }
  for (; k < K; k += 32, xc += xstride) {
    GemvChunk<R, TT, 64>(w0, row_bytes, k, Min(32, K - k), xc, acc);
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
  }
}

// K-blocked GEMV for 5 or more tokens whose packed x (of a group of up to 8) exceeds kSegXBytes
// (qwen3's down projection: 8 tokens x K = 3072 = 48 KB, all of L1). The plain kernel re-reads x
// from L2 for every group of rows; here each block of kSegRows rows is processed kSegCols
// columns at a time, so x's segment (8 KB) stays in L1, and each (row, token) keeps its
// accumulator vector between segments: the same sums in the same k order, so the results are
// bit-identical to GemvKernel's. While a block is processed, the next block is prefetched front
// to back, as many lines per step as the step reads. One down projection from memory at
// T = 5 / 6 / 8 / 16: 224 / 212 / 240 / 396 us against 310-346 / 339-347 / 263 / 428 without it;
// K = 2048 at T = 7 / 12 / 16 (1024 rows): 152 / 228 / 266 us against 179-186 / 306 / 527. The
// segment and block sizes, the thresholds and the prefetch variants tried are in
// bench/results/cpu-2026-11.md (moe-bench-kernels --only fast --tokens ...).
constexpr int64_t kSegXBytes = 24 << 10;
constexpr int64_t kSegCols = 512;
constexpr int64_t kSegRows = 16;
template <int R, int TT>
void GemvKernelSeg(const uint8_t* w0, int64_t row_bytes, int64_t k0, int64_t k1, bool last,
                   const uint32_t* xt, int64_t T, __m512* acc_buf, float* y, int64_t ldy,
                   const Realign* ra, const uint8_t*& pf) {
  __m512 acc[R][TT];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) {
      acc[r][t] = k0 == 0 ? _mm512_setzero_ps() : _mm512_load_ps(acc_buf + r * TT + t);
    }
  }
  const int64_t xstride = T * 16;
  int64_t k = k0;
  const uint32_t* xc = xt + (k0 / 32) * xstride;
  auto prefetch = [&](int lines) {
    for (int i = 0; i < lines; ++i)
      _mm_prefetch(reinterpret_cast<const char*>(pf + 64 * i), _MM_HINT_T0);
    pf += 64 * lines;
  };
  if (ra != nullptr) {
    __m512i line[R];
    for (int r = 0; r < R; ++r)
      line[r] = _mm512_load_si512(w0 + r * row_bytes + k0 * 2 - ra->shift);
    for (; k + 64 <= k1; k += 64, xc += 2 * xstride) {
      prefetch(2 * R);
      GemvChunk<R, TT, 0, true>(w0, row_bytes, k, 32, xc, acc, ra, line);
      GemvChunk<R, TT, 0, true>(w0, row_bytes, k + 32, 32, xc + xstride, acc, ra, line);
    }
    for (; k < k1; k += 32, xc += xstride) {
      prefetch(R);
      GemvChunk<R, TT, 0, true>(w0, row_bytes, k, 32, xc, acc, ra, line);
    }
  }
  for (; k + 64 <= k1; k += 64, xc += 2 * xstride) {
    prefetch(2 * R);
    GemvChunk<R, TT, 0>(w0, row_bytes, k, 32, xc, acc);
    GemvChunk<R, TT, 0>(w0, row_bytes, k + 32, 32, xc + xstride, acc);
  }
  for (; k < k1; k += 32, xc += xstride) {
    prefetch(R);
    GemvChunk<R, TT, 0>(w0, row_bytes, k, Min(32, k1 - k), xc, acc);
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) {
      if (last) {
        y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
      } else {
        _mm512_store_ps(acc_buf + r * TT + t, acc[r][t]);
      }
    }
  }
}

// One block of rows [rb, re) for TT tokens (from xt, outputs from yt), K-blocked.
template <int TT>
void GemvBlockSeg(const uint8_t* base, int64_t row_bytes, int64_t K, int64_t rows, int64_t rb,
                  int64_t re, const uint32_t* xt, int64_t T, float* yt, const Realign* ra,
                  const uint8_t* pf, __m512* acc) {
  for (int64_t k0 = 0; k0 < K; k0 += kSegCols) {
    const int64_t k1 = Min(K, k0 + kSegCols);
    int64_t r = rb;
    for (; r + 2 <= re; r += 2) {
      GemvKernelSeg<2, TT>(base + r * row_bytes, row_bytes, k0, k1, k1 == K, xt, T,
                           acc + (r - rb) * TT, yt + r, rows, ra, pf);
    }
    for (; r < re; ++r) {
      GemvKernelSeg<1, TT>(base + r * row_bytes, row_bytes, k0, k1, k1 == K, xt, T,
                           acc + (r - rb) * TT, yt + r, rows, ra, pf);
    }
  }
}

// Rows [r0, r1) for the T (5..31) tokens of a call, K-blocked (see kSegXBytes): per block of
// rows, the tokens in groups of 8 (the later groups read the block from L2). Out of line:
// inlined into GemvRange, it made the other shapes' T = 8 GEMV ~15% slower (code generation).
__attribute__((noinline)) void GemvRowsSeg(const Matrix& w, int64_t r0, int64_t r1,
                                           const uint32_t* xp, int64_t T, float* y) {
  const int64_t row_bytes = w.cols * 2, K = w.cols;
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  Realign realign;
  const Realign* ra = MakeRealign(base, row_bytes, &realign);
  alignas(64) __m512 acc[kSegRows * kGemvMaxTokens];
  for (int64_t rb = r0; rb < r1; rb += kSegRows) {
    const int64_t re = Min(r1, rb + kSegRows);
    const uint8_t* pf = base + re * row_bytes;  // the next block (again for each group)
    for (int64_t t0 = 0; t0 < T; t0 += kGemvMaxTokens) {
      const uint32_t* xt = xp + t0 * 16;
      float* yt = y + t0 * w.rows;
      WithTokens(Min(kGemvMaxTokens, T - t0), [&](auto tt) {
        GemvBlockSeg<tt()>(base, row_bytes, K, w.rows, rb, re, xt, T, yt, ra, pf, acc);
      });
    }
  }
}

// Rows [r0, r1) for tokens [t0, t0 + TT): R rows at a time, then single rows (the same
// arithmetic per row, so the split does not change results).
template <int TT>
void GemvRows(const Matrix& w, int64_t r0, int64_t r1, const uint32_t* xp, int64_t T, int64_t t0,
              float* y) {
  constexpr int R = TT <= kGemvOneRowTokens ? 1 : 3;
  const int64_t row_bytes = w.cols * 2;
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const uint32_t* xt = xp + t0 * 16;
  float* yt = y + t0 * w.rows;
  Realign realign;
  const Realign* ra = MakeRealign(base, row_bytes, &realign);
  // The kernel's prefetch runs kPrefetchRows ahead of its loads: start the first rows'.
  for (int64_t i = 0; i < R && r0 + i < r1; ++i) {
    const uint8_t* p = base + (r0 + i) * row_bytes;
    for (int64_t off = 0; off < Min(row_bytes, kFirstPrefetchBytes); off += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(p + off), _MM_HINT_T0);
    }
  }
  int64_t r = r0;
  for (; r + R <= r1; r += R) {
    GemvKernel<R, TT>(base + r * row_bytes, row_bytes, w.cols, xt, T, yt + r, w.rows, ra);
  }
  for (; r < r1; ++r) {
    GemvKernel<1, TT>(base + r * row_bytes, row_bytes, w.cols, xt, T, yt + r, w.rows, ra);
  }
}

// Rows [r0, r1) for all T tokens, kGemvMaxTokens at a time: for more than that, in blocks of
// kGemvBlockRows rows so that the later token groups read the rows from L1.
void GemvRange(const Matrix& w, int64_t r0, int64_t r1, const uint32_t* xp, int64_t T, float* y) {
  const int64_t block = T <= kGemvMaxTokens ? r1 - r0 : kGemvBlockRows;
  for (int64_t rb = r0; rb < r1; rb += block) {
    const int64_t re = Min(r1, rb + block);
    for (int64_t t0 = 0; t0 < T; t0 += kGemvMaxTokens) {
      WithTokens(Min(kGemvMaxTokens, T - t0),
                 [&](auto tt) { GemvRows<tt()>(w, rb, re, xp, T, t0, y); });
    }
  }
}

// y_i = x W_i^T for n matrices of the same cols: x packed once, the rows of all n matrices in
// one fork-join (groups of kGemvGroupRows rows never span two matrices).
void GemvMany(const float* x, int64_t T, const Matrix* ws, float* const* ys, int n,
              ThreadPool* pool) {
  const int64_t K = ws[0].cols, kp = RoundUp(K, 32);
  static thread_local Scratch x_scratch;
  auto* xp = reinterpret_cast<uint32_t*>(x_scratch.Get(T * kp / 2));  // [kp / 32, T, 16]
  PackXGemv(x, T, K, kp, xp);
  const RowGroups groups(ws, n, kGemvGroupRows);
  const int threads = pool == nullptr ? 1 : pool->num_threads();
  // From 5 tokens while x of one group of up to 8 exceeds kSegXBytes.
  const bool seg = T >= 5 && K * 2 * Min(T, kGemvMaxTokens) > kSegXBytes;
  auto body = [&](int64_t g0, int64_t g1) {
    groups.ForEach(g0, g1, [&](int i, int64_t r0, int64_t r1) {
      if (seg) {
        GemvRowsSeg(ws[i], r0, r1, xp, T, ys[i]);
      } else {
        GemvRange(ws[i], r0, r1, xp, T, ys[i]);
      }
    });
  };
  // Small matrices are not worth a fork-join (a few microseconds).
  const int64_t g = groups.groups();
  if (threads == 1 || groups.elements() < (1 << 17)) {
    body(0, g);
    return;
  }
  ForRanges(pool, g, (g + 4 * threads - 1) / (4 * threads), body);
}

}  // namespace

// 12 independent vdpbf16ps chains per round; the empty asm keeps them in registers and stops
// the compiler from folding the loop.
int64_t Avx512Bf16DotBurn(int64_t iters, float* sink) {
#define MOE_R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define MOE_DECL(i) __m512 a##i = _mm512_set1_ps(0.001f * (i));
#define MOE_DOT(i) a##i = DotBf16(a##i, b, c);
#define MOE_SUM(i) s = _mm512_add_ps(s, a##i);
  MOE_R12(MOE_DECL)
  const __m512i b = _mm512_set1_epi16(0x3f80), c = _mm512_set1_epi16(0x3a83);  // 1.0, ~1e-3
  for (int64_t it = 0; it < iters; ++it) {
    MOE_R12(MOE_DOT)
    __asm__ volatile(""
                     : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),
                       "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  __m512 s = _mm512_setzero_ps();
  MOE_R12(MOE_SUM)
  *sink = _mm512_reduce_add_ps(s);
  return iters * 12 * 16 * 4;
#undef MOE_R12
#undef MOE_DECL
#undef MOE_DOT
#undef MOE_SUM
}

void Avx512Bf16Linear(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
  // T = 1 too: the bf16 GEMV measured 4-14% faster than the fp32 one on qwen3-0.6b's
  // matrices (88-95% of the read bandwidth against 80-90%: fewer instructions per byte).
  if (w.dtype != DType::kBF16) {  // other dtypes: the exact kernels
    Avx512KernelTable().linear(x, T, w, y, pool);
    return;
  }
  if (T <= 0 || w.rows <= 0) return;
  if (w.cols <= 0) {
    std::memset(y, 0, sizeof(float) * T * w.rows);
    return;
  }
  if (T >= kBf16GemmMinT) {
    avx512bf16::Gemm(x, T, w, y, pool);
  } else {
    GemvMany(x, T, &w, &y, 1, pool);
  }
}

void Avx512Bf16LinearMany(const float* x, int64_t T, const Matrix* ws, float* const* ys, int n,
                          ThreadPool* pool) {
  bool gemv = n > 0 && n <= kMaxLinearMany && T > 0 && T < kBf16GemmMinT && ws[0].cols > 0;
  for (int i = 0; gemv && i < n; ++i) {
    gemv = ws[i].dtype == DType::kBF16 && ws[i].cols == ws[0].cols && ws[i].rows > 0;
  }
  if (gemv) {
    GemvMany(x, T, ws, ys, n, pool);
    return;
  }
  for (int i = 0; i < n; ++i) Avx512Bf16Linear(x, T, ws[i], ys[i], pool);
}

}  // namespace moe::kernels
