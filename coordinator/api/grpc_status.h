// The one mapping from absl::Status to grpc::Status at the service edge (STYLE.md (b) 10):
// the canonical codes are the same set, so the code carries over one-to-one with the message.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace moe {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace moe
