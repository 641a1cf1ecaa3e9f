// MoE router: softmax over all experts in fp32, top-k, optional renormalisation.
#include <cmath>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/router_topk.cuh"

namespace moe::cuda {
namespace {

constexpr int kWarps = 4;  // tokens per block

// One warp per token; p: this warp's [E] probabilities in shared memory.
__global__ void RouterTopKKernel(const float* logits, int64_t T, int64_t E, int64_t k,
                                 bool renormalize, int32_t* ids, float* weights) {
  extern __shared__ float shared[];
  const int warp = threadIdx.x >> 5;
  const int64_t t = blockIdx.x * static_cast<int64_t>(kWarps) + warp;
  if (t >= T) return;
  WarpRouteToken(logits + t * E, E, k, renormalize, shared + warp * E, ids + t * k,
                 weights + t * k);
}

}  // namespace

cudaError_t RouterTopK(const float* logits, int64_t T, int64_t E, int64_t k, bool renormalize,
                       int32_t* ids, float* weights, cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  if (E > 1024 || k > 32 || k > E || k < 1) return cudaErrorInvalidValue;
  const size_t smem = sizeof(float) * kWarps * static_cast<size_t>(E);
  RouterTopKKernel<<<GridFor(T, kWarps), kWarps * 32, smem, stream>>>(logits, T, E, k, renormalize,
                                                                      ids, weights);
  return cudaGetLastError();
}

}  // namespace moe::cuda
