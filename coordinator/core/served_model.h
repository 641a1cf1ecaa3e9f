// What the coordinator serves: the model's identity, its tokenizer and chat template (either
// may be absent), limits and defaults. Built once at start-up; read-only afterwards.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/model_config.h"
#include "coordinator/chat/chat_template.h"
#include "coordinator/tokenizer/tokenizer.h"

namespace moe {

struct ServedModel {
  std::string model_id;  // the name clients use (the directory's basename)
  ModelConfig config;
  GenerationConfig generation;           // eos ids and default sampling
  std::unique_ptr<Tokenizer> tokenizer;  // null: token-id prompts only
  std::unique_ptr<ChatFormatter> chat;   // null: no chat template
  int64_t max_model_len = 0;             // prompt + output tokens per sequence
  int64_t kv_block_size = 16;
  int64_t kv_blocks_total = 0;
  std::string layout = "pp1 ep1 cpu";

  std::vector<int32_t> eos_token_ids() const;
};

}  // namespace moe
