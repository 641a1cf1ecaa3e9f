// Paged attention over the bf16 KV cache (prefill chunks and decode tokens alike), GQA, with
// the positions of each token split over `num_splits` blocks (flash-decoding) and combined.
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace moe::cuda {
namespace {

constexpr int kMaxGroup = 16;

// Grid (T, Hkv, splits); block of `group` warps, warp w = q head kh * group + w. Lane l holds
// dims l + 32 j of q and of the running output. Online softmax over the split's positions.
// partial: [T, Hq, splits, D + 2] (acc[D], max, sum); with one split the kernel writes out.
template <int kDimsPerLane>
__global__ void AttentionKernel(const bf16* q, TokenMeta meta, PagedKvBf16 kv, int64_t Hq,
                                float scale, float* partial, bf16* out) {
  constexpr int D = kDimsPerLane * 32;
  const int64_t t = blockIdx.x, kh = blockIdx.y;
  const int split = blockIdx.z, splits = gridDim.z;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t group = Hq / kv.kv_heads;
  const int64_t h = kh * group + warp;
  const int32_t pos = meta.pos[t];
  const int32_t* table =
      meta.block_tables + static_cast<int64_t>(meta.seq[t]) * meta.block_table_stride;
  const int64_t len = pos + 1;  // causal: positions [0, pos]
  const int64_t chunk = (len + splits - 1) / splits;
  const int64_t p0 = split * chunk;
  const int64_t p1 = p0 + chunk < len ? p0 + chunk : len;

  float qv[kDimsPerLane], acc[kDimsPerLane];
  const bf16* qh = q + (t * Hq + h) * D;  // [D]
#pragma unroll
  for (int j = 0; j < kDimsPerLane; ++j) {
    qv[j] = __bfloat162float(qh[lane + 32 * j]);
    acc[j] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const int64_t row = kv.kv_heads * D;  // one position's [kv_heads, D]
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t off =
        (static_cast<int64_t>(table[p / kv.block_size]) * kv.block_size + p % kv.block_size) * row +
        kh * D;
    const bf16* kp = kv.k + off;  // [D]
    const bf16* vp = kv.v + off;  // [D]
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) s += qv[j] * __bfloat162float(kp[lane + 32 * j]);
    s = WarpSum(s) * scale;
    const float m_new = fmaxf(m, s);
    const float corr = expf(m - m_new);  // 0 on the first position (m = -inf)
    const float w = expf(s - m_new);
    l = l * corr + w;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) {
      acc[j] = acc[j] * corr + w * __bfloat162float(vp[lane + 32 * j]);
    }
    m = m_new;
  }
  if (splits == 1) {
    bf16* oh = out + (t * Hq + h) * D;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) oh[lane + 32 * j] = __float2bfloat16(acc[j] / l);
    return;
  }
  float* ph = partial + ((t * Hq + h) * splits + split) * (D + 2);
#pragma unroll
  for (int j = 0; j < kDimsPerLane; ++j) ph[lane + 32 * j] = acc[j];
  if (lane == 0) {
    ph[D] = m;
    ph[D + 1] = l;
  }
}

// Grid (T, Hq), block D threads: out = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s.
__global__ void AttentionCombineKernel(const float* partial, int64_t Hq, int64_t D, int splits,
                                       bf16* out) {
  const int64_t t = blockIdx.x, h = blockIdx.y;
  const float* ph = partial + (t * Hq + h) * splits * (D + 2);
  float M = -INFINITY;
  for (int s = 0; s < splits; ++s) M = fmaxf(M, ph[s * (D + 2) + D]);
  float num = 0.0f, den = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float* ps = ph + s * (D + 2);
    if (ps[D + 1] == 0.0f) continue;  // an empty split
    const float f = expf(ps[D] - M);
    num += f * ps[threadIdx.x];
    den += f * ps[D + 1];
  }
  out[(t * Hq + h) * D + threadIdx.x] = __float2bfloat16(num / den);
}

}  // namespace

int64_t AttentionPartialFloats(int64_t T, int64_t num_q_heads, int64_t head_dim, int num_splits) {
  return num_splits <= 1 ? 0 : T * num_q_heads * num_splits * (head_dim + 2);
}

cudaError_t PagedAttention(const bf16* q, const TokenMeta& meta, const PagedKvBf16& kv,
                           int64_t num_q_heads, float scale, int num_splits, float* partial,
                           bf16* out, cudaStream_t stream) {
  const int64_t T = meta.num_tokens, D = kv.head_dim;
  if (T == 0) return cudaSuccess;
  if (D % 32 != 0 || D > 256 || num_q_heads % kv.kv_heads != 0 ||
      num_q_heads / kv.kv_heads > kMaxGroup || num_splits < 1) {
    return cudaErrorInvalidValue;
  }
  const dim3 grid(static_cast<unsigned>(T), static_cast<unsigned>(kv.kv_heads),
                  static_cast<unsigned>(num_splits));
  const unsigned threads = static_cast<unsigned>(32 * (num_q_heads / kv.kv_heads));
  switch (D / 32) {
    case 1:
      AttentionKernel<1>
          <<<grid, threads, 0, stream>>>(q, meta, kv, num_q_heads, scale, partial, out);
      break;
    case 2:
      AttentionKernel<2>
          <<<grid, threads, 0, stream>>>(q, meta, kv, num_q_heads, scale, partial, out);
      break;
    case 4:
      AttentionKernel<4>
          <<<grid, threads, 0, stream>>>(q, meta, kv, num_q_heads, scale, partial, out);
      break;
    case 8:
      AttentionKernel<8>
          <<<grid, threads, 0, stream>>>(q, meta, kv, num_q_heads, scale, partial, out);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  if (num_splits > 1) {
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    const dim3 cgrid(static_cast<unsigned>(T), static_cast<unsigned>(num_q_heads));
    AttentionCombineKernel<<<cgrid, static_cast<unsigned>(D), 0, stream>>>(partial, num_q_heads, D,
                                                                           num_splits, out);
  }
  return cudaGetLastError();
}

}  // namespace moe::cuda
