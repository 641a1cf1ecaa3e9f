// OpenAI-compatible response bodies built from moe.v1 GenerateResponse streams: text_completion
// and chat.completion objects, their streaming chunks (server-sent events), usage and
// logprobs in both shapes (legacy completions {tokens, token_logprobs, top_logprobs,
// text_offset}; chat {content: [{token, logprob, bytes, top_logprobs}]}).
// Pure functions: thread-safe, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "moe/v1/inference.pb.h"

namespace moe::openai {

using TokenLogprobs = google::protobuf::RepeatedPtrField<v1::TokenLogprob>;

// What every object or chunk of one API response repeats.
struct ResponseMeta {
  std::string id;       // "cmpl-..." or "chatcmpl-..."
  int64_t created = 0;  // unix seconds
  std::string model;
};

// One choice's output, accumulated from its stream of deltas.
struct Choice {
  std::string text;
  std::vector<int32_t> token_ids;
  std::vector<int32_t> prompt_token_ids;  // from the first delta
  TokenLogprobs logprobs;
  v1::FinishReason finish_reason = v1::FINISH_REASON_UNSPECIFIED;
  std::string stop_reason;
  v1::Usage usage;  // from the last delta
};

// Appends a delta (text, token ids, logprobs; the prompt's ids, finish reason, stop reason and
// usage when set).
void Accumulate(const v1::GenerateResponse& delta, Choice* choice);

// Token counts over all choices of a response.
struct UsageTotals {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
};
// Adds one finished choice's usage; `count_prompt` is false for the 2nd..nth choice of the
// same prompt (its prompt is counted once).
void AddUsage(const v1::Usage& usage, bool count_prompt, UsageTotals* totals);
// {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details":
// {"cached_tokens"}}
Json UsageJson(const UsageTotals& totals);

// "stop", "length", or null while generating.
Json FinishReasonJson(v1::FinishReason reason);

// Legacy completions logprobs for `logprobs` (the tokens of one delta or of a whole choice);
// `top` alternatives per token (0: top_logprobs entries are null). `text_offset` is the
// choice's text length so far (in code points, like Python's len); it advances past each token.
Json CompletionLogprobs(const TokenLogprobs& logprobs, int top, int64_t* text_offset);

// Chat logprobs {"content": [...]} with `top` alternatives per token. Token bytes come from
// `tokenizer` (the token's raw bytes, which may be part of a UTF-8 character) when given, else
// from the token's text.
Json ChatLogprobs(const TokenLogprobs& logprobs, int top, const Tokenizer* tokenizer);

// A finished "text_completion" object; `logprobs` as in CompletionRequest (-1: none).
// `token_ids`: each choice also has "prompt_token_ids" and "token_ids" (vLLM's
// return_token_ids).
Json CompletionBody(const ResponseMeta& meta, const std::vector<Choice>& choices, int logprobs,
                    const UsageTotals& usage, bool token_ids = false);
// A finished "chat.completion" object; `logprobs` false: choices[].logprobs is null.
// `token_ids`: a top-level "prompt_token_ids" (the first choice's) and choices[].token_ids.
Json ChatCompletionBody(const ResponseMeta& meta, const std::vector<Choice>& choices, bool logprobs,
                        int top_logprobs, const Tokenizer* tokenizer, const UsageTotals& usage,
                        bool token_ids = false, bool split_reasoning = false);

// Streaming: one choice's chunk. `logprobs` is null or the JSON of the functions above.
Json CompletionChunk(const ResponseMeta& meta, int index, const std::string& text, Json logprobs,
                     v1::FinishReason finish_reason, const std::string& stop_reason);
// `delta` is {"role": "assistant", "content": ""} for a choice's first chunk, then
// {"content": "..."} (or {} for a last chunk without text).
Json ChatChunk(const ResponseMeta& meta, int index, Json delta, Json logprobs,
               v1::FinishReason finish_reason, const std::string& stop_reason);
// The chunk after the last one when stream_options.include_usage: no choices, the usage.
// `object` is "text_completion" or "chat.completion.chunk".
Json UsageChunk(const ResponseMeta& meta, const char* object, const UsageTotals& usage);

// JSON text; invalid UTF-8 in strings becomes U+FFFD instead of failing.
std::string Dump(const Json& json);
// One server-sent event: "data: <json>\n\n".
std::string SseData(const Json& json);
inline constexpr char kSseDone[] = "data: [DONE]\n\n";

}  // namespace moe::openai
