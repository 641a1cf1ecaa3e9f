#include "common/model_presets.h"

#include "absl/strings/str_join.h"

namespace moe {
namespace {

ModelConfig Base() {
  ModelConfig c;
  c.vocab_size = 151936;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 1e6;
  c.max_position_embeddings = 40960;
  c.torch_dtype = "bfloat16";
  c.bos_token_id = 151643;
  c.eos_token_ids = {151645};
  return c;
}

ModelConfig Moe(int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                int64_t kv_heads, int64_t head_dim, int64_t experts, int64_t top_k,
                int64_t moe_intermediate) {
  ModelConfig c = Base();
  c.model_type = "qwen3_moe";
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = head_dim;
  c.num_experts = experts;
  c.num_experts_per_tok = top_k;
  c.moe_intermediate_size = moe_intermediate;
  c.norm_topk_prob = true;
  c.decoder_sparse_step = 1;
  c.tie_word_embeddings = false;
  return c;
}

}  // namespace

std::vector<std::string> PresetNames() {
  return {"qwen3-0.6b", "qwen3-30b-a3b", "qwen3-235b-a22b", "tiny-moe"};
}

absl::StatusOr<ModelConfig> PresetConfig(std::string_view name, int64_t layers_override) {
  ModelConfig c;
  if (name == "qwen3-0.6b") {
    c = Base();
    c.model_type = "qwen3";
    c.hidden_size = 1024;
    c.intermediate_size = 3072;
    c.num_hidden_layers = 28;
    c.num_attention_heads = 16;
    c.num_key_value_heads = 8;
    c.head_dim = 128;
    c.tie_word_embeddings = true;
  } else if (name == "qwen3-30b-a3b") {
    c = Moe(2048, 6144, 48, 32, 4, 128, 128, 8, 768);
  } else if (name == "qwen3-235b-a22b") {
    c = Moe(4096, 12288, 94, 64, 4, 128, 128, 8, 1536);
  } else if (name == "tiny-moe") {
    c = Moe(128, 256, 4, 4, 2, 32, 8, 2, 64);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown model preset '", std::string(name),
                                                   "' (known: ", absl::StrJoin(PresetNames(), ", "),
                                                   ")"));
  }
  if (layers_override > 0) c.num_hidden_layers = layers_override;
  MOE_RETURN_IF_ERROR(ValidateModelConfig(c, absl::StrCat("preset ", std::string(name))));
  return c;
}

std::vector<WeightSpec> ModelWeightSpecs(const ModelConfig& c) {
  const int64_t h = c.hidden_size;
  const int64_t hd = c.head_dim;
  std::vector<WeightSpec> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, false});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    out.push_back({p + "input_layernorm.weight", {h}, true});
    out.push_back({p + "self_attn.q_proj.weight", {c.num_attention_heads * hd, h}, false});
    out.push_back({p + "self_attn.k_proj.weight", {c.num_key_value_heads * hd, h}, false});
    out.push_back({p + "self_attn.v_proj.weight", {c.num_key_value_heads * hd, h}, false});
    out.push_back({p + "self_attn.o_proj.weight", {h, c.num_attention_heads * hd}, false});
    out.push_back({p + "self_attn.q_norm.weight", {hd}, true});
    out.push_back({p + "self_attn.k_norm.weight", {hd}, true});
    out.push_back({p + "post_attention_layernorm.weight", {h}, true});
    if (c.IsMoeLayer(i)) {
      const int64_t mi = c.moe_intermediate_size;
      out.push_back({p + "mlp.gate.weight", {c.num_experts, h}, false});
      for (int64_t e = 0; e < c.num_experts; ++e) {
        const std::string q = absl::StrCat(p, "mlp.experts.", e, ".");
        out.push_back({q + "gate_proj.weight", {mi, h}, false});
        out.push_back({q + "up_proj.weight", {mi, h}, false});
        out.push_back({q + "down_proj.weight", {h, mi}, false});
      }
    } else {
      const int64_t im = c.intermediate_size;
      out.push_back({p + "mlp.gate_proj.weight", {im, h}, false});
      out.push_back({p + "mlp.up_proj.weight", {im, h}, false});
      out.push_back({p + "mlp.down_proj.weight", {h, im}, false});
    }
  }
  out.push_back({"model.norm.weight", {h}, true});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, h}, false});
  return out;
}

}  // namespace moe
