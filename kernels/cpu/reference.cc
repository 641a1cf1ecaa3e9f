#include "kernels/cpu/reference.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/kernel_table.h"

namespace moe::kernels::reference {

float WeightAt(const Matrix& w, int64_t r, int64_t c) {
  const int64_t i = r * w.cols + c;
  switch (w.dtype) {
    case DType::kF32:
      return static_cast<const float*>(w.data)[i];
    case DType::kBF16:
      return Bf16ToF32(static_cast<const uint16_t*>(w.data)[i]);
    case DType::kF16:
      return F16ToF32(static_cast<const uint16_t*>(w.data)[i]);
    case DType::kQ8: {
      const auto* q = static_cast<const uint8_t*>(w.data) + r * Q8RowBytes(w.cols);
      const uint16_t d = static_cast<const uint16_t*>(w.scales)[r * Q8Blocks(w.cols) + c / 32];
      return Bf16ToF32(d) * static_cast<float>(static_cast<int>(q[Q8Offset(w.cols, c)]) - 128);
    }
    default:
      std::fprintf(stderr, "moe::kernels: unsupported weight dtype %s\n",
                   std::string(DTypeName(w.dtype)).c_str());
      std::abort();
  }
}

void LinearRows(const float* x, int64_t T, const Matrix& w, int64_t r0, int64_t r1, float* y) {
  if (w.dtype == DType::kQ8) {
    LinearQ8Rows(x, T, w, r0, r1, y);
    return;
  }
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * w.cols;  // [cols]
    for (int64_t r = r0; r < r1; ++r) {
      float acc = 0.0f;
      for (int64_t c = 0; c < w.cols; ++c) acc += xt[c] * WeightAt(w, r, c);
      y[t * w.rows + r] = acc;
    }
  }
}

void Linear(const float* x, int64_t T, const Matrix& w, float* y) {
  LinearRows(x, T, w, 0, w.rows, y);
}

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t n, float eps, float* y) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xt = x + t * n;  // [n]
    float* yt = y + t * n;        // [n]
    float ss = 0.0f;
    for (int64_t i = 0; i < n; ++i) ss += xt[i] * xt[i];
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
    for (int64_t i = 0; i < n; ++i) yt[i] = xt[i] * inv * weight[i];
  }
}

void Rope(float* x, int64_t T, int64_t heads, int64_t head_dim, const int32_t* pos,
          const float* inv_freq) {
  const int64_t half = head_dim / 2;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(pos[t]) * inv_freq[i];
      const float c = std::cos(angle);
      const float s = std::sin(angle);
      for (int64_t h = 0; h < heads; ++h) {
        float* xh = x + (t * heads + h) * head_dim;  // [head_dim]
        const float a = xh[i];
        const float b = xh[i + half];
        xh[i] = a * c - b * s;
        xh[i + half] = b * c + a * s;
      }
    }
  }
}

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void EmbeddingGather(const Matrix& table, const int32_t* ids, int64_t T, float* out) {
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t c = 0; c < table.cols; ++c) out[t * table.cols + c] = WeightAt(table, ids[t], c);
  }
}

namespace {
// Start of the [num_kv_heads, head_dim] slot of position p.
int64_t SlotOffset(const PagedKv& kv, const int32_t* block_table, int64_t p) {
  const int64_t block = block_table[p / kv.block_size];
  return (block * kv.block_size + p % kv.block_size) * kv.num_kv_heads * kv.head_dim;
}
// Element i of a cache buffer (k or v) widened to fp32.
float KvAt(const PagedKv& kv, const void* base, int64_t i) {
  return kv.dtype == DType::kBF16 ? Bf16ToF32(static_cast<const uint16_t*>(base)[i])
                                  : static_cast<const float*>(base)[i];
}

}  // namespace

void KvWrite(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
             const float* k, const float* v) {
  const int64_t width = kv.num_kv_heads * kv.head_dim;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t off = SlotOffset(kv, block_table, start + i);
    if (kv.dtype == DType::kBF16) {
      uint16_t* kd = static_cast<uint16_t*>(kv.k) + off;  // [width]
      uint16_t* vd = static_cast<uint16_t*>(kv.v) + off;  // [width]
      for (int64_t j = 0; j < width; ++j) {
        kd[j] = F32ToBf16(k[i * width + j]);
        vd[j] = F32ToBf16(v[i * width + j]);
      }
    } else {
      std::memcpy(static_cast<float*>(kv.k) + off, k + i * width, width * sizeof(float));
      std::memcpy(static_cast<float*>(kv.v) + off, v + i * width, width * sizeof(float));
    }
  }
}

void PagedAttentionPart(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
                        const float* q, int64_t num_q_heads, float scale, float* out, int64_t i0,
                        int64_t i1, int64_t h0, int64_t h1) {
  const int64_t d = kv.head_dim;
  const int64_t group = num_q_heads / kv.num_kv_heads;
  const bool bf16 = kv.dtype == DType::kBF16;
  std::vector<float> scores(start + n);  // [positions]
  std::vector<float> qr(d);              // [head_dim] the query as the scores use it
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t len = start + i + 1;  // causal: positions [0, start + i]
    for (int64_t kh = h0; kh < h1; ++kh) {
      for (int64_t h = kh * group; h < (kh + 1) * group; ++h) {
        const float* qh = q + (i * num_q_heads + h) * d;  // [head_dim]
        float* oh = out + (i * num_q_heads + h) * d;      // [head_dim]
        for (int64_t j = 0; j < d; ++j) qr[j] = bf16 ? Bf16ToF32(F32ToBf16(qh[j])) : qh[j];
        float mx = -INFINITY;
        for (int64_t p = 0; p < len; ++p) {
          const int64_t kp = SlotOffset(kv, block_table, p) + kh * d;  // [head_dim] at kp
          float s = 0.0f;
          for (int64_t j = 0; j < d; ++j) s += qr[j] * KvAt(kv, kv.k, kp + j);
          scores[p] = s * scale;
          if (scores[p] > mx) mx = scores[p];
        }
        float sum = 0.0f;
        for (int64_t p = 0; p < len; ++p) {
          scores[p] = std::exp(scores[p] - mx);
          sum += scores[p];
        }
        for (int64_t j = 0; j < d; ++j) oh[j] = 0.0f;
        for (int64_t p = 0; p < len; ++p) {
          const int64_t vp = SlotOffset(kv, block_table, p) + kh * d;  // [head_dim] at vp
          const float wgt = scores[p] / sum;
          for (int64_t j = 0; j < d; ++j) oh[j] += wgt * KvAt(kv, kv.v, vp + j);
        }
      }
    }
  }
}

void PagedAttention(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
                    const float* q, int64_t num_q_heads, float scale, float* out) {
  PagedAttentionPart(kv, block_table, start, n, q, num_q_heads, scale, out, 0, n, 0,
                     kv.num_kv_heads);
}

void Add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void Axpy(float* x, float a, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += a * y[i];
}

float LogSumExp(const float* x, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  if (!std::isfinite(mx)) return mx;  // all -inf (or +inf somewhere)
  double z = 0.0;
  for (int64_t i = 0; i < n; ++i) z += std::exp(static_cast<double>(x[i] - mx));
  return mx + static_cast<float>(std::log(z));
}

int64_t ArgMax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

void QuantizeActivations(const float* x, int64_t K, int8_t* q, float* dx, int32_t* qsum) {
  const int64_t nb = Q8Blocks(K);
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t k0 = b * 32, n = std::min<int64_t>(32, K - k0);
    float amax = 0.0f;
    for (int64_t e = 0; e < n; ++e) amax = std::max(amax, std::fabs(x[k0 + e]));
    const bool zero = !(amax >= kQ8MinAbs);
    const float inv = zero ? 0.0f : 127.0f / amax;
    dx[b] = zero ? 0.0f : amax / 127.0f;
    int32_t sum = 0;
    for (int64_t e = 0; e < 32; ++e) {
      float v = e < n ? std::nearbyint(x[k0 + e] * inv) : 0.0f;
      v = std::min(127.0f, std::max(-127.0f, v));
      q[k0 + e] = static_cast<int8_t>(v);
      sum += static_cast<int32_t>(v);
    }
    qsum[b] = sum;
  }
}

void QuantizeQ8Rows(const Matrix& src, int64_t r0, int64_t r1, uint8_t* q, uint16_t* scales) {
  const int64_t K = src.cols, kp = Q8RowBytes(K), nb = Q8Blocks(K);
  std::vector<float> row(static_cast<size_t>(kp), 0.0f);  // [kp], padding zero
  const auto* bytes = static_cast<const uint8_t*>(src.data);
  // Round to nearest even for |v| < 2^22 (the fp32 sum rounds away the fraction): the same
  // values as std::nearbyint in the default rounding mode, without a library call.
  auto round = [](float v) {
    constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
    return (v + kMagic) - kMagic;
  };
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t c = 0; c < K; ++c) {  // the row widened to fp32
      uint16_t h;
      switch (src.dtype) {
        case DType::kBF16:
          std::memcpy(&h, bytes + 2 * (r * K + c), 2);
          row[c] = Bf16ToF32(h);
          break;
        case DType::kF16:
          std::memcpy(&h, bytes + 2 * (r * K + c), 2);
          row[c] = F16ToF32(h);
          break;
        default:
          row[c] = WeightAt(src, r, c);
      }
    }
    uint8_t* qr = q + r * kp;
    for (int64_t b = 0; b < nb; ++b) {
      const float* v = row.data() + b * 32;
      float amax = 0.0f;
      for (int64_t e = 0; e < 32; ++e) amax = std::max(amax, std::fabs(v[e]));
      uint16_t d = F32ToBf16(amax / 127.0f);
      if (!(amax >= kQ8MinAbs)) d = 0;
      const float df = Bf16ToF32(d);
      scales[r * nb + b] = d;
      const float inv = df > 0.0f ? 1.0f / df : 0.0f;
      // Q8Offset of value e of block b: superblock s, block j in it, chunk e / 4.
      const int64_t s = b / 16, j = b % 16, nbs = std::min<int64_t>(16, nb - 16 * s);
      uint8_t* dst = qr + s * 512 + j * 4;
      for (int64_t e = 0; e < 32; ++e) {
        const float x = std::min(127.0f, std::max(-127.0f, round(v[e] * inv)));
        dst[(e / 4) * 4 * nbs + e % 4] = static_cast<uint8_t>(static_cast<int>(x) + 128);
      }
    }
  }
}

void LinearQ8Rows(const float* x, int64_t T, const Matrix& w, int64_t r0, int64_t r1, float* y) {
  const int64_t K = w.cols, kp = Q8RowBytes(K), nb = Q8Blocks(K);
  std::vector<int8_t> qx(static_cast<size_t>(kp));
  std::vector<float> dx(static_cast<size_t>(nb));
  std::vector<int32_t> qsum(static_cast<size_t>(nb));
  const auto* qw = static_cast<const uint8_t*>(w.data);
  const auto* dw = static_cast<const uint16_t*>(w.scales);
  for (int64_t t = 0; t < T; ++t) {
    QuantizeActivations(x + t * K, K, qx.data(), dx.data(), qsum.data());
    for (int64_t r = r0; r < r1; ++r) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t dot = 0;
        for (int64_t e = 0; e < 32; ++e) {
          const int32_t wq = static_cast<int32_t>(qw[r * kp + Q8Offset(K, b * 32 + e)]) - 128;
          dot += wq * qx[b * 32 + e];
        }
        acc += (Bf16ToF32(dw[r * nb + b]) * dx[b]) * static_cast<float>(dot);
      }
      y[t * w.rows + r] = acc;
    }
  }
}

}  // namespace moe::kernels::reference

namespace moe::kernels {

Matrix QuantizeQ8(const Matrix& src, uint8_t* q, uint16_t* scales, ThreadPool* pool) {
  struct Ctx {
    const Matrix* src;
    uint8_t* q;
    uint16_t* scales;
  } ctx{&src, q, scales};
  constexpr int64_t kRows = 16;
  ParallelRanges(
      pool, (src.rows + kRows - 1) / kRows, 4,
      [](void* c, int64_t g0, int64_t g1) {
        auto* a = static_cast<Ctx*>(c);
        reference::QuantizeQ8Rows(*a->src, g0 * kRows, std::min(a->src->rows, g1 * kRows), a->q,
                                  a->scales);
      },
      &ctx);
  return Matrix{q, DType::kQ8, src.rows, src.cols, scales};
}

int64_t MatrixBytes(const Matrix& w) {
  if (w.data == nullptr) return 0;
  if (w.dtype == DType::kQ8) return w.rows * (Q8RowBytes(w.cols) + 2 * Q8Blocks(w.cols));
  return w.rows * w.cols * DTypeSize(w.dtype);
}

}  // namespace moe::kernels
