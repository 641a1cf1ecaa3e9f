// Rotate-half RoPE, and the fused attention prologue: per-head q/k RMSNorm, RoPE, KV write.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace moe::cuda {
namespace {

// Rotates the pair (a, b) = (x[i], x[i + D/2]) by pos * inv_freq[i], as the reference.
__device__ __forceinline__ void RotatePair(float a, float b, int32_t pos, float inv_freq,
                                           float* out_a, float* out_b) {
  const float angle = static_cast<float>(pos) * inv_freq;
  const float c = cosf(angle), s = sinf(angle);
  *out_a = a * c - b * s;
  *out_b = b * c + a * s;
}

// One block per token, threads over (head, pair).
__global__ void RopeKernel(float* x, int64_t heads, int64_t head_dim, const int32_t* pos,
                           const float* inv_freq) {
  const int64_t t = blockIdx.x, half = head_dim / 2;
  for (int64_t j = threadIdx.x; j < heads * half; j += blockDim.x) {
    const int64_t h = j / half, i = j % half;
    float* xh = x + (t * heads + h) * head_dim;  // [head_dim]
    RotatePair(xh[i], xh[i + half], pos[t], inv_freq[i], &xh[i], &xh[i + half]);
  }
}

constexpr int kPrologueWarps = 8;
constexpr int kMaxHeadDim = 256;

// One block per token; warp w handles heads w, w + 8, ...: q heads [0, Hq), k heads [Hq, Hq +
// Hkv), v heads after. qkv: [T, (Hq + 2 Hkv) * D].
__global__ void QkNormRopeKvWriteKernel(const float* qkv, TokenMeta meta, int64_t Hq,
                                        const float* q_norm, const float* k_norm, float eps,
                                        const float* inv_freq, PagedKvBf16 kv, bf16* q_out) {
  __shared__ float head[kPrologueWarps][kMaxHeadDim];
  const int64_t t = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t D = kv.head_dim, Hkv = kv.kv_heads, half = D / 2;
  const int64_t total = Hq + 2 * Hkv;
  const int32_t p = meta.pos[t];
  const int64_t block =
      meta.block_tables[static_cast<int64_t>(meta.seq[t]) * meta.block_table_stride +
                        p / kv.block_size];
  const int64_t slot = (block * kv.block_size + p % kv.block_size) * Hkv * D;
  float* buf = head[warp];
  for (int64_t h = warp; h < total; h += kPrologueWarps) {
    const float* x = qkv + (t * total + h) * D;  // [D]
    if (h >= Hq + Hkv) {                         // v: straight to the cache
      bf16* dst = kv.v + slot + (h - Hq - Hkv) * D;
      for (int64_t i = lane; i < D; i += 32) dst[i] = __float2bfloat16(x[i]);
      continue;
    }
    const bool is_q = h < Hq;
    const float* w = is_q ? q_norm : k_norm;
    float ss = 0.0f;
    for (int64_t i = lane; i < D; i += 32) ss += x[i] * x[i];
    ss = WarpSum(ss);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(D) + eps);
    for (int64_t i = lane; i < D; i += 32) buf[i] = x[i] * inv * w[i];
    __syncwarp();
    bf16* dst = is_q ? q_out + (t * Hq + h) * D : kv.k + slot + (h - Hq) * D;
    for (int64_t i = lane; i < half; i += 32) {
      float a, b;
      RotatePair(buf[i], buf[i + half], p, inv_freq[i], &a, &b);
      dst[i] = __float2bfloat16(a);
      dst[i + half] = __float2bfloat16(b);
    }
    __syncwarp();
  }
}

}  // namespace

cudaError_t Rope(float* x, int64_t T, int64_t heads, int64_t head_dim, const int32_t* pos,
                 const float* inv_freq, cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  RopeKernel<<<static_cast<unsigned>(T), 256, 0, stream>>>(x, heads, head_dim, pos, inv_freq);
  return cudaGetLastError();
}

cudaError_t QkNormRopeKvWrite(const float* qkv, const TokenMeta& meta, int64_t num_q_heads,
                              const float* q_norm, const float* k_norm, float eps,
                              const float* inv_freq, const PagedKvBf16& kv, bf16* q_out,
                              cudaStream_t stream) {
  if (meta.num_tokens == 0) return cudaSuccess;
  if (kv.head_dim > kMaxHeadDim || kv.head_dim % 2 != 0) return cudaErrorInvalidValue;
  QkNormRopeKvWriteKernel<<<static_cast<unsigned>(meta.num_tokens), kPrologueWarps * 32, 0,
                            stream>>>(qkv, meta, num_q_heads, q_norm, k_norm, eps, inv_freq, kv,
                                      q_out);
  return cudaGetLastError();
}

}  // namespace moe::cuda
