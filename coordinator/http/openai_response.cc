#include "coordinator/http/openai_response.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "coordinator/http/reasoning.h"

namespace moe::openai {
namespace {

// JSON has no -inf: OpenAI reports impossible tokens as -9999.0.
double SafeLogprob(float logprob) {
  if (std::isnan(logprob) || logprob < -9999.0f) return -9999.0;
  return logprob;
}

// Python's len() of a UTF-8 string: bytes that start a character.
int64_t CodePoints(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Json BytesJson(const std::string& bytes) {
  Json out = Json::array();
  for (unsigned char c : bytes) out.push_back(static_cast<int>(c));
  return out;
}

// A stop id is reported as a number, a stop string as a string (like vLLM); null when none.
Json StopReasonJson(const std::string& stop_reason) {
  if (stop_reason.empty()) return nullptr;
  int64_t id = 0;
  if (std::all_of(stop_reason.begin(), stop_reason.end(), absl::ascii_isdigit) &&
      absl::SimpleAtoi(stop_reason, &id)) {
    return id;
  }
  return stop_reason;
}

Json Object(const ResponseMeta& meta, const char* object) {
  return Json{
      {"id", meta.id}, {"object", object}, {"created", meta.created}, {"model", meta.model}};
}

}  // namespace

void Accumulate(const v1::GenerateResponse& delta, Choice* choice) {
  choice->text += delta.text();
  choice->token_ids.insert(choice->token_ids.end(), delta.token_ids().begin(),
                           delta.token_ids().end());
  if (delta.prompt_token_ids_size() > 0) {
    choice->prompt_token_ids.assign(delta.prompt_token_ids().begin(),
                                    delta.prompt_token_ids().end());
  }
  for (const v1::TokenLogprob& lp : delta.logprobs()) *choice->logprobs.Add() = lp;
  if (delta.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
    choice->finish_reason = delta.finish_reason();
    choice->stop_reason = delta.stop_reason();
    choice->usage = delta.usage();
  }
}

void AddUsage(const v1::Usage& usage, bool count_prompt, UsageTotals* totals) {
  if (count_prompt) {
    totals->prompt_tokens += usage.prompt_tokens();
    totals->cached_tokens += usage.cached_prompt_tokens();
  }
  totals->completion_tokens += usage.completion_tokens();
}

Json UsageJson(const UsageTotals& totals) {
  return Json{{"prompt_tokens", totals.prompt_tokens},
              {"completion_tokens", totals.completion_tokens},
              {"total_tokens", totals.prompt_tokens + totals.completion_tokens},
              {"prompt_tokens_details", {{"cached_tokens", totals.cached_tokens}}}};
}

Json FinishReasonJson(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_STOP:
      return "stop";
    case v1::FINISH_REASON_LENGTH:
      return "length";
    default:
      return nullptr;
  }
}

Json CompletionLogprobs(const TokenLogprobs& logprobs, int top, int64_t* text_offset) {
  Json tokens = Json::array();
  Json token_logprobs = Json::array();
  Json top_logprobs = Json::array();
  Json offsets = Json::array();
  for (const v1::TokenLogprob& lp : logprobs) {
    tokens.push_back(lp.token());
    token_logprobs.push_back(SafeLogprob(lp.logprob()));
    if (top > 0) {
      Json alternatives = Json::object();
      for (int i = 0; i < lp.top_size() && i < top; ++i) {
        alternatives[lp.top(i).token()] = SafeLogprob(lp.top(i).logprob());
      }
      top_logprobs.push_back(std::move(alternatives));
    } else {
      top_logprobs.push_back(nullptr);
    }
    offsets.push_back(*text_offset);
    *text_offset += CodePoints(lp.token());
  }
  return Json{{"tokens", std::move(tokens)},
              {"token_logprobs", std::move(token_logprobs)},
              {"top_logprobs", std::move(top_logprobs)},
              {"text_offset", std::move(offsets)}};
}

Json ChatLogprobs(const TokenLogprobs& logprobs, int top, const Tokenizer* tokenizer) {
  auto bytes_of = [tokenizer](int32_t id, const std::string& token) {
    return BytesJson(tokenizer != nullptr ? tokenizer->TokenBytes(id) : token);
  };
  Json content = Json::array();
  for (const v1::TokenLogprob& lp : logprobs) {
    Json alternatives = Json::array();
    for (int i = 0; i < lp.top_size() && i < top; ++i) {
      const v1::TopLogprob& alt = lp.top(i);
      alternatives.push_back(Json{{"token", alt.token()},
                                  {"logprob", SafeLogprob(alt.logprob())},
                                  {"bytes", bytes_of(alt.token_id(), alt.token())}});
    }
    content.push_back(Json{{"token", lp.token()},
                           {"logprob", SafeLogprob(lp.logprob())},
                           {"bytes", bytes_of(lp.token_id(), lp.token())},
                           {"top_logprobs", std::move(alternatives)}});
  }
  return Json{{"content", std::move(content)}};
}

Json CompletionBody(const ResponseMeta& meta, const std::vector<Choice>& choices, int logprobs,
                    const UsageTotals& usage, bool token_ids) {
  Json body = Object(meta, "text_completion");
  Json list = Json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const Choice& c = choices[i];
    int64_t offset = 0;
    list.push_back(Json{
        {"index", static_cast<int64_t>(i)},
        {"text", c.text},
        {"logprobs", logprobs >= 0 ? CompletionLogprobs(c.logprobs, logprobs, &offset) : Json()},
        {"finish_reason", FinishReasonJson(c.finish_reason)},
        {"stop_reason", StopReasonJson(c.stop_reason)}});
    if (token_ids) {
      list.back()["prompt_token_ids"] = c.prompt_token_ids;
      list.back()["token_ids"] = c.token_ids;
    }
  }
  body["choices"] = std::move(list);
  body["usage"] = UsageJson(usage);
  return body;
}

Json ChatCompletionBody(const ResponseMeta& meta, const std::vector<Choice>& choices, bool logprobs,
                        int top_logprobs, const Tokenizer* tokenizer, const UsageTotals& usage,
                        bool token_ids, bool split_reasoning) {
  Json body = Object(meta, "chat.completion");
  Json list = Json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const Choice& c = choices[i];
    Json message = {{"role", "assistant"}, {"content", c.text}, {"tool_calls", Json::array()}};
    if (split_reasoning) {  // as vLLM: null where there is none
      ReasoningSplit split = SplitReasoning(c.text);
      message["reasoning_content"] = split.has_reasoning ? Json(split.reasoning) : Json();
      message["content"] =
          split.has_reasoning && split.content.empty() ? Json() : Json(split.content);
    }
    list.push_back(
        Json{{"index", static_cast<int64_t>(i)},
             {"message", std::move(message)},
             {"logprobs", logprobs ? ChatLogprobs(c.logprobs, top_logprobs, tokenizer) : Json()},
             {"finish_reason", FinishReasonJson(c.finish_reason)},
             {"stop_reason", StopReasonJson(c.stop_reason)}});
    if (token_ids) list.back()["token_ids"] = c.token_ids;
  }
  body["choices"] = std::move(list);
  body["usage"] = UsageJson(usage);
  if (token_ids) {
    body["prompt_token_ids"] = choices.empty() ? Json::array() : Json(choices[0].prompt_token_ids);
  }
  return body;
}

Json CompletionChunk(const ResponseMeta& meta, int index, const std::string& text, Json logprobs,
                     v1::FinishReason finish_reason, const std::string& stop_reason) {
  Json chunk = Object(meta, "text_completion");
  chunk["choices"] = Json::array({Json{{"index", index},
                                       {"text", text},
                                       {"logprobs", std::move(logprobs)},
                                       {"finish_reason", FinishReasonJson(finish_reason)},
                                       {"stop_reason", StopReasonJson(stop_reason)}}});
  return chunk;
}

Json ChatChunk(const ResponseMeta& meta, int index, Json delta, Json logprobs,
               v1::FinishReason finish_reason, const std::string& stop_reason) {
  Json chunk = Object(meta, "chat.completion.chunk");
  chunk["choices"] = Json::array({Json{{"index", index},
                                       {"delta", std::move(delta)},
                                       {"logprobs", std::move(logprobs)},
                                       {"finish_reason", FinishReasonJson(finish_reason)},
                                       {"stop_reason", StopReasonJson(stop_reason)}}});
  return chunk;
}

Json UsageChunk(const ResponseMeta& meta, const char* object, const UsageTotals& usage) {
  Json chunk = Object(meta, object);
  chunk["choices"] = Json::array();
  chunk["usage"] = UsageJson(usage);
  return chunk;
}

std::string Dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string SseData(const Json& json) { return "data: " + Dump(json) + "\n\n"; }

}  // namespace moe::openai
