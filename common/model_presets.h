// Built-in model shapes (Qwen3 family and a tiny MoE) for random checkpoints and benchmarks, and
// the list of tensors (HF names and shapes) a checkpoint of a given config holds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/model_config.h"
#include "common/status.h"

namespace moe {

// Config of a named preset: qwen3-0.6b, qwen3-30b-a3b, qwen3-235b-a22b, tiny-moe.
// `layers_override` > 0 replaces num_hidden_layers (a slice of the model); <= 0 keeps it.
// Unknown names give INVALID_ARGUMENT listing the known ones.
absl::StatusOr<ModelConfig> PresetConfig(std::string_view name, int64_t layers_override);

// The known preset names, in a fixed order.
std::vector<std::string> PresetNames();

// One weight of a checkpoint, in HF naming.
struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool is_norm = false;  // RMSNorm weight (input/post-attention layernorm, q/k norm, model.norm)
};

// Every weight a checkpoint of `config` holds, in a stable order: embed_tokens, then per layer
// input_layernorm, attention (q, k, v, o, q_norm, k_norm), post_attention_layernorm and the MLP
// (dense gate/up/down, or router mlp.gate then experts.{e}.gate/up/down), then model.norm and
// lm_head (only when embeddings are untied).
std::vector<WeightSpec> ModelWeightSpecs(const ModelConfig& config);

}  // namespace moe
