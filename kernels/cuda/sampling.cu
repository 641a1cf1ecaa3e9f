// Sampling on the GPU: greedy argmax or a temperature draw with the CPU sampler's counter-based
// uniform (model/sampler.cc CounterUniform), plus the chosen token's logprob.
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace moe::cuda {
namespace {

constexpr int kThreads = 1024;

__host__ __device__ __forceinline__ double Uniform(uint64_t seed, int64_t position) {
  const uint64_t r = SplitMix64(SplitMix64(seed) ^ static_cast<uint64_t>(position));
  return static_cast<double>(r >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

__device__ float BlockMax(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = WarpMax(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < (blockDim.x >> 5) ? shared[lane] : -INFINITY;
  return WarpMax(v);
}

// One block per row. Thread j owns the contiguous segment [j * seg, (j + 1) * seg) so that
// cumulative sums run in index order, as the CPU sampler's.
__global__ void __launch_bounds__(kThreads)
    SampleKernel(const float* logits, int64_t V, const float* temperature, const uint64_t* seed,
                 const int64_t* position, int32_t* token, float* logprob) {
  __shared__ float fshared[32];
  __shared__ double dscan[kThreads];
  __shared__ int64_t best_shared[32];
  __shared__ float bestv_shared[32];
  __shared__ int32_t chosen;
  __shared__ double total_shared;
  const int64_t r = blockIdx.x;
  const float* l = logits + r * V;  // [V]
  const int64_t seg = (V + kThreads - 1) / kThreads;
  const int64_t b = threadIdx.x * seg, e = b + seg < V ? b + seg : V;
  // Raw log-softmax normaliser.
  float mx = -INFINITY;
  for (int64_t i = b; i < e; ++i) mx = fmaxf(mx, l[i]);
  mx = BlockMax(mx, fshared);
  double z = 0.0;
  for (int64_t i = b; i < e; ++i) z += exp(static_cast<double>(l[i] - mx));
  dscan[threadIdx.x] = z;
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0.0;
    for (int j = 0; j < kThreads; ++j) s += dscan[j];
    dscan[0] = s;
  }
  __syncthreads();
  const float log_z = mx + static_cast<float>(log(dscan[0]));
  __syncthreads();
  const float temp = temperature[r];
  if (temp == 0.0f) {
    // Argmax, first index on ties: each thread's first best, then the lowest index of the max.
    float bv = -INFINITY;
    int64_t bi = V;
    for (int64_t i = b; i < e; ++i) {
      if (bi == V || l[i] > bv) {
        bv = l[i];
        bi = i;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(kFullMask, bv, o);
      const int64_t oi = __shfl_xor_sync(kFullMask, bi, o);
      if (ov > bv || (ov == bv && oi < bi)) {
        bv = ov;
        bi = oi;
      }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
      bestv_shared[warp] = bv;
      best_shared[warp] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      float v = bestv_shared[0];
      int64_t i = best_shared[0];
      for (int w = 1; w < kThreads / 32; ++w) {
        if (bestv_shared[w] > v || (bestv_shared[w] == v && best_shared[w] < i)) {
          v = bestv_shared[w];
          i = best_shared[w];
        }
      }
      token[r] = static_cast<int32_t>(i);
      logprob[r] = l[i] - log_z;
    }
    return;
  }
  // Temperature draw: p_i = exp(l_i / T - top) in double, first i with u * total < cumsum.
  float top = -INFINITY;
  for (int64_t i = b; i < e; ++i) top = fmaxf(top, l[i] / temp);
  top = BlockMax(top, fshared);
  double part = 0.0;
  for (int64_t i = b; i < e; ++i) part += exp(static_cast<double>(l[i] / temp - top));
  __syncthreads();
  dscan[threadIdx.x] = part;
  __syncthreads();
  if (threadIdx.x == 0) {  // exclusive scan in thread order (= index order)
    double s = 0.0;
    for (int j = 0; j < kThreads; ++j) {
      const double v = dscan[j];
      dscan[j] = s;
      s += v;
    }
    chosen = INT32_MAX;
    total_shared = s;
  }
  __syncthreads();
  const double total = total_shared;
  const double target = Uniform(seed[r], position[r]) * total;
  double acc = dscan[threadIdx.x];
  if (b < e && target >= acc && target < acc + part) {
    for (int64_t i = b; i < e; ++i) {
      acc += exp(static_cast<double>(l[i] / temp - top));
      if (target < acc) {
        atomicMin(&chosen, static_cast<int32_t>(i));  // rounding could let two match: lowest
        break;
      }
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    const int32_t i = chosen == INT32_MAX ? static_cast<int32_t>(V - 1) : chosen;
    token[r] = i;
    logprob[r] = l[i] - log_z;
  }
}

}  // namespace

double CounterUniformHost(uint64_t seed, int64_t position) { return Uniform(seed, position); }

cudaError_t SampleRows(const float* logits, int64_t R, int64_t V, const float* temperature,
                       const uint64_t* seed, const int64_t* position, int32_t* token,
                       float* logprob, cudaStream_t stream) {
  if (R == 0) return cudaSuccess;
  SampleKernel<<<static_cast<unsigned>(R), kThreads, 0, stream>>>(logits, V, temperature, seed,
                                                                  position, token, logprob);
  return cudaGetLastError();
}

}  // namespace moe::cuda
