#include "coordinator/http/reasoning.h"

#include <algorithm>

namespace moe::openai {
namespace {

// Length of the longest suffix of `text` that is a proper prefix of `tag`.
size_t PartialTag(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n) {
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

ReasoningSplit SplitReasoning(std::string_view text) {
  ReasoningSplit out;
  const size_t start = text.find(kThinkStart);
  const size_t end = start == std::string_view::npos
                         ? std::string_view::npos
                         : text.find(kThinkEnd, start + kThinkStart.size());
  if (end == std::string_view::npos) {
    out.content = std::string(text);
    return out;
  }
  out.has_reasoning = true;
  out.reasoning =
      std::string(text.substr(start + kThinkStart.size(), end - start - kThinkStart.size()));
  out.content = std::string(text.substr(0, start));
  out.content.append(text.substr(end + kThinkEnd.size()));
  return out;
}

void ReasoningStream::Add(std::string_view text, std::string* reasoning, std::string* content) {
  std::string buf = std::move(held_);
  held_.clear();
  buf.append(text);
  std::string_view rest = buf;
  while (!rest.empty()) {
    if (phase_ == Phase::kAfter) {
      content->append(rest);
      return;
    }
    const bool before = phase_ == Phase::kBefore;
    const std::string_view tag = before ? kThinkStart : kThinkEnd;
    std::string* out = before ? content : reasoning;
    const size_t pos = rest.find(tag);
    if (pos == std::string_view::npos) {
      const size_t keep = PartialTag(rest, tag);
      out->append(rest.substr(0, rest.size() - keep));
      held_ = std::string(rest.substr(rest.size() - keep));
      return;
    }
    out->append(rest.substr(0, pos));
    rest.remove_prefix(pos + tag.size());
    phase_ = before ? Phase::kReasoning : Phase::kAfter;
  }
}

void ReasoningStream::Finish(std::string* reasoning, std::string* content) {
  (phase_ == Phase::kReasoning ? reasoning : content)->append(held_);
  held_.clear();
}

}  // namespace moe::openai
