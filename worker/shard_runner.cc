#include "worker/shard_runner.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "worker/step_runner.h"

#ifdef MOE_WITH_CUDA
#include <cuda_runtime.h>

#include "model/cuda/cuda_qwen3.h"
#include "worker/cuda_step_runner.h"
#endif

namespace moe {

std::string Device::ToString() const {
  if (!is_cuda()) return "cpu";
  return index < 0 ? "cuda" : absl::StrCat("cuda:", index);
}

bool CudaBuilt() {
#ifdef MOE_WITH_CUDA
  return true;
#else
  return false;
#endif
}

absl::StatusOr<Device> ResolveDevice(const Device& device, int local_rank) {
  if (!device.is_cuda()) return device;
#ifndef MOE_WITH_CUDA
  (void)local_rank;
  return absl::FailedPreconditionError(
      absl::StrCat(device.ToString(),
                   ": this binary was built without CUDA (nvcc was not found when it was "
                   "configured); rebuild with the CUDA toolkit or use --device cpu"));
#else
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        device.ToString(), ": no CUDA device is available (",
        e != cudaSuccess ? cudaGetErrorString(e) : "0 devices", "); use --device cpu"));
  }
  Device d = device;
  if (d.index < 0) d.index = local_rank % count;
  if (d.index >= count) {
    return absl::FailedPreconditionError(absl::StrCat(device.ToString(), ": this machine has ",
                                                      count, " CUDA device", count > 1 ? "s" : "",
                                                      " (cuda:0 to cuda:", count - 1, ")"));
  }
  return d;
#endif
}

absl::StatusOr<v1::StepResult> ShardRunner::Run(const v1::StepPlan& plan) {
  const auto t0 = std::chrono::steady_clock::now();
  MOE_ASSIGN_OR_RETURN(const int64_t T, Prepare(plan));
  if (T == 0) {
    v1::StepResult result;
    result.set_step_id(plan.step_id());
    return result;
  }
  float* h = hidden(T);
  MOE_RETURN_IF_ERROR(Forward(h));
  MOE_ASSIGN_OR_RETURN(v1::StepResult result, Sample(plan, h));
  result.set_compute_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return result;
}

absl::StatusOr<std::unique_ptr<ShardRunner>> MakeShardRunner(const ModelWeights* weights,
                                                             ThreadPool* pool,
                                                             const ShardRunnerOptions& options) {
  if (!options.device.is_cuda()) {
    return std::make_unique<StepRunner>(weights, pool, options.num_blocks, options.block_size);
  }
  if (options.device.index < 0) {
    return absl::InternalError("MakeShardRunner: resolve the cuda device first (ResolveDevice)");
  }
#ifdef MOE_WITH_CUDA
  CudaModelOptions o;
  o.device = options.device.index;
  o.num_blocks = options.num_blocks;
  o.block_size = options.block_size;
  o.max_tokens = options.max_tokens;
  o.max_seqs = options.max_seqs;
  o.max_seq_len = options.max_seq_len;
  absl::StatusOr<std::unique_ptr<CudaQwen3Model>> model = CudaQwen3Model::Create(*weights, o);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat(options.device.ToString(), ": ", model.status().message()));
  }
  return std::make_unique<CudaStepRunner>(std::move(*model));
#else
  return ResolveDevice(options.device).status();
#endif
}

}  // namespace moe
