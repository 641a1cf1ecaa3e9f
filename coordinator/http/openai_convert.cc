#include "coordinator/http/openai_convert.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace moe::openai {
namespace {

absl::Status Invalid(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status TypeError(const std::string& field, const char* expected, const Json& value) {
  return Invalid(field, absl::StrCat("expected ", expected, ", got ", value.type_name()));
}

// The field's value, or null when absent or null.
const Json* Find(const Json& body, const std::string& field) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::optional<double>> GetNumber(const Json& body, const std::string& field) {
  const Json* v = Find(body, field);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) return TypeError(field, "a number", *v);
  return v->get<double>();
}

// An integer (an integral float such as 16.0 is accepted) in [lo, hi].
absl::StatusOr<int64_t> ToInt(const Json& v, const std::string& field, int64_t lo, int64_t hi) {
  if (!v.is_number()) return TypeError(field, "an integer", v);
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) return Invalid(field, absl::StrCat("must be at most ", hi));
    if (lo > 0 && u < static_cast<uint64_t>(lo)) {
      return Invalid(field, absl::StrCat("must be at least ", lo, ", got ", u));
    }
    return static_cast<int64_t>(u);
  }
  double d = v.get<double>();
  if (!v.is_number_integer() && (std::floor(d) != d || !std::isfinite(d))) {
    return TypeError(field, "an integer", v);
  }
  if (v.is_number_float() && (d < -9.2e18 || d > 9.2e18)) {
    return Invalid(field, "is out of range");
  }
  int64_t i = v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(d);
  if (i < lo) return Invalid(field, absl::StrCat("must be at least ", lo, ", got ", i));
  if (i > hi) return Invalid(field, absl::StrCat("must be at most ", hi, ", got ", i));
  return i;
}

absl::StatusOr<std::optional<int64_t>> GetInt(const Json& body, const std::string& field,
                                              int64_t lo = std::numeric_limits<int32_t>::min(),
                                              int64_t hi = std::numeric_limits<int32_t>::max()) {
  const Json* v = Find(body, field);
  if (v == nullptr) return std::nullopt;
  return ToInt(*v, field, lo, hi);
}

absl::StatusOr<std::optional<bool>> GetBool(const Json& body, const std::string& field) {
  const Json* v = Find(body, field);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) return TypeError(field, "a boolean", *v);
  return v->get<bool>();
}

absl::StatusOr<std::string> GetString(const Json& body, const std::string& field) {
  const Json* v = Find(body, field);
  if (v == nullptr) return std::string();
  if (!v->is_string()) return TypeError(field, "a string", *v);
  return v->get<std::string>();
}

// Fields vLLM or OpenAI define that this server does not implement: set -> 400, not ignored.
absl::Status RejectUnsupported(const Json& body) {
  for (const char* field :
       {"suffix", "prompt_logprobs", "guided_json", "guided_regex", "guided_choice",
        "guided_grammar", "structured_outputs", "chat_template", "continue_final_message"}) {
    const Json* v = Find(body, field);
    if (v != nullptr && !(v->is_boolean() && !v->get<bool>())) {
      return Invalid(field, "is not supported by this server");
    }
  }
  if (const Json* v = Find(body, "logit_bias"); v != nullptr && !v->empty()) {
    return Invalid("logit_bias", "is not supported by this server");
  }
  MOE_ASSIGN_OR_RETURN(std::optional<int64_t> best_of, GetInt(body, "best_of"));
  if (best_of.has_value() && *best_of > 1) {
    return Invalid("best_of", absl::StrCat("only 1 is supported, got ", *best_of));
  }
  if (const Json* v = Find(body, "response_format"); v != nullptr) {
    if (!v->is_object()) return TypeError("response_format", "an object", *v);
    MOE_ASSIGN_OR_RETURN(std::string type, GetString(*v, "type"));
    if (!type.empty() && type != "text") {
      return Invalid("response_format.type",
                     absl::StrCat("only \"text\" is supported, got \"", type, "\""));
    }
  }
  return absl::OkStatus();
}

// The sampling fields both endpoints share (logprobs and max_tokens are endpoint-specific).
absl::Status ParseSampling(const Json& body, v1::SamplingParams* s) {
  MOE_ASSIGN_OR_RETURN(std::optional<double> temperature, GetNumber(body, "temperature"));
  if (temperature) s->set_temperature(static_cast<float>(*temperature));
  MOE_ASSIGN_OR_RETURN(std::optional<double> top_p, GetNumber(body, "top_p"));
  if (top_p) s->set_top_p(static_cast<float>(*top_p));
  MOE_ASSIGN_OR_RETURN(std::optional<int64_t> top_k, GetInt(body, "top_k"));
  if (top_k) s->set_top_k(static_cast<int32_t>(*top_k));
  MOE_ASSIGN_OR_RETURN(std::optional<double> min_p, GetNumber(body, "min_p"));
  if (min_p) s->set_min_p(static_cast<float>(*min_p));
  MOE_ASSIGN_OR_RETURN(std::optional<double> repetition, GetNumber(body, "repetition_penalty"));
  if (repetition) s->set_repetition_penalty(static_cast<float>(*repetition));
  MOE_ASSIGN_OR_RETURN(std::optional<double> presence, GetNumber(body, "presence_penalty"));
  if (presence) s->set_presence_penalty(static_cast<float>(*presence));
  MOE_ASSIGN_OR_RETURN(std::optional<double> frequency, GetNumber(body, "frequency_penalty"));
  if (frequency) s->set_frequency_penalty(static_cast<float>(*frequency));
  if (const Json* seed = Find(body, "seed"); seed != nullptr) {
    MOE_ASSIGN_OR_RETURN(int64_t value,
                         ToInt(*seed, "seed", 0, std::numeric_limits<int64_t>::max()));
    s->set_seed(static_cast<uint64_t>(value));
  }
  if (const Json* stop = Find(body, "stop"); stop != nullptr) {
    if (stop->is_string()) {
      s->add_stop(stop->get<std::string>());
    } else if (stop->is_array()) {
      for (size_t i = 0; i < stop->size(); ++i) {
        const Json& one = (*stop)[i];
        if (!one.is_string()) return TypeError(absl::StrCat("stop[", i, "]"), "a string", one);
        s->add_stop(one.get<std::string>());
      }
    } else {
      return TypeError("stop", "a string or an array of strings", *stop);
    }
  }
  if (const Json* ids = Find(body, "stop_token_ids"); ids != nullptr) {
    if (!ids->is_array()) return TypeError("stop_token_ids", "an array of integers", *ids);
    for (size_t i = 0; i < ids->size(); ++i) {
      MOE_ASSIGN_OR_RETURN(int64_t id, ToInt((*ids)[i], absl::StrCat("stop_token_ids[", i, "]"),
                                             std::numeric_limits<int32_t>::min(),
                                             std::numeric_limits<int32_t>::max()));
      s->add_stop_token_ids(static_cast<int32_t>(id));
    }
  }
  MOE_ASSIGN_OR_RETURN(std::optional<bool> ignore_eos, GetBool(body, "ignore_eos"));
  s->set_ignore_eos(ignore_eos.value_or(false));
  MOE_ASSIGN_OR_RETURN(std::optional<bool> include_stop,
                       GetBool(body, "include_stop_str_in_output"));
  s->set_include_stop_str_in_output(include_stop.value_or(false));
  MOE_ASSIGN_OR_RETURN(std::optional<bool> skip_special, GetBool(body, "skip_special_tokens"));
  if (skip_special) s->set_skip_special_tokens(*skip_special);
  MOE_ASSIGN_OR_RETURN(std::optional<int64_t> min_tokens, GetInt(body, "min_tokens"));
  s->set_min_tokens(static_cast<int32_t>(min_tokens.value_or(0)));
  return absl::OkStatus();
}

absl::Status ParseMaxTokens(const Json& body, const std::string& field, v1::SamplingParams* s) {
  MOE_ASSIGN_OR_RETURN(std::optional<int64_t> max_tokens, GetInt(body, field));
  if (max_tokens) s->set_max_tokens(static_cast<int32_t>(*max_tokens));
  return absl::OkStatus();
}

absl::Status ParseStreamOptions(const Json& body, StreamOptions* out) {
  MOE_ASSIGN_OR_RETURN(std::optional<bool> stream, GetBool(body, "stream"));
  out->stream = stream.value_or(false);
  if (const Json* options = Find(body, "stream_options"); options != nullptr) {
    if (!options->is_object()) return TypeError("stream_options", "an object", *options);
    const Json* usage_field = Find(*options, "include_usage");
    if (usage_field != nullptr && !usage_field->is_boolean()) {
      return TypeError("stream_options.include_usage", "a boolean", *usage_field);
    }
    std::optional<bool> usage;
    if (usage_field != nullptr) usage = usage_field->get<bool>();
    out->include_usage = usage.value_or(false);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ParseN(const Json& body, int prompts) {
  MOE_ASSIGN_OR_RETURN(std::optional<int64_t> n, GetInt(body, "n", 1, kMaxChoices));
  const int choices = static_cast<int>(n.value_or(1));
  if (choices * prompts > kMaxChoices) {
    return Invalid("n", absl::StrCat("n (", choices, ") times the number of prompts (", prompts,
                                     ") must be at most ", kMaxChoices));
  }
  return choices;
}

// One prompt given as an array of token ids.
absl::StatusOr<v1::TokenIds> ToTokenIds(const Json& array, const std::string& field) {
  v1::TokenIds ids;
  for (size_t i = 0; i < array.size(); ++i) {
    MOE_ASSIGN_OR_RETURN(int64_t id, ToInt(array[i], absl::StrCat(field, "[", i, "]"),
                                           std::numeric_limits<int32_t>::min(),
                                           std::numeric_limits<int32_t>::max()));
    ids.add_ids(static_cast<int32_t>(id));
  }
  return ids;
}

// prompt: a string, an array of token ids, an array of strings or an array of id arrays.
absl::Status ParsePrompts(const Json& body, CompletionRequest* out) {
  const Json* prompt = Find(body, "prompt");
  if (prompt == nullptr) return Invalid("prompt", "is required");
  auto add_text = [&](const std::string& text) {
    out->prompts.emplace_back().set_text(text);
    out->prompt_texts.push_back(text);
  };
  if (prompt->is_string()) {
    add_text(prompt->get<std::string>());
    return absl::OkStatus();
  }
  if (!prompt->is_array()) {
    return TypeError("prompt", "a string or an array (of token ids, strings or id arrays)",
                     *prompt);
  }
  if (prompt->empty()) return Invalid("prompt", "must not be empty");
  const Json& first = (*prompt)[0];
  if (first.is_number()) {
    MOE_ASSIGN_OR_RETURN(*out->prompts.emplace_back().mutable_token_ids(),
                         ToTokenIds(*prompt, "prompt"));
    out->prompt_texts.emplace_back();
    return absl::OkStatus();
  }
  for (size_t i = 0; i < prompt->size(); ++i) {
    const Json& one = (*prompt)[i];
    const std::string field = absl::StrCat("prompt[", i, "]");
    if (first.is_string()) {
      if (!one.is_string()) return TypeError(field, "a string like prompt[0]", one);
      add_text(one.get<std::string>());
    } else if (first.is_array()) {
      if (!one.is_array()) return TypeError(field, "an array of token ids like prompt[0]", one);
      MOE_ASSIGN_OR_RETURN(*out->prompts.emplace_back().mutable_token_ids(),
                           ToTokenIds(one, field));
      out->prompt_texts.emplace_back();
    } else {
      return TypeError(field, "a token id, a string or an array of token ids", one);
    }
  }
  return absl::OkStatus();
}

// content: a string, null, or an array of {"type": "text", "text": ...} parts (joined by "\n").
absl::StatusOr<std::string> ParseContent(const Json& message, const std::string& field) {
  const Json* content = Find(message, "content");
  if (content == nullptr) return std::string();
  if (content->is_string()) return content->get<std::string>();
  if (!content->is_array()) return TypeError(field, "a string or an array of parts", *content);
  std::string text;
  for (size_t i = 0; i < content->size(); ++i) {
    const Json& part = (*content)[i];
    const std::string part_field = absl::StrCat(field, "[", i, "]");
    if (!part.is_object()) return TypeError(part_field, "an object", part);
    MOE_ASSIGN_OR_RETURN(std::string type, GetString(part, "type"));
    if (type != "text") {
      return Invalid(part_field + ".type",
                     absl::StrCat("only \"text\" parts are supported, got \"", type, "\""));
    }
    MOE_ASSIGN_OR_RETURN(std::string part_text, GetString(part, "text"));
    if (i > 0) text += "\n";
    text += part_text;
  }
  return text;
}

absl::Status ParseToolCalls(const Json& calls, const std::string& field, v1::ChatMessage* m) {
  if (!calls.is_array()) return TypeError(field, "an array", calls);
  for (size_t i = 0; i < calls.size(); ++i) {
    const Json& call = calls[i];
    const std::string call_field = absl::StrCat(field, "[", i, "]");
    if (!call.is_object()) return TypeError(call_field, "an object", call);
    v1::ToolCall* out = m->add_tool_calls();
    MOE_ASSIGN_OR_RETURN(*out->mutable_id(), GetString(call, "id"));
    const Json* function = Find(call, "function");
    if (function == nullptr || !function->is_object()) {
      return Invalid(call_field + ".function", "expected an object with name and arguments");
    }
    MOE_ASSIGN_OR_RETURN(*out->mutable_name(), GetString(*function, "name"));
    const Json* arguments = Find(*function, "arguments");
    if (arguments == nullptr) continue;
    // OpenAI sends the arguments as a JSON string; an object is accepted too.
    if (arguments->is_string()) {
      out->set_arguments_json(arguments->get<std::string>());
    } else if (arguments->is_object()) {
      out->set_arguments_json(arguments->dump());
    } else {
      return TypeError(call_field + ".function.arguments", "a JSON string", *arguments);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseMessages(const Json& body, v1::ChatRequest* chat) {
  const Json* messages = Find(body, "messages");
  if (messages == nullptr) return Invalid("messages", "is required");
  if (!messages->is_array()) return TypeError("messages", "an array", *messages);
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& message = (*messages)[i];
    const std::string field = absl::StrCat("messages[", i, "]");
    if (!message.is_object()) return TypeError(field, "an object", message);
    v1::ChatMessage* m = chat->add_messages();
    MOE_ASSIGN_OR_RETURN(*m->mutable_role(), GetString(message, "role"));
    if (m->role().empty()) return Invalid(field + ".role", "is required");
    MOE_ASSIGN_OR_RETURN(*m->mutable_content(), ParseContent(message, field + ".content"));
    MOE_ASSIGN_OR_RETURN(*m->mutable_reasoning_content(), GetString(message, "reasoning_content"));
    MOE_ASSIGN_OR_RETURN(*m->mutable_name(), GetString(message, "name"));
    MOE_ASSIGN_OR_RETURN(*m->mutable_tool_call_id(), GetString(message, "tool_call_id"));
    if (const Json* calls = Find(message, "tool_calls"); calls != nullptr) {
      MOE_RETURN_IF_ERROR(ParseToolCalls(*calls, field + ".tool_calls", m));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseTools(const Json& body, v1::ChatRequest* chat) {
  const Json* tools = Find(body, "tools");
  if (tools == nullptr) return absl::OkStatus();
  if (!tools->is_array()) return TypeError("tools", "an array", *tools);
  // tool_choice "none": the model must not call tools, so they stay out of the prompt (as in
  // vLLM); "auto", "required" and a named function all just offer the tools.
  if (const Json* choice = Find(body, "tool_choice");
      choice != nullptr && choice->is_string() && choice->get<std::string>() == "none") {
    return absl::OkStatus();
  }
  for (size_t i = 0; i < tools->size(); ++i) {
    const Json& tool = (*tools)[i];
    if (!tool.is_object()) return TypeError(absl::StrCat("tools[", i, "]"), "an object", tool);
    chat->add_tools_json(tool.dump());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CompletionRequest> ParseCompletionRequest(const Json& body) {
  if (!body.is_object()) return TypeError("body", "a JSON object", body);
  CompletionRequest out;
  MOE_RETURN_IF_ERROR(RejectUnsupported(body));
  MOE_ASSIGN_OR_RETURN(out.model, GetString(body, "model"));
  MOE_RETURN_IF_ERROR(ParsePrompts(body, &out));
  MOE_ASSIGN_OR_RETURN(out.n, ParseN(body, static_cast<int>(out.prompts.size())));
  MOE_RETURN_IF_ERROR(ParseStreamOptions(body, &out.stream));
  MOE_ASSIGN_OR_RETURN(std::optional<bool> token_ids, GetBool(body, "return_token_ids"));
  out.return_token_ids = token_ids.value_or(false);
  MOE_ASSIGN_OR_RETURN(std::optional<bool> echo, GetBool(body, "echo"));
  out.echo = echo.value_or(false);
  MOE_ASSIGN_OR_RETURN(std::optional<int64_t> logprobs, GetInt(body, "logprobs", 0, kMaxLogprobs));
  out.logprobs = logprobs.has_value() ? static_cast<int>(*logprobs) : -1;
  if (out.echo && out.logprobs >= 0) {
    return Invalid("echo", "echo together with logprobs (prompt logprobs) is not supported");
  }
  v1::SamplingParams sampling;
  MOE_RETURN_IF_ERROR(ParseSampling(body, &sampling));
  sampling.set_max_tokens(16);  // the OpenAI and vLLM default for completions
  MOE_RETURN_IF_ERROR(ParseMaxTokens(body, "max_tokens", &sampling));
  sampling.set_logprobs(out.logprobs);
  for (v1::GenerateRequest& prompt : out.prompts) *prompt.mutable_sampling() = sampling;
  return out;
}

absl::StatusOr<ChatCompletionRequest> ParseChatCompletionRequest(const Json& body) {
  if (!body.is_object()) return TypeError("body", "a JSON object", body);
  ChatCompletionRequest out;
  MOE_RETURN_IF_ERROR(RejectUnsupported(body));
  MOE_ASSIGN_OR_RETURN(out.model, GetString(body, "model"));
  MOE_RETURN_IF_ERROR(ParseMessages(body, &out.chat));
  MOE_RETURN_IF_ERROR(ParseTools(body, &out.chat));
  MOE_ASSIGN_OR_RETURN(out.n, ParseN(body, 1));
  MOE_RETURN_IF_ERROR(ParseStreamOptions(body, &out.stream));
  MOE_ASSIGN_OR_RETURN(std::optional<bool> token_ids, GetBool(body, "return_token_ids"));
  out.return_token_ids = token_ids.value_or(false);
  MOE_ASSIGN_OR_RETURN(std::optional<bool> logprobs, GetBool(body, "logprobs"));
  out.logprobs = logprobs.value_or(false);
  MOE_ASSIGN_OR_RETURN(std::optional<int64_t> top, GetInt(body, "top_logprobs", 0, kMaxLogprobs));
  if (top.has_value() && *top > 0 && !out.logprobs) {
    return Invalid("top_logprobs", "requires logprobs to be true");
  }
  out.top_logprobs = static_cast<int>(top.value_or(0));
  MOE_ASSIGN_OR_RETURN(std::optional<bool> add_generation_prompt,
                       GetBool(body, "add_generation_prompt"));
  if (add_generation_prompt) out.chat.set_add_generation_prompt(*add_generation_prompt);
  if (const Json* kwargs = Find(body, "chat_template_kwargs"); kwargs != nullptr) {
    if (!kwargs->is_object()) return TypeError("chat_template_kwargs", "an object", *kwargs);
    out.chat.set_template_kwargs_json(kwargs->dump());
  }
  v1::SamplingParams* sampling = out.chat.mutable_sampling();
  MOE_RETURN_IF_ERROR(ParseSampling(body, sampling));
  // max_completion_tokens replaces the deprecated max_tokens.
  MOE_RETURN_IF_ERROR(ParseMaxTokens(body, "max_tokens", sampling));
  MOE_RETURN_IF_ERROR(ParseMaxTokens(body, "max_completion_tokens", sampling));
  sampling->set_logprobs(out.logprobs ? out.top_logprobs : -1);
  return out;
}

v1::SamplingParams ChoiceSampling(const v1::SamplingParams& base, int n, int index) {
  v1::SamplingParams s = base;
  if (n > 1 && s.has_seed()) s.set_seed(s.seed() + static_cast<uint64_t>(index));
  return s;
}

}  // namespace moe::openai
