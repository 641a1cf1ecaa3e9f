#include "coordinator/tokenizer/bpe.h"

#include <algorithm>
#include <climits>
#include <functional>
#include <queue>

#include "coordinator/tokenizer/byte_level.h"
#include "coordinator/tokenizer/unicode.h"

namespace moe::tokenizer_internal {
namespace {

constexpr int32_t kMaxVocabId = 1 << 24;

// Pieces longer than this (in symbols) use the heap-based merge loop.
constexpr size_t kSmallPieceSymbols = 48;

absl::Status Unsupported(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": model ", what, " is not supported"));
}

// Reads an optional string field ("" when absent or null).
absl::StatusOr<std::string> OptionalString(const Json& obj, const char* key,
                                           const std::string& source) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": model.", key, " must be a string or null"));
  }
  return it->get<std::string>();
}

absl::StatusOr<bool> OptionalBool(const Json& obj, const char* key, const std::string& source) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": model.", key, " must be a boolean"));
  }
  return it->get<bool>();
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const Json& model,
                                                             const std::string& source) {
  if (!model.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": \"model\" must be an object"));
  }
  auto type = model.find("type");
  if (type != model.end() && !(type->is_string() && type->get<std::string>() == "BPE")) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": model type '", type->is_string() ? type->get<std::string>() : type->dump(),
        "' is not supported (only BPE)"));
  }
  std::unique_ptr<BpeModel> bpe(new BpeModel());

  // Options.
  auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null()) {
    if (!dropout->is_number() || dropout->get<double>() != 0.0) {
      return Unsupported(source, "dropout");
    }
  }
  MOE_ASSIGN_OR_RETURN(bool byte_fallback, OptionalBool(model, "byte_fallback", source));
  if (byte_fallback) return Unsupported(source, "byte_fallback=true");
  MOE_ASSIGN_OR_RETURN(std::string prefix,
                       OptionalString(model, "continuing_subword_prefix", source));
  if (!prefix.empty()) return Unsupported(source, "continuing_subword_prefix '" + prefix + "'");
  MOE_ASSIGN_OR_RETURN(std::string suffix, OptionalString(model, "end_of_word_suffix", source));
  if (!suffix.empty()) return Unsupported(source, "end_of_word_suffix '" + suffix + "'");
  MOE_ASSIGN_OR_RETURN(bpe->fuse_unk_, OptionalBool(model, "fuse_unk", source));
  MOE_ASSIGN_OR_RETURN(bpe->ignore_merges_, OptionalBool(model, "ignore_merges", source));
  MOE_ASSIGN_OR_RETURN(std::string unk_token, OptionalString(model, "unk_token", source));

  // Vocab.
  auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": model.vocab must be an object mapping pieces to ids"));
  }
  bpe->vocab_.reserve(vocab->size());
  int32_t max_id = -1;
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() >= kMaxVocabId) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": model.vocab entry '", it.key(),
                                                     "' must map to an id in [0, ", kMaxVocabId,
                                                     ")"));
    }
    int32_t id = static_cast<int32_t>(it.value().get<int64_t>());
    if (FindInvalidUtf8(it.key()) != std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": model.vocab has a piece that is not valid UTF-8 (id ", id, ")"));
    }
    bpe->vocab_.emplace(it.key(), id);
    max_id = std::max(max_id, id);
  }
  bpe->id_to_piece_.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [piece, id] : bpe->vocab_) {
    std::string& slot = bpe->id_to_piece_[static_cast<size_t>(id)];
    if (!slot.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": model.vocab maps both '", slot,
                                                     "' and '", piece, "' to id ", id));
    }
    slot = piece;
  }
  if (!unk_token.empty()) {
    auto unk = bpe->vocab_.find(unk_token);
    if (unk == bpe->vocab_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": model.unk_token '", unk_token, "' is not in the vocab"));
    }
    bpe->unk_id_ = unk->second;
  }
  for (int b = 0; b < 256; ++b) {
    std::string piece;
    AppendUtf8(ByteToCodePoint(static_cast<uint8_t>(b)), &piece);
    auto it = bpe->vocab_.find(piece);
    bpe->byte_to_id_[b] = it == bpe->vocab_.end() ? -1 : it->second;
  }

  // Merges, in rank order: ["a", "b"] pairs or "a b" strings.
  auto merges = model.find("merges");
  if (merges == model.end() || !merges->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": model.merges must be an array"));
  }
  bpe->merges_.reserve(merges->size());
  int32_t rank = 0;
  for (const Json& merge : *merges) {
    std::string left, right;
    if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else if (merge.is_string()) {
      const std::string& line = merge.get_ref<const std::string&>();
      size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": model.merges[", rank, "] '", line,
                                                       "' is not two space-separated parts"));
      }
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": model.merges[", rank,
                       "] must be a [left, right] pair or a \"left right\" string"));
    }
    auto l = bpe->vocab_.find(left);
    auto r = bpe->vocab_.find(right);
    auto m = bpe->vocab_.find(left + right);
    if (l == bpe->vocab_.end() || r == bpe->vocab_.end() || m == bpe->vocab_.end()) {
      const std::string& missing = l == bpe->vocab_.end()   ? left
                                   : r == bpe->vocab_.end() ? right
                                                            : left + right;
      return absl::InvalidArgumentError(absl::StrCat(source, ": model.merges[", rank, "] '", left,
                                                     " ", right, "': '", missing,
                                                     "' is not in the vocab"));
    }
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(l->second)) << 32) |
                   static_cast<uint32_t>(r->second);
    // Like HF, a repeated pair takes the later rank.
    bpe->merges_.insert_or_assign(key, Merge{rank, m->second});
    ++rank;
  }
  bpe->cache_.reset(new CacheShard[kCacheShards]);
  return bpe;
}

std::optional<int32_t> BpeModel::PieceToId(std::string_view piece) const {
  auto it = vocab_.find(absl::string_view(piece.data(), piece.size()));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const BpeModel::Merge* BpeModel::FindMerge(int32_t left, int32_t right) const {
  uint64_t key =
      (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  auto it = merges_.find(key);
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::InitialSymbols(std::string_view bytes, std::vector<int32_t>* symbols) const {
  symbols->clear();
  bool last_unk = false;
  for (char c : bytes) {
    int32_t id = byte_to_id_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      symbols->push_back(id);
      last_unk = false;
    } else if (unk_id_.has_value()) {
      if (!(fuse_unk_ && last_unk)) symbols->push_back(*unk_id_);
      last_unk = true;
    }
    // No unk token: HF drops the symbol.
  }
}

// Repeatedly applies the lowest-rank merge (leftmost on ties) by scanning the pair ranks.
void BpeModel::MergeSmall(std::vector<int32_t>* symbols) const {
  std::vector<int32_t>& s = *symbols;
  if (s.size() < 2) return;
  int32_t ranks[kSmallPieceSymbols];
  int32_t new_ids[kSmallPieceSymbols];
  auto set_pair = [&](size_t k) {
    const Merge* m = FindMerge(s[k], s[k + 1]);
    ranks[k] = m ? m->rank : INT32_MAX;
    new_ids[k] = m ? m->new_id : -1;
  };
  size_t n = s.size();
  for (size_t k = 0; k + 1 < n; ++k) set_pair(k);
  while (n > 1) {
    size_t best = 0;
    for (size_t k = 1; k + 1 < n; ++k) {
      if (ranks[k] < ranks[best]) best = k;
    }
    if (ranks[best] == INT32_MAX) break;
    s[best] = new_ids[best];
    // Remove symbol best+1 and pair best+1 (pair best is recomputed).
    for (size_t k = best + 1; k + 1 < n; ++k) s[k] = s[k + 1];
    for (size_t k = best + 1; k + 2 < n; ++k) {
      ranks[k] = ranks[k + 1];
      new_ids[k] = new_ids[k + 1];
    }
    --n;
    if (best + 1 < n) set_pair(best);
    if (best > 0) set_pair(best - 1);
  }
  s.resize(n);
}

// The same merge order with a priority queue over (rank, position) and a linked list of
// symbols, for long pieces.
void BpeModel::MergeLarge(std::vector<int32_t>* symbols) const {
  std::vector<int32_t>& s = *symbols;
  const int n = static_cast<int>(s.size());
  if (n < 2) return;
  std::vector<int> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (int k = 0; k < n; ++k) {
    prev[k] = k - 1;
    next[k] = k + 1 < n ? k + 1 : -1;
  }
  struct Candidate {
    int32_t rank;
    int pos;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int k) {
    if (k < 0 || next[k] < 0) return;
    const Merge* m = FindMerge(s[k], s[next[k]]);
    if (m != nullptr) queue.push({m->rank, k});
  };
  for (int k = 0; k + 1 < n; ++k) push_pair(k);
  while (!queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    int k = top.pos;
    if (!alive[k] || next[k] < 0) continue;
    const Merge* m = FindMerge(s[k], s[next[k]]);
    if (m == nullptr || m->rank != top.rank) continue;  // stale entry
    int right = next[k];
    s[k] = m->new_id;
    alive[right] = false;
    next[k] = next[right];
    if (next[k] >= 0) prev[next[k]] = k;
    push_pair(prev[k]);
    push_pair(k);
  }
  size_t out = 0;
  for (int k = 0; k >= 0; k = next[k]) s[out++] = s[k];
  s.resize(out);
}

void BpeModel::EncodeUncached(std::string_view bytes, std::vector<int32_t>* ids) const {
  if (ignore_merges_) {
    auto it = vocab_.find(BytesToPiece(bytes));
    if (it != vocab_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  std::vector<int32_t> symbols;
  symbols.reserve(bytes.size());
  InitialSymbols(bytes, &symbols);
  if (symbols.size() <= kSmallPieceSymbols) {
    MergeSmall(&symbols);
  } else {
    MergeLarge(&symbols);
  }
  ids->insert(ids->end(), symbols.begin(), symbols.end());
}

void BpeModel::Encode(std::string_view bytes, std::vector<int32_t>* ids) const {
  if (bytes.size() == 1 && byte_to_id_[static_cast<uint8_t>(bytes[0])] >= 0) {
    ids->push_back(byte_to_id_[static_cast<uint8_t>(bytes[0])]);
    return;
  }
  if (bytes.size() > kMaxCachedPieceBytes) {
    EncodeUncached(bytes, ids);
    return;
  }
  CacheShard& shard = cache_[std::hash<std::string_view>()(bytes) % kCacheShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.entries.find(absl::string_view(bytes.data(), bytes.size()));
    if (it != shard.entries.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t first = ids->size();
  EncodeUncached(bytes, ids);
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.entries.size() < kMaxEntriesPerShard) {
    shard.entries.emplace(std::string(bytes),
                          std::vector<int32_t>(ids->begin() + first, ids->end()));
  }
}

}  // namespace moe::tokenizer_internal
