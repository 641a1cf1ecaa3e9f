#include "model/weights.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "common/random_weights.h"

namespace moe {

ShardSpec ShardSpec::Whole(const ModelConfig& config) {
  ShardSpec spec;
  spec.layer_begin = 0;
  spec.layer_end = config.num_hidden_layers;
  return spec;
}

absl::Status ShardSpec::Validate(const ModelConfig& config) const {
  if (layer_begin < 0 || layer_end > config.num_hidden_layers || layer_begin >= layer_end) {
    return absl::InvalidArgumentError(absl::StrCat("shard layer range [", layer_begin, ", ",
                                                   layer_end, ") is not inside the model's ",
                                                   config.num_hidden_layers, " layers"));
  }
  if (!expert_owned.empty() && static_cast<int64_t>(expert_owned.size()) != config.num_experts) {
    return absl::InvalidArgumentError(absl::StrCat("shard expert mask has ", expert_owned.size(),
                                                   " entries, the model has ", config.num_experts,
                                                   " experts"));
  }
  return absl::OkStatus();
}

// Where tensors come from.
class ModelWeights::Source {
 public:
  virtual ~Source() = default;
  // A [rows, cols] matrix named `name`.
  virtual absl::StatusOr<kernels::Matrix> Matrix(const std::string& name, int64_t rows,
                                                 int64_t cols) = 0;
  // A [n] norm weight widened to fp32.
  virtual absl::StatusOr<std::vector<float>> Vector(const std::string& name, int64_t n) = 0;
  // The matrix last returned by Matrix() is no longer needed (converted): free it if owned.
  virtual void Release(const kernels::Matrix& m) {}
};

namespace {

bool IsFloatDType(DType t) { return t == DType::kBF16 || t == DType::kF16 || t == DType::kF32; }

class CheckpointSource : public ModelWeights::Source {
 public:
  explicit CheckpointSource(const Checkpoint& ckpt) : ckpt_(ckpt) {}

  absl::StatusOr<kernels::Matrix> Matrix(const std::string& name, int64_t rows,
                                         int64_t cols) override {
    MOE_ASSIGN_OR_RETURN(TensorView t, ckpt_.GetWithShape(name, {rows, cols}));
    MOE_RETURN_IF_ERROR(CheckDType(t));
    return kernels::Matrix{t.data, t.dtype, rows, cols};
  }

  absl::StatusOr<std::vector<float>> Vector(const std::string& name, int64_t n) override {
    MOE_ASSIGN_OR_RETURN(TensorView t, ckpt_.GetWithShape(name, {n}));
    MOE_RETURN_IF_ERROR(CheckDType(t));
    std::vector<float> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      switch (t.dtype) {
        case DType::kBF16:
          std::memcpy(&h, t.data + 2 * i, 2);
          out[i] = Bf16ToF32(h);
          break;
        case DType::kF16:
          std::memcpy(&h, t.data + 2 * i, 2);
          out[i] = F16ToF32(h);
          break;
        default:
          std::memcpy(&out[i], t.data + 4 * i, 4);
      }
    }
    return out;
  }

 private:
  static absl::Status CheckDType(const TensorView& t) {
    if (IsFloatDType(t.dtype)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(t.file, ": tensor '", t.name, "' has dtype ",
                                                   DTypeName(t.dtype),
                                                   "; expected BF16, F16 or F32"));
  }
  const Checkpoint& ckpt_;
};

class RandomSource : public ModelWeights::Source {
 public:
  RandomSource(uint64_t seed, ThreadPool* pool, std::vector<std::vector<uint16_t>>* owned)
      : seed_(seed), pool_(pool), owned_(owned) {}

  absl::StatusOr<kernels::Matrix> Matrix(const std::string& name, int64_t rows,
                                         int64_t cols) override {
    owned_->emplace_back(static_cast<size_t>(rows * cols));
    std::vector<uint16_t>& buf = owned_->back();
    FillRandomBf16(buf.data(), rows * cols, TensorSeed(seed_, name), 0.02f, pool_);
    return kernels::Matrix{buf.data(), DType::kBF16, rows, cols};
  }

  void Release(const kernels::Matrix& m) override {
    if (!owned_->empty() && owned_->back().data() == m.data) owned_->pop_back();
  }

  absl::StatusOr<std::vector<float>> Vector(const std::string& name, int64_t n) override {
    std::vector<uint16_t> h(static_cast<size_t>(n));
    FillRandomNormBf16(h.data(), n, TensorSeed(seed_, name));
    std::vector<float> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[i] = Bf16ToF32(h[i]);
    return out;
  }

 private:
  uint64_t seed_;
  ThreadPool* pool_;
  std::vector<std::vector<uint16_t>>* owned_;
};

}  // namespace

absl::StatusOr<WeightFormat> ParseWeightFormat(std::string_view name) {
  if (name.empty() || name == "checkpoint") return WeightFormat::kCheckpoint;
  if (name == "bf16") return WeightFormat::kBf16;
  if (name == "int8") return WeightFormat::kInt8;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown weight format '", std::string(name), "' (choices: bf16, int8)"));
}

std::string_view WeightFormatName(WeightFormat format) {
  switch (format) {
    case WeightFormat::kBf16:
      return "bf16";
    case WeightFormat::kInt8:
      return "int8";
    default:
      return "checkpoint";
  }
}

uint8_t* ModelWeights::Allocate(int64_t bytes) {
  converted_.emplace_back(new uint8_t[static_cast<size_t>(bytes) + 64]);
  uint8_t* p = converted_.back().get();
  return p + (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64;
}

absl::StatusOr<kernels::Matrix> ModelWeights::Convert(const kernels::Matrix& m, Role role,
                                                      Source* release) {
  if (weight_format_ == WeightFormat::kInt8 && role == Role::kLinear) {
    uint8_t* q = Allocate(m.rows * kernels::Q8RowBytes(m.cols));
    auto* scales = reinterpret_cast<uint16_t*>(Allocate(m.rows * kernels::Q8Blocks(m.cols) * 2));
    const kernels::Matrix out = kernels::QuantizeQ8(m, q, scales, pool_);
    if (release != nullptr) release->Release(m);
    return out;
  }
  if (weight_format_ != WeightFormat::kBf16 || m.dtype == DType::kBF16) return m;
  // kBf16: F16 / F32 to bf16.
  auto* h = reinterpret_cast<uint16_t*>(Allocate(m.rows * m.cols * 2));
  for (int64_t i = 0; i < m.rows * m.cols; ++i) {
    float f;
    if (m.dtype == DType::kF16) {
      uint16_t v;
      std::memcpy(&v, static_cast<const uint8_t*>(m.data) + 2 * i, 2);
      f = F16ToF32(v);
    } else {
      std::memcpy(&f, static_cast<const uint8_t*>(m.data) + 4 * i, 4);
    }
    h[i] = F32ToBf16(f);
  }
  return kernels::Matrix{h, DType::kBF16, m.rows, m.cols};
}

absl::Status ModelWeights::Build(Source& src) {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size, D = c.head_dim;
  const int64_t q_rows = c.num_attention_heads * D, kv_rows = c.num_key_value_heads * D;
  matrix_bytes_ = 0;
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, kernels::Matrix* out,
                    Role role = Role::kLinear) -> absl::Status {
    MOE_ASSIGN_OR_RETURN(kernels::Matrix m, src.Matrix(name, rows, cols));
    MOE_ASSIGN_OR_RETURN(*out, Convert(m, role, &src));
    matrix_bytes_ += kernels::MatrixBytes(*out);
    return absl::OkStatus();
  };

  if (spec_.has_embedding()) {
    MOE_RETURN_IF_ERROR(
        matrix("model.embed_tokens.weight", c.vocab_size, H, &embedding_, Role::kEmbedding));
  }
  for (int64_t l = spec_.layer_begin; l < spec_.layer_end; ++l) {
    LayerWeights lw;
    const std::string p = absl::StrCat("model.layers.", l, ".");
    MOE_ASSIGN_OR_RETURN(lw.input_norm, src.Vector(p + "input_layernorm.weight", H));
    MOE_ASSIGN_OR_RETURN(lw.post_norm, src.Vector(p + "post_attention_layernorm.weight", H));
    MOE_ASSIGN_OR_RETURN(lw.q_norm, src.Vector(p + "self_attn.q_norm.weight", D));
    MOE_ASSIGN_OR_RETURN(lw.k_norm, src.Vector(p + "self_attn.k_norm.weight", D));
    MOE_RETURN_IF_ERROR(matrix(p + "self_attn.q_proj.weight", q_rows, H, &lw.q));
    MOE_RETURN_IF_ERROR(matrix(p + "self_attn.k_proj.weight", kv_rows, H, &lw.k));
    MOE_RETURN_IF_ERROR(matrix(p + "self_attn.v_proj.weight", kv_rows, H, &lw.v));
    MOE_RETURN_IF_ERROR(matrix(p + "self_attn.o_proj.weight", H, q_rows, &lw.o));
    lw.is_moe = c.IsMoeLayer(l);
    if (lw.is_moe) {
      const int64_t MI = c.moe_intermediate_size;
      MOE_RETURN_IF_ERROR(
          matrix(p + "mlp.gate.weight", c.num_experts, H, &lw.router, Role::kRouter));
      lw.experts.resize(static_cast<size_t>(c.num_experts));
      for (int64_t e = 0; e < c.num_experts; ++e) {
        if (!spec_.OwnsExpert(e)) continue;
        const std::string ep = absl::StrCat(p, "mlp.experts.", e, ".");
        ExpertWeights& ew = lw.experts[static_cast<size_t>(e)];
        MOE_RETURN_IF_ERROR(matrix(ep + "gate_proj.weight", MI, H, &ew.gate));
        MOE_RETURN_IF_ERROR(matrix(ep + "up_proj.weight", MI, H, &ew.up));
        MOE_RETURN_IF_ERROR(matrix(ep + "down_proj.weight", H, MI, &ew.down));
      }
    } else {
      const int64_t I = c.intermediate_size;
      MOE_RETURN_IF_ERROR(matrix(p + "mlp.gate_proj.weight", I, H, &lw.gate));
      MOE_RETURN_IF_ERROR(matrix(p + "mlp.up_proj.weight", I, H, &lw.up));
      MOE_RETURN_IF_ERROR(matrix(p + "mlp.down_proj.weight", H, I, &lw.down));
    }
    layers_.push_back(std::move(lw));
  }
  if (spec_.has_head(c)) {
    MOE_ASSIGN_OR_RETURN(final_norm_, src.Vector("model.norm.weight", H));
    if (c.tie_word_embeddings) {
      if (spec_.has_embedding() && weight_format_ != WeightFormat::kInt8) {
        lm_head_ = embedding_;             // same memory: count it once
      } else if (spec_.has_embedding()) {  // an int8 copy of the (kept) embedding table
        MOE_ASSIGN_OR_RETURN(lm_head_, Convert(embedding_, Role::kLinear, nullptr));
        matrix_bytes_ += kernels::MatrixBytes(lm_head_);
      } else {
        MOE_RETURN_IF_ERROR(matrix("model.embed_tokens.weight", c.vocab_size, H, &lm_head_));
      }
    } else {
      MOE_RETURN_IF_ERROR(matrix("lm_head.weight", c.vocab_size, H, &lm_head_));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ModelWeights>> ModelWeights::Load(
    std::shared_ptr<const Checkpoint> ckpt, const ModelConfig& config, const ShardSpec& spec,
    const LoadOptions& options) {
  MOE_RETURN_IF_ERROR(spec.Validate(config));
  std::unique_ptr<ModelWeights> w(new ModelWeights());
  w->config_ = config;
  w->spec_ = spec;
  w->weight_format_ = options.weight_format;
  w->pool_ = options.pool;
  w->checkpoint_ = std::move(ckpt);
  CheckpointSource src(*w->checkpoint_);
  MOE_RETURN_IF_ERROR(w->Build(src));
  w->pool_ = nullptr;
  return w;
}

absl::StatusOr<std::unique_ptr<ModelWeights>> ModelWeights::Random(const ModelConfig& config,
                                                                   const ShardSpec& spec,
                                                                   uint64_t seed, ThreadPool* pool,
                                                                   WeightFormat weight_format) {
  MOE_RETURN_IF_ERROR(spec.Validate(config));
  std::unique_ptr<ModelWeights> w(new ModelWeights());
  w->config_ = config;
  w->spec_ = spec;
  w->weight_format_ = weight_format;
  w->pool_ = pool;
  RandomSource src(seed, pool, &w->owned_);
  MOE_RETURN_IF_ERROR(w->Build(src));
  w->pool_ = nullptr;
  return w;
}

}  // namespace moe
