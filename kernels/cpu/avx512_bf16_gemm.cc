// AVX-512 BF16 Linear, GEMM path (prefill, T >= kBf16GemmMinT) of the fast math mode; see
// avx512_bf16_linear.cc. The shape of avx512_linear.cc's GEMM with bf16 pairs:
//   - a 32-row panel of weights packed as [kc / 2][32] 32-bit words, word (kk, n) = the pair
//     (w[n, k0 + 2kk], w[n, k0 + 2kk + 1]) (16 x 16 word transposes, no widening);
//   - x rounded to bf16 and packed per token block as [ceil(K / 2)][mr] words (pairs);
//   - an mr x 32 register micro-kernel: broadcast one token's pair, two vdpbf16ps.
// Each output is one chain of vdpbf16ps in k order (fp32 partial sums stored between k
// blocks), whatever the token blocks or the row split: results do not depend on the other
// tokens of the call nor on threads.
#include "kernels/cpu/avx512_bf16_util.h"
#include "kernels/cpu/simd_scratch.h"

namespace moe::kernels {
namespace {

constexpr int kMr = 14;       // max tokens per micro-kernel (2 * 14 accumulators)
constexpr int kNr = 32;       // weight rows per panel (two zmm)
constexpr int64_t kKc = 512;  // k per panel: [256][32] words = 32 KiB
constexpr int64_t kGemmGroupRows = 128;
// Tokens per pass over the weights: each pass packs every panel again, so a step's prefill
// chunk (512 tokens by default) should be one pass; 512 tokens x 512 k of packed x (512 KiB)
// still stays in L2. Measured on qwen3-0.6b's matrices at T = 512: 300-378 GFLOP/s against
// 303-338 with passes of 128 tokens (the weights then stream from memory 4 times).
constexpr int64_t kGemmTokenChunk = 512;

// P: [ceil(kc / 2), 32] words = rows [r, r + nvalid) of w, columns [k0, k0 + kc) as bf16
// pairs; missing rows and the odd column past kc zero. k0 even.
void PackPanel(const Matrix& w, int64_t r, int64_t nvalid, int64_t k0, int64_t kc, uint32_t* P) {
  const auto* base = static_cast<const uint16_t*>(w.data);
  const int64_t pairs = (kc + 1) / 2;
  for (int h = 0; h < 2; ++h) {
    for (int64_t pb = 0; pb < pairs; pb += 16) {
      const __mmask32 m = TailMask32(kc - 2 * pb);
      __m512 v[16];  // row j: 16 words = 32 bf16 of columns k0 + 2pb ...
      for (int j = 0; j < 16; ++j) {
        const int64_t row = 16 * h + j;
        const uint16_t* p = base + (r + row) * w.cols + k0 + 2 * pb;
        // The same columns of the next panel's row, to be in cache when it is packed (the
        // micro-kernels on this panel take longer than the load): without it the GEMM ran
        // at ~40-60% of its in-cache speed on weights from memory.
        _mm_prefetch(reinterpret_cast<const char*>(p + kNr * w.cols), _MM_HINT_T0);
        v[j] = row < nvalid ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(m, p))
                            : _mm512_setzero_ps();
      }
      Transpose16(v);  // moves 32-bit words: v[i] = word i of each of the 16 rows
      const int64_t n = Min(16, pairs - pb);
      for (int64_t i = 0; i < n; ++i)
        _mm512_store_ps(reinterpret_cast<float*>(P + (pb + i) * kNr + 16 * h), v[i]);
    }
  }
}

// y[m, 0:32] (+)= sum_kk xb[kk, m] . P[kk, 0:32] (bf16 pairs) for m < MR; columns masked by
// m0/m1. xb: [kp, MR] words, P: [kp, 32] words, y: [MR, ldy].
template <int MR>
void MicroKernel(const uint32_t* xb, const uint32_t* P, int64_t kp, float* y, int64_t ldy,
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
  for (int64_t kk = 0; kk < kp; ++kk) {
    const __m512i w0 = _mm512_load_si512(P + kk * kNr);
    const __m512i w1 = _mm512_load_si512(P + kk * kNr + 16);
    for (int m = 0; m < MR; ++m) {
      const __m512i b = _mm512_set1_epi32(static_cast<int>(xb[kk * MR + m]));
      c0[m] = DotBf16(c0[m], w0, b);
      c1[m] = DotBf16(c1[m], w1, b);
    }
  }
  for (int m = 0; m < MR; ++m) {
    _mm512_mask_storeu_ps(y + m * ldy, m0, c0[m]);
    _mm512_mask_storeu_ps(y + m * ldy + 16, m1, c1[m]);
  }
}

using MicroFn = void (*)(const uint32_t*, const uint32_t*, int64_t, float*, int64_t, bool,
                         __mmask16, __mmask16);
constexpr MicroFn kMicro[kMr + 1] = {
    nullptr,         MicroKernel<1>,  MicroKernel<2>,  MicroKernel<3>,  MicroKernel<4>,
    MicroKernel<5>,  MicroKernel<6>,  MicroKernel<7>,  MicroKernel<8>,  MicroKernel<9>,
    MicroKernel<10>, MicroKernel<11>, MicroKernel<12>, MicroKernel<13>, MicroKernel<14>};

// Token blocks: T split into ceil(T / kMr) blocks of nearly equal size.
struct TokenBlocks {
  int64_t count;
  int64_t Start(int64_t b, int64_t T) const { return b * (T / count) + Min(b, T % count); }
};

// xp: per token block b (tokens [t0, t0 + mr)), at xp + t0 * kp: [kp, mr] words, kp =
// ceil(K / 2); word (kk, m) = the bf16 pair (x[t0 + m, 2kk], x[t0 + m, 2kk + 1]).
void PackXGemm(const float* x, int64_t T, int64_t K, const TokenBlocks& tb, uint32_t* xp) {
  const int64_t kp = (K + 1) / 2;
  alignas(64) uint32_t row[16];
  for (int64_t b = 0; b < tb.count; ++b) {
    const int64_t t0 = tb.Start(b, T), mr = tb.Start(b + 1, T) - t0;
    uint32_t* dst = xp + t0 * kp;  // [kp, mr]
    for (int64_t m = 0; m < mr; ++m) {
      const float* src = x + (t0 + m) * K;  // [K]
      for (int64_t c = 0; c < kp; c += 16) {
        _mm512_store_si512(row, Bf16Chunk(src + 2 * c, K - 2 * c));
        for (int64_t i = 0; i < Min(16, kp - c); ++i) dst[(c + i) * mr + m] = row[i];
      }
    }
  }
}

void GemmRange(const Matrix& w, int64_t r0, int64_t r1, const uint32_t* xp, int64_t T,
               const TokenBlocks& tb, float* y) {
  static thread_local Scratch panel_scratch;
  auto* P = reinterpret_cast<uint32_t*>(panel_scratch.Get(kKc / 2 * kNr));  // [kKc / 2, 32]
  const int64_t K = w.cols, kp = (K + 1) / 2;
  // Token blocks in chunks of about kGemmTokenChunk tokens, so that the x of one chunk and
  // k block stays in L2 while the panels go by.
  for (int64_t b0 = 0; b0 < tb.count;) {
    int64_t b1 = b0 + 1;
    while (b1 < tb.count && tb.Start(b1 + 1, T) - tb.Start(b0, T) <= kGemmTokenChunk) ++b1;
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
      const int64_t kc = Min(kKc, K - k0);
      for (int64_t r = r0; r < r1; r += kNr) {
        const int64_t nvalid = Min(kNr, r1 - r);
        PackPanel(w, r, nvalid, k0, kc, P);
        const __mmask16 m0 = TailMask16(nvalid);
        const __mmask16 m1 = TailMask16(nvalid > 16 ? nvalid - 16 : 0);
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t t0 = tb.Start(b, T), mr = tb.Start(b + 1, T) - t0;
          kMicro[mr](xp + t0 * kp + k0 / 2 * mr, P, (kc + 1) / 2, y + t0 * w.rows + r, w.rows,
                     k0 > 0, m0, m1);
        }
      }
    }
    b0 = b1;
  }
}

}  // namespace

void avx512bf16::Gemm(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
  const TokenBlocks tb{(T + kMr - 1) / kMr};
  static thread_local Scratch x_scratch;
  auto* xp = reinterpret_cast<uint32_t*>(x_scratch.Get(T * ((w.cols + 1) / 2)));
  PackXGemm(x, T, w.cols, tb, xp);
  const int64_t groups = (w.rows + kGemmGroupRows - 1) / kGemmGroupRows;
  auto body = [&](int64_t g0, int64_t g1) {
    GemmRange(w, g0 * kGemmGroupRows, Min(w.rows, g1 * kGemmGroupRows), xp, T, tb, y);
  };
  // Below ~4M multiply-adds (~10 us) a fork-join costs more than it saves.
  if (T * w.rows * w.cols < (int64_t{1} << 22)) pool = nullptr;
  ForRanges(pool, groups, 1, body);
}

}  // namespace moe::kernels
