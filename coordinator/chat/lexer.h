// Lexer of the chat-template interpreter: splits a Jinja template into text and tag tokens,
// applying Jinja2's whitespace rules the way Hugging Face configures them (trim_blocks,
// lstrip_blocks, `-`/`+` markers, newlines normalized to "\n", one trailing newline dropped),
// and tokenizes the expressions inside {{ }} and {% %}.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace moe::chat {

enum class TokenType {
  kText,        // literal template text (after whitespace control)
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kVarBegin,    // {{
  kVarEnd,      // }}
  kName,        // identifier or keyword
  kString,      // string literal, value unescaped
  kInteger,
  kFloat,
  kOperator,  // + - * / // % ** ~ ( ) [ ] { } == != < <= > >= = . : | ,
  kEnd,       // end of the template
};

struct Token {
  TokenType type = TokenType::kEnd;
  std::string value;  // text, name, unescaped string or operator
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in bytes
};

// "chat template line L, column C: message" as INVALID_ARGUMENT.
absl::Status SyntaxError(int line, int column, const std::string& message);

// Tokenizes `source`; the last token is kEnd. Errors (unterminated tag, comment or string,
// unexpected character) name the line and column.
absl::StatusOr<std::vector<Token>> Lex(std::string_view source);

}  // namespace moe::chat
