// `--device cpu|cuda|cuda:N` for moe-serve, moe-run and their MPI worker ranks: parsing (the one
// place that knows the accepted forms) and the start-up check that the device exists.
//
//   moe-run --model DIR --device cuda:0 --prompt-ids 1,2,3
//   mpirun -np 3 moe-serve --model DIR --pp 2 --device cuda   (each worker: a GPU of its host)
#pragma once

#include <string>

#include "common/status.h"
#include "worker/shard_runner.h"

namespace moe {

class Flags;

// "cpu", "cuda" (a device chosen per worker process) or "cuda:N" (N >= 0). INVALID_ARGUMENT
// naming the flag and the accepted forms otherwise.
absl::StatusOr<Device> ParseDevice(const std::string& text);

// --device (default cpu), parsed.
absl::StatusOr<Device> DeviceFromFlags(const Flags& flags);

// The device this process computes on (ResolveDevice), or FAILED_PRECONDITION that starts with
// "--device X:" and says why it is not there (a build without CUDA, no device, no such ordinal).
absl::StatusOr<Device> CheckDevice(const Device& device);

}  // namespace moe
