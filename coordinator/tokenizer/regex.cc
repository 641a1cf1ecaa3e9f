#include "coordinator/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "coordinator/tokenizer/unicode.h"

namespace moe::tokenizer_internal {
namespace {

pcre2_code* Code(void* code) { return static_cast<pcre2_code*>(code); }

// Per-thread match state: PCRE2 match data, a JIT stack and a match context using it.
struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  pcre2_match_context* context = nullptr;
  MatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (context != nullptr && jit_stack != nullptr) {
      pcre2_jit_stack_assign(context, nullptr, jit_stack);
    }
  }
  ~MatchState() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_data_free(data);
  }
};

MatchState& ThreadMatchState() {
  thread_local MatchState state;
  return state;
}

std::string ErrorMessage(int code) {
  PCRE2_UCHAR buffer[256];
  int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  if (n < 0) return absl::StrCat("PCRE2 error ", code);
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<size_t>(n));
}

// Compiles and JIT-compiles; the result is a pcre2_code*.
absl::StatusOr<void*> CompileImpl(const std::string& pattern, uint32_t options,
                                  const std::string& what) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    options | PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": bad regex at offset ", error_offset, ": ", ErrorMessage(error_code)));
  }
  uint32_t jit_available = 0;
  pcre2_config(PCRE2_CONFIG_JIT, &jit_available);
  // JIT failure is not fatal: pcre2_match falls back to the interpreter.
  if (jit_available) pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return static_cast<void*>(code);
}

}  // namespace

std::string Regex::RewriteWhiteSpaceClasses(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  bool in_quote = false;
  size_t i = 0;
  while (i < pattern.size()) {
    char c = pattern[i];
    if (in_quote) {
      if (c == '\\' && i + 1 < pattern.size() && pattern[i + 1] == 'E') {
        in_quote = false;
        out += "\\E";
        i += 2;
      } else {
        out += c;
        ++i;
      }
      continue;
    }
    if (c == '\\' && i + 1 < pattern.size()) {
      char d = pattern[i + 1];
      if (d == 's') {
        out += "\\p{White_Space}";
      } else if (d == 'S') {
        out += "\\P{White_Space}";
      } else {
        if (d == 'Q') in_quote = true;
        out += c;
        out += d;
      }
      i += 2;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(const std::string& pattern,
                                                      const std::string& what) {
  MOE_ASSIGN_OR_RETURN(void* code, CompileImpl(RewriteWhiteSpaceClasses(pattern), 0, what));
  return std::unique_ptr<Regex>(new Regex(code));
}

absl::StatusOr<std::unique_ptr<Regex>> Regex::CompileLiteral(const std::string& literal,
                                                             const std::string& what) {
  MOE_ASSIGN_OR_RETURN(void* code, CompileImpl(literal, PCRE2_LITERAL, what));
  return std::unique_ptr<Regex>(new Regex(code));
}

Regex::~Regex() { pcre2_code_free(Code(code_)); }

bool Regex::FindNext(std::string_view text, size_t from, size_t* match_start,
                     size_t* match_end) const {
  if (from >= text.size()) return false;
  MatchState& state = ThreadMatchState();
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  uint32_t options = PCRE2_NO_UTF_CHECK | PCRE2_NOTEMPTY;
  int rc = pcre2_match(Code(code_), subject, text.size(), from, options, state.data, state.context);
  if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
    // JIT stack or other resource limit: retry with the interpreter.
    rc = pcre2_match(Code(code_), subject, text.size(), from, options | PCRE2_NO_JIT, state.data,
                     state.context);
  }
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    // Still failing (match limit): take one code point so that progress is always made.
    size_t next = from;
    NextCodePoint(text, &next);
    *match_start = from;
    *match_end = next;
    return true;
  }
  PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
  *match_start = ovector[0];
  *match_end = ovector[1];
  return true;
}

void Regex::SplitIsolated(std::string_view text, std::vector<std::string_view>* pieces) const {
  size_t pos = 0;
  size_t start = 0;
  size_t end = 0;
  while (pos < text.size() && FindNext(text, pos, &start, &end)) {
    if (start > pos) pieces->push_back(text.substr(pos, start - pos));
    pieces->push_back(text.substr(start, end - start));
    pos = end;
  }
  if (pos < text.size()) pieces->push_back(text.substr(pos));
}

bool Regex::FullMatch(std::string_view text) const {
  MatchState& state = ThreadMatchState();
  int rc = pcre2_match(Code(code_), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                       PCRE2_NO_UTF_CHECK | PCRE2_ANCHORED | PCRE2_ENDANCHORED, state.data,
                       state.context);
  return rc >= 0;
}

}  // namespace moe::tokenizer_internal
