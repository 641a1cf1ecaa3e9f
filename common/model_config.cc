#include "common/model_config.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/file.h"
#include "common/json.h"

namespace moe {
namespace {

// Reads typed fields of one JSON object; every error starts with `source` and names the field.
class FieldReader {
 public:
  FieldReader(const Json& obj, const std::string& source) : obj_(obj), source_(source) {}

  const Json* Find(const char* field) const {
    auto it = obj_.find(field);
    return it == obj_.end() ? nullptr : &*it;
  }
  // Present and not null.
  bool Has(const char* field) const {
    const Json* v = Find(field);
    return v != nullptr && !v->is_null();
  }

  absl::Status Missing(const char* field, const char* what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": missing field '", field, "' (", what, ")"));
  }
  absl::Status WrongType(const char* field, const Json& v, const char* what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        source_, ": field '", field, "' is ", v.type_name(), " ", v.dump(), ", expected ", what));
  }

  // Required integer.
  absl::Status Int(const char* field, int64_t* out) const {
    if (!Has(field)) return Missing(field, "integer");
    return IntValue(field, *Find(field), out);
  }
  // Optional integer: left unchanged when absent or null.
  absl::Status OptInt(const char* field, int64_t* out) const {
    if (!Has(field)) return absl::OkStatus();
    return IntValue(field, *Find(field), out);
  }
  absl::Status OptInt(const char* field, std::optional<int64_t>* out) const {
    if (!Has(field)) return absl::OkStatus();
    int64_t v = 0;
    MOE_RETURN_IF_ERROR(IntValue(field, *Find(field), &v));
    *out = v;
    return absl::OkStatus();
  }
  absl::Status Number(const char* field, double* out) const {
    if (!Has(field)) return Missing(field, "number");
    return NumberValue(field, *Find(field), out);
  }
  absl::Status OptNumber(const char* field, double* out) const {
    if (!Has(field)) return absl::OkStatus();
    return NumberValue(field, *Find(field), out);
  }
  absl::Status OptNumber(const char* field, std::optional<double>* out) const {
    if (!Has(field)) return absl::OkStatus();
    double v = 0;
    MOE_RETURN_IF_ERROR(NumberValue(field, *Find(field), &v));
    *out = v;
    return absl::OkStatus();
  }
  absl::Status OptBool(const char* field, bool* out) const {
    if (!Has(field)) return absl::OkStatus();
    const Json& v = *Find(field);
    if (!v.is_boolean()) return WrongType(field, v, "boolean");
    *out = v.get<bool>();
    return absl::OkStatus();
  }
  absl::Status OptBool(const char* field, std::optional<bool>* out) const {
    if (!Has(field)) return absl::OkStatus();
    bool v = false;
    MOE_RETURN_IF_ERROR(OptBool(field, &v));
    *out = v;
    return absl::OkStatus();
  }
  absl::Status OptString(const char* field, std::string* out) const {
    if (!Has(field)) return absl::OkStatus();
    const Json& v = *Find(field);
    if (!v.is_string()) return WrongType(field, v, "string");
    *out = v.get<std::string>();
    return absl::OkStatus();
  }
  // Optional list of integers.
  absl::Status OptIntList(const char* field, std::vector<int64_t>* out) const {
    if (!Has(field)) return absl::OkStatus();
    const Json& v = *Find(field);
    if (!v.is_array()) return WrongType(field, v, "array of integers");
    std::vector<int64_t> list;
    for (const Json& e : v) {
      int64_t x = 0;
      if (!IntValue(field, e, &x).ok()) return WrongType(field, v, "array of integers");
      list.push_back(x);
    }
    *out = std::move(list);
    return absl::OkStatus();
  }
  // Optional integer or list of integers (eos_token_id).
  absl::Status OptIntOrList(const char* field, std::vector<int64_t>* out) const {
    if (!Has(field)) return absl::OkStatus();
    const Json& v = *Find(field);
    if (v.is_array()) return OptIntList(field, out);
    int64_t x = 0;
    if (!IntValue(field, v, &x).ok()) return WrongType(field, v, "integer or array of integers");
    *out = {x};
    return absl::OkStatus();
  }

  absl::Status OutOfRange(const char* field, const std::string& value, const char* what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": field '", field, "' is ", value, ", expected ", what));
  }

 private:
  absl::Status IntValue(const char* field, const Json& v, int64_t* out) const {
    if (!v.is_number_integer()) return WrongType(field, v, "integer");
    if (v.is_number_unsigned() &&
        v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return WrongType(field, v, "integer that fits in 64 bits");
    }
    *out = v.get<int64_t>();
    return absl::OkStatus();
  }
  absl::Status NumberValue(const char* field, const Json& v, double* out) const {
    if (!v.is_number()) return WrongType(field, v, "number");
    *out = v.get<double>();
    return absl::OkStatus();
  }

  const Json& obj_;
  const std::string source_;
};

absl::Status Unsupported(const std::string& source, const std::string& what) {
  return absl::UnimplementedError(absl::StrCat(source, ": ", what));
}

}  // namespace

bool ModelConfig::IsMoeLayer(int64_t layer) const {
  if (num_experts <= 0 || decoder_sparse_step <= 0) return false;
  if (std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) != mlp_only_layers.end()) {
    return false;
  }
  return (layer + 1) % decoder_sparse_step == 0;
}

absl::Status ValidateModelConfig(const ModelConfig& c, const std::string& source) {
  auto positive = [&](const char* field, int64_t v) -> absl::Status {
    if (v > 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field '", field, "' is ", v, ", expected a positive integer"));
  };
  if (c.model_type != "qwen3" && c.model_type != "qwen3_moe") {
    return absl::InvalidArgumentError(absl::StrCat(source, ": model_type '", c.model_type,
                                                   "' is not supported (expected qwen3 or "
                                                   "qwen3_moe)"));
  }
  const bool moe = c.model_type == "qwen3_moe";
  MOE_RETURN_IF_ERROR(positive("vocab_size", c.vocab_size));
  MOE_RETURN_IF_ERROR(positive("hidden_size", c.hidden_size));
  MOE_RETURN_IF_ERROR(positive("num_hidden_layers", c.num_hidden_layers));
  MOE_RETURN_IF_ERROR(positive("num_attention_heads", c.num_attention_heads));
  MOE_RETURN_IF_ERROR(positive("num_key_value_heads", c.num_key_value_heads));
  MOE_RETURN_IF_ERROR(positive("head_dim", c.head_dim));
  MOE_RETURN_IF_ERROR(positive("max_position_embeddings", c.max_position_embeddings));
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field 'num_attention_heads' (", c.num_attention_heads,
                     ") is not divisible by 'num_key_value_heads' (", c.num_key_value_heads, ")"));
  }
  if (c.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field 'head_dim' is ", c.head_dim,
                                                   ", expected an even number (RoPE pairs)"));
  }
  if (!(c.rms_norm_eps > 0) || !std::isfinite(c.rms_norm_eps)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field 'rms_norm_eps' is ",
                                                   c.rms_norm_eps, ", expected a positive number"));
  }
  if (!(c.rope_theta > 0) || !std::isfinite(c.rope_theta)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field 'rope_theta' is ", c.rope_theta,
                                                   ", expected a positive number"));
  }
  if (c.attention_bias) {
    return Unsupported(source, "attention_bias true is not supported (Qwen3 has no QKV bias)");
  }
  if (c.bos_token_id < -1 || c.bos_token_id >= c.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field 'bos_token_id' is ",
                                                   c.bos_token_id,
                                                   ", expected a token id below "
                                                   "vocab_size ",
                                                   c.vocab_size));
  }
  for (int64_t eos : c.eos_token_ids) {
    if (eos < 0 || eos >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": field 'eos_token_id' holds ", eos,
                                                     ", expected a token id below vocab_size ",
                                                     c.vocab_size));
    }
  }
  if (!moe) {
    if (c.num_experts != 0) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": num_experts is ", c.num_experts,
                                                     " but model_type 'qwen3' is dense"));
    }
    return positive("intermediate_size", c.intermediate_size);
  }
  MOE_RETURN_IF_ERROR(positive("num_experts", c.num_experts));
  MOE_RETURN_IF_ERROR(positive("num_experts_per_tok", c.num_experts_per_tok));
  MOE_RETURN_IF_ERROR(positive("moe_intermediate_size", c.moe_intermediate_size));
  MOE_RETURN_IF_ERROR(positive("decoder_sparse_step", c.decoder_sparse_step));
  if (c.num_experts_per_tok > c.num_experts) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field 'num_experts_per_tok' (", c.num_experts_per_tok,
                     ") is larger than 'num_experts' (", c.num_experts, ")"));
  }
  for (int64_t layer : c.mlp_only_layers) {
    if (layer < 0 || layer >= c.num_hidden_layers) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": field 'mlp_only_layers' holds ",
                                                     layer, ", expected layer indices in [0, ",
                                                     c.num_hidden_layers, ")"));
    }
  }
  if (c.intermediate_size < 0) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field 'intermediate_size' is ",
                                                   c.intermediate_size,
                                                   ", expected a positive integer"));
  }
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) {
    if (!c.IsMoeLayer(layer) && c.intermediate_size <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": layer ", layer,
                       " has a dense MLP (mlp_only_layers / decoder_sparse_step) but field "
                       "'intermediate_size' is missing or not positive"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                             const std::string& source) {
  MOE_ASSIGN_OR_RETURN(Json j, ParseJson(json_text, source));
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": is a JSON ", j.type_name(), ", expected an object"));
  }
  FieldReader r(j, source);
  ModelConfig c;

  if (!r.Has("model_type")) return r.Missing("model_type", "string");
  MOE_RETURN_IF_ERROR(r.OptString("model_type", &c.model_type));
  if (c.model_type != "qwen3" && c.model_type != "qwen3_moe") {
    return absl::InvalidArgumentError(absl::StrCat(source, ": model_type '", c.model_type,
                                                   "' is not supported (expected qwen3 or "
                                                   "qwen3_moe)"));
  }
  const bool moe = c.model_type == "qwen3_moe";

  MOE_RETURN_IF_ERROR(r.Int("vocab_size", &c.vocab_size));
  MOE_RETURN_IF_ERROR(r.Int("hidden_size", &c.hidden_size));
  if (moe) {
    MOE_RETURN_IF_ERROR(r.OptInt("intermediate_size", &c.intermediate_size));
    if (r.Has("intermediate_size") && c.intermediate_size <= 0) {
      return r.OutOfRange("intermediate_size", absl::StrCat(c.intermediate_size),
                          "a positive integer");
    }
  } else {
    MOE_RETURN_IF_ERROR(r.Int("intermediate_size", &c.intermediate_size));
  }
  MOE_RETURN_IF_ERROR(r.Int("num_hidden_layers", &c.num_hidden_layers));
  MOE_RETURN_IF_ERROR(r.Int("num_attention_heads", &c.num_attention_heads));
  MOE_RETURN_IF_ERROR(r.Int("num_key_value_heads", &c.num_key_value_heads));
  if (r.Has("head_dim")) {
    MOE_RETURN_IF_ERROR(r.Int("head_dim", &c.head_dim));
  } else if (c.num_attention_heads > 0) {
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  MOE_RETURN_IF_ERROR(r.Number("rms_norm_eps", &c.rms_norm_eps));
  MOE_RETURN_IF_ERROR(r.Int("max_position_embeddings", &c.max_position_embeddings));

  // RoPE: rope_theta at the top level; newer configs may put it in rope_parameters.
  if (r.Has("rope_scaling")) {
    return Unsupported(source, absl::StrCat("rope_scaling ", r.Find("rope_scaling")->dump(),
                                            " is not supported (expected null)"));
  }
  if (r.Has("rope_parameters")) {
    const Json& rp = *r.Find("rope_parameters");
    if (!rp.is_object()) return r.WrongType("rope_parameters", rp, "object");
    FieldReader rr(rp, absl::StrCat(source, ": rope_parameters"));
    std::string rope_type = "default";
    MOE_RETURN_IF_ERROR(rr.OptString("rope_type", &rope_type));
    if (rope_type != "default") {
      return Unsupported(source, absl::StrCat("rope_parameters.rope_type '", rope_type,
                                              "' is not supported (expected default)"));
    }
    if (!r.Has("rope_theta")) MOE_RETURN_IF_ERROR(rr.Number("rope_theta", &c.rope_theta));
  }
  if (!r.Has("rope_parameters") || r.Has("rope_theta")) {
    MOE_RETURN_IF_ERROR(r.Number("rope_theta", &c.rope_theta));
  }

  MOE_RETURN_IF_ERROR(r.OptBool("tie_word_embeddings", &c.tie_word_embeddings));
  MOE_RETURN_IF_ERROR(r.OptBool("attention_bias", &c.attention_bias));
  if (c.attention_bias) {
    return Unsupported(source, "attention_bias true is not supported (Qwen3 has no QKV bias)");
  }
  bool sliding = false;
  MOE_RETURN_IF_ERROR(r.OptBool("use_sliding_window", &sliding));
  if (sliding) return Unsupported(source, "use_sliding_window true is not supported");
  if (r.Has("layer_types")) {
    const Json& lt = *r.Find("layer_types");
    if (!lt.is_array()) return r.WrongType("layer_types", lt, "array of strings");
    for (const Json& t : lt) {
      if (!t.is_string() || t.get<std::string>() != "full_attention") {
        return Unsupported(source, absl::StrCat("layer_types entry ", t.dump(),
                                                " is not supported (expected full_attention)"));
      }
    }
  }
  if (r.Has("hidden_act")) {
    std::string act;
    MOE_RETURN_IF_ERROR(r.OptString("hidden_act", &act));
    if (act != "silu") {
      return Unsupported(source,
                         absl::StrCat("hidden_act '", act, "' is not supported (expected silu)"));
    }
  }
  if (r.Has("torch_dtype")) {
    MOE_RETURN_IF_ERROR(r.OptString("torch_dtype", &c.torch_dtype));
  } else {
    MOE_RETURN_IF_ERROR(r.OptString("dtype", &c.torch_dtype));
  }
  MOE_RETURN_IF_ERROR(r.OptInt("bos_token_id", &c.bos_token_id));
  MOE_RETURN_IF_ERROR(r.OptIntOrList("eos_token_id", &c.eos_token_ids));

  if (moe) {
    MOE_RETURN_IF_ERROR(r.Int("num_experts", &c.num_experts));
    MOE_RETURN_IF_ERROR(r.Int("num_experts_per_tok", &c.num_experts_per_tok));
    MOE_RETURN_IF_ERROR(r.Int("moe_intermediate_size", &c.moe_intermediate_size));
    MOE_RETURN_IF_ERROR(r.OptBool("norm_topk_prob", &c.norm_topk_prob));
    MOE_RETURN_IF_ERROR(r.OptInt("decoder_sparse_step", &c.decoder_sparse_step));
    MOE_RETURN_IF_ERROR(r.OptIntList("mlp_only_layers", &c.mlp_only_layers));
  }
  MOE_RETURN_IF_ERROR(ValidateModelConfig(c, source));
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  const std::string path = JoinPath(model_dir, "config.json");
  MOE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseModelConfig(text, path);
}

std::string ModelConfigToJson(const ModelConfig& c) {
  const bool moe = c.model_type == "qwen3_moe";
  Json j = Json::object();
  j["architectures"] = Json::array({moe ? "Qwen3MoeForCausalLM" : "Qwen3ForCausalLM"});
  j["model_type"] = c.model_type;
  j["attention_bias"] = c.attention_bias;
  j["attention_dropout"] = 0.0;
  j["bos_token_id"] = c.bos_token_id >= 0 ? Json(c.bos_token_id) : Json(nullptr);
  if (c.eos_token_ids.empty()) {
    j["eos_token_id"] = nullptr;
  } else if (c.eos_token_ids.size() == 1) {
    j["eos_token_id"] = c.eos_token_ids[0];
  } else {
    j["eos_token_id"] = c.eos_token_ids;
  }
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["hidden_size"] = c.hidden_size;
  j["initializer_range"] = 0.02;
  if (!moe || c.intermediate_size > 0) j["intermediate_size"] = c.intermediate_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["max_window_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_scaling"] = nullptr;
  j["rope_theta"] = c.rope_theta;
  j["sliding_window"] = nullptr;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  if (!c.torch_dtype.empty()) j["torch_dtype"] = c.torch_dtype;
  j["use_cache"] = true;
  j["use_sliding_window"] = false;
  j["vocab_size"] = c.vocab_size;
  if (moe) {
    j["decoder_sparse_step"] = c.decoder_sparse_step;
    j["mlp_only_layers"] = c.mlp_only_layers;
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["num_experts"] = c.num_experts;
    j["num_experts_per_tok"] = c.num_experts_per_tok;
    j["output_router_logits"] = false;
    j["router_aux_loss_coef"] = 0.001;
  }
  return j.dump(2) + "\n";
}

absl::StatusOr<GenerationConfig> LoadGenerationConfig(const std::string& model_dir) {
  const std::string path = JoinPath(model_dir, "generation_config.json");
  GenerationConfig g;
  if (!FileExists(path)) return g;
  MOE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  MOE_ASSIGN_OR_RETURN(Json j, ParseJson(text, path));
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is a JSON ", j.type_name(), ", expected an object"));
  }
  FieldReader r(j, path);
  MOE_RETURN_IF_ERROR(r.OptIntOrList("eos_token_id", &g.eos_token_ids));
  MOE_RETURN_IF_ERROR(r.OptInt("bos_token_id", &g.bos_token_id));
  MOE_RETURN_IF_ERROR(r.OptInt("pad_token_id", &g.pad_token_id));
  MOE_RETURN_IF_ERROR(r.OptBool("do_sample", &g.do_sample));
  MOE_RETURN_IF_ERROR(r.OptNumber("temperature", &g.temperature));
  MOE_RETURN_IF_ERROR(r.OptInt("top_k", &g.top_k));
  MOE_RETURN_IF_ERROR(r.OptNumber("top_p", &g.top_p));
  MOE_RETURN_IF_ERROR(r.OptNumber("min_p", &g.min_p));
  MOE_RETURN_IF_ERROR(r.OptNumber("repetition_penalty", &g.repetition_penalty));

  for (int64_t id : g.eos_token_ids) {
    if (id < 0) return r.OutOfRange("eos_token_id", absl::StrCat(id), "non-negative token ids");
  }
  if (g.temperature && !(*g.temperature >= 0)) {
    return r.OutOfRange("temperature", absl::StrCat(*g.temperature), "a number >= 0");
  }
  if (g.top_k && *g.top_k < 0) {
    return r.OutOfRange("top_k", absl::StrCat(*g.top_k), "an integer >= 0");
  }
  if (g.top_p && !(*g.top_p > 0 && *g.top_p <= 1)) {
    return r.OutOfRange("top_p", absl::StrCat(*g.top_p), "a number in (0, 1]");
  }
  if (g.min_p && !(*g.min_p >= 0 && *g.min_p <= 1)) {
    return r.OutOfRange("min_p", absl::StrCat(*g.min_p), "a number in [0, 1]");
  }
  if (g.repetition_penalty && !(*g.repetition_penalty > 0)) {
    return r.OutOfRange("repetition_penalty", absl::StrCat(*g.repetition_penalty),
                        "a positive number");
  }
  return g;
}

}  // namespace moe
