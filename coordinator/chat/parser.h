// Parser of the chat-template interpreter: Jinja2 statements and expressions (the subset
// listed in chat_template.h) into a syntax tree. Anything else fails here, naming the line,
// the column and the construct.
#pragma once

#include <string_view>

#include "coordinator/chat/ast.h"

namespace moe::chat {

// Lexes and parses a whole template.
absl::StatusOr<Body> ParseTemplate(std::string_view source);

}  // namespace moe::chat
