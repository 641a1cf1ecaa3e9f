// Random weights drawn on the device: the values ModelWeights::Random (and `moe-tools
// random-model`) give for the same seed, tensor by tensor (common/random_weights.h), written
// straight into a CudaForward's buffers: nothing is generated on or copied from the host.
// Plain C++ (the GPU benchmark uses it).
#pragma once

#include <cstdint>

#include "model/cuda/cuda_forward.h"

namespace moe::cuda {

// Fills every weight of `forward` (its config names the layers and experts held). Synchronous.
Status FillRandomWeights(CudaForward* forward, uint64_t seed);

}  // namespace moe::cuda
