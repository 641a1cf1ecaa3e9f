// Grouping a MoE layer's (token, expert) assignments by expert on the device: a counting sort
// (count with shared atomics, block scan, scatter) into rows padded per expert to whole tiles,
// in a single one-block kernel.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/router_topk.cuh"

namespace moe::cuda {
namespace {

constexpr int kScanThreads = 1024;  // one thread per expert: E <= 1024
// The fused router runs in the one block: small steps only (decode), E small enough for the
// 32 warps' probabilities in shared memory.
constexpr int64_t kFusedRouteMaxLogits = 64 * 256;
constexpr int64_t kFusedRouteMaxExperts = 256;

// Inclusive Hillis-Steele scan of `v` over the block; returns the thread's inclusive sum.
__device__ int32_t BlockScan(int32_t v, int32_t* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int o = 1; o < kScanThreads; o <<= 1) {
    const int32_t add = threadIdx.x >= o ? shared[threadIdx.x - o] : 0;
    __syncthreads();
    shared[threadIdx.x] += add;
    __syncthreads();
  }
  const int32_t r = shared[threadIdx.x];
  __syncthreads();
  return r;
}

// The whole counting sort in one block (one launch per MoE layer: decode steps are
// launch-bound): shared-memory counts, a block scan over experts (thread e = expert e), then
// the scatter. Ranks within an expert follow the atomics' order.
// With `logits` ([A / k, E] router logits), the block first routes the tokens (a warp per
// token, WarpRouteToken) into ids / weights: the router and the grouping in one launch.
__global__ void __launch_bounds__(kScanThreads)
    AlignKernel(const float* logits, bool renormalize, float* weights, int32_t* ids, int64_t A,
                int64_t k, int64_t E, const int32_t* local_expert, int64_t tile, MoePlan plan) {
  extern __shared__ float route_p[];  // [32 warps, E] when routing
  if (logits != nullptr) {
    const int warp = threadIdx.x >> 5;
    for (int64_t t = warp; t < A / k; t += kScanThreads / 32) {
      WarpRouteToken(logits + t * E, E, k, renormalize, route_p + warp * E, ids + t * k,
                     weights + t * k);
    }
    __syncthreads();  // ids written by this block: visible to it after the barrier
  }
  __shared__ int32_t counts[kScanThreads];
  __shared__ int32_t scan[kScanThreads];
  __shared__ int32_t row_start[kScanThreads];
  __shared__ int32_t totals[2];
  const int64_t e = threadIdx.x;
  counts[e] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < A; i += kScanThreads) {
    const int32_t le = local_expert[ids[i]];
    plan.rank[i] = le < 0 ? -1 : atomicAdd(&counts[le], 1);
  }
  __syncthreads();
  const int32_t count = e < E ? counts[e] : 0;
  const int32_t ntiles = static_cast<int32_t>((count + tile - 1) / tile);
  const int32_t padded = static_cast<int32_t>(ntiles * tile);
  const int32_t row_end = BlockScan(padded, scan);
  const int32_t tile_end = BlockScan(ntiles, scan);
  const int32_t row0 = row_end - padded, tile0 = tile_end - ntiles;
  row_start[e] = row0;
  if (e < E) {
    plan.counts[e] = count;
    plan.offsets[e] = row0;
  }
  if (e == E - 1) plan.offsets[E] = row_end;
  if (threadIdx.x == kScanThreads - 1) {
    totals[0] = row_end;
    totals[1] = tile_end;
  }
  for (int32_t i = 0; i < ntiles; ++i) {
    plan.tile_expert[tile0 + i] = static_cast<int32_t>(e);
    plan.tile_row0[tile0 + i] = row0 + static_cast<int32_t>(i * tile);
    const int32_t left = count - static_cast<int32_t>(i * tile);
    plan.tile_rows[tile0 + i] = left < tile ? left : static_cast<int32_t>(tile);
  }
  for (int32_t r = row0 + count; r < row0 + padded; ++r) plan.row_token[r] = -1;  // padding
  __syncthreads();
  for (int64_t r = totals[0] + threadIdx.x; r < plan.max_rows; r += kScanThreads) {
    plan.row_token[r] = -1;
  }
  for (int64_t i = totals[1] + threadIdx.x; i < plan.max_tiles; i += kScanThreads) {
    plan.tile_expert[i] = -1;
    plan.tile_rows[i] = 0;
  }
  // Scatter (rank[] was written by this block before the barrier above).
  for (int64_t i = threadIdx.x; i < A; i += kScanThreads) {
    const int32_t r = plan.rank[i];
    if (r < 0) {
      plan.slot[i] = -1;
      continue;
    }
    const int32_t row = row_start[local_expert[ids[i]]] + r;
    plan.slot[i] = row;
    plan.row_token[row] = static_cast<int32_t>(i / k);
  }
}

int64_t Align(int64_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace

void MoePlanSizes(int64_t max_assignments, int64_t E, int64_t tile_rows, int64_t* max_rows,
                  int64_t* max_tiles) {
  const int64_t A = max_assignments;
  const int64_t busy = E < A ? E : A;  // experts that can get a row
  *max_rows = A + busy * (tile_rows - 1);
  *max_tiles = (A + tile_rows - 1) / tile_rows + busy;
}

int64_t MoePlanBytes(int64_t max_assignments, int64_t E, int64_t tile_rows) {
  int64_t rows, tiles;
  MoePlanSizes(max_assignments, E, tile_rows, &rows, &tiles);
  const int64_t i4 = sizeof(int32_t);
  return Align(E * i4) + Align((E + 1) * i4) + 2 * Align(max_assignments * i4) + Align(rows * i4) +
         3 * Align(tiles * i4);
}

MoePlan MoePlanCarve(void* buffer, int64_t max_assignments, int64_t E, int64_t tile_rows) {
  MoePlan plan;
  MoePlanSizes(max_assignments, E, tile_rows, &plan.max_rows, &plan.max_tiles);
  plan.max_assignments = max_assignments;
  plan.tile_rows_per_tile = tile_rows;
  char* p = static_cast<char*>(buffer);
  auto take = [&p](int64_t n) {
    int32_t* r = reinterpret_cast<int32_t*>(p);
    p += Align(n * static_cast<int64_t>(sizeof(int32_t)));
    return r;
  };
  plan.counts = take(E);
  plan.offsets = take(E + 1);
  plan.rank = take(max_assignments);
  plan.slot = take(max_assignments);
  plan.row_token = take(plan.max_rows);
  plan.tile_expert = take(plan.max_tiles);
  plan.tile_row0 = take(plan.max_tiles);
  plan.tile_rows = take(plan.max_tiles);
  return plan;
}

cudaError_t MoeAlign(const int32_t* ids, int64_t T, int64_t k, int64_t E,
                     const int32_t* local_expert, const MoePlan& plan, cudaStream_t stream) {
  const int64_t A = T * k;
  if (E > kScanThreads || A > plan.max_assignments) return cudaErrorInvalidValue;
  AlignKernel<<<1, kScanThreads, 0, stream>>>(nullptr, false, nullptr, const_cast<int32_t*>(ids), A,
                                              k, E, local_expert, plan.tile_rows_per_tile, plan);
  return cudaGetLastError();
}

cudaError_t RouteAndAlign(const float* logits, int64_t T, int64_t E, int64_t k, bool renormalize,
                          int32_t* ids, float* weights, const int32_t* local_expert,
                          const MoePlan& plan, cudaStream_t stream) {
  if (T * E > kFusedRouteMaxLogits || E > kFusedRouteMaxExperts) {
    const cudaError_t e = RouterTopK(logits, T, E, k, renormalize, ids, weights, stream);
    if (e != cudaSuccess) return e;
    return MoeAlign(ids, T, k, E, local_expert, plan, stream);
  }
  const int64_t A = T * k;
  if (k > 32 || k > E || k < 1 || A > plan.max_assignments) return cudaErrorInvalidValue;
  const size_t smem = sizeof(float) * 32 * static_cast<size_t>(E);
  AlignKernel<<<1, kScanThreads, smem, stream>>>(logits, renormalize, weights, ids, A, k, E,
                                                 local_expert, plan.tile_rows_per_tile, plan);
  return cudaGetLastError();
}

}  // namespace moe::cuda
