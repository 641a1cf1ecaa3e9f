// RMSNorm: y = x * rsqrt(mean(x^2) + eps) * weight, fp32 math, one block per row.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace moe::cuda {
namespace {

template <typename Out>
__device__ __forceinline__ Out Convert(float v);
template <>
__device__ __forceinline__ float Convert<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ bf16 Convert<bf16>(float v) {
  return __float2bfloat16(v);
}

template <typename Out>
__global__ void RmsNormKernel(const float* x, const int64_t* rows_index, const float* weight,
                              int64_t n, float eps, Out* y) {
  __shared__ float shared[32];
  const int64_t r = blockIdx.x;
  const float* xr = x + (rows_index != nullptr ? rows_index[r] : r) * n;  // [n]
  Out* yr = y + r * n;                                                    // [n]
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
  ss = BlockSum(ss, shared);
  // As the reference: 1 / sqrt(mean + eps), then x * inv * weight.
  const float inv = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    yr[i] = Convert<Out>(xr[i] * inv * weight[i]);
}

int ThreadsFor(int64_t n) {
  int t = 32;
  while (t < 1024 && t < n / 4) t *= 2;
  return t;
}

}  // namespace

cudaError_t RmsNormBf16(const float* x, const int64_t* rows_index, const float* weight,
                        int64_t rows, int64_t n, float eps, bf16* y, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  RmsNormKernel<bf16>
      <<<static_cast<unsigned>(rows), ThreadsFor(n), 0, stream>>>(x, rows_index, weight, n, eps, y);
  return cudaGetLastError();
}

cudaError_t RmsNormF32(const float* x, const float* weight, int64_t rows, int64_t n, float eps,
                       float* y, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  RmsNormKernel<float>
      <<<static_cast<unsigned>(rows), ThreadsFor(n), 0, stream>>>(x, nullptr, weight, n, eps, y);
  return cudaGetLastError();
}

}  // namespace moe::cuda
