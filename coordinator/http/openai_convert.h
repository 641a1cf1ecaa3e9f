// OpenAI-compatible request bodies (legacy /v1/completions and /v1/chat/completions, plus the
// extra sampling fields vLLM accepts) converted to moe.v1 requests, and errors converted to
// OpenAI-style error bodies. Pure functions: thread-safe, no I/O.
//
// Type errors are INVALID_ARGUMENT naming the field ("temperature: expected a number, got
// string"); range checks are left to BuildGenerateRequest / BuildChatRequest
// (coordinator/api/request_builder.h) so that gRPC and HTTP validate alike. JSON null means
// "not set"; unknown fields are ignored, as vLLM does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "moe/v1/inference.pb.h"

namespace moe::openai {

constexpr int kMaxChoices = 128;  // n (times the number of prompts) per request
constexpr int kMaxLogprobs = 20;

// What /v1/completions and /v1/chat/completions share besides the sampling parameters.
struct StreamOptions {
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with usage
};

// A parsed /v1/completions body.
struct CompletionRequest {
  std::string model;                         // as sent ("" when absent)
  std::vector<v1::GenerateRequest> prompts;  // one per prompt, sampling filled, no request_id
  int n = 1;                                 // choices per prompt
  StreamOptions stream;
  bool echo = false;              // prepend the prompt to the text
  int logprobs = -1;              // alternatives per token (0..20); -1: no logprobs
  bool return_token_ids = false;  // vLLM: choices[].prompt_token_ids and token_ids
  // Text of each prompt given as a string ("" for token-id prompts); used by echo.
  std::vector<std::string> prompt_texts;
};

// A parsed /v1/chat/completions body.
struct ChatCompletionRequest {
  std::string model;
  v1::ChatRequest chat;  // messages, tools, template kwargs and sampling; no request_id
  int n = 1;
  StreamOptions stream;
  bool logprobs = false;          // choices[].logprobs.content
  int top_logprobs = 0;           // alternatives per token (0..20)
  bool return_token_ids = false;  // vLLM: prompt_token_ids and choices[].token_ids
};

absl::StatusOr<CompletionRequest> ParseCompletionRequest(const Json& body);
absl::StatusOr<ChatCompletionRequest> ParseChatCompletionRequest(const Json& body);

// Choice `index` of `n`'s copy of `base`: seeded requests with n > 1 get seed + index so that
// the choices differ (and stay reproducible).
v1::SamplingParams ChoiceSampling(const v1::SamplingParams& base, int n, int index);

// Rewrites an error of request_builder.h so that it names the OpenAI field instead of the
// proto one ("sampling.top_p: ..." -> "top_p: ...", "prompt.token_ids[3]" -> "prompt[3]",
// "tools_json[0]" -> "tools[0]", "template_kwargs_json" -> "chat_template_kwargs").
absl::Status ToOpenAiFields(const absl::Status& status);

// The HTTP status for a Status: INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE -> 400,
// UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404, RESOURCE_EXHAUSTED 429,
// UNIMPLEMENTED 501, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, anything else 500.
int HttpStatusFor(const absl::Status& status);

// {"error": {"message", "type", "param", "code"}}: type like vLLM's ("BadRequestError",
// "AuthenticationError", "NotFoundError", "RateLimitError", "ServiceUnavailableError",
// "InternalServerError"), param the top-level field the message starts with (or null), code
// the HTTP status. REQUIRES: !status.ok().
Json ErrorBody(const absl::Status& status);

// The top-level field an error message starts with ("top_p" for "top_p: must be ...",
// "messages" for "messages[2].role: ..."); empty when the message names none.
std::string ParamOf(const std::string& message);

}  // namespace moe::openai
