// PagedAttention: every supported ISA table against the scalar reference, fp32 and bf16 caches,
// with several sequences sharing one cache through shuffled block tables, block sizes
// 1/7/16/32, GQA ratios 1..16, head dims 32..256 (odd ones too), prefill in chunks, decode
// (partial tiles and blocks, long contexts); the threaded overload is bit-exact.
//
// Tolerance: 2e-5 absolute in both dtypes. Outputs are convex combinations of values in
// [-1, 1]; the reference and the kernels see the same cache contents and (bf16 cache) the same
// bf16-rounded queries, so they differ only by fp32 summation order and the polynomial exp
// (~1e-7 relative).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/reference.h"
#include "tests/kernels/kernel_test_util.h"

namespace moe::kernels {
namespace {

using testing::RandomFloats;

constexpr float kTol = 2e-5f;  // see the header comment

struct AttnCase {
  int64_t block_size;
  int64_t kv_heads;
  int64_t group;  // query heads per kv head
  int64_t head_dim;
  DType dtype = DType::kF32;  // of the cache
};

// A cache's k and v buffers ([blocks, block_size, kv_heads, head_dim] of `dtype`), zeroed.
struct OwnedKv {
  std::vector<uint8_t> k, v;
  PagedKv kv;
  OwnedKv(int64_t blocks, int64_t block_size, int64_t kv_heads, int64_t d, DType dtype)
      : k(blocks * block_size * kv_heads * d * DTypeSize(dtype)),
        v(blocks * block_size * kv_heads * d * DTypeSize(dtype)),
        kv{k.data(), v.data(), blocks, block_size, kv_heads, d, dtype} {}
};

class AttentionTest : public ::testing::TestWithParam<std::string> {
 protected:
  const KernelTable& table() const { return *GetKernelTable(GetParam()); }
};

// Three sequences of different lengths share a cache; each is prefilled in two chunks and
// then decodes two tokens; every call is checked against the reference.
void RunCase(const KernelTable& table, const AttnCase& c, ThreadPool* pool) {
  SCOPED_TRACE(::testing::Message() << "block_size=" << c.block_size << " kv_heads=" << c.kv_heads
                                    << " group=" << c.group << " head_dim=" << c.head_dim
                                    << " dtype=" << std::string(DTypeName(c.dtype)));
  const std::vector<int64_t> lengths = {37, 70, 5};  // prompt lengths
  const int64_t decode = 2;
  const int64_t hq = c.kv_heads * c.group, d = c.head_dim, width = c.kv_heads * d;
  int64_t blocks_needed = 0;
  std::vector<int64_t> nblocks;
  for (int64_t len : lengths) {
    nblocks.push_back((len + decode + c.block_size - 1) / c.block_size);
    blocks_needed += nblocks.back();
  }
  // Blocks handed out in a shuffled order so sequences interleave in the cache.
  std::vector<int32_t> ids(blocks_needed + 3);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(42));
  OwnedKv cache(static_cast<int64_t>(ids.size()), c.block_size, c.kv_heads, d, c.dtype);
  const PagedKv& kv = cache.kv;
  std::vector<std::vector<int32_t>> tables;
  size_t next = 0;
  for (int64_t nb : nblocks) {
    tables.emplace_back(ids.begin() + next, ids.begin() + next + nb);
    next += nb;
  }
  // Scale as in the model; q and k in [-2, 2] make the softmax peaky enough to matter.
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  uint32_t seed = 10;
  for (size_t s = 0; s < lengths.size(); ++s) {
    const int64_t len = lengths[s];
    // Chunks: [0, len / 2), [len / 2, len), then single decode tokens.
    std::vector<std::pair<int64_t, int64_t>> steps = {{0, len / 2}, {len / 2, len - len / 2}};
    for (int64_t i = 0; i < decode; ++i) steps.push_back({len + i, 1});
    for (auto [start, n] : steps) {
      if (n == 0) continue;
      const std::vector<float> k = RandomFloats(n * width, seed++, -2.0f, 2.0f);
      const std::vector<float> v = RandomFloats(n * width, seed++);
      const std::vector<float> q = RandomFloats(n * hq * d, seed++, -2.0f, 2.0f);
      reference::KvWrite(kv, tables[s].data(), start, n, k.data(), v.data());
      std::vector<float> want(n * hq * d), got(n * hq * d, NAN);  // [n, hq, d]
      reference::PagedAttention(kv, tables[s].data(), start, n, q.data(), hq, scale, want.data());
      table.paged_attention_part(kv, tables[s].data(), start, n, q.data(), hq, scale, got.data(), 0,
                                 n, 0, c.kv_heads);
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], kTol) << "seq " << s << " start " << start << " i " << i;
      }
      if (pool != nullptr) {
        // The public threaded overload must equal the single-threaded call bit for bit.
        std::vector<float> one(n * hq * d), two(n * hq * d);
        PagedAttention(kv, tables[s].data(), start, n, q.data(), hq, scale, one.data());
        PagedAttention(kv, tables[s].data(), start, n, q.data(), hq, scale, two.data(), pool);
        ASSERT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)));
      }
    }
  }
}

constexpr DType kDTypes[] = {DType::kF32, DType::kBF16};

TEST_P(AttentionTest, MatchesReference) {
  for (DType dt : kDTypes) {
    for (int64_t bs : {1, 16, 32}) {
      for (int64_t group : {1, 2, 4}) {
        RunCase(table(), {bs, 2, group, 128, dt}, nullptr);
      }
    }
  }
}

TEST_P(AttentionTest, OtherHeadDims) {
  for (DType dt : kDTypes) {
    RunCase(table(), {16, 2, 2, 64, dt}, nullptr);
    RunCase(table(), {16, 1, 8, 32, dt}, nullptr);
    RunCase(table(), {32, 2, 4, 48, dt}, nullptr);
    RunCase(table(), {7, 2, 3, 40, dt}, nullptr);  // head_dim not a multiple of 16
    RunCase(table(), {16, 1, 16, 72, dt}, nullptr);
    RunCase(table(), {5, 1, 6, 256, dt}, nullptr);
  }
}

// One prompt of n tokens in a single call (several query blocks and key tiles), then `decode`
// single tokens: long contexts, partial last tiles and blocks.
void RunLong(const KernelTable& table, int64_t n, int64_t decode, int64_t bs, int64_t kvh,
             int64_t group, int64_t d, DType dtype) {
  SCOPED_TRACE(::testing::Message() << "n=" << n << " bs=" << bs << " group=" << group << " d=" << d
                                    << " dtype=" << std::string(DTypeName(dtype)));
  const int64_t hq = kvh * group, width = kvh * d, len = n + decode;
  const int64_t nb = (len + bs - 1) / bs;
  OwnedKv cache(nb, bs, kvh, d, dtype);
  std::vector<int32_t> bt(nb);
  for (int64_t i = 0; i < nb; ++i) bt[i] = static_cast<int32_t>(nb - 1 - i);
  const std::vector<float> k = RandomFloats(len * width, 1, -2.0f, 2.0f);
  const std::vector<float> v = RandomFloats(len * width, 2);
  const std::vector<float> q = RandomFloats(len * hq * d, 3, -2.0f, 2.0f);
  reference::KvWrite(cache.kv, bt.data(), 0, len, k.data(), v.data());
  std::vector<std::pair<int64_t, int64_t>> steps = {{0, n}};
  for (int64_t i = 0; i < decode; ++i) steps.push_back({n + i, 1});
  for (auto [start, m] : steps) {
    const float* qs = q.data() + start * hq * d;
    std::vector<float> want(m * hq * d), got(m * hq * d);
    reference::PagedAttention(cache.kv, bt.data(), start, m, qs, hq, 0.088f, want.data());
    table.paged_attention_part(cache.kv, bt.data(), start, m, qs, hq, 0.088f, got.data(), 0, m, 0,
                               kvh);
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], kTol) << "start " << start << " i " << i;
    }
  }
}

TEST_P(AttentionTest, LongPrefill) {
  for (DType dt : kDTypes) RunLong(table(), 300, 0, 16, 2, 4, 128, dt);
}

TEST_P(AttentionTest, LongDecode) {
  for (DType dt : kDTypes) {
    RunLong(table(), 600, 3, 16, 2, 2, 128, dt);  // qwen3-0.6b's GQA ratio and head_dim
    RunLong(table(), 517, 2, 32, 1, 8, 128, dt);  // qwen3-30b-a3b's
    RunLong(table(), 300, 2, 7, 2, 3, 80, dt);
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, AttentionTest, ::testing::ValuesIn(testing::SupportedIsas()),
                         [](const auto& info) { return info.param; });

TEST(AttentionThreadedTest, BitExactWithPool) {
  ThreadPool pool(2);
  for (DType dt : kDTypes) {
    for (int64_t group : {1, 4}) RunCase(ActiveKernelTable(), {16, 2, group, 128, dt}, &pool);
  }
}

// The bf16 cache stores keys and values rounded to nearest even, and its attention is close
// to the fp32 cache's (values and the queries' rounding: relative 2^-8 each; 0.02 here).
TEST(AttentionBf16Test, CacheRoundsAndStaysCloseToFp32) {
  const int64_t bs = 16, kvh = 2, group = 2, d = 128, n = 40, hq = kvh * group, width = kvh * d;
  OwnedKv f32(3, bs, kvh, d, DType::kF32), bf16(3, bs, kvh, d, DType::kBF16);
  const std::vector<int32_t> bt = {2, 0, 1};
  const std::vector<float> k = RandomFloats(n * width, 1, -2.0f, 2.0f);
  const std::vector<float> v = RandomFloats(n * width, 2);
  const std::vector<float> q = RandomFloats(n * hq * d, 3, -2.0f, 2.0f);
  KvWrite(f32.kv, bt.data(), 0, n, k.data(), v.data());
  KvWrite(bf16.kv, bt.data(), 0, n, k.data(), v.data());
  const auto* kb = reinterpret_cast<const uint16_t*>(bf16.k.data());
  const auto* kf = reinterpret_cast<const float*>(f32.k.data());
  for (int64_t i = 0; i < 3 * bs * width; ++i) ASSERT_EQ(kb[i], F32ToBf16(kf[i])) << i;
  std::vector<float> a(n * hq * d), b(n * hq * d);
  PagedAttention(f32.kv, bt.data(), 0, n, q.data(), hq, 0.088f, a.data());
  PagedAttention(bf16.kv, bt.data(), 0, n, q.data(), hq, 0.088f, b.data());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 0.02f) << i;
}

}  // namespace
}  // namespace moe::kernels
