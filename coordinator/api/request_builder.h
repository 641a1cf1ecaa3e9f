// Turns API requests (moe.v1 protos; the HTTP layer converts OpenAI JSON to them first) into
// validated RequestParams: tokenizes text, renders chat templates, applies the model's
// generation_config defaults, and checks every field. Errors are INVALID_ARGUMENT with a
// message naming the field and what was expected, e.g.
//   "sampling.top_p: must be in (0, 1], got 1.5"
//   "prompt: 5000 tokens + max_tokens 100 exceed the model's context of 4096"
//   "prompt.token_ids[3]: 151700 is not a token id (vocabulary size 151669)"
//   "messages: must not be empty"
// FAILED_PRECONDITION when text or chat input reaches a model served without a tokenizer.
#pragma once

#include "common/status.h"
#include "coordinator/core/coordinator.h"
#include "coordinator/core/served_model.h"
#include "moe/v1/inference.pb.h"

namespace moe {

absl::StatusOr<RequestParams> BuildGenerateRequest(const ServedModel& model,
                                                   const v1::GenerateRequest& request);

absl::StatusOr<RequestParams> BuildChatRequest(const ServedModel& model,
                                               const v1::ChatRequest& request);

// Renders a chat request with the model's template (no tokenization).
absl::StatusOr<std::string> RenderChat(const ServedModel& model, const v1::ChatRequest& request);

absl::StatusOr<v1::TokenizeResponse> Tokenize(const ServedModel& model,
                                              const v1::TokenizeRequest& request);

v1::ModelInfoResponse ModelInfo(const ServedModel& model);

}  // namespace moe
