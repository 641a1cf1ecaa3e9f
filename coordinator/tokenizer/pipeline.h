// Reading tokenizer.json: the normalizer, pre-tokenizer, model, post-processor and decoder
// sections (only what byte-level BPE tokenizers such as Qwen3's use) and the added tokens.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "coordinator/tokenizer/added_tokens.h"
#include "coordinator/tokenizer/bpe.h"
#include "coordinator/tokenizer/regex.h"

namespace moe::tokenizer_internal {

// The GPT-2 split regex that ByteLevel(use_regex=true) applies.
extern const char kGpt2SplitPattern[];

struct Pipeline {
  bool nfc = false;                               // normalizer: NFC (else none)
  std::vector<std::unique_ptr<Regex>> splitters;  // Split(Isolated) steps, in order
  std::unique_ptr<BpeModel> model;

  // Applies the splitters in sequence; appends the pieces (raw bytes, before the ByteLevel
  // mapping) to *pieces. `text` is normalized, well-formed UTF-8.
  void PreTokenize(std::string_view text, std::vector<std::string_view>* pieces) const;
};

// Fills *pipeline from the parsed tokenizer.json. Errors name `source` and the unsupported
// or malformed part, e.g. "tokenizer.json: pre_tokenizer type 'Metaspace' is not supported".
absl::Status LoadPipeline(const Json& root, const std::string& source, Pipeline* pipeline);

// Reads "added_tokens" (absent: none).
absl::StatusOr<std::vector<AddedToken>> LoadAddedTokens(const Json& root,
                                                        const std::string& source);

}  // namespace moe::tokenizer_internal
