#include "coordinator/scheduler/block_manager.h"

#include <algorithm>

namespace moe {
namespace {

// splitmix64's finalizer: a cheap, well-mixing 64-bit permutation.
uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t BlockManager::DefaultHash(uint64_t parent_hash, absl::Span<const int32_t> tokens) {
  uint64_t h = Mix64(parent_hash ^ 0x9e3779b97f4a7c15ULL);
  for (int32_t t : tokens) h = Mix64(h + static_cast<uint32_t>(t) + 0x9e3779b97f4a7c15ULL);
  return Mix64(h ^ tokens.size());
}

BlockManager::BlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching,
                           HashFn hash)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      prefix_caching_(enable_prefix_caching),
      hash_(hash != nullptr ? hash : &DefaultHash),
      blocks_(num_blocks) {
  if (prefix_caching_) tokens_.resize(num_blocks * block_size);
  // Popped from the back: block 0 is handed out first.
  empty_.reserve(num_blocks);
  for (int64_t b = num_blocks - 1; b >= 0; --b) empty_.push_back(static_cast<int32_t>(b));
}

void BlockManager::ExtendHashes(absl::Span<const int32_t> tokens, int64_t num_full,
                                std::vector<uint64_t>* hashes) const {
  for (int64_t i = static_cast<int64_t>(hashes->size()); i < num_full; ++i) {
    const uint64_t parent = i == 0 ? kRootHash : (*hashes)[i - 1];
    hashes->push_back(hash_(parent, tokens.subspan(i * block_size_, block_size_)));
  }
}

absl::Span<const int32_t> BlockManager::BlockTokens(int32_t block) const {
  return absl::MakeConstSpan(tokens_).subspan(block * block_size_, block_size_);
}

bool BlockManager::Matches(int32_t block, uint64_t parent_id,
                           absl::Span<const int32_t> tokens) const {
  const Block& b = blocks_[block];
  return b.reg_id != 0 && b.parent_id == parent_id && BlockTokens(block) == tokens;
}

std::vector<int32_t> BlockManager::MatchPrefix(absl::Span<const int32_t> tokens,
                                               absl::Span<const uint64_t> hashes,
                                               PrefixChain* chain) const {
  *chain = PrefixChain();
  std::vector<int32_t> matched;
  if (!prefix_caching_ || tokens.empty()) return matched;
  const int64_t max_blocks = std::min<int64_t>(
      (static_cast<int64_t>(tokens.size()) - 1) / block_size_, static_cast<int64_t>(hashes.size()));
  for (int64_t i = 0; i < max_blocks; ++i) {
    auto it = by_hash_.find(hashes[i]);
    if (it == by_hash_.end()) break;
    if (!Matches(it->second, chain->parent_id, tokens.subspan(i * block_size_, block_size_))) {
      break;  // a hash collision (or a stale child of an evicted parent): not our content
    }
    matched.push_back(it->second);
    chain->parent_id = blocks_[it->second].reg_id;
    chain->parent_block = it->second;
    chain->num_blocks = i + 1;
  }
  return matched;
}

int64_t BlockManager::CountFree(absl::Span<const int32_t> blocks) const {
  int64_t n = 0;
  for (int32_t b : blocks) n += blocks_[b].refcount == 0 ? 1 : 0;
  return n;
}

void BlockManager::Share(absl::Span<const int32_t> blocks, std::vector<int32_t>* table) {
  for (int32_t b : blocks) {
    if (blocks_[b].refcount == 0) LruRemove(b);
    ++blocks_[b].refcount;
    table->push_back(b);
  }
}

bool BlockManager::Allocate(int64_t n, std::vector<int32_t>* table) {
  if (n > num_free()) return false;
  for (int64_t i = 0; i < n; ++i) {
    int32_t b;
    if (!empty_.empty()) {
      b = empty_.back();
      empty_.pop_back();
    } else {
      b = lru_head_;  // evict the least recently freed cached block
      LruRemove(b);
      Unregister(b);
    }
    blocks_[b].refcount = 1;
    table->push_back(b);
  }
  return true;
}

void BlockManager::Free(std::vector<int32_t>* table) {
  for (auto it = table->rbegin(); it != table->rend(); ++it) {
    Block& b = blocks_[*it];
    if (--b.refcount > 0) continue;
    if (b.reg_id != 0) {
      LruPushBack(*it);
    } else {
      empty_.push_back(*it);
    }
  }
  table->clear();
}

void BlockManager::Register(absl::Span<const int32_t> table, absl::Span<const int32_t> tokens,
                            absl::Span<const uint64_t> hashes, int64_t num_full,
                            PrefixChain* chain) {
  if (!prefix_caching_) return;
  for (int64_t i = chain->num_blocks; i < num_full; ++i) {
    // The chain's parent was evicted (it was another sequence's copy): nothing registered
    // below it could ever be matched, so stop.
    if (chain->parent_id != 0 && blocks_[chain->parent_block].reg_id != chain->parent_id) return;
    absl::Span<const int32_t> content = tokens.subspan(i * block_size_, block_size_);
    auto it = by_hash_.find(hashes[i]);
    if (it != by_hash_.end() && Matches(it->second, chain->parent_id, content)) {
      chain->parent_id = blocks_[it->second].reg_id;  // already cached: continue from it
      chain->parent_block = it->second;
      chain->num_blocks = i + 1;
      continue;
    }
    if (it != by_hash_.end()) {
      // Another content holds this hash (a collision, or a stale block whose parent was
      // evicted and re-registered):
      // the newest registration wins; the old block keeps no reusable content.
      const int32_t old = it->second;
      Unregister(old);
      if (blocks_[old].refcount == 0) {
        LruRemove(old);
        empty_.push_back(old);
      }
    }
    const int32_t block = table[i];
    Block& b = blocks_[block];
    if (b.reg_id != 0) Unregister(block);  // not expected: only fresh blocks get here
    b.hash = hashes[i];
    b.reg_id = next_reg_id_++;
    b.parent_id = chain->parent_id;
    std::copy(content.begin(), content.end(), tokens_.begin() + block * block_size_);
    by_hash_[b.hash] = block;
    chain->parent_id = b.reg_id;
    chain->parent_block = block;
    chain->num_blocks = i + 1;
  }
}

void BlockManager::Unregister(int32_t block) {
  Block& b = blocks_[block];
  auto it = by_hash_.find(b.hash);
  if (it != by_hash_.end() && it->second == block) by_hash_.erase(it);
  b.hash = 0;
  b.reg_id = 0;
  b.parent_id = 0;
}

void BlockManager::LruRemove(int32_t block) {
  Block& b = blocks_[block];
  if (b.lru_prev >= 0) {
    blocks_[b.lru_prev].lru_next = b.lru_next;
  } else {
    lru_head_ = b.lru_next;
  }
  if (b.lru_next >= 0) {
    blocks_[b.lru_next].lru_prev = b.lru_prev;
  } else {
    lru_tail_ = b.lru_prev;
  }
  b.lru_prev = b.lru_next = -1;
  --num_cached_;
}

void BlockManager::LruPushBack(int32_t block) {
  Block& b = blocks_[block];
  b.lru_prev = lru_tail_;
  b.lru_next = -1;
  if (lru_tail_ >= 0) {
    blocks_[lru_tail_].lru_next = block;
  } else {
    lru_head_ = block;
  }
  lru_tail_ = block;
  ++num_cached_;
}

}  // namespace moe
