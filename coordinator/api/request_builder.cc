#include "coordinator/api/request_builder.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json.h"

namespace moe {
namespace {

constexpr int32_t kMaxLogprobs = 20;
constexpr size_t kMaxRequestIdLength = 256;
constexpr char kNoTokenizer[] = "this model is served without a tokenizer: send prompt.token_ids";

uint64_t RandomUint64() {
  thread_local absl::BitGen gen;
  return absl::Uniform<uint64_t>(gen);
}

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// Token ids that the model can take: the tokenizer's ids when it has one (the embedding rows
// past them are padding), else the embedding's rows.
int64_t VocabLimit(const ServedModel& model) {
  int64_t limit = model.config.vocab_size;
  if (model.tokenizer != nullptr && model.tokenizer->num_ids() < limit) {
    limit = model.tokenizer->num_ids();
  }
  return limit;
}

absl::Status CheckTokenId(int64_t id, int64_t vocab, const std::string& field) {
  if (id < 0 || id >= vocab) {
    return Invalid(field, absl::StrCat(id, " is not a token id (vocabulary size ", vocab, ")"));
  }
  return absl::OkStatus();
}

// Checks the fields that do not depend on the prompt and fills `out->sampling` (defaults from
// generation_config.json, else the usual ones).
absl::Status ResolveSampling(const ServedModel& model, const v1::SamplingParams& in,
                             RequestParams* out) {
  const GenerationConfig& gen = model.generation;
  v1::StepSampling& s = out->sampling;

  double temperature = 1.0;
  if (gen.do_sample.has_value() && !*gen.do_sample) temperature = 0.0;  // HF: greedy
  if (gen.temperature) temperature = *gen.temperature;
  if (in.has_temperature()) {
    if (!(in.temperature() >= 0) || std::isinf(in.temperature())) {
      return Invalid("sampling.temperature", absl::StrCat("must be >= 0, got ", in.temperature()));
    }
    temperature = in.temperature();
  }
  s.set_temperature(static_cast<float>(temperature));

  int64_t top_k = gen.top_k.value_or(0);
  if (in.has_top_k()) top_k = in.top_k();
  s.set_top_k(top_k > 0 ? static_cast<int32_t>(top_k) : 0);

  double top_p = gen.top_p.value_or(1.0);
  if (in.has_top_p()) {
    if (!(in.top_p() > 0 && in.top_p() <= 1)) {
      return Invalid("sampling.top_p", absl::StrCat("must be in (0, 1], got ", in.top_p()));
    }
    top_p = in.top_p();
  }
  s.set_top_p(static_cast<float>(top_p));

  double min_p = gen.min_p.value_or(0.0);
  if (in.has_min_p()) {
    if (!(in.min_p() >= 0 && in.min_p() <= 1)) {
      return Invalid("sampling.min_p", absl::StrCat("must be in [0, 1], got ", in.min_p()));
    }
    min_p = in.min_p();
  }
  s.set_min_p(static_cast<float>(min_p));

  double repetition_penalty = gen.repetition_penalty.value_or(1.0);
  if (in.has_repetition_penalty()) {
    if (!(in.repetition_penalty() > 0) || std::isinf(in.repetition_penalty())) {
      return Invalid("sampling.repetition_penalty",
                     absl::StrCat("must be > 0, got ", in.repetition_penalty()));
    }
    repetition_penalty = in.repetition_penalty();
  }
  s.set_repetition_penalty(static_cast<float>(repetition_penalty));

  if (!(in.presence_penalty() >= -2 && in.presence_penalty() <= 2)) {
    return Invalid("sampling.presence_penalty",
                   absl::StrCat("must be in [-2, 2], got ", in.presence_penalty()));
  }
  s.set_presence_penalty(in.presence_penalty());
  if (!(in.frequency_penalty() >= -2 && in.frequency_penalty() <= 2)) {
    return Invalid("sampling.frequency_penalty",
                   absl::StrCat("must be in [-2, 2], got ", in.frequency_penalty()));
  }
  s.set_frequency_penalty(in.frequency_penalty());

  s.set_seed(in.has_seed() ? in.seed() : RandomUint64());

  if (in.logprobs() < -1 || in.logprobs() > kMaxLogprobs) {
    return Invalid("sampling.logprobs", absl::StrCat("must be in [-1, ", kMaxLogprobs,
                                                     "] (-1: none), got ", in.logprobs()));
  }
  out->return_logprobs = in.logprobs() >= 0;
  s.set_logprobs(in.logprobs() > 0 ? in.logprobs() : 0);

  if (in.has_max_tokens() && in.max_tokens() < 1) {
    return Invalid("sampling.max_tokens", absl::StrCat("must be >= 1, got ", in.max_tokens()));
  }
  if (in.min_tokens() < 0) {
    return Invalid("sampling.min_tokens", absl::StrCat("must be >= 0, got ", in.min_tokens()));
  }
  if (in.has_max_tokens() && in.min_tokens() > in.max_tokens()) {
    return Invalid("sampling.min_tokens", absl::StrCat("must be <= max_tokens (", in.max_tokens(),
                                                       "), got ", in.min_tokens()));
  }
  out->min_tokens = in.min_tokens();

  out->stop.clear();
  for (int i = 0; i < in.stop_size(); ++i) {
    if (in.stop(i).empty())
      return Invalid(absl::StrCat("sampling.stop[", i, "]"), "must not be empty");
    out->stop.push_back(in.stop(i));
  }

  const int64_t vocab = VocabLimit(model);
  out->stop_token_ids.clear();
  for (int i = 0; i < in.stop_token_ids_size(); ++i) {
    MOE_RETURN_IF_ERROR(CheckTokenId(in.stop_token_ids(i), vocab,
                                     absl::StrCat("sampling.stop_token_ids[", i, "]")));
  }
  if (!in.ignore_eos()) {
    for (int32_t id : model.eos_token_ids()) out->stop_token_ids.push_back(id);
    for (int32_t id : in.stop_token_ids()) out->stop_token_ids.push_back(id);
  }
  // min_tokens: the worker never samples a stop id before that many output tokens.
  out->sampling.set_min_tokens(static_cast<int32_t>(out->min_tokens));
  out->sampling.clear_suppressed_token_ids();
  if (out->min_tokens > 0) {
    for (int32_t id : out->stop_token_ids) out->sampling.add_suppressed_token_ids(id);
  }
  out->include_stop_str_in_output = in.include_stop_str_in_output();
  out->skip_special_tokens = in.has_skip_special_tokens() ? in.skip_special_tokens() : true;
  return absl::OkStatus();
}

// Checks the prompt against the context length and the KV pool; resolves max_tokens.
absl::Status CheckLengths(const ServedModel& model, const v1::SamplingParams& in,
                          RequestParams* out) {
  const int64_t prompt_len = static_cast<int64_t>(out->prompt.size());
  const int64_t context = model.max_model_len;
  if (prompt_len >= context) {
    return Invalid("prompt", absl::StrCat(prompt_len, " tokens do not fit the model's context of ",
                                          context, " (it must leave room for one more token)"));
  }
  if (in.has_max_tokens() && prompt_len + in.max_tokens() > context) {
    return Invalid("prompt", absl::StrCat(prompt_len, " tokens + max_tokens ", in.max_tokens(),
                                          " exceed the model's context of ", context));
  }
  out->max_tokens = in.has_max_tokens() ? in.max_tokens() : context - prompt_len;
  if (out->min_tokens > out->max_tokens) {
    return Invalid("sampling.min_tokens",
                   absl::StrCat("must be <= the tokens left in the context (", out->max_tokens,
                                "), got ", out->min_tokens));
  }
  if (model.kv_blocks_total > 0 && model.kv_block_size > 0) {
    const int64_t blocks = (prompt_len + 1 + model.kv_block_size - 1) / model.kv_block_size;
    if (blocks > model.kv_blocks_total) {
      return Invalid("prompt", absl::StrCat(prompt_len, " tokens need ", blocks,
                                            " KV blocks, more than the server's pool of ",
                                            model.kv_blocks_total, " blocks of ",
                                            model.kv_block_size, " tokens"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResolveRequestId(const std::string& given) {
  if (given.size() > kMaxRequestIdLength) {
    return Invalid("request_id", absl::StrCat("must be at most ", kMaxRequestIdLength,
                                              " bytes, got ", given.size()));
  }
  if (!given.empty()) return given;
  return absl::StrFormat("req-%016x", RandomUint64());
}

// The shared tail of Generate and Chat: sampling, prompt checks, lengths.
absl::StatusOr<RequestParams> Finish(const ServedModel& model, std::vector<int32_t> prompt,
                                     const v1::SamplingParams& sampling,
                                     const std::string& request_id) {
  RequestParams params;
  MOE_ASSIGN_OR_RETURN(params.request_id, ResolveRequestId(request_id));
  MOE_RETURN_IF_ERROR(ResolveSampling(model, sampling, &params));
  params.prompt = std::move(prompt);
  MOE_RETURN_IF_ERROR(CheckLengths(model, sampling, &params));
  params.detokenize = model.tokenizer != nullptr;
  return params;
}

absl::StatusOr<std::vector<int32_t>> EncodeText(const ServedModel& model, const std::string& text,
                                                absl::string_view field) {
  if (model.tokenizer == nullptr) return absl::FailedPreconditionError(kNoTokenizer);
  auto ids = model.tokenizer->Encode(text);
  if (!ids.ok()) return Invalid(field, ids.status().message());
  return std::move(ids).value();
}

// A JSON object parsed from `text`; empty text is {} when `empty_is_object`, else an error.
absl::StatusOr<OrderedJson> ParseObject(const std::string& text, const std::string& field,
                                        bool empty_is_object) {
  if (text.empty() && empty_is_object) return OrderedJson::object();
  MOE_ASSIGN_OR_RETURN(OrderedJson json, ParseOrderedJson(text, field));
  if (!json.is_object()) return Invalid(field, "must be a JSON object");
  return json;
}

// The template's input: OpenAI-style messages (tool calls with object arguments), tools and
// template kwargs.
absl::StatusOr<ChatRequest> ToChatRequest(const v1::ChatRequest& request) {
  if (request.messages().empty()) return Invalid("messages", "must not be empty");
  ChatRequest chat;
  for (int i = 0; i < request.messages_size(); ++i) {
    const v1::ChatMessage& m = request.messages(i);
    const std::string field = absl::StrCat("messages[", i, "]");
    if (m.role().empty()) return Invalid(field + ".role", "must not be empty");
    OrderedJson message = OrderedJson::object();
    message["role"] = m.role();
    message["content"] = m.content();
    // Absent rather than "": the Qwen3 template then takes the reasoning from <think> in content.
    if (!m.reasoning_content().empty()) message["reasoning_content"] = m.reasoning_content();
    if (m.tool_calls_size() > 0) {
      OrderedJson calls = OrderedJson::array();
      for (int j = 0; j < m.tool_calls_size(); ++j) {
        const v1::ToolCall& call = m.tool_calls(j);
        const std::string call_field = absl::StrCat(field, ".tool_calls[", j, "]");
        if (call.name().empty()) return Invalid(call_field + ".name", "must not be empty");
        MOE_ASSIGN_OR_RETURN(
            OrderedJson arguments,
            ParseObject(call.arguments_json(), call_field + ".arguments_json", true));
        OrderedJson entry = OrderedJson::object();
        if (!call.id().empty()) entry["id"] = call.id();
        entry["type"] = "function";
        entry["function"] = {{"name", call.name()}, {"arguments", std::move(arguments)}};
        calls.push_back(std::move(entry));
      }
      message["tool_calls"] = std::move(calls);
    }
    if (!m.tool_call_id().empty()) message["tool_call_id"] = m.tool_call_id();
    if (!m.name().empty()) message["name"] = m.name();
    chat.messages.push_back(std::move(message));
  }
  if (request.tools_json_size() > 0) {
    chat.tools = OrderedJson::array();
    for (int i = 0; i < request.tools_json_size(); ++i) {
      MOE_ASSIGN_OR_RETURN(
          OrderedJson tool,
          ParseObject(request.tools_json(i), absl::StrCat("tools_json[", i, "]"), false));
      chat.tools.push_back(std::move(tool));
    }
  }
  chat.add_generation_prompt =
      request.has_add_generation_prompt() ? request.add_generation_prompt() : true;
  MOE_ASSIGN_OR_RETURN(chat.template_kwargs,
                       ParseObject(request.template_kwargs_json(), "template_kwargs_json", true));
  if (request.has_enable_thinking()) {
    chat.template_kwargs["enable_thinking"] = request.enable_thinking();
  }
  return chat;
}

}  // namespace

absl::StatusOr<RequestParams> BuildGenerateRequest(const ServedModel& model,
                                                   const v1::GenerateRequest& request) {
  std::vector<int32_t> prompt;
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kText: {
      if (request.text().empty()) return Invalid("prompt.text", "must not be empty");
      MOE_ASSIGN_OR_RETURN(prompt, EncodeText(model, request.text(), "prompt.text"));
      break;
    }
    case v1::GenerateRequest::kTokenIds: {
      const auto& ids = request.token_ids().ids();
      if (ids.empty()) return Invalid("prompt.token_ids", "must not be empty");
      const int64_t vocab = VocabLimit(model);
      for (int i = 0; i < ids.size(); ++i) {
        MOE_RETURN_IF_ERROR(CheckTokenId(ids[i], vocab, absl::StrCat("prompt.token_ids[", i, "]")));
      }
      prompt.assign(ids.begin(), ids.end());
      break;
    }
    default:
      return Invalid("prompt", "must be set (text or token_ids)");
  }
  if (prompt.empty()) return Invalid("prompt", "encodes to no tokens");
  return Finish(model, std::move(prompt), request.sampling(), request.request_id());
}

absl::StatusOr<std::string> RenderChat(const ServedModel& model, const v1::ChatRequest& request) {
  if (model.tokenizer == nullptr) {
    return absl::FailedPreconditionError(
        "this model is served without a tokenizer: chat is not available; send prompt.token_ids "
        "to Generate");
  }
  if (model.chat == nullptr) {
    return absl::FailedPreconditionError(
        "this model has no chat template (tokenizer_config.json has no chat_template)");
  }
  MOE_ASSIGN_OR_RETURN(ChatRequest chat, ToChatRequest(request));
  MOE_RETURN_IF_ERROR(ChatFormatter::ValidateMessages(chat.messages));
  return model.chat->Render(chat);
}

absl::StatusOr<RequestParams> BuildChatRequest(const ServedModel& model,
                                               const v1::ChatRequest& request) {
  MOE_ASSIGN_OR_RETURN(std::string text, RenderChat(model, request));
  MOE_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, EncodeText(model, text, "messages"));
  if (prompt.empty()) return Invalid("messages", "the chat template rendered no tokens");
  return Finish(model, std::move(prompt), request.sampling(), request.request_id());
}

absl::StatusOr<v1::TokenizeResponse> Tokenize(const ServedModel& model,
                                              const v1::TokenizeRequest& request) {
  if (model.tokenizer == nullptr) {
    return absl::FailedPreconditionError("this model is served without a tokenizer");
  }
  v1::TokenizeResponse response;
  std::vector<int32_t> ids;
  switch (request.input_case()) {
    case v1::TokenizeRequest::kText: {
      MOE_ASSIGN_OR_RETURN(ids, EncodeText(model, request.text(), "text"));
      break;
    }
    case v1::TokenizeRequest::kChat: {
      MOE_ASSIGN_OR_RETURN(std::string rendered, RenderChat(model, request.chat()));
      MOE_ASSIGN_OR_RETURN(ids, EncodeText(model, rendered, "chat"));
      response.set_rendered(std::move(rendered));
      break;
    }
    default:
      return Invalid("input", "must be set (text or chat)");
  }
  for (int32_t id : ids) {
    response.add_ids(id);
    response.add_tokens(model.tokenizer->Decode({id}));
  }
  return response;
}

v1::ModelInfoResponse ModelInfo(const ServedModel& model) {
  v1::ModelInfoResponse info;
  info.set_model_id(model.model_id);
  info.set_model_type(model.config.model_type);
  info.set_vocab_size(static_cast<int32_t>(model.config.vocab_size));
  info.set_max_model_len(static_cast<int32_t>(model.max_model_len));
  info.set_num_layers(static_cast<int32_t>(model.config.num_hidden_layers));
  info.set_hidden_size(static_cast<int32_t>(model.config.hidden_size));
  info.set_num_experts(static_cast<int32_t>(model.config.num_experts));
  info.set_num_experts_per_tok(static_cast<int32_t>(model.config.num_experts_per_tok));
  info.set_has_tokenizer(model.tokenizer != nullptr);
  for (int32_t id : model.eos_token_ids()) info.add_eos_token_ids(id);
  info.set_kv_block_size(static_cast<int32_t>(model.kv_block_size));
  info.set_kv_blocks_total(static_cast<int32_t>(model.kv_blocks_total));
  info.set_layout(model.layout);
  return info;
}

}  // namespace moe
