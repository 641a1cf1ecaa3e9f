// Paged attention on the device against the CPU reference (kernels/cpu/reference.cc
// PagedAttention) on a random bf16 cache: a prefill chunk and decode tokens of several
// sequences in one batch, GQA groups of 8 and 2, one split and several (flash-decoding).
// Tolerance: outputs are bf16: 2^-7 relative + 2e-3 absolute (softmax-weighted means of
// values in [-1, 1]; fp32 online softmax vs the reference's two passes).
#include <algorithm>
#include <cmath>

#include "tests/cuda/cuda_test_util.h"

namespace moe::cuda::testing {
namespace {

void CheckAttention(int64_t Hq, int64_t Hkv, int64_t D, int splits, uint32_t seed) {
  const int64_t block_size = 16, num_blocks = 24;
  // Sequences: 0 = prefill chunk at positions [10, 30); 1 = decode at 70; 2 = decode at 0.
  struct Seq {
    int64_t start, n;
    std::vector<int32_t> blocks;
  };
  std::vector<Seq> seqs = {{10, 20, {3, 9}}, {70, 1, {1, 4, 6, 8, 23}}, {0, 1, {0}}};
  const int64_t stride = 5;
  std::vector<int32_t> pos, seq_of, tables(seqs.size() * stride, 0);
  for (size_t s = 0; s < seqs.size(); ++s) {
    for (int64_t i = 0; i < seqs[s].n; ++i) {
      pos.push_back(static_cast<int32_t>(seqs[s].start + i));
      seq_of.push_back(static_cast<int32_t>(s));
    }
    std::copy(seqs[s].blocks.begin(), seqs[s].blocks.end(), tables.begin() + s * stride);
  }
  const int64_t T = static_cast<int64_t>(pos.size());
  const int64_t cache_n = num_blocks * block_size * Hkv * D;
  std::vector<float> k = RandomVector(cache_n, -1, 1, seed),
                     v = RandomVector(cache_n, -1, 1, seed + 1);
  std::vector<float> q = RandomVector(T * Hq * D, -1, 1, seed + 2);
  std::vector<uint16_t> kb = RoundBf16(&k), vb = RoundBf16(&v), qb = RoundBf16(&q);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  // Reference.
  std::vector<float> want(T * Hq * D, 0.0f);
  const int64_t group = Hq / Hkv;
  for (int64_t t = 0; t < T; ++t) {
    const int32_t* table = tables.data() + seq_of[t] * stride;
    const int64_t len = pos[t] + 1;
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t kh = h / group;
      std::vector<float> sc(len);
      float mx = -INFINITY;
      for (int64_t p = 0; p < len; ++p) {
        const int64_t off =
            (table[p / block_size] * block_size + p % block_size) * Hkv * D + kh * D;
        float s = 0.0f;
        for (int64_t j = 0; j < D; ++j) s += q[(t * Hq + h) * D + j] * k[off + j];
        sc[p] = s * scale;
        mx = std::max(mx, sc[p]);
      }
      float sum = 0.0f;
      for (float& s : sc) sum += (s = std::exp(s - mx));
      for (int64_t p = 0; p < len; ++p) {
        const int64_t off =
            (table[p / block_size] * block_size + p % block_size) * Hkv * D + kh * D;
        for (int64_t j = 0; j < D; ++j) want[(t * Hq + h) * D + j] += sc[p] / sum * v[off + j];
      }
    }
  }
  DeviceBuffer<uint16_t> d_k(kb), d_v(vb), d_q(qb), d_out(T * Hq * D);
  DeviceBuffer<int32_t> d_pos(pos), d_seq(seq_of), d_tables(tables);
  DeviceBuffer<float> d_partial(std::max<int64_t>(1, AttentionPartialFloats(T, Hq, D, splits)));
  TokenMeta meta{d_pos.get(), d_seq.get(), d_tables.get(), stride, T};
  PagedKvBf16 kv{AsBf16(d_k.get()), AsBf16(d_v.get()), num_blocks, block_size, Hkv, D};
  CHECK_CUDA(PagedAttention(AsBf16(d_q.get()), meta, kv, Hq, scale, splits, d_partial.get(),
                            AsBf16(d_out.get()), 0));
  Near(Widen(d_out.ToHost()), want, 2e-3f, 1.0f / 128.0f, "attention");
}

TEST_CASE(AttentionOneSplit) {
  CheckAttention(32, 4, 128, 1, 1);
  CheckAttention(4, 2, 32, 1, 2);
}

TEST_CASE(AttentionSplits) {
  CheckAttention(32, 4, 128, 4, 3);
  CheckAttention(4, 2, 32, 16, 4);  // more splits than some sequences have positions
}

TEST_CASE(AttentionRejectsBadShapes) {
  TokenMeta meta;
  meta.num_tokens = 1;
  PagedKvBf16 kv;
  kv.kv_heads = 2;
  kv.head_dim = 48;  // not a multiple of 32
  CHECK(PagedAttention(nullptr, meta, kv, 4, 1.0f, 1, nullptr, nullptr, 0) ==
        cudaErrorInvalidValue);
}

}  // namespace
}  // namespace moe::cuda::testing

int main() { return moe::cuda::testing::RunAll(/*needs_device=*/true); }
