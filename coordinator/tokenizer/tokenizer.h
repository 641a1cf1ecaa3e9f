// Byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json (the subset Qwen3 uses:
// NFC normalizer, Split-regex + ByteLevel pre-tokenizer, BPE model, ByteLevel decoder) plus a
// streaming detokenizer. Anything outside that subset is rejected at load time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace moe {

namespace tokenizer_internal {
class TokenizerImpl;
}  // namespace tokenizer_internal

class Tokenizer {
 public:
  // Loads DIR/tokenizer.json (+ DIR/tokenizer_config.json when present). Errors name the file
  // and what is wrong (missing file, invalid JSON, unknown model type / pre-tokenizer /
  // normalizer, bad regex, ...).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& dir);
  // Same from explicit file contents; `tokenizer_config_json` may be empty. `source_name` is
  // used in error messages (e.g. "tokenizer.json").
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(
      const std::string& tokenizer_json, const std::string& tokenizer_config_json,
      const std::string& source_name);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Encodes text (no BOS/EOS added). INVALID_ARGUMENT on invalid UTF-8 input, naming the byte
  // offset. Thread-safe.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const;
  // Encodes each text; fails on the first error (naming the index).
  absl::StatusOr<std::vector<std::vector<int32_t>>> EncodeBatch(
      const std::vector<std::string>& texts) const;
  // One-shot decode; ill-formed UTF-8 becomes U+FFFD per maximal subpart (like Python
  // errors="replace"). Unknown ids contribute nothing.
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;
  // The raw bytes a token id stands for (ByteLevel-mapped back; added tokens: their UTF-8
  // content). Empty for unknown ids.
  std::string TokenBytes(int32_t id) const;
  bool IsSpecial(int32_t id) const;  // added token with special=true
  bool IsValidId(int32_t id) const;  // has a token (vocab or added)
  // Vocab piece (byte-level form, e.g. "Ġworld") or added-token content.
  std::optional<int32_t> TokenToId(std::string_view token_content) const;
  // The vocab piece or added-token content of `id`; empty for unknown ids.
  std::string IdToToken(int32_t id) const;
  int32_t num_ids() const;  // 1 + highest id with a token (151669 for Qwen3)
  // tokenizer_config.json as parsed (ordered); empty object if absent.
  const OrderedJson& config() const;
  // From tokenizer_config.json (a string or {"content": ...}); nullopt when absent or null.
  std::optional<std::string> eos_token() const;
  std::optional<std::string> bos_token() const;

 private:
  explicit Tokenizer(std::unique_ptr<tokenizer_internal::TokenizerImpl> impl);
  std::unique_ptr<tokenizer_internal::TokenizerImpl> impl_;
};

// Streaming detokenizer: Push(id) returns the new text that is complete UTF-8 (possibly empty);
// the concatenation of all returns + Finish() equals Decode(all ids). Never emits half a
// character. The tokenizer must outlive the decoder.
class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens);
  std::string Push(int32_t id);
  // Flushes an incomplete tail as U+FFFD (lossy), like one-shot decode, and resets.
  std::string Finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;  // bytes not yet emitted (an incomplete UTF-8 tail or invalid bytes)
};

}  // namespace moe
