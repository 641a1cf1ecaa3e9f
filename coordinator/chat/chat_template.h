// Chat-template rendering: a Jinja-subset interpreter that renders a model's own
// `chat_template` (tokenizer_config.json) exactly like Hugging Face transformers, which uses
// Jinja2 with trim_blocks=True, lstrip_blocks=True and the loopcontrols extension.
//
// Supported: {% if/elif/else %}, {% for %} (loop.*, else, `if` filter, tuple unpacking),
// {% break/continue %}, {% set %} (tuples, namespace attributes, blocks with filters),
// {% macro %}, {% with %}, {% raw %}, {% generation %}, comments, whitespace control;
// Python-style expressions, slicing, str/dict/list methods, the common Jinja2 filters and
// tests, and the globals range, namespace, dict, raise_exception and strftime_now.
// Not supported (rejected by Parse): include/extends/import/block/call/filter blocks,
// recursive loops, *args/**kwargs in calls, unknown filters and tests.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace moe {

class ChatTemplate {
 public:
  ~ChatTemplate();
  ChatTemplate(const ChatTemplate&) = delete;
  ChatTemplate& operator=(const ChatTemplate&) = delete;

  // Parses a Jinja template. Syntax errors and unsupported constructs fail here with
  // INVALID_ARGUMENT "chat template line L, column C: ..." naming the construct.
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> Parse(std::string_view source);

  // Renders with `variables` (a JSON object) as the template's globals. Runtime errors
  // (undefined method, bad types, raise_exception(...) in the template) are INVALID_ARGUMENT
  // "chat template line L: message". Thread-safe.
  absl::StatusOr<std::string> Render(const OrderedJson& variables) const;

 private:
  ChatTemplate();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ChatRequest {
  OrderedJson messages = OrderedJson::array();
  OrderedJson tools;  // null when absent
  bool add_generation_prompt = true;
  OrderedJson template_kwargs = OrderedJson::object();  // extra variables, e.g. enable_thinking
};

// Renders requests with a tokenizer_config.json's chat_template the way transformers'
// apply_chat_template does: variables messages, tools (None when absent), documents (None),
// add_generation_prompt, the special tokens that the config sets (bos_token, eos_token,
// unk_token, sep_token, pad_token, cls_token, mask_token as strings, additional_special_tokens)
// and the template kwargs, which override the special tokens.
class ChatFormatter {
 public:
  // `tokenizer_config`: parsed tokenizer_config.json. `template_override`: when non-empty,
  // replaces its chat_template. `source_name` prefixes error messages (e.g. the file path).
  // A chat_template given as a list of {"name", "template"} uses "default", or "tool_use"
  // when the request has tools and the list has it.
  static absl::StatusOr<std::unique_ptr<ChatFormatter>> Create(const OrderedJson& tokenizer_config,
                                                               const std::string& template_override,
                                                               const std::string& source_name);

  absl::StatusOr<std::string> Render(const ChatRequest& request) const;

  // Checks that `messages` is an array of objects with a string "role" and a "content" that
  // is a string, null, an array of objects or absent. INVALID_ARGUMENT names the field, e.g.
  // "messages[2].role: expected a string".
  static absl::Status ValidateMessages(const OrderedJson& messages);

 private:
  ChatFormatter() = default;

  std::string source_name_;
  std::map<std::string, std::unique_ptr<ChatTemplate>> templates_;  // by name; "" = the only one
  OrderedJson special_tokens_ = OrderedJson::object();
};

}  // namespace moe
