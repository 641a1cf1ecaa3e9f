// Dense GEMMs of the CUDA backend through cuBLAS (cublasGemmEx, bf16 inputs, fp32 compute):
// y[M, N] = x[M, K] @ w[N, K]^T (+ beta * y), row-major, w a PyTorch nn.Linear weight.
// The caller owns the handle and sets its stream (cublasSetStream) and, for CUDA-graph capture,
// a workspace (cublasSetWorkspace). Plain C++ (no abseil).
#pragma once

#include <cublas_v2.h>

#include <cstdint>

#include "kernels/cuda/cuda_kernels.h"

namespace moe::cuda {

// fp32 output; beta = 1 adds onto y (the residual stream).
cublasStatus_t GemmBf16F32(cublasHandle_t handle, const bf16* x, int64_t M, const bf16* w,
                           int64_t N, int64_t K, float beta, float* y);
// bf16 output (beta 0).
cublasStatus_t GemmBf16Bf16(cublasHandle_t handle, const bf16* x, int64_t M, const bf16* w,
                            int64_t N, int64_t K, bf16* y);

}  // namespace moe::cuda
