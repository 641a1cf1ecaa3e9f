#include "coordinator/http/generation.h"

#include <utility>

#include "coordinator/http/openai_convert.h"

namespace moe::openai {

Generation::Generation(Coordinator* coordinator, GenerationOptions options)
    : coordinator_(coordinator), options_(std::move(options)) {}

Generation::~Generation() { Cancel(); }

absl::Status Generation::Submit(std::vector<RequestParams> choices) {
  choices_.resize(choices.size());
  for (size_t i = 0; i < choices.size(); ++i) {
    auto sink = std::make_shared<ChoiceSink>(queue_, static_cast<int>(i));
    absl::StatusOr<int64_t> id = coordinator_->Submit(std::move(choices[i]), std::move(sink));
    if (!id.ok()) {
      Cancel();
      choices_.clear();
      remaining_ = 0;
      return id.status();
    }
    choices_[i].id = *id;
    ++remaining_;
  }
  return absl::OkStatus();
}

void Generation::Cancel() {
  for (ChoiceState& c : choices_) {
    if (c.id >= 0 && !c.done) coordinator_->Cancel(c.id);
  }
}

UsageTotals Generation::Totals() const {
  UsageTotals totals;
  for (size_t i = 0; i < choices_.size(); ++i) {
    AddUsage(choices_[i].output.usage, i % options_.n == 0, &totals);
  }
  return totals;
}

absl::StatusOr<Json> Generation::Collect(const std::atomic<bool>& stop) {
  while (remaining_ > 0) {
    if (stop.load()) {
      Cancel();
      return absl::UnavailableError("the server is shutting down");
    }
    std::optional<ResponseQueue::Event> event = queue_->Pop(absl::Milliseconds(100));
    if (!event.has_value()) continue;
    ChoiceState& c = choices_[event->choice];
    if (!event->done) {
      Accumulate(event->response, &c.output);
      continue;
    }
    c.done = true;
    --remaining_;
    if (!event->status.ok()) {
      Cancel();
      return event->status;
    }
  }
  std::vector<Choice> outputs;
  outputs.reserve(choices_.size());
  for (size_t i = 0; i < choices_.size(); ++i) {
    Choice output = choices_[i].output;
    const size_t prompt = i / options_.n;
    if (prompt < options_.echo.size()) output.text = options_.echo[prompt] + output.text;
    outputs.push_back(std::move(output));
  }
  if (options_.chat) {
    return ChatCompletionBody(options_.meta, outputs, options_.logprobs >= 0, options_.logprobs,
                              options_.tokenizer, Totals(), options_.return_token_ids,
                              options_.split_reasoning);
  }
  return CompletionBody(options_.meta, outputs, options_.logprobs, Totals(),
                        options_.return_token_ids);
}

Json Generation::LogprobsJson(const TokenLogprobs& logprobs, int64_t* text_offset) const {
  if (options_.logprobs < 0) return nullptr;
  if (options_.chat) return ChatLogprobs(logprobs, options_.logprobs, options_.tokenizer);
  return CompletionLogprobs(logprobs, options_.logprobs, text_offset);
}

std::string Generation::StreamChunk(int index, const v1::GenerateResponse& response) {
  ChoiceState& c = choices_[index];
  const bool last = response.finish_reason() != v1::FINISH_REASON_UNSPECIFIED;
  const bool first = !c.started;
  std::string text = response.text();
  if (first && !options_.chat) {
    const size_t prompt = static_cast<size_t>(index / options_.n);
    if (prompt < options_.echo.size()) text = options_.echo[prompt] + text;
  }
  c.started = true;
  std::string reasoning;
  if (options_.chat && options_.split_reasoning) {
    std::string content;
    c.reasoning.Add(text, &reasoning, &content);
    if (last) c.reasoning.Finish(&reasoning, &content);
    text = std::move(content);
  }
  // Tokens that completed no character yet carry no text; skip them unless logprobs, token
  // ids or the finish reason must go out.
  const bool has_logprobs = options_.logprobs >= 0 && response.logprobs_size() > 0;
  const bool has_ids = options_.return_token_ids && (first || response.token_ids_size() > 0);
  if (text.empty() && reasoning.empty() && !has_logprobs && !has_ids && !last) return "";
  Json logprobs = has_logprobs ? LogprobsJson(response.logprobs(), &c.text_offset) : Json();
  Json chunk;
  if (options_.chat) {
    Json delta = Json::object();
    if (!reasoning.empty()) delta["reasoning_content"] = reasoning;
    if (!text.empty() || (!last && reasoning.empty())) delta["content"] = text;
    chunk = ChatChunk(options_.meta, index, std::move(delta), std::move(logprobs),
                      response.finish_reason(), response.stop_reason());
  } else {
    chunk = CompletionChunk(options_.meta, index, text, std::move(logprobs),
                            response.finish_reason(), response.stop_reason());
  }
  if (options_.return_token_ids) {
    Json& choice = chunk["choices"][0];
    choice["token_ids"] =
        Json(std::vector<int32_t>(response.token_ids().begin(), response.token_ids().end()));
    if (first) {
      Json ids = std::vector<int32_t>(response.prompt_token_ids().begin(),
                                      response.prompt_token_ids().end());
      (options_.chat ? chunk : choice)["prompt_token_ids"] = std::move(ids);
    }
  }
  return SseData(chunk);
}

std::string Generation::NextEvents(absl::Duration timeout) {
  if (finished_) return "";
  std::string out;
  if (options_.chat && !role_sent_) {
    role_sent_ = true;
    for (size_t i = 0; i < choices_.size(); ++i) {
      Json delta = {{"role", "assistant"}, {"content", ""}};
      out += SseData(ChatChunk(options_.meta, static_cast<int>(i), std::move(delta), nullptr,
                               v1::FINISH_REASON_UNSPECIFIED, ""));
    }
  }
  // Everything queued now, but wait only for the first event.
  absl::Duration wait = out.empty() ? timeout : absl::ZeroDuration();
  while (remaining_ > 0) {
    std::optional<ResponseQueue::Event> event = queue_->Pop(wait);
    if (!event.has_value()) break;
    wait = absl::ZeroDuration();
    ChoiceState& c = choices_[event->choice];
    if (!event->done) {
      if (event->response.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
        c.output.usage = event->response.usage();
      }
      out += StreamChunk(event->choice, event->response);
      continue;
    }
    c.done = true;
    --remaining_;
    if (!event->status.ok()) {
      Cancel();
      out += SseData(ErrorBody(event->status));
      out += kSseDone;
      finished_ = true;
      return out;
    }
  }
  if (remaining_ == 0) {
    const char* object = options_.chat ? "chat.completion.chunk" : "text_completion";
    if (options_.include_usage) out += SseData(UsageChunk(options_.meta, object, Totals()));
    out += kSseDone;
    finished_ = true;
  }
  return out;
}

}  // namespace moe::openai
