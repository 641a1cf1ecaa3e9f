// BlockManager: allocation and refcounts, prefix matching (never the last token's block),
// LRU eviction of cached blocks, collision safety (tokens and parent identity are checked),
// dedup of concurrently computed prefixes, stats.
#include "coordinator/scheduler/block_manager.h"

#include <gtest/gtest.h>

#include <vector>

namespace moe {
namespace {

using Tokens = std::vector<int32_t>;

// A sequence as the scheduler keeps it: tokens, block table, hashes and chain.
struct TestSeq {
  Tokens tokens;
  std::vector<int32_t> table;
  std::vector<uint64_t> hashes;
  PrefixChain chain;
};

// Allocates blocks for all of seq's tokens (after matching the cache) and registers its full
// blocks, as if its prefill step had completed. Returns the number of blocks matched.
int64_t Prefill(BlockManager& bm, TestSeq& s) {
  const int64_t bs = bm.block_size();
  const int64_t n = static_cast<int64_t>(s.tokens.size());
  bm.ExtendHashes(s.tokens, (n - 1) / bs, &s.hashes);
  std::vector<int32_t> matched = bm.MatchPrefix(s.tokens, s.hashes, &s.chain);
  bm.Share(matched, &s.table);
  EXPECT_TRUE(bm.Allocate(bm.BlocksFor(n) - static_cast<int64_t>(matched.size()), &s.table));
  bm.ExtendHashes(s.tokens, n / bs, &s.hashes);
  bm.Register(s.table, s.tokens, s.hashes, n / bs, &s.chain);
  return static_cast<int64_t>(matched.size());
}

std::vector<int32_t> Match(const BlockManager& bm, const Tokens& tokens) {
  std::vector<uint64_t> hashes;  // all full blocks: MatchPrefix itself must stop before the last
  bm.ExtendHashes(tokens, static_cast<int64_t>(tokens.size()) / bm.block_size(), &hashes);
  PrefixChain chain;
  std::vector<int32_t> m = bm.MatchPrefix(tokens, hashes, &chain);
  EXPECT_EQ(chain.num_blocks, static_cast<int64_t>(m.size()));
  return m;
}

TEST(BlockManagerTest, AllocateFreeAndRefcounts) {
  BlockManager bm(/*num_blocks=*/8, /*block_size=*/4, /*enable_prefix_caching=*/false);
  EXPECT_EQ(bm.num_free(), 8);
  EXPECT_EQ(bm.BlocksFor(0), 0);
  EXPECT_EQ(bm.BlocksFor(4), 1);
  EXPECT_EQ(bm.BlocksFor(5), 2);

  std::vector<int32_t> a;
  ASSERT_TRUE(bm.Allocate(3, &a));
  EXPECT_EQ(a, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(bm.num_used(), 3);
  EXPECT_EQ(bm.num_free(), 5);

  std::vector<int32_t> b;
  EXPECT_FALSE(bm.Allocate(6, &b));  // all or nothing
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(bm.num_free(), 5);

  bm.Share({a[0], a[1]}, &b);
  EXPECT_EQ(bm.refcount(a[0]), 2);
  EXPECT_EQ(bm.refcount(a[2]), 1);
  EXPECT_EQ(bm.num_used(), 3);
  EXPECT_EQ(bm.CountFree(a), 0);

  bm.Free(&a);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(bm.refcount(b[0]), 1);
  EXPECT_EQ(bm.num_used(), 2);
  bm.Free(&b);
  EXPECT_EQ(bm.num_used(), 0);
  EXPECT_EQ(bm.num_free(), 8);
  EXPECT_EQ(bm.num_cached(), 0);  // nothing registered without prefix caching

  std::vector<int32_t> all;
  ASSERT_TRUE(bm.Allocate(8, &all));
  EXPECT_EQ(bm.num_free(), 0);
}

TEST(BlockManagerTest, PrefixHitAndMiss) {
  BlockManager bm(16, 4, true);
  TestSeq a{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}};
  EXPECT_EQ(Prefill(bm, a), 0);
  EXPECT_EQ(a.chain.num_blocks, 2);
  EXPECT_TRUE(bm.is_registered(a.table[0]));
  EXPECT_TRUE(bm.is_registered(a.table[1]));
  EXPECT_FALSE(bm.is_registered(a.table[2]));  // partial block

  EXPECT_EQ(Match(bm, {1, 2, 3, 4, 5, 6, 7, 8, 9}), (std::vector<int32_t>{a.table[0], a.table[1]}));
  EXPECT_EQ(Match(bm, {1, 2, 3, 4, 5, 6, 7, 0, 9}), (std::vector<int32_t>{a.table[0]}));
  EXPECT_TRUE(Match(bm, {0, 2, 3, 4, 5, 6, 7, 8, 9}).empty());
  EXPECT_TRUE(Match(bm, {1, 2, 3}).empty());

  // A second identical sequence shares the two full blocks.
  TestSeq b{a.tokens};
  EXPECT_EQ(Prefill(bm, b), 2);
  EXPECT_EQ(b.table[0], a.table[0]);
  EXPECT_EQ(b.table[1], a.table[1]);
  EXPECT_NE(b.table[2], a.table[2]);
  EXPECT_EQ(bm.refcount(a.table[0]), 2);
  EXPECT_EQ(bm.num_used(), 4);
}

TEST(BlockManagerTest, NeverMatchesTheBlockOfTheLastToken) {
  BlockManager bm(16, 4, true);
  TestSeq a{{1, 2, 3, 4, 5, 6, 7, 8}};
  Prefill(bm, a);
  EXPECT_EQ(a.chain.num_blocks, 2);
  // Exactly two full blocks: only the first may be reused, one token must be computed.
  EXPECT_EQ(Match(bm, {1, 2, 3, 4, 5, 6, 7, 8}).size(), 1u);
  EXPECT_EQ(Match(bm, {1, 2, 3, 4, 5, 6, 7, 8, 9}).size(), 2u);
  EXPECT_EQ(Match(bm, {1, 2, 3, 4}).size(), 0u);
  EXPECT_EQ(Match(bm, {1, 2, 3, 4, 5}).size(), 1u);
}

TEST(BlockManagerTest, NothingMatchesBeforeRegistration) {
  BlockManager bm(16, 4, true);
  TestSeq a{{1, 2, 3, 4, 5, 6, 7, 8, 9}};
  bm.ExtendHashes(a.tokens, 2, &a.hashes);
  ASSERT_TRUE(bm.Allocate(3, &a.table));
  EXPECT_TRUE(Match(bm, a.tokens).empty());  // computed, but its result has not come back
  bm.Register(a.table, a.tokens, a.hashes, 1, &a.chain);
  EXPECT_EQ(Match(bm, a.tokens).size(), 1u);
  bm.Register(a.table, a.tokens, a.hashes, 2, &a.chain);  // continues the chain
  EXPECT_EQ(Match(bm, a.tokens).size(), 2u);
}

TEST(BlockManagerTest, FreedBlocksStayCachedUntilEvictedInLruOrder) {
  BlockManager bm(6, 2, true);
  TestSeq a{{1, 1, 2, 2, 3}};  // blocks [1 1][2 2][3]
  TestSeq b{{5, 5, 6, 6, 7}};
  Prefill(bm, a);
  Prefill(bm, b);
  EXPECT_EQ(bm.num_used(), 6);
  EXPECT_EQ(bm.num_free(), 0);

  // Freed tail first: LRU order a1, a0, b1, b0; the partial blocks a2, b2 are just empty.
  bm.Free(&a.table);
  bm.Free(&b.table);
  EXPECT_EQ(bm.num_used(), 0);
  EXPECT_EQ(bm.num_free(), 6);
  EXPECT_EQ(bm.num_cached(), 4);
  EXPECT_EQ(Match(bm, a.tokens).size(), 2u);
  EXPECT_EQ(Match(bm, b.tokens).size(), 2u);

  std::vector<int32_t> other;
  ASSERT_TRUE(bm.Allocate(2, &other));  // the empty blocks go first
  EXPECT_EQ(bm.num_cached(), 4);
  ASSERT_TRUE(bm.Allocate(1, &other));  // evicts a's tail block
  EXPECT_EQ(bm.num_cached(), 3);
  EXPECT_EQ(Match(bm, a.tokens).size(), 1u);
  EXPECT_EQ(Match(bm, b.tokens).size(), 2u);

  // Reusing b's blocks makes them most recently used.
  std::vector<int32_t> b_again = Match(bm, b.tokens);
  EXPECT_EQ(bm.CountFree(b_again), 2);
  std::vector<int32_t> shared;
  bm.Share(b_again, &shared);
  EXPECT_EQ(bm.num_cached(), 1);
  EXPECT_EQ(bm.num_free(), 1);
  bm.Free(&shared);  // LRU now a0, b1, b0

  ASSERT_TRUE(bm.Allocate(1, &other));  // evicts a0
  EXPECT_EQ(Match(bm, a.tokens).size(), 0u);
  EXPECT_EQ(Match(bm, b.tokens).size(), 2u);
  ASSERT_TRUE(bm.Allocate(1, &other));  // evicts b1
  EXPECT_EQ(Match(bm, b.tokens).size(), 1u);
  EXPECT_EQ(bm.num_cached(), 1);
  EXPECT_FALSE(bm.Allocate(2, &other));
  ASSERT_TRUE(bm.Allocate(1, &other));  // evicts b0
  EXPECT_EQ(Match(bm, b.tokens).size(), 0u);
  EXPECT_EQ(bm.num_free(), 0);
  EXPECT_EQ(bm.num_cached(), 0);
}

// Every block gets the same hash: lookups must still never return a block whose tokens
// differ.
uint64_t ConstantHash(uint64_t, absl::Span<const int32_t>) { return 42; }

TEST(BlockManagerTest, HashCollisionNeverReturnsAWrongBlock) {
  BlockManager bm(8, 2, true, &ConstantHash);
  TestSeq a{{1, 2, 9}};
  Prefill(bm, a);
  EXPECT_EQ(Match(bm, {1, 2, 0}), (std::vector<int32_t>{a.table[0]}));
  EXPECT_TRUE(Match(bm, {3, 4, 0}).empty());  // same hash, other tokens

  // A newer registration of another content takes the hash over; a's block is no longer
  // reusable, and nothing wrong is returned for either content.
  TestSeq b{{3, 4, 9}};
  EXPECT_EQ(Prefill(bm, b), 0);
  EXPECT_EQ(Match(bm, {3, 4, 0}), (std::vector<int32_t>{b.table[0]}));
  EXPECT_TRUE(Match(bm, {1, 2, 0}).empty());
  EXPECT_FALSE(bm.is_registered(a.table[0]));
  bm.Free(&a.table);
  EXPECT_EQ(bm.num_cached(), 0);  // a's block went back empty
}

// The hash ignores the parent: equal tokens after different prefixes collide. The KV of a
// block depends on everything before it, so the parent must be checked too.
uint64_t TokensOnlyHash(uint64_t, absl::Span<const int32_t> tokens) {
  return BlockManager::DefaultHash(0, tokens);
}

TEST(BlockManagerTest, EqualTokensAfterADifferentPrefixDoNotMatch) {
  BlockManager bm(16, 2, true, &TokensOnlyHash);
  TestSeq a{{1, 1, 7, 7, 0}};  // [1 1][7 7]
  Prefill(bm, a);
  EXPECT_EQ(Match(bm, {1, 1, 7, 7, 3}).size(), 2u);
  // [2 2][7 7]: block 1 has a's tokens and a's hash, but a different parent.
  EXPECT_TRUE(Match(bm, {2, 2, 7, 7, 3}).empty());
  EXPECT_TRUE(Match(bm, {7, 7, 7, 7, 3}).empty());  // a's block 1 is no root block

  TestSeq b{{2, 2, 7, 7, 0}};
  EXPECT_EQ(Prefill(bm, b), 0);
  EXPECT_EQ(Match(bm, {2, 2, 7, 7, 3}), (std::vector<int32_t>{b.table[0], b.table[1]}));
  // b's [7 7] took the hash over: a's chain now stops after its first block.
  EXPECT_EQ(Match(bm, {1, 1, 7, 7, 3}), (std::vector<int32_t>{a.table[0]}));
}

TEST(BlockManagerTest, ConcurrentIdenticalPrefixesAreRegisteredOnce) {
  BlockManager bm(16, 2, true);
  // a and b compute the same two blocks in the same step (neither could match the other);
  // b is longer.
  TestSeq a{{1, 2, 3, 4, 0}};
  TestSeq b{{1, 2, 3, 4, 5, 6, 0}};
  bm.ExtendHashes(a.tokens, 2, &a.hashes);
  bm.ExtendHashes(b.tokens, 3, &b.hashes);
  ASSERT_TRUE(bm.Allocate(3, &a.table));
  ASSERT_TRUE(bm.Allocate(4, &b.table));
  bm.Register(a.table, a.tokens, a.hashes, 2, &a.chain);
  bm.Register(b.table, b.tokens, b.hashes, 3, &b.chain);
  EXPECT_FALSE(bm.is_registered(b.table[0]));  // a's copies are the cached ones
  EXPECT_FALSE(bm.is_registered(b.table[1]));
  EXPECT_TRUE(bm.is_registered(b.table[2]));  // chained on a's block 1
  EXPECT_EQ(Match(bm, {1, 2, 3, 4, 5, 6, 9}),
            (std::vector<int32_t>{a.table[0], a.table[1], b.table[2]}));

  // b's own copies are not cached when freed.
  bm.Free(&b.table);
  EXPECT_EQ(bm.num_cached(), 1);
  EXPECT_EQ(bm.num_used(), 3);
}

TEST(BlockManagerTest, StopsRegisteringWhenTheChainsParentWasEvicted) {
  BlockManager bm(5, 2, true);
  TestSeq a{{1, 2, 0}};
  TestSeq b{{1, 2, 3, 4, 0}};
  bm.ExtendHashes(a.tokens, 1, &a.hashes);
  bm.ExtendHashes(b.tokens, 2, &b.hashes);
  ASSERT_TRUE(bm.Allocate(2, &a.table));
  ASSERT_TRUE(bm.Allocate(3, &b.table));
  bm.Register(a.table, a.tokens, a.hashes, 1, &a.chain);
  bm.Register(b.table, b.tokens, b.hashes, 1, &b.chain);  // b's block 0 chains on a's
  const int32_t a0 = a.table[0];
  bm.Free(&a.table);  // a0 cached, a1 empty
  std::vector<int32_t> other;
  ASSERT_TRUE(bm.Allocate(2, &other));  // a1, then evicts a0
  EXPECT_FALSE(bm.is_registered(a0));
  bm.Register(b.table, b.tokens, b.hashes, 2, &b.chain);
  EXPECT_FALSE(bm.is_registered(b.table[1]));  // unreachable: not registered
  EXPECT_TRUE(Match(bm, b.tokens).empty());
}

TEST(BlockManagerTest, PrefixCachingOff) {
  BlockManager bm(8, 2, false);
  TestSeq a{{1, 2, 3, 4, 5}};
  EXPECT_EQ(Prefill(bm, a), 0);
  EXPECT_FALSE(bm.is_registered(a.table[0]));
  EXPECT_TRUE(Match(bm, a.tokens).empty());
  bm.Free(&a.table);
  EXPECT_EQ(bm.num_cached(), 0);
  EXPECT_EQ(bm.num_free(), 8);
}

}  // namespace
}  // namespace moe
