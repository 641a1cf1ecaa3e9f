// One OpenAI API call in flight: its choices submitted to the coordinator, their streams
// merged, and the result produced either whole (Collect) or as server-sent events
// (NextEvents). Choice c of a request with n choices per prompt belongs to prompt c / n.
//
// Thread-compatible: one HTTP handler thread drives it. The destructor cancels the choices
// that have not finished (client gone, server stopping). The coordinator must outlive it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/json.h"
#include "common/status.h"
#include "coordinator/core/coordinator.h"
#include "coordinator/http/openai_response.h"
#include "coordinator/http/reasoning.h"
#include "coordinator/http/response_queue.h"

namespace moe::openai {

struct GenerationOptions {
  bool chat = false;  // chat.completion objects, else text_completion
  ResponseMeta meta;
  int n = 1;                             // choices per prompt
  int logprobs = -1;                     // alternatives per token; -1: no logprobs
  bool include_usage = false;            // streaming: a usage chunk before [DONE]
  bool return_token_ids = false;         // vLLM: prompt_token_ids and token_ids in the output
  std::vector<std::string> echo;         // completions: text to prepend, per prompt (may be empty)
  const Tokenizer* tokenizer = nullptr;  // chat logprobs' bytes; may be null
  bool split_reasoning = false;          // chat: reasoning_content apart (reasoning.h)
};

class Generation {
 public:
  Generation(Coordinator* coordinator, GenerationOptions options);
  ~Generation();

  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  // Submits every choice (in order). On an error (queue full, draining) the choices already
  // submitted are cancelled and the error is returned.
  absl::Status Submit(std::vector<RequestParams> choices);

  // Waits for every choice to finish; the response body, or the first error. Returns
  // UNAVAILABLE (after cancelling) when `stop` becomes true first.
  absl::StatusOr<Json> Collect(const std::atomic<bool>& stop);

  // Streaming: waits up to `timeout` for the next responses and returns their SSE text (empty
  // if none came). The first call also carries the chat role chunks. Once every choice has
  // ended, the text ends with the usage chunk (when asked for) and "data: [DONE]", and
  // finished() is true. An error ends the stream with an SSE {"error": ...} event.
  std::string NextEvents(absl::Duration timeout);
  bool finished() const { return finished_; }

  // Cancels the choices that have not finished.
  void Cancel();

 private:
  struct ChoiceState {
    int64_t id = -1;            // the coordinator's id, -1 until submitted
    bool done = false;          // OnDone arrived
    bool started = false;       // streaming: first text sent (echo, role)
    int64_t text_offset = 0;    // streaming completions logprobs
    Choice output;              // accumulated (Collect) / usage (streaming)
    ReasoningStream reasoning;  // streaming chat with split_reasoning
  };

  // The SSE text of one response (may be empty).
  std::string StreamChunk(int index, const v1::GenerateResponse& response);
  // Usage over the finished choices.
  UsageTotals Totals() const;
  Json LogprobsJson(const TokenLogprobs& logprobs, int64_t* text_offset) const;

  Coordinator* const coordinator_;
  const GenerationOptions options_;
  const std::shared_ptr<ResponseQueue> queue_ = std::make_shared<ResponseQueue>();
  std::vector<ChoiceState> choices_;
  int remaining_ = 0;  // choices not done
  bool role_sent_ = false;
  bool finished_ = false;
};

}  // namespace moe::openai
