// Byte-level BPE model: vocab (piece -> id), merges by rank, and a per-piece result cache.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/json.h"
#include "common/status.h"

namespace moe::tokenizer_internal {

class BpeModel {
 public:
  // Builds the model from tokenizer.json's "model" object (type BPE). Rejects options this
  // implementation does not support (dropout, byte_fallback, subword prefixes/suffixes) and
  // merges whose parts or result are not in the vocab. `source` names the file in errors.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const Json& model,
                                                            const std::string& source);

  // Appends the ids for one pre-tokenized piece given as raw bytes (the ByteLevel mapping is
  // applied internally). Thread-safe; results for short pieces are cached.
  void Encode(std::string_view bytes, std::vector<int32_t>* ids) const;
  // Same without the cache.
  void EncodeUncached(std::string_view bytes, std::vector<int32_t>* ids) const;

  // Vocab lookup by piece spelling (byte-level characters, e.g. "Ġworld").
  std::optional<int32_t> PieceToId(std::string_view piece) const;
  // Piece spelling per id; empty where the vocab has no such id.
  const std::vector<std::string>& id_to_piece() const { return id_to_piece_; }
  size_t vocab_size() const { return vocab_.size(); }
  size_t num_merges() const { return merges_.size(); }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  struct CacheShard {
    std::mutex mu;
    absl::flat_hash_map<std::string, std::vector<int32_t>> entries;
  };
  static constexpr int kCacheShards = 16;
  static constexpr size_t kMaxCachedPieceBytes = 128;
  static constexpr size_t kMaxEntriesPerShard = 16384;

  BpeModel() = default;
  const Merge* FindMerge(int32_t left, int32_t right) const;
  // Initial symbols: one per byte (unknown bytes become unk or are dropped, as HF does).
  void InitialSymbols(std::string_view bytes, std::vector<int32_t>* symbols) const;
  void MergeSmall(std::vector<int32_t>* symbols) const;
  void MergeLarge(std::vector<int32_t>* symbols) const;

  absl::flat_hash_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_piece_;
  absl::flat_hash_map<uint64_t, Merge> merges_;  // key: left id << 32 | right id
  int32_t byte_to_id_[256];                      // -1 when the byte's piece is not in vocab
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  mutable std::unique_ptr<CacheShard[]> cache_;
};

}  // namespace moe::tokenizer_internal
