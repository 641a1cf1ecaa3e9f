// Collectives written once over a Communicator's point-to-point calls, shared by the
// transports: exact (rank-order) sums and a barrier. Internal to comm/.
#pragma once

#include <cstdint>
#include <string>

#include "comm/communicator.h"

namespace moe::comm::internal {

inline constexpr int kTagReduceIn = kTagReserved + 1;   // rank r -> 0: its array
inline constexpr int kTagReduceOut = kTagReserved + 2;  // 0 -> rank r: the sum
inline constexpr int kTagBarrierIn = kTagReserved + 3;
inline constexpr int kTagBarrierOut = kTagReserved + 4;

// AllReduceSum by gather to rank 0, sum in rank order, send back: bit-identical on every rank.
absl::Status RankOrderAllReduceSum(Communicator& comm, float* data, int64_t n,
                                   Clock::time_point deadline);

// Every rank sends an empty message to rank 0, which answers each once all have arrived.
absl::Status GatherBarrier(Communicator& comm, Clock::time_point deadline);

// "deadline passed" text for messages: "after 1.234 s" measured from `start`.
std::string ElapsedText(Clock::time_point start);

}  // namespace moe::comm::internal
