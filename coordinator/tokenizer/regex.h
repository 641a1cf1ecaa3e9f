// A compiled PCRE2 regular expression (UTF + UCP, JIT when available) with Hugging Face /
// Rust-regex semantics for \s and \S (Unicode White_Space), used by the Split pre-tokenizer.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace moe::tokenizer_internal {

class Regex {
 public:
  // Compiles `pattern`. \s and \S (outside \Q..\E) are rewritten to \p{White_Space} and
  // \P{White_Space}: PCRE2's own \s also matches U+180E, which is not White_Space.
  // `what` names the pattern in errors, e.g. "tokenizer.json: pre_tokenizer Split regex".
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(const std::string& pattern,
                                                        const std::string& what);
  // Same for a literal string (no metacharacters).
  static absl::StatusOr<std::unique_ptr<Regex>> CompileLiteral(const std::string& literal,
                                                               const std::string& what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Finds the first non-empty match in text[from..) (text: well-formed UTF-8; the whole text
  // is the subject, so lookarounds see context). Returns false when there is none.
  bool FindNext(std::string_view text, size_t from, size_t* match_start, size_t* match_end) const;

  // Isolated split: appends every match and every gap between matches, in order, to *pieces.
  // Empty pieces are never produced.
  void SplitIsolated(std::string_view text, std::vector<std::string_view>* pieces) const;

  // True when the whole of `text` matches (anchored at both ends).
  bool FullMatch(std::string_view text) const;

  // Rewrites \s / \S as described above (exposed for tests).
  static std::string RewriteWhiteSpaceClasses(const std::string& pattern);

 private:
  explicit Regex(void* code) : code_(code) {}
  void* code_;  // pcre2_code_8*
};

}  // namespace moe::tokenizer_internal
