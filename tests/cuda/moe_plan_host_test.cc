// Host-side logic of the CUDA backend that runs without a device: the expert grouping plan
// (MoeAlignHost, the reference of the device plan), its buffer bounds, and the sampler's
// counter-based uniform.
#include <algorithm>

#include "tests/cuda/cuda_test_util.h"

namespace moe::cuda::testing {
namespace {

TEST_CASE(PlanGroupsRowsByExpert) {
  // 3 tokens, k = 2, 4 experts; expert 2 lives on another rank.
  const std::vector<int32_t> ids = {1, 0, 3, 1, 1, 2};
  const std::vector<int32_t> local = {0, 1, -1, 2};
  MoePlanHost p = MoeAlignHost(ids.data(), 3, 2, 4, local.data(), 4);
  CHECK((p.counts == std::vector<int32_t>{1, 3, 1, 0}));
  CHECK((p.offsets == std::vector<int32_t>{0, 4, 8, 12, 12}));
  CHECK((p.tile_expert == std::vector<int32_t>{0, 1, 2}));
  CHECK((p.tile_row0 == std::vector<int32_t>{0, 4, 8}));
  CHECK((p.tile_rows == std::vector<int32_t>{1, 3, 1}));
  // Rows in assignment order within an expert; padding -1.
  CHECK((p.row_token == std::vector<int32_t>{0, -1, -1, -1, 0, 1, 2, -1, 1, -1, -1, -1}));
  CHECK((p.slot == std::vector<int32_t>{4, 0, 8, 5, 6, -1}));
}

TEST_CASE(PlanFitsItsBounds) {
  std::mt19937 gen(7);
  for (int iter = 0; iter < 200; ++iter) {
    const int64_t E = 1 + gen() % 130, k = 1 + gen() % std::min<int64_t>(E, 8);
    const int64_t T = 1 + gen() % 300, tile = (gen() % 2) ? 8 : 64;
    std::vector<int32_t> ids(T * k), local(E);
    for (auto& id : ids) id = static_cast<int32_t>(gen() % E);
    int32_t n = 0;
    for (auto& l : local) l = (gen() % 4 == 0) ? -1 : n++;
    MoePlanHost p = MoeAlignHost(ids.data(), T, k, E, local.data(), tile);
    int64_t max_rows, max_tiles;
    MoePlanSizes(T * k, E, tile, &max_rows, &max_tiles);
    CHECK(p.offsets[E] <= max_rows);
    CHECK(static_cast<int64_t>(p.tile_expert.size()) <= max_tiles);
    int64_t assigned = 0;
    for (int64_t i = 0; i < T * k; ++i) {
      const bool mine = local[ids[i]] >= 0;
      CHECK((p.slot[i] >= 0) == mine);
      if (mine) {
        ++assigned;
        CHECK(p.row_token[p.slot[i]] == i / k);
        const int32_t le = local[ids[i]];
        CHECK(p.slot[i] >= p.offsets[le] && p.slot[i] < p.offsets[le + 1]);
      }
    }
    int64_t rows = 0;
    for (int32_t r : p.tile_rows) rows += r;
    CHECK(rows == assigned);
  }
  CHECK(MoePlanBytes(512, 128, 8) > 0);
}

TEST_CASE(CounterUniformInRange) {
  // The exact equality with moe::CounterUniform is checked by sampler_rng_test (main build).
  for (int64_t p = 0; p < 1000; ++p) {
    const double u = CounterUniformHost(12345, p);
    CHECK(u >= 0.0 && u < 1.0);
  }
  CHECK(CounterUniformHost(1, 2) != CounterUniformHost(1, 3));
}

}  // namespace
}  // namespace moe::cuda::testing

int main() { return moe::cuda::testing::RunAll(/*needs_device=*/false); }
