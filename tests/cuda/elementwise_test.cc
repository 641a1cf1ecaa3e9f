// CUDA kernels against CPU references on random inputs: embedding, RMSNorm, RoPE, the attention
// prologue (q/k norm + RoPE + KV write), SiLU-mul, add, router top-k, cuBLAS GEMM, random fill.
// Tolerances: fp32 outputs 1e-5 relative (sum order); bf16 outputs 2^-7 relative (one bf16
// rounding of 2^-9 plus the fp32 differences), GEMM fp32 outputs 1e-3 absolute on sums of ~7.
#include <algorithm>
#include <numeric>

#include "kernels/cuda/gemm.h"
#include "tests/cuda/cuda_test_util.h"

namespace moe::cuda::testing {
namespace {

constexpr float kBf16Rtol = 1.0f / 128.0f;

TEST_CASE(EmbeddingGatherExact) {
  const int64_t V = 50, n = 72, T = 9;
  std::vector<float> table = RandomVector(V * n, -1, 1, 1);
  std::vector<uint16_t> bits = RoundBf16(&table);
  std::vector<int32_t> ids = {3, 0, 49, 3, 17, 8, 8, 21, 1};
  DeviceBuffer<uint16_t> d_table(bits);
  DeviceBuffer<int32_t> d_ids(ids);
  DeviceBuffer<float> d_out(T * n);
  CHECK_CUDA(EmbeddingGather(AsBf16(d_table.get()), d_ids.get(), T, n, d_out.get(), 0));
  std::vector<float> want(T * n);
  for (int64_t t = 0; t < T; ++t)
    std::copy(table.begin() + ids[t] * n, table.begin() + (ids[t] + 1) * n, want.begin() + t * n);
  Near(d_out.ToHost(), want, 0, 0, "embedding");
}

TEST_CASE(RmsNormF32AndBf16) {
  const int64_t rows = 7, n = 2048;
  const float eps = 1e-6f;
  std::vector<float> x = RandomVector(rows * n, -3, 3, 2), w = RandomVector(n, 0.5f, 1.5f, 3);
  std::vector<float> want(rows * n);
  RefRmsNorm(x.data(), w.data(), rows, n, eps, want.data());
  DeviceBuffer<float> d_x(x), d_w(w), d_y(rows * n);
  CHECK_CUDA(RmsNormF32(d_x.get(), d_w.get(), rows, n, eps, d_y.get(), 0));
  Near(d_y.ToHost(), want, 1e-6f, 1e-5f, "rms_norm f32");
  // bf16 out over gathered rows 5, 0, 3.
  std::vector<int64_t> rows_index = {5, 0, 3};
  DeviceBuffer<int64_t> d_idx(rows_index);
  DeviceBuffer<uint16_t> d_yb(3 * n);
  CHECK_CUDA(RmsNormBf16(d_x.get(), d_idx.get(), d_w.get(), 3, n, eps, AsBf16(d_yb.get()), 0));
  std::vector<float> want_rows;
  for (int64_t r : rows_index)
    want_rows.insert(want_rows.end(), want.begin() + r * n, want.begin() + (r + 1) * n);
  Near(Widen(d_yb.ToHost()), want_rows, 1e-6f, kBf16Rtol, "rms_norm bf16 gathered");
  // Per-head norm: rows = T * heads of width head_dim, in place.
  const int64_t D = 32;
  std::vector<float> head_want(rows * n);
  RefRmsNorm(x.data(), w.data(), rows * n / D, D, eps, head_want.data());
  CHECK_CUDA(RmsNormF32(d_x.get(), d_w.get(), rows * n / D, D, eps, d_x.get(), 0));
  Near(d_x.ToHost(), head_want, 1e-6f, 1e-5f, "rms_norm per head in place");
}

TEST_CASE(RopeMatchesReference) {
  const int64_t T = 5, heads = 3, D = 128;
  std::vector<float> x = RandomVector(T * heads * D, -2, 2, 4);
  std::vector<int32_t> pos = {0, 1, 17, 1000, 40000};
  std::vector<float> inv = InvFreq(D, 1e6);
  std::vector<float> want = x;
  RefRope(want.data(), T, heads, D, pos.data(), inv.data());
  DeviceBuffer<float> d_x(x), d_inv(inv);
  DeviceBuffer<int32_t> d_pos(pos);
  CHECK_CUDA(Rope(d_x.get(), T, heads, D, d_pos.get(), d_inv.get(), 0));
  Near(d_x.ToHost(), want, 2e-5f, 1e-5f, "rope");
}

TEST_CASE(QkNormRopeKvWriteMatchesReference) {
  const int64_t T = 6, Hq = 8, Hkv = 2, D = 64, block_size = 4, num_blocks = 8;
  const float eps = 1e-6f;
  const int64_t width = (Hq + 2 * Hkv) * D;
  std::vector<float> qkv = RandomVector(T * width, -2, 2, 5);
  std::vector<float> qn = RandomVector(D, 0.5f, 1.5f, 6), kn = RandomVector(D, 0.5f, 1.5f, 7);
  std::vector<float> inv = InvFreq(D, 1e6);
  // Two sequences: seq 0 tokens at 0..3 (blocks 5, 2), seq 1 tokens at 9, 10 (blocks 0, 7, 3).
  std::vector<int32_t> pos = {0, 1, 2, 3, 9, 10}, seq = {0, 0, 0, 0, 1, 1};
  const int64_t stride = 3;
  std::vector<int32_t> tables = {5, 2, -1, 0, 7, 3};
  DeviceBuffer<float> d_qkv(qkv), d_qn(qn), d_kn(kn), d_inv(inv);
  DeviceBuffer<int32_t> d_pos(pos), d_seq(seq), d_tables(tables);
  const int64_t cache_n = num_blocks * block_size * Hkv * D;
  DeviceBuffer<uint16_t> d_k(cache_n), d_v(cache_n), d_q(T * Hq * D);
  CHECK_CUDA(cudaMemset(d_k.get(), 0, cache_n * 2));
  CHECK_CUDA(cudaMemset(d_v.get(), 0, cache_n * 2));
  TokenMeta meta{d_pos.get(), d_seq.get(), d_tables.get(), stride, T};
  PagedKvBf16 kv{AsBf16(d_k.get()), AsBf16(d_v.get()), num_blocks, block_size, Hkv, D};
  CHECK_CUDA(QkNormRopeKvWrite(d_qkv.get(), meta, Hq, d_qn.get(), d_kn.get(), eps, d_inv.get(), kv,
                               AsBf16(d_q.get()), 0));
  // Reference: split, per-head norm, rope, place in the cache.
  std::vector<float> q(T * Hq * D), k(T * Hkv * D), v(T * Hkv * D);
  for (int64_t t = 0; t < T; ++t) {
    const float* row = qkv.data() + t * width;
    std::copy(row, row + Hq * D, q.begin() + t * Hq * D);
    std::copy(row + Hq * D, row + (Hq + Hkv) * D, k.begin() + t * Hkv * D);
    std::copy(row + (Hq + Hkv) * D, row + width, v.begin() + t * Hkv * D);
  }
  RefRmsNorm(q.data(), qn.data(), T * Hq, D, eps, q.data());
  RefRmsNorm(k.data(), kn.data(), T * Hkv, D, eps, k.data());
  RefRope(q.data(), T, Hq, D, pos.data(), inv.data());
  RefRope(k.data(), T, Hkv, D, pos.data(), inv.data());
  std::vector<float> want_k(cache_n, 0.0f), want_v(cache_n, 0.0f);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t block = tables[seq[t] * stride + pos[t] / block_size];
    const int64_t off = (block * block_size + pos[t] % block_size) * Hkv * D;
    std::copy(k.begin() + t * Hkv * D, k.begin() + (t + 1) * Hkv * D, want_k.begin() + off);
    std::copy(v.begin() + t * Hkv * D, v.begin() + (t + 1) * Hkv * D, want_v.begin() + off);
  }
  Near(Widen(d_q.ToHost()), q, 1e-3f, kBf16Rtol, "q");
  Near(Widen(d_k.ToHost()), want_k, 1e-3f, kBf16Rtol, "k cache");
  Near(Widen(d_v.ToHost()), want_v, 1e-3f, kBf16Rtol, "v cache");
}

TEST_CASE(SiluMulAndAdd) {
  const int64_t rows = 3, inter = 300;
  std::vector<float> gu = RandomVector(rows * 2 * inter, -6, 6, 8);
  std::vector<float> want(rows * inter);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < inter; ++i) {
      const float g = gu[r * 2 * inter + i];
      want[r * inter + i] = g / (1.0f + std::exp(-g)) * gu[r * 2 * inter + inter + i];
    }
  DeviceBuffer<float> d_gu(gu);
  DeviceBuffer<uint16_t> d_out(rows * inter);
  CHECK_CUDA(SiluMul(d_gu.get(), rows, inter, AsBf16(d_out.get()), 0));
  Near(Widen(d_out.ToHost()), want, 1e-6f, kBf16Rtol, "silu_mul");
  std::vector<float> x = RandomVector(1000, -1, 1, 9), y = RandomVector(1000, -1, 1, 10);
  DeviceBuffer<float> d_x(x), d_y(y);
  CHECK_CUDA(Add(d_x.get(), d_y.get(), 1000, 0));
  for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
  Near(d_x.ToHost(), x, 0, 0, "add");
}

TEST_CASE(RouterTopKMatchesReference) {
  for (bool renorm : {true, false}) {
    const int64_t T = 37, E = 128, k = 8;
    std::vector<float> logits = RandomVector(T * E, -4, 4, renorm ? 11 : 12);
    DeviceBuffer<float> d_logits(logits), d_w(T * k);
    DeviceBuffer<int32_t> d_ids(T * k);
    CHECK_CUDA(RouterTopK(d_logits.get(), T, E, k, renorm, d_ids.get(), d_w.get(), 0));
    std::vector<int32_t> want_ids;
    std::vector<float> want_w;
    for (int64_t t = 0; t < T; ++t) {
      const float* r = logits.data() + t * E;
      const float mx = *std::max_element(r, r + E);
      std::vector<float> p(E);
      float sum = 0.0f;
      for (int64_t e = 0; e < E; ++e) sum += (p[e] = std::exp(r[e] - mx));
      for (float& v : p) v /= sum;
      std::vector<int32_t> order(E);
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
        return p[a] > p[b] || (p[a] == p[b] && a < b);
      });
      float wsum = 0.0f;
      for (int64_t j = 0; j < k; ++j) wsum += p[order[j]];
      for (int64_t j = 0; j < k; ++j) {
        want_ids.push_back(order[j]);
        want_w.push_back(renorm ? p[order[j]] / wsum : p[order[j]]);
      }
    }
    CHECK(d_ids.ToHost() == want_ids);
    Near(d_w.ToHost(), want_w, 1e-7f, 1e-5f, "router weights");
  }
}

TEST_CASE(CublasGemmMatchesReference) {
  cublasHandle_t handle;
  CHECK(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS);
  for (int64_t M : {1, 3, 64}) {
    const int64_t N = 96, K = 512;
    std::vector<float> x = RandomVector(M * K, -1, 1, 13), w = RandomVector(N * K, -1, 1, 14);
    std::vector<uint16_t> xb = RoundBf16(&x), wb = RoundBf16(&w);
    std::vector<float> base = RandomVector(M * N, -1, 1, 15), want(M * N);
    RefLinear(x.data(), M, w.data(), N, K, want.data());
    DeviceBuffer<uint16_t> d_x(xb), d_w(wb);
    DeviceBuffer<float> d_y(base);
    CHECK(GemmBf16F32(handle, AsBf16(d_x.get()), M, AsBf16(d_w.get()), N, K, 1.0f, d_y.get()) ==
          CUBLAS_STATUS_SUCCESS);
    for (size_t i = 0; i < want.size(); ++i) want[i] += base[i];
    Near(d_y.ToHost(), want, 1e-3f, 1e-4f, "gemm f32 beta 1");
    DeviceBuffer<uint16_t> d_yb(M * N);
    CHECK(GemmBf16Bf16(handle, AsBf16(d_x.get()), M, AsBf16(d_w.get()), N, K, AsBf16(d_yb.get())) ==
          CUBLAS_STATUS_SUCCESS);
    for (size_t i = 0; i < want.size(); ++i) want[i] -= base[i];
    Near(Widen(d_yb.ToHost()), want, 1e-3f, kBf16Rtol, "gemm bf16");
  }
  cublasDestroy(handle);
}

uint64_t HostSplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

TEST_CASE(RandomFillMatchesHostFormula) {
  const int64_t n = 4099;
  const uint64_t seed = 0x1234abcdull;
  DeviceBuffer<uint16_t> d(n);
  CHECK_CUDA(FillRandomBf16(AsBf16(d.get()), n, seed, 0.02f, 0));
  std::vector<uint16_t> got = d.ToHost();
  const float a = 0.02f * std::sqrt(3.0f);
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t r = HostSplitMix(seed + static_cast<uint64_t>(i));
    const float u = static_cast<float>(r >> 40) * (1.0f / 16777216.0f);
    bad += got[i] != ToBf16Bits((2.0f * u - 1.0f) * a);
  }
  CHECK(bad == 0);
}

}  // namespace
}  // namespace moe::cuda::testing

int main() { return moe::cuda::testing::RunAll(/*needs_device=*/true); }
