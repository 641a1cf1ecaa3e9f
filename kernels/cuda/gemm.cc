#include "kernels/cuda/gemm.h"

namespace moe::cuda {
namespace {

// Row-major y = x w^T is column-major y^T [N, M] = w^T' ... : cuBLAS sees w as a K x N
// column-major matrix (op T gives N x K) and x as K x M (op N).
cublasStatus_t Gemm(cublasHandle_t handle, const bf16* x, int64_t M, const bf16* w, int64_t N,
                    int64_t K, float beta, void* y, cudaDataType_t y_type) {
  const float alpha = 1.0f;
  return cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(M),
                      static_cast<int>(K), &alpha, w, CUDA_R_16BF, static_cast<int>(K), x,
                      CUDA_R_16BF, static_cast<int>(K), &beta, y, y_type, static_cast<int>(N),
                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

}  // namespace

cublasStatus_t GemmBf16F32(cublasHandle_t handle, const bf16* x, int64_t M, const bf16* w,
                           int64_t N, int64_t K, float beta, float* y) {
  return Gemm(handle, x, M, w, N, K, beta, y, CUDA_R_32F);
}

cublasStatus_t GemmBf16Bf16(cublasHandle_t handle, const bf16* x, int64_t M, const bf16* w,
                            int64_t N, int64_t K, bf16* y) {
  return Gemm(handle, x, M, w, N, K, 0.0f, y, CUDA_R_16BF);
}

}  // namespace moe::cuda
