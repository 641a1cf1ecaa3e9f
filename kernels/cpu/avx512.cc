// AVX-512 kernels: the element-wise ops and the table (compiled with -mavx512f/bw/vl/dq
// -mfma -mf16c; called only when the CPU has them). Linear and PagedAttention live in
// avx512_linear.cc and avx512_attention.cc. Internal linkage only, except the avx512:: entry
// points (see avx512_util.h).
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/avx512_util.h"
#include "kernels/cpu/reference.h"
#include "kernels/cpu/simd_scratch.h"

namespace moe::kernels {
namespace {

// 16 consecutive bf16 / f16 widened to fp32 (n valid, rest zero).
inline __m512 LoadBf16x16(const uint16_t* p, int64_t n) {
  const __m256i h = n >= 16 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                            : _mm256_maskz_loadu_epi16(TailMask16(n), p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline __m512 LoadF16x16(const uint16_t* p, int64_t n) {
  const __m256i h = n >= 16 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                            : _mm256_maskz_loadu_epi16(TailMask16(n), p);
  return _mm512_cvtph_ps(h);
}

// ------------------------------------------------------------------------------------------
// Element-wise ops.

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t n, float eps, float* y) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xt = x + t * n;  // [n]
    float* yt = y + t * n;        // [n]
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
      const __m512 a = _mm512_loadu_ps(xt + i), b = _mm512_loadu_ps(xt + i + 16);
      s0 = _mm512_fmadd_ps(a, a, s0);
      s1 = _mm512_fmadd_ps(b, b, s1);
    }
    for (; i < n; i += 16) {
      const __m512 a = _mm512_maskz_loadu_ps(TailMask16(n - i), xt + i);
      s0 = _mm512_fmadd_ps(a, a, s0);
    }
    const float ss = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    const __m512 inv = _mm512_set1_ps(1.0f / std::sqrt(ss / static_cast<float>(n) + eps));
    for (i = 0; i < n; i += 16) {
      const __mmask16 m = TailMask16(n - i);
      const __m512 a = _mm512_maskz_loadu_ps(m, xt + i);
      const __m512 g = _mm512_maskz_loadu_ps(m, weight + i);
      _mm512_mask_storeu_ps(yt + i, m, _mm512_mul_ps(_mm512_mul_ps(a, inv), g));
    }
  }
}

void Rope(float* x, int64_t T, int64_t heads, int64_t head_dim, const int32_t* pos,
          const float* inv_freq) {
  const int64_t half = head_dim / 2;
  static thread_local Scratch cs_scratch;
  float* cs = cs_scratch.Get(2 * half);  // [2, half]: cos, sin
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(pos[t]) * inv_freq[i];
      cs[i] = std::cos(angle);
      cs[half + i] = std::sin(angle);
    }
    for (int64_t h = 0; h < heads; ++h) {
      float* xh = x + (t * heads + h) * head_dim;  // [head_dim]
      for (int64_t i = 0; i < half; i += 16) {
        const __mmask16 m = TailMask16(half - i);
        const __m512 c = _mm512_maskz_loadu_ps(m, cs + i);
        const __m512 s = _mm512_maskz_loadu_ps(m, cs + half + i);
        const __m512 a = _mm512_maskz_loadu_ps(m, xh + i);
        const __m512 b = _mm512_maskz_loadu_ps(m, xh + half + i);
        _mm512_mask_storeu_ps(xh + i, m, _mm512_sub_ps(_mm512_mul_ps(a, c), _mm512_mul_ps(b, s)));
        _mm512_mask_storeu_ps(xh + half + i, m,
                              _mm512_add_ps(_mm512_mul_ps(b, c), _mm512_mul_ps(a, s)));
      }
    }
  }
}

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask16(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 u = _mm512_maskz_loadu_ps(m, up + i);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), g));
    const __m512 s = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(s, u));
  }
}

void EmbeddingGather(const Matrix& table, const int32_t* ids, int64_t T, float* out) {
  const int64_t n = table.cols;
  for (int64_t t = 0; t < T; ++t) {
    float* o = out + t * n;  // [n]
    if (table.dtype == DType::kF32) {
      std::memcpy(o, static_cast<const float*>(table.data) + ids[t] * n, n * sizeof(float));
      continue;
    }
    const uint16_t* row = static_cast<const uint16_t*>(table.data) + ids[t] * n;  // [n]
    for (int64_t i = 0; i < n; i += 16) {
      const int64_t c = Min(16, n - i);
      const __m512 v =
          table.dtype == DType::kBF16 ? LoadBf16x16(row + i, c) : LoadF16x16(row + i, c);
      _mm512_mask_storeu_ps(o + i, TailMask16(c), v);
    }
  }
}

void Add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask16(n - i);
    _mm512_mask_storeu_ps(
        x + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

// Multiply then add (no FMA): bit-identical to the reference.
void Axpy(float* x, float a, const float* y, int64_t n) {
  const __m512 av = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask16(n - i);
    const __m512 p = _mm512_mul_ps(av, _mm512_maskz_loadu_ps(m, y + i));
    _mm512_mask_storeu_ps(x + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), p));
  }
}

float Sum(const float* x, int64_t n) {
  __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                 _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (int j = 0; j < 4; ++j) s[j] = _mm512_add_ps(s[j], _mm512_loadu_ps(x + i + 16 * j));
  }
  for (; i < n; i += 16)
    s[0] = _mm512_add_ps(s[0], _mm512_maskz_loadu_ps(TailMask16(n - i), x + i));
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])));
}

// Max of x[0, n) (n >= 1), 4 vector chains.
float Max(const float* x, int64_t n) {
  const __m512 lo = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 m[4] = {lo, lo, lo, lo};
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (int j = 0; j < 4; ++j) m[j] = _mm512_max_ps(m[j], _mm512_loadu_ps(x + i + 16 * j));
  }
  for (; i < n; i += 16)
    m[0] = _mm512_max_ps(m[0], _mm512_mask_loadu_ps(lo, TailMask16(n - i), x + i));
  return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m[0], m[1]), _mm512_max_ps(m[2], m[3])));
}

// The reference's max + log(sum exp(x - max)), with Exp (relative error ~1e-7 per term; terms
// below e^-87 count as e^-87, negligible next to the max's 1) summed in double.
float LogSumExp(const float* x, int64_t n) {
  if (n <= 0) return -std::numeric_limits<float>::infinity();
  const float mx = Max(x, n);
  if (!std::isfinite(mx)) return mx;
  const __m512 m = _mm512_set1_ps(mx);
  __m512d z[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = TailMask16(n - i);
    const __m512 e = _mm512_maskz_mov_ps(k, Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), m)));
    z[0] = _mm512_add_pd(z[0], _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    z[1] = _mm512_add_pd(
        z[1], _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  return mx + static_cast<float>(std::log(_mm512_reduce_add_pd(_mm512_add_pd(z[0], z[1]))));
}

// The first index of the largest value, as the reference (for inputs without NaN).
int64_t ArgMax(const float* x, int64_t n) {
  if (n <= 1) return 0;
  const __m512 m = _mm512_set1_ps(Max(x, n));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 hit =
        _mm512_mask_cmp_ps_mask(TailMask16(n - i), _mm512_loadu_ps(x + i), m, _CMP_EQ_OQ);
    if (hit != 0) return i + __builtin_ctz(hit);
  }
  return 0;  // NaN max: no lane equals it
}

// 12 independent FMA chains per round (latency 4 x 2 pipes needs >= 8); the empty asm keeps
// them in registers and stops the compiler from folding the loop.
int64_t FmaBurn(int64_t iters, float* sink) {
#define MOE_R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define MOE_DECL(i) __m512 a##i = _mm512_set1_ps(0.001f * (i));
#define MOE_FMA(i) a##i = _mm512_fmadd_ps(a##i, b, c);
#define MOE_SUM(i) s = _mm512_add_ps(s, a##i);
  MOE_R12(MOE_DECL)
  const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it) {
    MOE_R12(MOE_FMA)
    __asm__ volatile(""
                     : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),
                       "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  __m512 s = _mm512_setzero_ps();
  MOE_R12(MOE_SUM)
  *sink = _mm512_reduce_add_ps(s);
  return iters * 12 * 16 * 2;
#undef MOE_R12
#undef MOE_DECL
#undef MOE_FMA
#undef MOE_SUM
}

const KernelTable kTable = {
    "avx512",
    avx512::Linear,
    RmsNorm,
    Rope,
    SiluMul,
    EmbeddingGather,
    reference::KvWrite,
    avx512::PagedAttentionPart,
    Add,
    Axpy,
    Sum,
    LogSumExp,
    ArgMax,
    FmaBurn,
};

}  // namespace

const KernelTable& Avx512KernelTable() { return kTable; }

}  // namespace moe::kernels
