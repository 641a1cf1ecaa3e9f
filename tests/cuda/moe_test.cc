// The MoE path on the device against the host plan and a CPU reference: MoeAlign (counting
// sort), gather, grouped GEMM (GEMV tiles of 8 rows and WMMA tiles of 64; with the gather and
// SiLU-mul separate and fused), SiLU-mul, combine.
// Tolerance of the expert output: the reference rounds the SiLU-mul activations to bf16 as the
// device does, so the remaining differences are fp32 sum order and rare bf16 rounding flips:
// |err| <= 2e-3 * max|want| + 1e-2 * |want|.
#include <algorithm>
#include <cmath>
#include <set>

#include "tests/cuda/cuda_test_util.h"

namespace moe::cuda::testing {
namespace {

std::vector<int32_t> RandomIds(int64_t T, int64_t k, int64_t E, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<int32_t> ids;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int32_t> all(E);
    for (int64_t e = 0; e < E; ++e) all[e] = static_cast<int32_t>(e);
    std::shuffle(all.begin(), all.end(), gen);
    ids.insert(ids.end(), all.begin(), all.begin() + k);  // k distinct experts per token
  }
  return ids;
}

// Experts owned: every expert but those with e % 5 == 3; local index in order.
std::vector<int32_t> LocalExperts(int64_t E, int64_t* owned) {
  std::vector<int32_t> local(E, -1);
  *owned = 0;
  for (int64_t e = 0; e < E; ++e) {
    if (e % 5 != 3) local[e] = static_cast<int32_t>((*owned)++);
  }
  return local;
}

void CheckAlign(int64_t T, int64_t k, int64_t E, int64_t tile, uint32_t seed) {
  std::vector<int32_t> ids = RandomIds(T, k, E, seed);
  int64_t owned;
  std::vector<int32_t> local = LocalExperts(E, &owned);
  MoePlanHost want = MoeAlignHost(ids.data(), T, k, E, local.data(), tile);
  DeviceBuffer<int32_t> d_ids(ids), d_local(local);
  DeviceBuffer<char> d_plan(MoePlanBytes(T * k, E, tile));
  MoePlan plan = MoePlanCarve(d_plan.get(), T * k, E, tile);
  CHECK_CUDA(MoeAlign(d_ids.get(), T, k, E, d_local.get(), plan, 0));
  auto host = [](const int32_t* p, int64_t n) {
    std::vector<int32_t> v(n);
    cudaMemcpy(v.data(), p, n * sizeof(int32_t), cudaMemcpyDeviceToHost);
    return v;
  };
  const int64_t ntiles = static_cast<int64_t>(want.tile_expert.size());
  const int64_t nrows = want.offsets[E];
  CHECK(host(plan.counts, E) == want.counts);
  CHECK(host(plan.offsets, E + 1) == want.offsets);
  std::vector<int32_t> te = host(plan.tile_expert, plan.max_tiles);
  CHECK(std::vector<int32_t>(te.begin(), te.begin() + ntiles) == want.tile_expert);
  for (int64_t i = ntiles; i < plan.max_tiles; ++i) CHECK(te[i] == -1);
  CHECK(host(plan.tile_row0, ntiles) == want.tile_row0);
  CHECK(host(plan.tile_rows, ntiles) == want.tile_rows);
  // Rows of each expert: the same set of tokens; every slot's row holds its token.
  std::vector<int32_t> row_token = host(plan.row_token, plan.max_rows);
  std::vector<int32_t> slot = host(plan.slot, T * k);
  for (int64_t e = 0; e < E; ++e) {
    std::multiset<int32_t> got(row_token.begin() + want.offsets[e],
                               row_token.begin() + want.offsets[e + 1]);
    std::multiset<int32_t> exp(want.row_token.begin() + want.offsets[e],
                               want.row_token.begin() + want.offsets[e + 1]);
    CHECK(got == exp);
  }
  for (int64_t r = nrows; r < plan.max_rows; ++r) CHECK(row_token[r] == -1);
  for (int64_t i = 0; i < T * k; ++i) {
    CHECK((slot[i] < 0) == (want.slot[i] < 0));
    if (slot[i] >= 0) CHECK(row_token[slot[i]] == i / k);
  }
}

TEST_CASE(MoeAlignMatchesHostPlan) {
  CheckAlign(1, 8, 128, 8, 1);
  CheckAlign(64, 8, 128, 8, 2);
  CheckAlign(300, 2, 8, 64, 3);
  CheckAlign(2048, 8, 128, 64, 4);
}

// RouteAndAlign (fused for small steps) against RouterTopK + the host plan of its ids.
void CheckRouteAndAlign(int64_t T, int64_t E, int64_t k, int64_t tile, uint32_t seed) {
  std::vector<float> logits = RandomVector(T * E, -4, 4, seed);
  int64_t owned;
  std::vector<int32_t> local = LocalExperts(E, &owned);
  DeviceBuffer<float> d_logits(logits), d_wa(T * k), d_wb(T * k);
  DeviceBuffer<int32_t> d_ida(T * k), d_idb(T * k), d_local(local);
  DeviceBuffer<char> d_plan(MoePlanBytes(T * k, E, tile));
  MoePlan plan = MoePlanCarve(d_plan.get(), T * k, E, tile);
  CHECK_CUDA(RouterTopK(d_logits.get(), T, E, k, true, d_ida.get(), d_wa.get(), 0));
  CHECK_CUDA(RouteAndAlign(d_logits.get(), T, E, k, true, d_idb.get(), d_wb.get(), d_local.get(),
                           plan, 0));
  std::vector<int32_t> ids = d_ida.ToHost();
  CHECK(d_idb.ToHost() == ids);
  CHECK(d_wb.ToHost() == d_wa.ToHost());  // the same device code: bit for bit
  MoePlanHost want = MoeAlignHost(ids.data(), T, k, E, local.data(), tile);
  std::vector<int32_t> counts(E), offsets(E + 1);
  cudaMemcpy(counts.data(), plan.counts, E * sizeof(int32_t), cudaMemcpyDeviceToHost);
  cudaMemcpy(offsets.data(), plan.offsets, (E + 1) * sizeof(int32_t), cudaMemcpyDeviceToHost);
  CHECK(counts == want.counts);
  CHECK(offsets == want.offsets);
}

TEST_CASE(RouteAndAlignMatchesSeparateCalls) {
  CheckRouteAndAlign(1, 128, 8, 8, 61);     // fused
  CheckRouteAndAlign(64, 128, 8, 8, 62);    // fused
  CheckRouteAndAlign(300, 128, 8, 64, 63);  // two launches
  CheckRouteAndAlign(5, 8, 2, 8, 64);       // tiny model shape
}

// The whole expert path for T tokens against the CPU.
void CheckExperts(int64_t T, int64_t tile, bool accumulate, bool fused, uint32_t seed) {
  const int64_t E = 16, k = 4, H = 256, MI = 96;
  std::vector<int32_t> ids = RandomIds(T, k, E, seed);
  int64_t owned;
  std::vector<int32_t> local = LocalExperts(E, &owned);
  std::vector<float> weights = RandomVector(T * k, 0.05f, 0.5f, seed + 1);
  std::vector<float> x = RandomVector(T * H, -1, 1, seed + 2);
  std::vector<float> w13 = RandomVector(owned * 2 * MI * H, -0.1f, 0.1f, seed + 3);
  std::vector<float> w2 = RandomVector(owned * H * MI, -0.1f, 0.1f, seed + 4);
  std::vector<float> base = RandomVector(T * H, -1, 1, seed + 5);
  std::vector<uint16_t> xb = RoundBf16(&x), w13b = RoundBf16(&w13), w2b = RoundBf16(&w2);
  // Reference, experts in ascending id per token.
  std::vector<float> want(T * H, 0.0f), gu(2 * MI), act(MI), y(H);
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> order(k);
    for (int64_t j = 0; j < k; ++j) order[j] = j;
    std::sort(order.begin(), order.end(),
              [&](int64_t a, int64_t b) { return ids[t * k + a] < ids[t * k + b]; });
    float* out = want.data() + t * H;
    for (int64_t j : order) {
      const int32_t le = local[ids[t * k + j]];
      if (le < 0) continue;
      RefLinear(x.data() + t * H, 1, w13.data() + le * 2 * MI * H, 2 * MI, H, gu.data());
      for (int64_t i = 0; i < MI; ++i) {
        act[i] = FromBf16Bits(ToBf16Bits(gu[i] / (1.0f + std::exp(-gu[i])) * gu[MI + i]));
      }
      RefLinear(act.data(), 1, w2.data() + le * H * MI, H, MI, y.data());
      for (int64_t c = 0; c < H; ++c) out[c] += weights[t * k + j] * y[c];
    }
    if (accumulate) {
      for (int64_t c = 0; c < H; ++c) out[c] += base[t * H + c];
    }
  }
  DeviceBuffer<int32_t> d_ids(ids), d_local(local);
  DeviceBuffer<float> d_weights(weights), d_out(base);
  DeviceBuffer<uint16_t> d_x(xb), d_w13(w13b), d_w2(w2b);
  DeviceBuffer<char> d_plan(MoePlanBytes(T * k, E, tile));
  MoePlan plan = MoePlanCarve(d_plan.get(), T * k, E, tile);
  DeviceBuffer<uint16_t> d_xs(plan.max_rows * H), d_act(plan.max_rows * MI);
  DeviceBuffer<float> d_gu(plan.max_rows * 2 * MI), d_ys(plan.max_rows * H);
  CHECK_CUDA(MoeAlign(d_ids.get(), T, k, E, d_local.get(), plan, 0));
  if (fused) {  // the forward pass's path: gather and (GEMV plans) SiLU-mul fused
    CHECK_CUDA(MoeGroupedGemm(AsBf16(d_x.get()), plan.row_token, AsBf16(d_w13.get()), 2 * MI, H,
                              plan, d_gu.get(), 0));
  } else {
    CHECK_CUDA(MoeGatherRows(AsBf16(d_x.get()), plan, H, AsBf16(d_xs.get()), 0));
    CHECK_CUDA(MoeGroupedGemm(AsBf16(d_xs.get()), nullptr, AsBf16(d_w13.get()), 2 * MI, H, plan,
                              d_gu.get(), 0));
  }
  if (fused && tile <= 8) {
    CHECK_CUDA(MoeGroupedGemmSiluIn(d_gu.get(), AsBf16(d_w2.get()), H, MI, plan, d_ys.get(), 0));
  } else {
    CHECK_CUDA(SiluMul(d_gu.get(), plan.max_rows, MI, AsBf16(d_act.get()), 0));
    CHECK_CUDA(MoeGroupedGemm(AsBf16(d_act.get()), nullptr, AsBf16(d_w2.get()), H, MI, plan,
                              d_ys.get(), 0));
  }
  CHECK_CUDA(MoeCombine(d_ys.get(), plan, d_ids.get(), d_weights.get(), T, k, H, accumulate,
                        d_out.get(), 0));
  float scale = 0.0f;
  for (float v : want) scale = std::max(scale, std::fabs(v));
  Near(d_out.ToHost(), want, 2e-3f * scale, 1e-2f, "moe experts");
}

TEST_CASE(MoeExpertsGemvTiles) {
  for (bool fused : {false, true}) {
    CheckExperts(1, 8, false, fused, 10);
    CheckExperts(7, 8, true, fused, 20);
    CheckExperts(64, 4, false, fused, 30);
  }
}

TEST_CASE(MoeExpertsWmmaTiles) {
  for (bool fused : {false, true}) {
    CheckExperts(3, 64, true, fused, 40);
    CheckExperts(200, 64, false, fused, 50);
  }
}

}  // namespace
}  // namespace moe::cuda::testing

int main() { return moe::cuda::testing::RunAll(/*needs_device=*/true); }
