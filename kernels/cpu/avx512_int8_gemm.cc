// AVX-512 VNNI int8 Linear, GEMM path (prefill, T >= kInt8GemmMinT); see avx512_int8_linear.cc.
// The shape of avx512_bf16_gemm.cc with 4-byte groups instead of bf16 pairs:
//   - a 32-row panel of one superblock (16 blocks of 32 values) packed as
//     [block][8 groups][32 rows] 32-bit words (4 u8 weights each; 16 x 16 word transposes of
//     the superblock's chunks), and its scales widened to fp32 [block][32 rows];
//   - x packed per token block as [block][8 groups][mr] words (4 s8 values each), with the
//     per-(block, token) offset correction -128 * qsum and scale dx;
//   - an mr x 32 register micro-kernel: per block, 8 x (broadcast one token's group, two
//     vpdpbusd) into int32 lanes that start at the correction, then one conversion and one
//     FMA with (weight scale x token scale) into fp32 accumulators.
// Each output sums its blocks in k order (fp32 partial sums stored between superblocks),
// whatever the token blocks or the row split: results do not depend on the other tokens of
// the call nor on threads.
#include "kernels/cpu/avx512_int8_util.h"
#include "kernels/cpu/simd_scratch.h"

namespace moe::kernels {
namespace {

constexpr int kMr = 6;   // max tokens per micro-kernel (2 x 6 int32 + 2 x 6 fp32 accumulators)
constexpr int kNr = 32;  // weight rows per panel (two zmm)
constexpr int64_t kGemmGroupRows = 128;
constexpr int64_t kGemmTokenChunk = 96;  // tokens per pass over a panel (their x stays in L2)

// P: [16 blocks][8][32] words, Ps: [16][32] fp32 = rows [r, r + nvalid) of w, superblock s
// (nbs blocks); missing rows zero.
void PackPanel(const Matrix& w, int64_t r, int64_t nvalid, int64_t s, int64_t nbs, uint32_t* P,
               float* Ps) {
  const int64_t kp = Q8RowBytes(w.cols), nb = Q8Blocks(w.cols);
  const auto* base = static_cast<const uint8_t*>(w.data) + r * kp + s * 512;
  const auto* scales = static_cast<const uint16_t*>(w.scales) + r * nb + 16 * s;
  const __mmask16 m = TailMask16(nbs);
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 8; ++i) {
      __m512 v[16];  // row j: chunk i = word b holds group i of block b
      for (int j = 0; j < 16; ++j) {
        const int64_t row = 16 * h + j;
        const uint8_t* p = base + row * kp + i * 4 * nbs;
        // The same chunk of the next panel's row, in cache when it is packed.
        _mm_prefetch(reinterpret_cast<const char*>(p + kNr * kp), _MM_HINT_T0);
        v[j] = row < nvalid ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi32(m, p))
                            : _mm512_setzero_ps();
      }
      Transpose16(v);  // v[b] = group i of block b, rows 16h .. 16h + 15
      for (int64_t b = 0; b < nbs; ++b) {
        _mm512_store_ps(reinterpret_cast<float*>(P + (b * 8 + i) * kNr + 16 * h), v[b]);
      }
    }
  }
  for (int64_t b = 0; b < nbs; ++b) {
    for (int64_t row = 0; row < kNr; ++row) {
      Ps[b * kNr + row] = row < nvalid ? Bf16ToF32(scales[row * nb + b]) : 0.0f;
    }
  }
}

// y[m, 0:32] (+)= sum over nbs blocks for m < MR; columns masked by m0/m1. xb: [nbs * 8, MR]
// words, corr / dx: [nbs, MR], P / Ps: the panel, y: [MR, ldy].
template <int MR>
void MicroKernel(const uint32_t* xb, const int32_t* corr, const float* dx, const uint32_t* P,
                 const float* Ps, int64_t nbs, float* y, int64_t ldy, bool accumulate, __mmask16 m0,
                 __mmask16 m1) {
  __m512 f0[MR], f1[MR];
  for (int m = 0; m < MR; ++m) {
    if (accumulate) {
      f0[m] = _mm512_maskz_loadu_ps(m0, y + m * ldy);
      f1[m] = _mm512_maskz_loadu_ps(m1, y + m * ldy + 16);
    } else {
      f0[m] = _mm512_setzero_ps();
      f1[m] = _mm512_setzero_ps();
    }
  }
  for (int64_t b = 0; b < nbs; ++b) {
    __m512i i0[MR], i1[MR];
    for (int m = 0; m < MR; ++m) i0[m] = i1[m] = _mm512_set1_epi32(corr[b * MR + m]);
    const uint32_t* pb = P + b * 8 * kNr;
    const uint32_t* xg = xb + b * 8 * MR;
    for (int g = 0; g < 8; ++g) {
      const __m512i w0 = _mm512_load_si512(pb + g * kNr);
      const __m512i w1 = _mm512_load_si512(pb + g * kNr + 16);
      for (int m = 0; m < MR; ++m) {
        const __m512i xv = _mm512_set1_epi32(static_cast<int>(xg[g * MR + m]));
        i0[m] = DotU8S8(i0[m], w0, xv);
        i1[m] = DotU8S8(i1[m], w1, xv);
      }
    }
    const __m512 d0 = _mm512_load_ps(Ps + b * kNr), d1 = _mm512_load_ps(Ps + b * kNr + 16);
    for (int m = 0; m < MR; ++m) {
      const __m512 d = _mm512_set1_ps(dx[b * MR + m]);
      f0[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[m]), _mm512_mul_ps(d0, d), f0[m]);
      f1[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[m]), _mm512_mul_ps(d1, d), f1[m]);
    }
  }
  for (int m = 0; m < MR; ++m) {
    _mm512_mask_storeu_ps(y + m * ldy, m0, f0[m]);
    _mm512_mask_storeu_ps(y + m * ldy + 16, m1, f1[m]);
  }
}

using MicroFn = void (*)(const uint32_t*, const int32_t*, const float*, const uint32_t*,
                         const float*, int64_t, float*, int64_t, bool, __mmask16, __mmask16);
constexpr MicroFn kMicro[kMr + 1] = {nullptr,        MicroKernel<1>, MicroKernel<2>, MicroKernel<3>,
                                     MicroKernel<4>, MicroKernel<5>, MicroKernel<6>};

// Token blocks: T split into ceil(T / kMr) blocks of nearly equal size.
struct TokenBlocks {
  int64_t count;
  int64_t Start(int64_t b, int64_t T) const { return b * (T / count) + Min(b, T % count); }
};

// The x of token block b (tokens [t0, t0 + mr)): words at xw + t0 * nb * 8: [nb * 8, mr];
// corr / dxs at + t0 * nb: [nb, mr].
struct PackedX {
  uint32_t* xw;
  int32_t* corr;
  float* dxs;
};

void PackXGemm(const int8_t* qx, const float* dx, const int32_t* qsum, int64_t T, int64_t K,
               const TokenBlocks& tb, const PackedX& px) {
  const int64_t kp = Q8RowBytes(K), nb = Q8Blocks(K);
  for (int64_t b = 0; b < tb.count; ++b) {
    const int64_t t0 = tb.Start(b, T), mr = tb.Start(b + 1, T) - t0;
    uint32_t* xw = px.xw + t0 * nb * 8;
    int32_t* corr = px.corr + t0 * nb;
    float* dxs = px.dxs + t0 * nb;
    for (int64_t m = 0; m < mr; ++m) {
      const auto* words = reinterpret_cast<const uint32_t*>(qx + (t0 + m) * kp);
      for (int64_t g = 0; g < nb * 8; ++g) xw[g * mr + m] = words[g];
      for (int64_t k = 0; k < nb; ++k) {
        corr[k * mr + m] = -128 * qsum[(t0 + m) * nb + k];
        dxs[k * mr + m] = dx[(t0 + m) * nb + k];
      }
    }
  }
}

void GemmRange(const Matrix& w, int64_t r0, int64_t r1, const PackedX& px, int64_t T,
               const TokenBlocks& tb, float* y) {
  static thread_local Scratch panel_scratch;
  uint32_t* P = reinterpret_cast<uint32_t*>(panel_scratch.Get(16 * 8 * kNr + 16 * kNr));
  float* Ps = reinterpret_cast<float*>(P + 16 * 8 * kNr);  // [16, 32]
  const int64_t nb = Q8Blocks(w.cols), nsb = (nb + 15) / 16;
  for (int64_t b0 = 0; b0 < tb.count;) {
    int64_t b1 = b0 + 1;
    while (b1 < tb.count && tb.Start(b1 + 1, T) - tb.Start(b0, T) <= kGemmTokenChunk) ++b1;
    for (int64_t s = 0; s < nsb; ++s) {
      const int64_t nbs = Min(16, nb - 16 * s);
      for (int64_t r = r0; r < r1; r += kNr) {
        const int64_t nvalid = Min(kNr, r1 - r);
        PackPanel(w, r, nvalid, s, nbs, P, Ps);
        const __mmask16 m0 = TailMask16(nvalid);
        const __mmask16 m1 = TailMask16(nvalid > 16 ? nvalid - 16 : 0);
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t t0 = tb.Start(b, T), mr = tb.Start(b + 1, T) - t0;
          kMicro[mr](px.xw + t0 * nb * 8 + 16 * s * 8 * mr, px.corr + t0 * nb + 16 * s * mr,
                     px.dxs + t0 * nb + 16 * s * mr, P, Ps, nbs, y + t0 * w.rows + r, w.rows, s > 0,
                     m0, m1);
        }
      }
    }
    b0 = b1;
  }
}

}  // namespace

void avx512int8::Gemm(const int8_t* qx, const float* dx, const int32_t* qsum, int64_t T,
                      const Matrix& w, float* y, ThreadPool* pool) {
  const TokenBlocks tb{(T + kMr - 1) / kMr};
  const int64_t nb = Q8Blocks(w.cols);
  static thread_local Scratch x_scratch;
  float* buf = x_scratch.Get(T * nb * 10);  // words [T * nb * 8], corr [T * nb], dx [T * nb]
  const PackedX px{reinterpret_cast<uint32_t*>(buf), reinterpret_cast<int32_t*>(buf + T * nb * 8),
                   buf + T * nb * 9};
  PackXGemm(qx, dx, qsum, T, w.cols, tb, px);
  const int64_t groups = (w.rows + kGemmGroupRows - 1) / kGemmGroupRows;
  auto body = [&](int64_t g0, int64_t g1) {
    GemmRange(w, g0 * kGemmGroupRows, Min(w.rows, g1 * kGemmGroupRows), px, T, tb, y);
  };
  if (T * w.rows * w.cols < (int64_t{1} << 22)) pool = nullptr;  // not worth a fork-join
  ForRanges(pool, groups, 1, body);
}

}  // namespace moe::kernels
