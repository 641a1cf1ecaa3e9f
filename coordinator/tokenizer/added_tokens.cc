#include "coordinator/tokenizer/added_tokens.h"

#include <algorithm>

#include "coordinator/tokenizer/unicode.h"

namespace moe::tokenizer_internal {
namespace {

// Rust regex's Unicode \w, which HF uses for single_word boundaries.
constexpr char kWordCharPattern[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";

// Code point ending text[0..pos) (pos > 0, text well-formed).
uint32_t CodePointBefore(std::string_view text, size_t pos) {
  size_t start = pos - 1;
  while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
  return NextCodePoint(text, &start);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AddedTokenMatcher>> AddedTokenMatcher::Create(
    const std::vector<std::string>& patterns, const std::vector<const AddedToken*>& tokens) {
  std::unique_ptr<AddedTokenMatcher> m(new AddedTokenMatcher());
  m->nodes_.emplace_back();
  bool need_word_char = false;
  for (size_t i = 0; i < patterns.size(); ++i) {
    const std::string& pattern = patterns[i];
    if (pattern.empty()) continue;
    int32_t node = 0;
    for (char c : pattern) {
      uint8_t byte = static_cast<uint8_t>(c);
      int32_t child = m->Child(node, byte);
      if (child < 0) {
        child = static_cast<int32_t>(m->nodes_.size());
        m->nodes_[static_cast<size_t>(node)].children.emplace_back(byte, child);
        m->nodes_.emplace_back();
      }
      node = child;
    }
    // The first of two identical patterns wins.
    if (m->nodes_[static_cast<size_t>(node)].pattern < 0) {
      m->nodes_[static_cast<size_t>(node)].pattern = static_cast<int32_t>(m->tokens_.size());
      m->tokens_.push_back(tokens[i]);
      m->first_byte_[static_cast<uint8_t>(pattern[0])] = true;
      need_word_char = need_word_char || tokens[i]->single_word;
      ++m->num_patterns_;
    }
  }
  if (need_word_char) {
    MOE_ASSIGN_OR_RETURN(m->word_char_, Regex::Compile(kWordCharPattern, "word-character class"));
  }
  return m;
}

int32_t AddedTokenMatcher::Child(int32_t node, uint8_t byte) const {
  for (const auto& [b, child] : nodes_[static_cast<size_t>(node)].children) {
    if (b == byte) return child;
  }
  return -1;
}

int32_t AddedTokenMatcher::LongestAt(std::string_view text, size_t pos, size_t* end) const {
  int32_t node = 0;
  int32_t best = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    node = Child(node, static_cast<uint8_t>(text[i]));
    if (node < 0) break;
    if (nodes_[static_cast<size_t>(node)].pattern >= 0) {
      best = nodes_[static_cast<size_t>(node)].pattern;
      *end = i + 1;
    }
  }
  return best;
}

bool AddedTokenMatcher::IsWordChar(uint32_t cp) const {
  std::string utf8;
  AppendUtf8(cp, &utf8);
  return word_char_ != nullptr && word_char_->FullMatch(utf8);
}

void AddedTokenMatcher::Split(std::string_view text, std::vector<Segment>* out) const {
  const size_t n = text.size();
  size_t start_offset = 0;  // end of the previous segment
  size_t pos = 0;           // where the search resumes
  while (pos < n) {
    // Leftmost start with any match, then the longest match there.
    size_t start = pos;
    size_t stop = 0;
    int32_t found = -1;
    for (; start < n; ++start) {
      if (!first_byte_[static_cast<uint8_t>(text[start])]) continue;
      found = LongestAt(text, start, &stop);
      if (found >= 0) break;
    }
    if (found < 0) break;
    const AddedToken& token = *tokens_[static_cast<size_t>(found)];
    pos = stop;
    if (token.single_word) {
      bool word_before = start > 0 && IsWordChar(CodePointBefore(text, start));
      size_t after = stop;
      bool word_after = stop < n && IsWordChar(NextCodePoint(text, &after));
      if (word_before || word_after) continue;  // not a whole word: ordinary text
    }
    if (token.lstrip) {
      size_t s = start;
      while (s > start_offset && IsWhiteSpace(CodePointBefore(text, s))) {
        size_t cp_start = s - 1;
        while ((static_cast<uint8_t>(text[cp_start]) & 0xC0) == 0x80) --cp_start;
        s = cp_start;
      }
      start = s;
    }
    if (token.rstrip) {
      size_t e = stop;
      while (e < n) {
        size_t next = e;
        if (!IsWhiteSpace(NextCodePoint(text, &next))) break;
        e = next;
      }
      stop = e;
      pos = stop;
    }
    if (start_offset < start) out->push_back({start_offset, start, -1});
    out->push_back({start, stop, token.id});
    start_offset = stop;
  }
  if (start_offset < n) out->push_back({start_offset, n, -1});
}

}  // namespace moe::tokenizer_internal
