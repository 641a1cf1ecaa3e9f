// Embedding gather: bf16 table rows widened to fp32.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace moe::cuda {
namespace {

__global__ void EmbeddingGatherKernel(const bf16* table, const int32_t* ids, int64_t n,
                                      float* out) {
  const int64_t t = blockIdx.x;
  const bf16* row = table + static_cast<int64_t>(ids[t]) * n;  // [n]
  float* o = out + t * n;                                      // [n]
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) o[i] = __bfloat162float(row[i]);
}

}  // namespace

cudaError_t EmbeddingGather(const bf16* table, const int32_t* ids, int64_t T, int64_t n, float* out,
                            cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  EmbeddingGatherKernel<<<static_cast<unsigned>(T), 256, 0, stream>>>(table, ids, n, out);
  return cudaGetLastError();
}

}  // namespace moe::cuda
