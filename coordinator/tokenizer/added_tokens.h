// Added tokens (tokenizer.json "added_tokens") and the matcher that splits them out of text
// the way Hugging Face tokenizers does: leftmost-longest, honouring single_word, lstrip and
// rstrip.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "coordinator/tokenizer/regex.h"

namespace moe::tokenizer_internal {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false;  // only match when not inside a word
  bool lstrip = false;       // the match absorbs whitespace on its left
  bool rstrip = false;       // the match absorbs whitespace on its right
  bool normalized = false;   // matched in normalized text (else in raw text)
  bool special = false;      // skipped by skip_special_tokens
};

// One segment of a split: either plain text or an added token.
struct Segment {
  size_t start = 0;
  size_t end = 0;
  int32_t token_id = -1;  // -1: plain text
};

class AddedTokenMatcher {
 public:
  // `patterns[i]` is the text to look for (the content, or its normalized form) of
  // `tokens[i]`; the tokens must outlive the matcher. Empty patterns are ignored.
  static absl::StatusOr<std::unique_ptr<AddedTokenMatcher>> Create(
      const std::vector<std::string>& patterns, const std::vector<const AddedToken*>& tokens);

  bool empty() const { return num_patterns_ == 0; }

  // Appends to *out consecutive segments covering text[0..size) (well-formed UTF-8); token
  // segments include any whitespace absorbed by lstrip/rstrip. Empty text gives no segments.
  void Split(std::string_view text, std::vector<Segment>* out) const;

 private:
  struct Node {
    int32_t pattern = -1;
    std::vector<std::pair<uint8_t, int32_t>> children;
  };
  AddedTokenMatcher() = default;
  int32_t Child(int32_t node, uint8_t byte) const;
  // Longest pattern starting at text[pos]; returns its index or -1, and its end.
  int32_t LongestAt(std::string_view text, size_t pos, size_t* end) const;
  bool IsWordChar(uint32_t cp) const;

  std::vector<Node> nodes_;  // nodes_[0] is the root
  std::vector<const AddedToken*> tokens_;
  bool first_byte_[256] = {};
  size_t num_patterns_ = 0;
  std::unique_ptr<Regex> word_char_;  // only when some token is single_word
};

}  // namespace moe::tokenizer_internal
