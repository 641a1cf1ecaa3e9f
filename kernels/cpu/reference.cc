#include "kernels/cpu/reference.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

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
    default:
      std::fprintf(stderr, "moe::kernels: unsupported weight dtype %s\n",
                   std::string(DTypeName(w.dtype)).c_str());
      std::abort();
  }
}

void LinearRows(const float* x, int64_t T, const Matrix& w, int64_t r0, int64_t r1, float* y) {
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
}  // namespace

void KvWrite(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
             const float* k, const float* v) {
  const int64_t width = kv.num_kv_heads * kv.head_dim;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t off = SlotOffset(kv, block_table, start + i);
    std::memcpy(kv.k + off, k + i * width, width * sizeof(float));
    std::memcpy(kv.v + off, v + i * width, width * sizeof(float));
  }
}

void PagedAttentionPart(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
                        const float* q, int64_t num_q_heads, float scale, float* out, int64_t i0,
                        int64_t i1, int64_t h0, int64_t h1) {
  const int64_t d = kv.head_dim;
  const int64_t group = num_q_heads / kv.num_kv_heads;
  std::vector<float> scores(start + n);  // [positions]
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t len = start + i + 1;  // causal: positions [0, start + i]
    for (int64_t kh = h0; kh < h1; ++kh) {
      for (int64_t h = kh * group; h < (kh + 1) * group; ++h) {
        const float* qh = q + (i * num_q_heads + h) * d;  // [head_dim]
        float* oh = out + (i * num_q_heads + h) * d;      // [head_dim]
        float mx = -INFINITY;
        for (int64_t p = 0; p < len; ++p) {
          const float* kp = kv.k + SlotOffset(kv, block_table, p) + kh * d;  // [head_dim]
          float s = 0.0f;
          for (int64_t j = 0; j < d; ++j) s += qh[j] * kp[j];
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
          const float* vp = kv.v + SlotOffset(kv, block_table, p) + kh * d;  // [head_dim]
          const float wgt = scores[p] / sum;
          for (int64_t j = 0; j < d; ++j) oh[j] += wgt * vp[j];
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

}  // namespace moe::kernels::reference
