// Random bf16 weights generated on the device (the values of common/random_weights.cc), and
// F32 -> bf16 conversion for uploads.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace moe::cuda {
namespace {

__device__ __forceinline__ float Uniform01(uint64_t bits) {  // [0, 1) from the top 24 bits
  return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);
}

__global__ void FillRandomKernel(bf16* out, int64_t n, uint64_t seed, float a) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t r = SplitMix64(seed + static_cast<uint64_t>(i));
    out[i] = __float2bfloat16_rn((2.0f * Uniform01(r) - 1.0f) * a);
  }
}

__global__ void FillNormKernel(float* out, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t r = SplitMix64(seed + static_cast<uint64_t>(i));
    const float v = 1.0f + 0.1f * (2.0f * Uniform01(r) - 1.0f);
    out[i] = __bfloat162float(__float2bfloat16_rn(v));
  }
}

__global__ void F32ToBf16Kernel(const float* in, int64_t n, bf16* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2bfloat16_rn(in[i]);
  }
}

unsigned Blocks(int64_t n) {
  const int64_t b = (n + 255) / 256;
  return static_cast<unsigned>(b < 32768 ? b : 32768);
}

}  // namespace

uint64_t RandomTensorSeed(uint64_t seed, const char* tensor_name) {
  uint64_t h = 1469598103934665603ull ^ SplitMix64(seed);  // FNV-1a over the name
  for (const char* c = tensor_name; *c != '\0'; ++c) {
    h ^= static_cast<unsigned char>(*c);
    h *= 1099511628211ull;
  }
  return SplitMix64(h);
}

cudaError_t FillRandomBf16(bf16* out, int64_t n, uint64_t tensor_seed, float stddev,
                           cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const float a = stddev * sqrtf(3.0f);
  FillRandomKernel<<<Blocks(n), 256, 0, stream>>>(out, n, tensor_seed, a);
  return cudaGetLastError();
}

cudaError_t FillRandomNorm(float* out, int64_t n, uint64_t tensor_seed, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  FillNormKernel<<<Blocks(n), 256, 0, stream>>>(out, n, tensor_seed);
  return cudaGetLastError();
}

cudaError_t F32ToBf16(const float* in, int64_t n, bf16* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  F32ToBf16Kernel<<<Blocks(n), 256, 0, stream>>>(in, n, out);
  return cudaGetLastError();
}

}  // namespace moe::cuda
