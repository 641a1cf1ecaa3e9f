// Model hyper-parameters from a Hugging Face config.json (model_type qwen3 or qwen3_moe), and
// generation defaults from generation_config.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace moe {

struct ModelConfig {
  std::string model_type;  // "qwen3" or "qwen3_moe"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // dense MLP width (qwen3; dense layers of qwen3_moe)
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // from config; NOT hidden/heads in general
  double rms_norm_eps = 1e-6;
  double rope_theta = 1e6;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  // MoE (qwen3_moe only; num_experts == 0 for dense models).
  int64_t num_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  bool norm_topk_prob = false;
  int64_t decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;
  std::string torch_dtype;  // informational
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;

  bool is_moe() const { return num_experts > 0; }
  // True when layer `i` has a sparse MoE MLP (HF Qwen3-MoE rule: not in mlp_only_layers,
  // num_experts > 0 and (i + 1) % decoder_sparse_step == 0).
  bool IsMoeLayer(int64_t layer) const;

  bool operator==(const ModelConfig&) const = default;
};

// An HF-style config.json (architectures Qwen3ForCausalLM / Qwen3MoeForCausalLM, every field
// above) that ParseModelConfig reads back to an equal ModelConfig.
std::string ModelConfigToJson(const ModelConfig& config);

// Checks the invariants ParseModelConfig enforces (positive sizes, heads divisible, even
// head_dim, top-k <= experts, ...); errors are prefixed with `source`.
absl::Status ValidateModelConfig(const ModelConfig& config, const std::string& source);

// Parses config.json text. `source` (usually the path) prefixes every error, which names the
// field and what was expected; unknown model_type is an error; unsupported features
// (rope_scaling, sliding window in use, attention_bias) are errors.
absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                             const std::string& source);
// Reads DIR/config.json.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

struct GenerationConfig {
  std::vector<int64_t> eos_token_ids;  // stop ids
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> pad_token_id;
  std::optional<bool> do_sample;
  std::optional<double> temperature;
  std::optional<int64_t> top_k;
  std::optional<double> top_p;
  std::optional<double> min_p;
  std::optional<double> repetition_penalty;
};

// Reads DIR/generation_config.json; a missing file gives an empty config (not an error),
// a malformed one an error naming the file and field.
absl::StatusOr<GenerationConfig> LoadGenerationConfig(const std::string& model_dir);

}  // namespace moe
