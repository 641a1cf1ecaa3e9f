// PagedAttention: every supported ISA table against the scalar reference, with several
// sequences sharing one cache through shuffled block tables, block sizes 1/16/32, GQA ratios
// 1/2/4, prefill in chunks and decode; the threaded overload is bit-exact.
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

struct AttnCase {
  int64_t block_size;
  int64_t kv_heads;
  int64_t group;  // query heads per kv head
  int64_t head_dim;
};

class AttentionTest : public ::testing::TestWithParam<std::string> {
 protected:
  const KernelTable& table() const { return *GetKernelTable(GetParam()); }
};

// Three sequences of different lengths share a cache; each is prefilled in two chunks and
// then decodes two tokens; every call is checked against the reference.
void RunCase(const KernelTable& table, const AttnCase& c, ThreadPool* pool) {
  SCOPED_TRACE(::testing::Message() << "block_size=" << c.block_size << " kv_heads=" << c.kv_heads
                                    << " group=" << c.group << " head_dim=" << c.head_dim);
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
  std::vector<float> kbuf =
      RandomFloats(static_cast<int64_t>(ids.size()) * c.block_size * width, 1);
  std::vector<float> vbuf =
      RandomFloats(static_cast<int64_t>(ids.size()) * c.block_size * width, 2);
  const PagedKv kv{kbuf.data(),  vbuf.data(), static_cast<int64_t>(ids.size()),
                   c.block_size, c.kv_heads,  d};
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
      // Outputs are convex combinations of values in [-1, 1]; scores and softmax sums are
      // accumulated in other orders and exp is a polynomial (~1e-7 relative): 2e-5 absolute.
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 2e-5f) << "seq " << s << " start " << start << " i " << i;
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

TEST_P(AttentionTest, MatchesReference) {
  for (int64_t bs : {1, 16, 32}) {
    for (int64_t group : {1, 2, 4}) {
      RunCase(table(), {bs, 2, group, 128}, nullptr);
    }
  }
}

TEST_P(AttentionTest, OtherHeadDims) {
  RunCase(table(), {16, 2, 2, 64}, nullptr);
  RunCase(table(), {16, 1, 8, 32}, nullptr);
  RunCase(table(), {32, 2, 4, 48}, nullptr);
  RunCase(table(), {7, 2, 3, 40}, nullptr);  // head_dim not a multiple of 16
}

TEST_P(AttentionTest, LongPrefill) {
  // One 300-token prompt in a single call (several query blocks and key tiles).
  const int64_t bs = 16, kvh = 2, group = 4, d = 128, n = 300, hq = kvh * group;
  const int64_t width = kvh * d, nb = (n + bs - 1) / bs;
  std::vector<float> kbuf(nb * bs * width), vbuf(nb * bs * width);
  const PagedKv kv{kbuf.data(), vbuf.data(), nb, bs, kvh, d};
  std::vector<int32_t> bt(nb);
  for (int64_t i = 0; i < nb; ++i) bt[i] = static_cast<int32_t>(nb - 1 - i);
  const std::vector<float> k = RandomFloats(n * width, 1, -2.0f, 2.0f);
  const std::vector<float> v = RandomFloats(n * width, 2);
  const std::vector<float> q = RandomFloats(n * hq * d, 3, -2.0f, 2.0f);
  reference::KvWrite(kv, bt.data(), 0, n, k.data(), v.data());
  std::vector<float> want(n * hq * d), got(n * hq * d);
  reference::PagedAttention(kv, bt.data(), 0, n, q.data(), hq, 0.088f, want.data());
  table().paged_attention_part(kv, bt.data(), 0, n, q.data(), hq, 0.088f, got.data(), 0, n, 0, kvh);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 2e-5f) << i;  // as above
}

INSTANTIATE_TEST_SUITE_P(Isa, AttentionTest, ::testing::ValuesIn(testing::SupportedIsas()),
                         [](const auto& info) { return info.param; });

TEST(AttentionThreadedTest, BitExactWithPool) {
  ThreadPool pool(2);
  for (int64_t group : {1, 4}) RunCase(ActiveKernelTable(), {16, 2, group, 128}, &pool);
}

}  // namespace
}  // namespace moe::kernels
