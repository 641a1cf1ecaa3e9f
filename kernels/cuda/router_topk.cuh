// The router of one token, by one warp (device code shared by router_topk.cu and the fused
// router + grouping of moe_align.cu; not a public header).
#pragma once

#include <cmath>

#include "kernels/cuda/cuda_common.cuh"

namespace moe::cuda {

// p = softmax(r) over E experts in fp32 (in `p`, this warp's [E] shared floats), then k rounds
// of a warp argmax (highest probability, ties to the lower expert id); lane 0 writes ids[0..k)
// and weights[0..k), divided by their sum (in order) when `renormalize`. REQUIRES: k <= 32.
__device__ __forceinline__ void WarpRouteToken(const float* r, int64_t E, int64_t k,
                                               bool renormalize, float* p, int32_t* ids,
                                               float* weights) {
  const int lane = threadIdx.x & 31;
  float mx = -INFINITY;
  for (int64_t e = lane; e < E; e += 32) mx = fmaxf(mx, r[e]);
  mx = WarpMax(mx);
  float sum = 0.0f;
  for (int64_t e = lane; e < E; e += 32) {
    p[e] = expf(r[e] - mx);
    sum += p[e];
  }
  sum = WarpSum(sum);
  for (int64_t e = lane; e < E; e += 32) p[e] /= sum;
  __syncwarp();
  float chosen_w[32];
  int32_t chosen_e[32];
  for (int64_t j = 0; j < k; ++j) {
    float best = -INFINITY;
    int32_t best_e = INT32_MAX;
    for (int64_t e = lane; e < E; e += 32) {
      if (p[e] > best) {  // ascending e per lane: keeps the lowest id among equals
        best = p[e];
        best_e = static_cast<int32_t>(e);
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float ob = __shfl_xor_sync(kFullMask, best, o);
      const int32_t oe = __shfl_xor_sync(kFullMask, best_e, o);
      if (ob > best || (ob == best && oe < best_e)) {
        best = ob;
        best_e = oe;
      }
    }
    chosen_w[j] = best;
    chosen_e[j] = best_e;
    __syncwarp();
    if (lane == 0) p[best_e] = -INFINITY;  // taken
    __syncwarp();
  }
  if (lane == 0) {
    float wsum = 0.0f;
    for (int64_t j = 0; j < k; ++j) wsum += chosen_w[j];
    for (int64_t j = 0; j < k; ++j) {
      ids[j] = chosen_e[j];
      weights[j] = renormalize ? chosen_w[j] / wsum : chosen_w[j];
    }
  }
  __syncwarp();
}

}  // namespace moe::cuda
