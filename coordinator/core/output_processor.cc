#include "coordinator/core/output_processor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace moe {

OutputProcessor::OutputProcessor(const Tokenizer* tokenizer, const RequestParams* params)
    : tokenizer_(tokenizer), params_(params) {
  if (tokenizer_ != nullptr && params_->detokenize) {
    decoder_ = std::make_unique<StreamDecoder>(*tokenizer_, params_->skip_special_tokens);
  }
  for (const std::string& s : params_->stop) max_stop_len_ = std::max(max_stop_len_, s.size());
}

std::string OutputProcessor::TokenText(int32_t id) const {
  return tokenizer_ != nullptr ? tokenizer_->TokenBytes(id) : std::string();
}

void OutputProcessor::AddLogprob(const v1::SampledToken& token, v1::GenerateResponse* delta) const {
  v1::TokenLogprob* lp = delta->add_logprobs();
  lp->set_token_id(token.token());
  lp->set_logprob(token.logprob());
  lp->set_token(TokenText(token.token()));
  const int n = std::min(token.top_ids_size(), token.top_logprobs_size());
  for (int i = 0; i < n; ++i) {
    v1::TopLogprob* top = lp->add_top();
    top->set_token_id(token.top_ids(i));
    top->set_logprob(token.top_logprobs(i));
    top->set_token(TokenText(token.top_ids(i)));
  }
}

void OutputProcessor::Emit(size_t end, v1::GenerateResponse* delta) {
  if (end > sent_) {
    delta->mutable_text()->append(text_, sent_, end - sent_);
    sent_ = end;
  }
}

bool OutputProcessor::Append(const v1::SampledToken& token, v1::GenerateResponse* delta) {
  ++num_generated_;
  const int32_t id = token.token();
  delta->add_token_ids(id);
  if (params_->return_logprobs) AddLogprob(token, delta);

  // A stop id ends the request; its text is not part of the output.
  const bool stop_id = num_generated_ > params_->min_tokens &&
                       std::find(params_->stop_token_ids.begin(), params_->stop_token_ids.end(),
                                 id) != params_->stop_token_ids.end();
  if (stop_id) {
    if (decoder_) text_ += decoder_->Finish();
    Emit(text_.size(), delta);
    delta->set_finish_reason(v1::FINISH_REASON_STOP);
    delta->set_stop_reason(absl::StrCat(id));
    return true;
  }

  const size_t before = text_.size();
  if (decoder_) text_ += decoder_->Push(id);

  // Stop strings: a match must end inside the new text.
  if (!params_->stop.empty() && text_.size() > before && num_generated_ > params_->min_tokens) {
    size_t best = std::string::npos;
    const std::string* matched = nullptr;
    for (const std::string& s : params_->stop) {
      const size_t from = before >= s.size() - 1 ? before - (s.size() - 1) : 0;
      const size_t pos = text_.find(s, from);
      if (pos != std::string::npos && pos < best) {
        best = pos;
        matched = &s;
      }
    }
    if (matched != nullptr) {
      const size_t end = params_->include_stop_str_in_output ? best + matched->size() : best;
      text_.resize(std::max(end, sent_));
      Emit(text_.size(), delta);
      delta->set_finish_reason(v1::FINISH_REASON_STOP);
      delta->set_stop_reason(*matched);
      return true;
    }
  }

  if (num_generated_ >= params_->max_tokens) {
    if (decoder_) text_ += decoder_->Finish();
    Emit(text_.size(), delta);
    delta->set_finish_reason(v1::FINISH_REASON_LENGTH);
    return true;
  }

  // Hold back a tail that could still grow into a stop string.
  size_t end = text_.size();
  if (max_stop_len_ > 1) end = end >= max_stop_len_ - 1 ? end - (max_stop_len_ - 1) : 0;
  Emit(std::max(end, sent_), delta);
  return false;
}

}  // namespace moe
