// Evaluator of the chat-template interpreter: runs a parsed template with Jinja2's scoping
// (a fresh scope per loop iteration, macro calls and {% with %}; `set` writes the innermost
// scope; namespaces are shared objects) and Python semantics for values.
#pragma once

#include <string>

#include "coordinator/chat/ast.h"

namespace moe::chat {

// Renders `body` with `variables` as the template's globals, on top of the built-in globals
// (range, namespace, dict, raise_exception, strftime_now). Errors are INVALID_ARGUMENT
// "chat template line L: message".
absl::StatusOr<std::string> RenderTemplate(const Body& body, const ValueDict& variables);

}  // namespace moe::chat
