// AVX2 + FMA + F16C kernels: the element-wise ops and the table (compiled with -mavx2 -mfma
// -mf16c; called only when the CPU has them). Linear and PagedAttention live in
// avx2_linear.cc and avx2_attention.cc.
#include <cmath>
#include <cstring>

#include "kernels/cpu/avx2_util.h"
#include "kernels/cpu/reference.h"
#include "kernels/cpu/simd_scratch.h"

namespace moe::kernels {
namespace {

// ------------------------------------------------------------------------------------------
// Element-wise ops (8-wide body, scalar tail written like the reference).

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t n, float eps, float* y) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xt = x + t * n;  // [n]
    float* yt = y + t * n;        // [n]
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m256 a = _mm256_loadu_ps(xt + i), b = _mm256_loadu_ps(xt + i + 8);
      s0 = _mm256_fmadd_ps(a, a, s0);
      s1 = _mm256_fmadd_ps(b, b, s1);
    }
    float ss = HSum(_mm256_add_ps(s0, s1));
    for (; i < n; ++i) ss += xt[i] * xt[i];
    const float inv_s = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
    const __m256 inv = _mm256_set1_ps(inv_s);
    for (i = 0; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(yt + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xt + i), inv),
                                             _mm256_loadu_ps(weight + i)));
    }
    for (; i < n; ++i) yt[i] = xt[i] * inv_s * weight[i];
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
      int64_t i = 0;
      for (; i + 8 <= half; i += 8) {
        const __m256 c = _mm256_loadu_ps(cs + i), s = _mm256_loadu_ps(cs + half + i);
        const __m256 a = _mm256_loadu_ps(xh + i), b = _mm256_loadu_ps(xh + half + i);
        _mm256_storeu_ps(xh + i, _mm256_sub_ps(_mm256_mul_ps(a, c), _mm256_mul_ps(b, s)));
        _mm256_storeu_ps(xh + half + i, _mm256_add_ps(_mm256_mul_ps(b, c), _mm256_mul_ps(a, s)));
      }
      for (; i < half; ++i) {
        const float a = xh[i], b = xh[i + half];
        xh[i] = a * cs[i] - b * cs[half + i];
        xh[i + half] = b * cs[i] + a * cs[half + i];
      }
    }
  }
}

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = Exp(_mm256_sub_ps(_mm256_setzero_ps(), g));
    const __m256 s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
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
    const bool bf16 = table.dtype == DType::kBF16;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i));
      _mm256_storeu_ps(o + i,
                       bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
                            : _mm256_cvtph_ps(h));
    }
    for (; i < n; ++i) o[i] = bf16 ? Bf16ToF32(row[i]) : F16ToF32(row[i]);
  }
}

void Add(float* x, const float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) x[i] += y[i];
}

void Axpy(float* x, float a, const float* y, int64_t n) {
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 p = _mm256_mul_ps(av, _mm256_loadu_ps(y + i));
    _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), p));
  }
  for (; i < n; ++i) x[i] += a * y[i];
}

float Sum(const float* x, int64_t n) {
  __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                 _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int j = 0; j < 4; ++j) s[j] = _mm256_add_ps(s[j], _mm256_loadu_ps(x + i + 8 * j));
  }
  float r = HSum(_mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])));
  for (; i < n; ++i) r += x[i];
  return r;
}

// 12 independent FMA chains per round (latency 4 x 2 pipes needs >= 8); the empty asm keeps
// them in registers and stops the compiler from folding the loop.
int64_t FmaBurn(int64_t iters, float* sink) {
#define MOE_R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define MOE_DECL(i) __m256 a##i = _mm256_set1_ps(0.001f * (i));
#define MOE_FMA(i) a##i = _mm256_fmadd_ps(a##i, b, c);
#define MOE_SUM(i) s = _mm256_add_ps(s, a##i);
  MOE_R12(MOE_DECL)
  const __m256 b = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it) {
    MOE_R12(MOE_FMA)
    __asm__ volatile(""
                     : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),
                       "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  __m256 s = _mm256_setzero_ps();
  MOE_R12(MOE_SUM)
  *sink = HSum(s);
  return iters * 12 * 8 * 2;
#undef MOE_R12
#undef MOE_DECL
#undef MOE_FMA
#undef MOE_SUM
}

const KernelTable kTable = {
    "avx2",
    avx2::Linear,
    RmsNorm,
    Rope,
    SiluMul,
    EmbeddingGather,
    reference::KvWrite,
    avx2::PagedAttentionPart,
    Add,
    Axpy,
    Sum,
    reference::LogSumExp,  // the sampler's exps: AVX2 machines keep the reference
    reference::ArgMax,
    FmaBurn,
};

}  // namespace

const KernelTable& Avx2KernelTable() { return kTable; }

}  // namespace moe::kernels
