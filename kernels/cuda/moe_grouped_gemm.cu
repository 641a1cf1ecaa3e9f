// The MoE expert path over a MoeAlign plan: gather the routed rows, a grouped GEMM over the
// tiles of the experts that got tokens (own kernels: GEMV-style for small tiles, WMMA tensor
// cores for 64-row tiles), and the weighted combine per token.
#include <mma.h>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace moe::cuda {
namespace {

// ---- gather ----

__global__ void GatherRowsKernel(const bf16* x, const int32_t* row_token, int64_t n, bf16* xs) {
  const int64_t row = blockIdx.x;
  const int32_t t = row_token[row];
  bf16* dst = xs + row * n;
  if (n % 8 == 0) {
    uint4* d = reinterpret_cast<uint4*>(dst);
    const uint4* s = reinterpret_cast<const uint4*>(x + static_cast<int64_t>(t) * n);
    for (int64_t i = threadIdx.x; i < n / 8; i += blockDim.x)
      d[i] = t < 0 ? uint4{0, 0, 0, 0} : s[i];
    return;
  }
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    dst[i] = t < 0 ? __float2bfloat16(0.0f) : x[static_cast<int64_t>(t) * n + i];
  }
}

// ---- GEMV-style grouped kernel: tiles of up to kGemvRows rows ----

constexpr int kGemvRows = 8;
constexpr int kGemvWarps = 8;
constexpr int kGemvFeatures = 4;  // output features per warp
constexpr int kGemvBlockFeatures = kGemvWarps * kGemvFeatures;

__device__ __forceinline__ void Bf16x8(const uint4& v, float* f) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 p = __bfloat1622float2(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}

// Where the GEMV kernel's input rows come from.
enum class GemvIn {
  kRows,    // x: [rows, K] bf16 in plan row order
  kTokens,  // x: [T, K] bf16 token rows, row r = x[row_token[r]] (the gather fused)
  kSiluF32  // gu: [rows, 2K] fp32, input = bf16(silu(gate) * up) (SiLU-mul fused)
};

// Loads input elements [k0, k0 + 8) of plan row `row` as floats.
template <GemvIn kIn>
__device__ __forceinline__ void LoadIn(const void* x, const int32_t* row_token, int64_t row,
                                       int64_t K, int64_t k0, float* f) {
  if constexpr (kIn == GemvIn::kSiluF32) {
    const float* g = static_cast<const float*>(x) + row * 2 * K + k0;
    const float4 g0 = *reinterpret_cast<const float4*>(g);
    const float4 g1 = *reinterpret_cast<const float4*>(g + 4);
    const float4 u0 = *reinterpret_cast<const float4*>(g + K);
    const float4 u1 = *reinterpret_cast<const float4*>(g + K + 4);
    const float gs[8] = {g0.x, g0.y, g0.z, g0.w, g1.x, g1.y, g1.z, g1.w};
    const float us[8] = {u0.x, u0.y, u0.z, u0.w, u1.x, u1.y, u1.z, u1.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) {  // the arithmetic of SiluMul, rounded to bf16 as it does
      f[i] = __bfloat162float(__float2bfloat16(gs[i] / (1.0f + expf(-gs[i])) * us[i]));
    }
  } else {
    const int64_t src = kIn == GemvIn::kTokens ? row_token[row] : row;
    Bf16x8(*reinterpret_cast<const uint4*>(static_cast<const bf16*>(x) + src * K + k0), f);
  }
}

// Grid (ceil(N / 32), max_tiles), 256 threads. Lane l reads 8 consecutive k at l * 8 + 256 i.
template <GemvIn kIn>
__global__ void GroupedGemvKernel(const void* x, const bf16* w, int64_t N, int64_t K, MoePlan plan,
                                  float* y) {
  const int64_t tile = blockIdx.y;
  const int32_t e = plan.tile_expert[tile];
  if (e < 0) return;
  const int m = plan.tile_rows[tile];
  const int64_t row0 = plan.tile_row0[tile];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t n0 = blockIdx.x * static_cast<int64_t>(kGemvBlockFeatures) + warp * kGemvFeatures;
  const bf16* we = w + static_cast<int64_t>(e) * N * K;  // [N, K]
  float acc[kGemvRows][kGemvFeatures] = {};
  for (int64_t k0 = lane * 8; k0 < K; k0 += 256) {
    float wf[kGemvFeatures][8];
#pragma unroll
    for (int f = 0; f < kGemvFeatures; ++f) {
      if (n0 + f < N) {
        Bf16x8(*reinterpret_cast<const uint4*>(we + (n0 + f) * K + k0), wf[f]);
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) wf[f][i] = 0.0f;
      }
    }
#pragma unroll
    for (int r = 0; r < kGemvRows; ++r) {
      if (r >= m) break;
      float xf[8];
      LoadIn<kIn>(x, plan.row_token, row0 + r, K, k0, xf);
#pragma unroll
      for (int f = 0; f < kGemvFeatures; ++f) {
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[r][f] += xf[i] * wf[f][i];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kGemvRows; ++r) {
    if (r >= m) break;
#pragma unroll
    for (int f = 0; f < kGemvFeatures; ++f) {
      const float s = WarpSum(acc[r][f]);
      if (lane == 0 && n0 + f < N) y[(row0 + r) * N + n0 + f] = s;
    }
  }
}

// ---- WMMA grouped kernel: 64 x 64 output tiles, 4 warps of 32 x 32 ----

constexpr int kTm = 64, kTn = 64, kTk = 32, kPad = 8;

__global__ void GroupedWmmaKernel(const bf16* xs, const int32_t* x_rows, const bf16* w, int64_t N,
                                  int64_t K, MoePlan plan, float* y) {
  using namespace nvcuda;
  const int64_t tile = blockIdx.y;
  const int32_t e = plan.tile_expert[tile];
  if (e < 0) return;
  const int m = plan.tile_rows[tile];
  const int64_t row0 = plan.tile_row0[tile];
  const int64_t n_base = blockIdx.x * static_cast<int64_t>(kTn);
  const bf16* we = w + static_cast<int64_t>(e) * N * K;  // [N, K]
  // This thread's two A rows (v / 4 for v = threadIdx.x, threadIdx.x + 128): their source rows.
  int64_t a_src[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = (threadIdx.x + i * 128) / (kTk / 8);
    a_src[i] = r < m ? (x_rows != nullptr ? x_rows[row0 + r] : row0 + r) : -1;
  }
  __shared__ __align__(32) bf16 as[kTm][kTk + kPad];  // rows x k
  __shared__ __align__(32) bf16 bs[kTn][kTk + kPad];  // n x k (B col-major)
  __shared__ __align__(32) float cs[kTm][kTn + 4];
  const int warp = threadIdx.x >> 5;
  const int wm = warp / 2, wn = warp % 2;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  for (int64_t k0 = 0; k0 < K; k0 += kTk) {
    // 64 x 32 bf16 = 256 vectors of 8 for each of A and B; 128 threads take 2 of each.
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int v = threadIdx.x + i * 128;
      const int r = v / (kTk / 8), c = (v % (kTk / 8)) * 8;
      const int64_t k = k0 + c;
      uint4 a = {0, 0, 0, 0}, b = {0, 0, 0, 0};
      if (k < K) {
        if (a_src[i] >= 0) a = *reinterpret_cast<const uint4*>(xs + a_src[i] * K + k);
        if (n_base + r < N) b = *reinterpret_cast<const uint4*>(we + (n_base + r) * K + k);
      }
      *reinterpret_cast<uint4*>(&as[r][c]) = a;
      *reinterpret_cast<uint4*>(&bs[r][c]) = b;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTk; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i)
        wmma::load_matrix_sync(fa[i], &as[wm * 32 + i * 16][kk], kTk + kPad);
#pragma unroll
      for (int j = 0; j < 2; ++j)
        wmma::load_matrix_sync(fb[j], &bs[wn * 32 + j * 16][kk], kTk + kPad);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(&cs[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], kTn + 4,
                              wmma::mem_row_major);
    }
  __syncthreads();
  for (int v = threadIdx.x; v < kTm * kTn; v += blockDim.x) {
    const int r = v / kTn, c = v % kTn;
    if (r < m && n_base + c < N) y[(row0 + r) * N + n_base + c] = cs[r][c];
  }
}

// ---- combine ----

constexpr int kMaxTopK = 32;

// One block per token. The token's assignments are visited in ascending expert order (the CPU
// model's order); their weighted sum is added to out (or replaces it) once.
__global__ void CombineKernel(const float* ys, const int32_t* slot, const int32_t* ids,
                              const float* weights, int64_t k, int64_t n, bool accumulate,
                              float* out) {
  __shared__ int32_t order[kMaxTopK];
  const int64_t t = blockIdx.x;
  if (threadIdx.x == 0) {
    int cnt = 0;
    for (int64_t j = 0; j < k; ++j) {  // insertion sort by expert id
      int i = cnt++;
      while (i > 0 && ids[t * k + order[i - 1]] > ids[t * k + j]) {
        order[i] = order[i - 1];
        --i;
      }
      order[i] = static_cast<int32_t>(j);
    }
  }
  __syncthreads();
  float* o = out + t * n;
  for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t a = t * k + order[j];
      const int32_t row = slot[a];
      if (row >= 0) acc += weights[a] * ys[static_cast<int64_t>(row) * n + c];
    }
    o[c] = accumulate ? o[c] + acc : acc;
  }
}

}  // namespace

cudaError_t MoeGatherRows(const bf16* x, const MoePlan& plan, int64_t n, bf16* xs,
                          cudaStream_t stream) {
  if (plan.max_rows == 0) return cudaSuccess;
  GatherRowsKernel<<<static_cast<unsigned>(plan.max_rows), 128, 0, stream>>>(x, plan.row_token, n,
                                                                             xs);
  return cudaGetLastError();
}

cudaError_t MoeGroupedGemm(const bf16* x, const int32_t* x_rows, const bf16* w, int64_t N,
                           int64_t K, const MoePlan& plan, float* y, cudaStream_t stream) {
  if (plan.max_tiles == 0) return cudaSuccess;
  if (K % 8 != 0) return cudaErrorInvalidValue;
  if (plan.tile_rows_per_tile == kTm) {
    const dim3 grid(GridFor(N, kTn), static_cast<unsigned>(plan.max_tiles));
    GroupedWmmaKernel<<<grid, 128, 0, stream>>>(x, x_rows, w, N, K, plan, y);
  } else if (plan.tile_rows_per_tile <= kGemvRows) {
    const dim3 grid(GridFor(N, kGemvBlockFeatures), static_cast<unsigned>(plan.max_tiles));
    if (x_rows == nullptr) {
      GroupedGemvKernel<GemvIn::kRows><<<grid, kGemvWarps * 32, 0, stream>>>(x, w, N, K, plan, y);
    } else if (x_rows == plan.row_token) {
      GroupedGemvKernel<GemvIn::kTokens><<<grid, kGemvWarps * 32, 0, stream>>>(x, w, N, K, plan, y);
    } else {
      return cudaErrorInvalidValue;  // GEMV tiles read token rows through the plan only
    }
  } else {
    return cudaErrorInvalidValue;  // tile rows must be <= 8 or exactly 64
  }
  return cudaGetLastError();
}

cudaError_t MoeGroupedGemmSiluIn(const float* gu, const bf16* w, int64_t N, int64_t K,
                                 const MoePlan& plan, float* y, cudaStream_t stream) {
  if (plan.max_tiles == 0) return cudaSuccess;
  if (K % 8 != 0 || plan.tile_rows_per_tile > kGemvRows) return cudaErrorInvalidValue;
  const dim3 grid(GridFor(N, kGemvBlockFeatures), static_cast<unsigned>(plan.max_tiles));
  GroupedGemvKernel<GemvIn::kSiluF32><<<grid, kGemvWarps * 32, 0, stream>>>(gu, w, N, K, plan, y);
  return cudaGetLastError();
}

cudaError_t MoeCombine(const float* ys, const MoePlan& plan, const int32_t* ids,
                       const float* weights, int64_t T, int64_t k, int64_t n, bool accumulate,
                       float* out, cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  if (k > kMaxTopK) return cudaErrorInvalidValue;
  CombineKernel<<<static_cast<unsigned>(T), 256, 0, stream>>>(ys, plan.slot, ids, weights, k, n,
                                                              accumulate, out);
  return cudaGetLastError();
}

}  // namespace moe::cuda
