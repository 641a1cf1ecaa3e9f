#include "coordinator/chat/chat_template.h"

#include <exception>

#include "absl/strings/match.h"
#include "coordinator/chat/evaluator.h"
#include "coordinator/chat/parser.h"

namespace moe {

struct ChatTemplate::Impl {
  chat::Body body;
};

ChatTemplate::ChatTemplate() : impl_(std::make_unique<Impl>()) {}
ChatTemplate::~ChatTemplate() = default;

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::Parse(std::string_view source) {
  try {
    MOE_ASSIGN_OR_RETURN(chat::Body body, chat::ParseTemplate(source));
    std::unique_ptr<ChatTemplate> tmpl(new ChatTemplate());
    tmpl->impl_->body = std::move(body);
    return tmpl;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("chat template: parse failed: ", e.what()));
  }
}

absl::StatusOr<std::string> ChatTemplate::Render(const OrderedJson& variables) const {
  if (!variables.is_object() && !variables.is_null()) {
    return absl::InvalidArgumentError("chat template variables must be a JSON object");
  }
  try {
    chat::Value vars = chat::Value::FromJson(variables);
    return chat::RenderTemplate(impl_->body, vars.dict());
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("chat template: render failed: ", e.what()));
  }
}

namespace {

// A special token from the config: a string or an AddedToken object {"content": ...}.
const OrderedJson* TokenContent(const OrderedJson& value) {
  if (value.is_string()) return &value;
  if (value.is_object()) {
    auto it = value.find("content");
    if (it != value.end() && it->is_string()) return &*it;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChatFormatter>> ChatFormatter::Create(
    const OrderedJson& tokenizer_config, const std::string& template_override,
    const std::string& source_name) {
  std::unique_ptr<ChatFormatter> formatter(new ChatFormatter());
  formatter->source_name_ = source_name;
  auto parse = [&](const std::string& name, const std::string& source) -> absl::Status {
    auto parsed = ChatTemplate::Parse(source);
    if (!parsed.ok()) {
      std::string where = name.empty() ? "" : absl::StrCat(" (template '", name, "')");
      return absl::Status(parsed.status().code(),
                          absl::StrCat(source_name, where, ": ", parsed.status().message()));
    }
    formatter->templates_[name] = std::move(parsed).value();
    return absl::OkStatus();
  };
  try {
    if (!tokenizer_config.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(source_name, ": expected a JSON object"));
    }
    if (!template_override.empty()) {
      MOE_RETURN_IF_ERROR(parse("", template_override));
    } else {
      auto it = tokenizer_config.find("chat_template");
      if (it == tokenizer_config.end() || it->is_null()) {
        return absl::NotFoundError(absl::StrCat(source_name, ": no chat_template"));
      }
      if (it->is_string()) {
        MOE_RETURN_IF_ERROR(parse("", it->get<std::string>()));
      } else if (it->is_array()) {
        for (size_t i = 0; i < it->size(); ++i) {
          const OrderedJson& entry = (*it)[i];
          if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
              !entry.contains("template") || !entry["template"].is_string()) {
            return absl::InvalidArgumentError(
                absl::StrCat(source_name, ": chat_template[", i,
                             "]: expected {\"name\": ..., \"template\": ...}"));
          }
          MOE_RETURN_IF_ERROR(
              parse(entry["name"].get<std::string>(), entry["template"].get<std::string>()));
        }
        if (formatter->templates_.count("default") == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(source_name, ": chat_template list has no 'default' template"));
        }
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(source_name, ": chat_template: expected a string or a list"));
      }
    }
    static const char* kTokens[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                    "pad_token", "cls_token", "mask_token"};
    for (const char* name : kTokens) {
      auto it = tokenizer_config.find(name);
      if (it == tokenizer_config.end()) continue;
      if (const OrderedJson* content = TokenContent(*it); content != nullptr) {
        formatter->special_tokens_[name] = *content;
      }
    }
    auto extra = tokenizer_config.find("additional_special_tokens");
    if (extra != tokenizer_config.end() && extra->is_array()) {
      OrderedJson tokens = OrderedJson::array();
      for (const auto& token : *extra) {
        if (const OrderedJson* content = TokenContent(token); content != nullptr) {
          tokens.push_back(*content);
        }
      }
      formatter->special_tokens_["additional_special_tokens"] = std::move(tokens);
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": ", e.what()));
  }
  return formatter;
}

absl::StatusOr<std::string> ChatFormatter::Render(const ChatRequest& request) const {
  MOE_RETURN_IF_ERROR(ValidateMessages(request.messages));
  if (!request.tools.is_null() && !request.tools.is_array()) {
    return absl::InvalidArgumentError("tools: expected an array");
  }
  if (!request.template_kwargs.is_null() && !request.template_kwargs.is_object()) {
    return absl::InvalidArgumentError("template_kwargs: expected an object");
  }
  const ChatTemplate* tmpl = nullptr;
  if (auto it = templates_.find(""); it != templates_.end()) {
    tmpl = it->second.get();
  } else if (auto tool_use = templates_.find("tool_use");
             !request.tools.is_null() && tool_use != templates_.end()) {
    tmpl = tool_use->second.get();
  } else {
    tmpl = templates_.at("default").get();
  }
  OrderedJson vars = OrderedJson::object();
  try {
    for (const auto& [key, value] : special_tokens_.items()) vars[key] = value;
    if (request.template_kwargs.is_object()) {
      for (const auto& [key, value] : request.template_kwargs.items()) {
        if (key == "messages" || key == "tools" || key == "documents" ||
            key == "add_generation_prompt") {
          return absl::InvalidArgumentError(
              absl::StrCat("template_kwargs.", key, ": reserved variable name"));
        }
        vars[key] = value;
      }
    }
    vars["messages"] = request.messages;
    vars["tools"] = request.tools;
    vars["documents"] = nullptr;
    vars["add_generation_prompt"] = request.add_generation_prompt;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("chat request: ", e.what()));
  }
  auto text = tmpl->Render(vars);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat(source_name_, ": ", text.status().message()));
  }
  return text;
}

absl::Status ChatFormatter::ValidateMessages(const OrderedJson& messages) {
  if (!messages.is_array()) return absl::InvalidArgumentError("messages: expected an array");
  for (size_t i = 0; i < messages.size(); ++i) {
    const OrderedJson& message = messages[i];
    std::string where = absl::StrCat("messages[", i, "]");
    if (!message.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": expected an object"));
    }
    auto role = message.find("role");
    if (role == message.end() || !role->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".role: expected a string"));
    }
    auto content = message.find("content");
    if (content == message.end() || content->is_string() || content->is_null()) continue;
    if (!content->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".content: expected a string, null or an array"));
    }
    for (size_t k = 0; k < content->size(); ++k) {
      if (!(*content)[k].is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".content[", k, "]: expected an object"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace moe
