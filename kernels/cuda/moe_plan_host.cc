// The host version of MoeAlign (kernels/cuda/cuda_kernels.h): the reference for the device plan.
#include "kernels/cuda/cuda_kernels.h"

namespace moe::cuda {

MoePlanHost MoeAlignHost(const int32_t* ids, int64_t T, int64_t k, int64_t E,
                         const int32_t* local_expert, int64_t tile_rows) {
  const int64_t A = T * k;
  MoePlanHost plan;
  plan.counts.assign(static_cast<size_t>(E), 0);
  std::vector<int32_t> rank(static_cast<size_t>(A), -1);
  for (int64_t i = 0; i < A; ++i) {
    const int32_t le = local_expert[ids[i]];
    if (le >= 0) rank[i] = plan.counts[le]++;
  }
  plan.offsets.assign(static_cast<size_t>(E + 1), 0);
  for (int64_t e = 0; e < E; ++e) {
    const int32_t ntiles = static_cast<int32_t>((plan.counts[e] + tile_rows - 1) / tile_rows);
    for (int32_t i = 0; i < ntiles; ++i) {
      const int32_t left = plan.counts[e] - static_cast<int32_t>(i * tile_rows);
      plan.tile_expert.push_back(static_cast<int32_t>(e));
      plan.tile_row0.push_back(plan.offsets[e] + static_cast<int32_t>(i * tile_rows));
      plan.tile_rows.push_back(left < tile_rows ? left : static_cast<int32_t>(tile_rows));
    }
    plan.offsets[e + 1] = plan.offsets[e] + static_cast<int32_t>(ntiles * tile_rows);
  }
  plan.row_token.assign(static_cast<size_t>(plan.offsets[E]), -1);
  plan.slot.assign(static_cast<size_t>(A), -1);
  for (int64_t i = 0; i < A; ++i) {
    if (rank[i] < 0) continue;
    const int32_t row = plan.offsets[local_expert[ids[i]]] + rank[i];
    plan.slot[i] = row;
    plan.row_token[row] = static_cast<int32_t>(i / k);
  }
  return plan;
}

}  // namespace moe::cuda
