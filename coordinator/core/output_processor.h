// Turns one request's sampled tokens into stream deltas: incremental detokenization (never
// half a UTF-8 character), stop strings matched across token boundaries (text that could
// still become a stop string is held back), stop ids, max tokens, and logprobs.
//
// Thread-compatible: owned by the coordinator's step loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/core/coordinator.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "moe/v1/inference.pb.h"
#include "moe/v1/step.pb.h"

namespace moe {

class OutputProcessor {
 public:
  // `tokenizer` may be null (no text); `params` must outlive the processor.
  OutputProcessor(const Tokenizer* tokenizer, const RequestParams* params);

  // Adds a sampled token to `delta` (token id, text, logprob) and returns true when the
  // request is finished; then `delta` has finish_reason and stop_reason set and all text
  // flushed.
  bool Append(const v1::SampledToken& token, v1::GenerateResponse* delta);

  int64_t num_generated() const { return num_generated_; }

 private:
  void AddLogprob(const v1::SampledToken& token, v1::GenerateResponse* delta) const;
  std::string TokenText(int32_t id) const;
  // Moves text_[sent_, end) into the delta.
  void Emit(size_t end, v1::GenerateResponse* delta);

  const Tokenizer* tokenizer_;
  const RequestParams* params_;
  std::unique_ptr<StreamDecoder> decoder_;
  size_t max_stop_len_ = 0;
  std::string text_;  // all output text so far
  size_t sent_ = 0;   // bytes of text_ already streamed
  int64_t num_generated_ = 0;
};

}  // namespace moe
