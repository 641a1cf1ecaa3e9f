// A tiny status type for the CUDA model core (plain C++: the GPU machine builds it without
// abseil). The abseil-facing adapter (model/cuda/cuda_qwen3.h) turns it into absl::Status.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>
#include <utility>

namespace moe::cuda {

class Status {
 public:
  Status() = default;
  static Status Error(std::string message) { return Status(std::move(message)); }
  bool ok() const { return message_.empty(); }
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string m) : message_(m.empty() ? "unknown error" : std::move(m)) {}
  std::string message_;
};

inline Status CudaCheck(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status();
  return Status::Error(std::string(what) + ": " + cudaGetErrorString(e));
}
inline Status CublasCheck(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status();
  return Status::Error(std::string(what) + ": cublas status " +
                       std::to_string(static_cast<int>(s)));
}

}  // namespace moe::cuda

// Returns the Status of `expr` (a Status) from the enclosing function when it is an error.
#define MOE_CUDA_RETURN_IF_ERROR(expr)    \
  do {                                    \
    ::moe::cuda::Status status_ = (expr); \
    if (!status_.ok()) return status_;    \
  } while (0)
// For a cudaError_t / cublasStatus_t expression.
#define MOE_CUDA_TRY(expr) MOE_CUDA_RETURN_IF_ERROR(::moe::cuda::CudaCheck((expr), #expr))
#define MOE_CUBLAS_TRY(expr) MOE_CUDA_RETURN_IF_ERROR(::moe::cuda::CublasCheck((expr), #expr))
