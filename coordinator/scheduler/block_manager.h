// The KV block manager: a pool of `num_blocks` KV-cache blocks of `block_size` tokens each,
// refcounted, with prefix caching (DESIGN.md section 3; modelled on nano-vllm's
// block_manager.py and vLLM v1's KVCacheManager).
//
// Prefix caching. Each FULL block of a sequence gets a content hash chained on its parent's:
// hash(block i) = HashFn(hash(block i-1), tokens of block i). Once a block's tokens have been
// computed (the step's result came back), the sequence Register()s it: the block remembers its
// hash, its tokens and which cached block is its parent. A lookup (MatchPrefix) follows the
// chain and accepts a block only if its tokens are equal AND its parent is exactly the block
// matched one level up, so a hash collision can never return a wrong block. A block whose
// refcount drops to 0 keeps its content ("cached") and can be shared again by a later match
// until it is evicted, in LRU order, when a fresh block is needed.
//
// Block states: used (refcount > 0), cached (refcount 0, holds a registered prefix), empty
// (refcount 0, nothing reusable). "Free" blocks are cached + empty: all can be allocated.
//
// Thread-compatible: one thread (the scheduler's) owns it.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"

namespace moe {

// Where a sequence stands in the prefix-cache chain: its leading `num_blocks` full blocks
// were matched or registered. Owned by the sequence, passed to MatchPrefix/Register.
struct PrefixChain {
  int64_t num_blocks = 0;     // leading full blocks matched or registered
  uint64_t parent_id = 0;     // registration id of the cached block at num_blocks-1 (0: none)
  int32_t parent_block = -1;  // that block (it may have been evicted since: ids differ then)
};

class BlockManager {
 public:
  // Content hash of one full block given its parent's hash (kRootHash for block 0).
  using HashFn = uint64_t (*)(uint64_t parent_hash, absl::Span<const int32_t> tokens);
  static constexpr uint64_t kRootHash = 0x6d6f652d6b762d31ULL;
  static uint64_t DefaultHash(uint64_t parent_hash, absl::Span<const int32_t> tokens);

  // REQUIRES: num_blocks >= 1, block_size >= 1. `hash` replaces DefaultHash (tests use a
  // colliding one).
  BlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching,
               HashFn hash = nullptr);
  BlockManager(const BlockManager&) = delete;
  BlockManager& operator=(const BlockManager&) = delete;

  // Appends the hashes of the full blocks [hashes->size(), num_full) of `tokens`.
  // REQUIRES: tokens.size() >= num_full * block_size.
  void ExtendHashes(absl::Span<const int32_t> tokens, int64_t num_full,
                    std::vector<uint64_t>* hashes) const;

  // The longest chain of registered blocks equal to the leading full blocks of `tokens`,
  // never including the block that holds the last token (at most (tokens.size() - 1) /
  // block_size blocks), so at least one token is left to compute. Takes no references: pass
  // the result to Share(). `hashes` are those of ExtendHashes (at least as many as may
  // match). Sets *chain to the matched position. Empty when prefix caching is off.
  std::vector<int32_t> MatchPrefix(absl::Span<const int32_t> tokens,
                                   absl::Span<const uint64_t> hashes, PrefixChain* chain) const;

  // How many of `blocks` are free (cached): sharing them takes them out of the free count.
  int64_t CountFree(absl::Span<const int32_t> blocks) const;

  // Takes a reference on each of `blocks` (from MatchPrefix) and appends them to `table`.
  void Share(absl::Span<const int32_t> blocks, std::vector<int32_t>* table);

  // Appends `n` fresh blocks to `table`: empty blocks first, then cached ones evicted in LRU
  // order (their hashes are forgotten). Returns false, allocating nothing, if fewer than n
  // blocks are free.
  bool Allocate(int64_t n, std::vector<int32_t>* table);

  // Drops the table's references and clears it. Blocks that reach refcount 0 become cached
  // (if registered) or empty. The table is released tail first, so a sequence's last blocks
  // are evicted before its prefix.
  void Free(std::vector<int32_t>* table);

  // Registers the full blocks [chain->num_blocks, num_full) of a sequence: `table` is its
  // block table, `tokens` its tokens (at least num_full * block_size), `hashes` from
  // ExtendHashes (at least num_full). A block whose content is already registered (another
  // sequence computed the same prefix) is not registered twice; the chain continues from the
  // registered copy. If a different content holds the same hash (a collision, or a block
  // whose parent was evicted), the newest registration wins. Stops early if the chain's parent
  // (another sequence's copy) was evicted. No-op when prefix caching is off.
  void Register(absl::Span<const int32_t> table, absl::Span<const int32_t> tokens,
                absl::Span<const uint64_t> hashes, int64_t num_full, PrefixChain* chain);

  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  bool prefix_caching() const { return prefix_caching_; }
  int64_t num_free() const { return static_cast<int64_t>(empty_.size()) + num_cached_; }
  int64_t num_used() const { return num_blocks_ - num_free(); }
  int64_t num_cached() const { return num_cached_; }
  int32_t refcount(int32_t block) const { return blocks_[block].refcount; }
  bool is_registered(int32_t block) const { return blocks_[block].reg_id != 0; }
  // Blocks needed to hold `num_tokens` tokens.
  int64_t BlocksFor(int64_t num_tokens) const {
    return (num_tokens + block_size_ - 1) / block_size_;
  }

 private:
  struct Block {
    int32_t refcount = 0;
    uint64_t hash = 0;
    uint64_t reg_id = 0;     // unique per registration; 0: not registered
    uint64_t parent_id = 0;  // reg_id of the parent block when registered (0: block 0)
    int32_t lru_prev = -1;   // cached blocks form a doubly-linked LRU list
    int32_t lru_next = -1;
  };

  absl::Span<const int32_t> BlockTokens(int32_t block) const;
  bool Matches(int32_t block, uint64_t parent_id, absl::Span<const int32_t> tokens) const;
  void LruRemove(int32_t block);
  void LruPushBack(int32_t block);
  void Unregister(int32_t block);

  const int64_t num_blocks_;
  const int64_t block_size_;
  const bool prefix_caching_;
  const HashFn hash_;

  std::vector<Block> blocks_;
  std::vector<int32_t> tokens_;  // [num_blocks, block_size]: content of registered blocks
  std::vector<int32_t> empty_;   // refcount 0 and unregistered (a stack)
  int32_t lru_head_ = -1;        // least recently freed cached block
  int32_t lru_tail_ = -1;
  int64_t num_cached_ = 0;
  uint64_t next_reg_id_ = 1;
  absl::flat_hash_map<uint64_t, int32_t> by_hash_;  // hash -> registered block
};

}  // namespace moe
