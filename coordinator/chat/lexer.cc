#include "coordinator/chat/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "coordinator/chat/value.h"

namespace moe::chat {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

// Python's str.rstrip() (Unicode whitespace).
std::string_view RStripPy(std::string_view s) {
  std::vector<size_t> offsets = CodePointOffsets(s);
  size_t end = offsets.size() - 1;  // index of the code point after the kept part
  while (end > 0) {
    size_t pos = offsets[end - 1];
    if (!IsPySpace(DecodeUtf8(s, &pos))) break;
    --end;
  }
  return s.substr(0, offsets[end]);
}

bool AllPySpace(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    if (!IsPySpace(DecodeUtf8(s, &pos))) return false;
  }
  return true;
}

// Length of the Python whitespace run at s[pos..].
size_t PySpaceRun(std::string_view s, size_t pos) {
  size_t start = pos;
  while (pos < s.size()) {
    size_t next = pos;
    if (!IsPySpace(DecodeUtf8(s, &next))) break;
    pos = next;
  }
  return pos - start;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) {
    // Jinja normalizes \r\n and \r to \n and drops one trailing newline.
    src_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_.push_back('\n');
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_.push_back(source[i]);
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  absl::StatusOr<std::vector<Token>> Run() {
    std::string_view s = src_;
    size_t pos = 0;
    bool line_starting = true;
    while (pos < s.size()) {
      size_t tag = FindTagStart(pos);
      if (tag == std::string_view::npos) {
        AddText(s.substr(pos), pos);
        break;
      }
      char kind = s[tag + 1];
      size_t p = tag + 2;
      char sign = 0;
      if (p < s.size() && (s[p] == '-' || s[p] == '+')) sign = s[p++];
      size_t raw_end = 0;
      bool raw = kind == '%' && MatchRawBegin(tag, &raw_end);
      std::string_view text = s.substr(pos, tag - pos);
      AddText(StripBefore(text, sign, kind != '{', line_starting), pos);
      if (raw) {
        MOE_RETURN_IF_ERROR(LexRaw(tag, raw_end, &pos, &line_starting));
      } else if (kind == '#') {
        MOE_RETURN_IF_ERROR(LexComment(tag, p, &pos));
        line_starting = s[pos - 1] == '\n';
      } else {
        MOE_RETURN_IF_ERROR(LexTag(tag, p, kind == '%', &pos));
        line_starting = s[pos - 1] == '\n';
      }
    }
    Token end;
    end.type = TokenType::kEnd;
    SetPosition(s.size(), &end);
    tokens_.push_back(end);
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t pos) const {
    while (true) {
      pos = src_.find('{', pos);
      if (pos == std::string::npos || pos + 1 >= src_.size()) return std::string::npos;
      char c = src_[pos + 1];
      if (c == '{' || c == '%' || c == '#') return pos;
      ++pos;
    }
  }

  // The text before a tag after `-` (strip all whitespace) or lstrip_blocks (strip the
  // whitespace between the line start and a block or comment tag).
  static std::string_view StripBefore(std::string_view text, char sign, bool block_or_comment,
                                      bool line_starting) {
    if (sign == '-') return RStripPy(text);
    if (sign == '+' || !block_or_comment) return text;
    size_t nl = text.rfind('\n');
    size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
    if ((l_pos > 0 || line_starting) && AllPySpace(text.substr(l_pos))) {
      return text.substr(0, l_pos);
    }
    return text;
  }

  void SetPosition(size_t pos, Token* token) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), pos);
    size_t line = static_cast<size_t>(it - line_starts_.begin());
    token->line = static_cast<int>(line);
    token->column = static_cast<int>(pos - line_starts_[line - 1]) + 1;
  }

  absl::Status ErrorAt(size_t pos, const std::string& message) const {
    Token t;
    SetPosition(pos, &t);
    return SyntaxError(t.line, t.column, message);
  }

  void AddText(std::string_view text, size_t pos) {
    if (text.empty()) return;
    Token t;
    t.type = TokenType::kText;
    t.value = std::string(text);
    SetPosition(pos, &t);
    tokens_.push_back(std::move(t));
  }

  void AddToken(TokenType type, std::string value, size_t pos) {
    Token t;
    t.type = type;
    t.value = std::move(value);
    SetPosition(pos, &t);
    tokens_.push_back(std::move(t));
  }

  // Matches `{%[-+]?\s*raw\s*(-%}\s*|%})` at `tag`; *end is just past it.
  bool MatchRawBegin(size_t tag, size_t* end) const {
    std::string_view s = src_;
    size_t p = tag + 2;
    if (p < s.size() && (s[p] == '-' || s[p] == '+')) ++p;
    p += PySpaceRun(s, p);
    if (s.substr(p, 3) != "raw") return false;
    p += 3;
    if (p < s.size() && IsNameChar(s[p])) return false;
    p += PySpaceRun(s, p);
    if (s.substr(p, 3) == "-%}") {
      p += 3;
      p += PySpaceRun(s, p);
    } else if (s.substr(p, 2) == "%}") {
      p += 2;
    } else {
      return false;
    }
    *end = p;
    return true;
  }

  // Consumes a block-end marker at p: "-%}" plus whitespace, "+%}", or "%}" plus one newline.
  // Returns false when there is none.
  bool ConsumeBlockEnd(size_t* p) const {
    std::string_view s = src_;
    if (s.substr(*p, 3) == "-%}") {
      *p += 3;
      *p += PySpaceRun(s, *p);
    } else if (s.substr(*p, 3) == "+%}") {
      *p += 3;
    } else if (s.substr(*p, 2) == "%}") {
      *p += 2;
      if (*p < s.size() && s[*p] == '\n') ++*p;
    } else {
      return false;
    }
    return true;
  }

  absl::Status LexRaw(size_t tag, size_t content_start, size_t* pos, bool* line_starting) {
    std::string_view s = src_;
    bool starting = s[content_start - 1] == '\n';
    size_t search = content_start;
    while (true) {
      size_t open = s.find("{%", search);
      if (open == std::string_view::npos) return ErrorAt(tag, "missing end of raw directive");
      size_t p = open + 2;
      char sign = 0;
      if (p < s.size() && (s[p] == '-' || s[p] == '+')) sign = s[p++];
      p += PySpaceRun(s, p);
      if (s.substr(p, 6) == "endraw" && !(p + 6 < s.size() && IsNameChar(s[p + 6]))) {
        p += 6;
        p += PySpaceRun(s, p);
        if (ConsumeBlockEnd(&p)) {
          std::string_view text = s.substr(content_start, open - content_start);
          AddText(StripBefore(text, sign, true, starting), content_start);
          *pos = p;
          *line_starting = s[p - 1] == '\n';
          return absl::OkStatus();
        }
      }
      search = open + 2;
    }
  }

  absl::Status LexComment(size_t tag, size_t p, size_t* pos) {
    std::string_view s = src_;
    size_t end = s.find("#}", p);
    if (end == std::string_view::npos) return ErrorAt(tag, "missing end of comment tag");
    char sign = end > p ? s[end - 1] : 0;
    size_t q = end + 2;
    if (sign == '-') {
      q += PySpaceRun(s, q);
    } else if (sign != '+' && q < s.size() && s[q] == '\n') {
      ++q;  // trim_blocks
    }
    *pos = q;
    return absl::OkStatus();
  }

  absl::Status LexTag(size_t tag, size_t p, bool block, size_t* pos) {
    std::string_view s = src_;
    AddToken(block ? TokenType::kBlockBegin : TokenType::kVarBegin, block ? "{%" : "{{", tag);
    std::vector<char> brackets;
    while (true) {
      p += PySpaceRun(s, p);
      if (p >= s.size()) {
        return ErrorAt(tag, block ? "unexpected end of template, expected '%}'"
                                  : "unexpected end of template, expected '}}'");
      }
      if (brackets.empty()) {
        size_t q = p;
        if (block && ConsumeBlockEnd(&q)) {
          AddToken(TokenType::kBlockEnd, "%}", p);
          *pos = q;
          return absl::OkStatus();
        }
        if (!block && (s.substr(p, 3) == "-}}" || s.substr(p, 2) == "}}")) {
          AddToken(TokenType::kVarEnd, "}}", p);
          if (s[p] == '-') {
            q = p + 3;
            q += PySpaceRun(s, q);
          } else {
            q = p + 2;
          }
          *pos = q;
          return absl::OkStatus();
        }
      }
      char c = s[p];
      if (IsDigit(c)) {
        MOE_RETURN_IF_ERROR(LexNumber(&p));
      } else if (IsNameStart(c)) {
        size_t q = p;
        while (q < s.size() && IsNameChar(s[q])) ++q;
        AddToken(TokenType::kName, std::string(s.substr(p, q - p)), p);
        p = q;
      } else if (c == '\'' || c == '"') {
        MOE_RETURN_IF_ERROR(LexString(&p));
      } else {
        static const char* kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
        std::string op;
        for (const char* two : kTwo) {
          if (s.substr(p, 2) == two) op.assign(two, 2);
        }
        if (op.empty()) {
          if (std::string_view("+-*/%~()[]{}<>=.:|,;").find(c) == std::string_view::npos) {
            return ErrorAt(p, absl::StrCat("unexpected character '", std::string(1, c), "'"));
          }
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") {
          brackets.push_back(op[0]);
        } else if (op == ")" || op == "]" || op == "}") {
          char open = op == ")" ? '(' : (op == "]" ? '[' : '{');
          if (brackets.empty() || brackets.back() != open) {
            return ErrorAt(p, absl::StrCat("unexpected '", op, "'"));
          }
          brackets.pop_back();
        }
        AddToken(TokenType::kOperator, op, p);
        p += op.size();
      }
    }
  }

  // Integers (decimal with '_', 0x/0o/0b) and floats ("1.5", "1e3", "2.5E-3").
  absl::Status LexNumber(size_t* pos) {
    std::string_view s = src_;
    size_t p = *pos;
    size_t start = p;
    auto digits = [&](auto valid) {
      std::string out;
      while (p < s.size() &&
             (valid(s[p]) || (s[p] == '_' && p + 1 < s.size() && valid(s[p + 1])))) {
        if (s[p] != '_') out.push_back(s[p]);
        ++p;
      }
      return out;
    };
    auto dec = [](char c) { return IsDigit(c); };
    if (s[p] == '0' && p + 1 < s.size() &&
        std::string_view("xXoObB").find(s[p + 1]) != std::string_view::npos) {
      char base_char = static_cast<char>(s[p + 1] | 0x20);
      int base = base_char == 'x' ? 16 : (base_char == 'o' ? 8 : 2);
      p += 2;
      if (p < s.size() && s[p] == '_') ++p;
      std::string text = digits([base](char c) {
        if (base == 16) return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        return c >= '0' && c < static_cast<char>('0' + base);
      });
      if (text.empty()) return ErrorAt(start, "invalid integer literal");
      Token t;
      t.type = TokenType::kInteger;
      t.value = std::string(s.substr(start, p - start));
      t.int_value = static_cast<int64_t>(std::strtoull(text.c_str(), nullptr, base));
      SetPosition(start, &t);
      tokens_.push_back(std::move(t));
      *pos = p;
      return absl::OkStatus();
    }
    std::string text = digits(dec);
    bool is_float = false;
    bool after_dot = start > 0 && s[start - 1] == '.';  // x.0.1 is x[0][1]
    if (!after_dot && p + 1 < s.size() && s[p] == '.' && IsDigit(s[p + 1])) {
      ++p;
      text.push_back('.');
      text += digits(dec);
      is_float = true;
    }
    if (!after_dot && p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
      size_t q = p + 1;
      if (q < s.size() && (s[q] == '+' || s[q] == '-')) ++q;
      if (q < s.size() && IsDigit(s[q])) {
        std::string exp(s.substr(p, q - p));
        p = q;
        text += exp + digits(dec);
        is_float = true;
      }
    }
    Token t;
    t.value = std::string(s.substr(start, p - start));
    SetPosition(start, &t);
    if (is_float) {
      t.type = TokenType::kFloat;
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      t.type = TokenType::kInteger;
      errno = 0;
      t.int_value = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) return ErrorAt(start, "integer literal too large");
    }
    tokens_.push_back(std::move(t));
    *pos = p;
    return absl::OkStatus();
  }

  // A quoted string with Python escapes (\n \t \xHH \uXXXX \UXXXXXXXX \N{...} is not
  // supported and kept verbatim, as are unknown escapes).
  absl::Status LexString(size_t* pos) {
    std::string_view s = src_;
    size_t start = *pos;
    char quote = s[start];
    std::string out;
    size_t p = start + 1;
    while (true) {
      if (p >= s.size()) return ErrorAt(start, "unterminated string literal");
      char c = s[p];
      if (c == quote) break;
      if (c != '\\' || p + 1 >= s.size()) {
        out.push_back(c);
        ++p;
        continue;
      }
      char e = s[p + 1];
      p += 2;
      switch (e) {
        case '\n':
          break;  // line continuation
        case '\\':
        case '\'':
        case '"':
          out.push_back(e);
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          size_t n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          std::string hex(s.substr(p, n));
          bool ok = hex.size() == n && std::all_of(hex.begin(), hex.end(), [](char h) {
                      return IsDigit(h) || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F');
                    });
          uint32_t cp = ok ? static_cast<uint32_t>(std::strtoul(hex.c_str(), nullptr, 16)) : 0;
          if (!ok || cp > 0x10ffff) return ErrorAt(p - 2, "invalid escape in string literal");
          AppendUtf8(cp, &out);
          p += n;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && p < s.size() && s[p] >= '0' && s[p] <= '7'; ++k) {
              cp = cp * 8 + static_cast<uint32_t>(s[p++] - '0');
            }
            AppendUtf8(cp, &out);
          } else {
            out.push_back('\\');  // unknown escapes stay as written
            out.push_back(e);
          }
      }
    }
    Token t;
    t.type = TokenType::kString;
    t.value = std::move(out);
    SetPosition(start, &t);
    tokens_.push_back(std::move(t));
    *pos = p + 1;
    return absl::OkStatus();
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
};

}  // namespace

absl::Status SyntaxError(int line, int column, const std::string& message) {
  return absl::InvalidArgumentError(
      absl::StrCat("chat template line ", line, ", column ", column, ": ", message));
}

absl::StatusOr<std::vector<Token>> Lex(std::string_view source) {
  Lexer lexer(source);
  return lexer.Run();
}

}  // namespace moe::chat
