// SiLU-and-multiply of the fused gate/up projection, and the residual add.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace moe::cuda {
namespace {

__global__ void SiluMulKernel(const float* gu, int64_t rows, int64_t inter, bf16* out) {
  const int64_t n = rows * inter;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / inter, c = i % inter;
    const float g = gu[r * 2 * inter + c];
    const float u = gu[r * 2 * inter + inter + c];
    out[i] = __float2bfloat16(g / (1.0f + expf(-g)) * u);  // silu(g) = g / (1 + exp(-g))
  }
}

__global__ void AddKernel(float* x, const float* y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] += y[i];
  }
}

unsigned Blocks(int64_t n) {
  const int64_t b = (n + 255) / 256;
  return static_cast<unsigned>(b < 65536 ? b : 65536);
}

}  // namespace

cudaError_t SiluMul(const float* gu, int64_t rows, int64_t inter, bf16* out, cudaStream_t stream) {
  if (rows * inter == 0) return cudaSuccess;
  SiluMulKernel<<<Blocks(rows * inter), 256, 0, stream>>>(gu, rows, inter, out);
  return cudaGetLastError();
}

cudaError_t Add(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  AddKernel<<<Blocks(n), 256, 0, stream>>>(x, y, n);
  return cudaGetLastError();
}

}  // namespace moe::cuda
