// Qwen3's reasoning split from its answer, as vLLM's `--reasoning-parser qwen3`: the text
// between "<think>" and "</think>" goes to the chat message's `reasoning_content`, the rest to
// `content`; the tags themselves are dropped.
//
//  - Whole (non-streaming): only an output holding both tags is split (everything after the
//    first "<think>" up to the next "</think>" is the reasoning; the text around it is the
//    content); otherwise all of it is content. (vLLM drops text before "<think>" here; its
//    streaming keeps it as content, as both modes do here. Qwen3 starts its output with the tag.)
//  - Streaming: text before "<think>" is content; after it, reasoning until "</think>"; after
//    that, content. A tag split across deltas is held back until it is whole. An output that
//    never closes its "<think>" streams as reasoning (as vLLM's), where the whole form calls
//    it content.
#pragma once

#include <string>
#include <string_view>

namespace moe::openai {

inline constexpr std::string_view kThinkStart = "<think>";
inline constexpr std::string_view kThinkEnd = "</think>";

struct ReasoningSplit {
  bool has_reasoning = false;  // both tags were found
  std::string reasoning;
  std::string content;
};

ReasoningSplit SplitReasoning(std::string_view text);

class ReasoningStream {
 public:
  // Appends the reasoning and the content of the next piece of text to *reasoning, *content.
  void Add(std::string_view text, std::string* reasoning, std::string* content);
  // The end of the output: whatever was held back.
  void Finish(std::string* reasoning, std::string* content);

 private:
  enum class Phase { kBefore, kReasoning, kAfter };
  Phase phase_ = Phase::kBefore;
  std::string held_;  // a possible start of the tag the phase looks for
};

}  // namespace moe::openai
