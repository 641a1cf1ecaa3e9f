// Qwen3 / Qwen3-MoE weights of one shard: a contiguous layer range and, for each MoE layer, a
// subset of its experts. A single process holds the whole model as one shard.
//
// Matrices stay in their checkpoint dtype (views into the memory-mapped files, or owned bf16
// buffers for random weights) unless a WeightFormat asks for bf16 or int8 (owned buffers made
// at load); only the small norm vectors are widened to fp32.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/model_config.h"
#include "common/safetensors.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "kernels/kernels.h"

namespace moe {

// Which part of the model a worker holds.
struct ShardSpec {
  int64_t layer_begin = 0;
  int64_t layer_end = 0;  // exclusive
  // expert_owned[e]: this shard computes expert e of every MoE layer. Empty means all experts.
  std::vector<bool> expert_owned;

  // The whole model in one shard.
  static ShardSpec Whole(const ModelConfig& config);
  bool has_embedding() const { return layer_begin == 0; }
  bool has_head(const ModelConfig& config) const { return layer_end == config.num_hidden_layers; }
  bool OwnsExpert(int64_t e) const {
    return expert_owned.empty() || expert_owned[static_cast<size_t>(e)];
  }
  // INVALID_ARGUMENT when the layer range or expert mask does not fit the config.
  absl::Status Validate(const ModelConfig& config) const;
};

// How the matrices are held:
//  - kCheckpoint: as stored (BF16, F16 or F32);
//  - kBf16: F16 / F32 matrices converted to bf16 at load (BF16 ones stay views);
//  - kInt8: the Linear matrices (attention, MLP, experts, lm_head) quantized to int8 with a
//    bf16 scale per block of 32 (DType::kQ8, kernels.h) at load. The embedding table stays
//    as stored (rows are gathered, not streamed; a tied lm_head gets its own int8 copy) and
//    so does the MoE router (small, and expert choices should not move).
enum class WeightFormat { kCheckpoint, kBf16, kInt8 };

// "bf16" or "int8" ("" and "checkpoint": kCheckpoint); an error names the value and choices.
absl::StatusOr<WeightFormat> ParseWeightFormat(std::string_view name);
std::string_view WeightFormatName(WeightFormat format);

struct LoadOptions {
  WeightFormat weight_format = WeightFormat::kCheckpoint;
  ThreadPool* pool = nullptr;  // spreads conversion / quantization (may be null)
};

struct ExpertWeights {
  kernels::Matrix gate;  // [moe_intermediate, hidden]
  kernels::Matrix up;    // [moe_intermediate, hidden]
  kernels::Matrix down;  // [hidden, moe_intermediate]
};

struct LayerWeights {
  std::vector<float> input_norm;  // [hidden]
  std::vector<float> post_norm;   // [hidden]
  std::vector<float> q_norm;      // [head_dim]
  std::vector<float> k_norm;      // [head_dim]
  kernels::Matrix q;              // [heads * head_dim, hidden]
  kernels::Matrix k;              // [kv_heads * head_dim, hidden]
  kernels::Matrix v;              // [kv_heads * head_dim, hidden]
  kernels::Matrix o;              // [hidden, heads * head_dim]
  bool is_moe = false;
  // Dense MLP (is_moe == false).
  kernels::Matrix gate;  // [intermediate, hidden]
  kernels::Matrix up;    // [intermediate, hidden]
  kernels::Matrix down;  // [hidden, intermediate]
  // MoE (is_moe == true).
  kernels::Matrix router;              // [experts, hidden]
  std::vector<ExpertWeights> experts;  // [experts]; data == nullptr when not in this shard
};

class ModelWeights {
 public:
  // Loads the shard's tensors (and only those) from a checkpoint; every tensor's presence, dtype
  // (BF16, F16 or F32) and shape is checked, errors name the file and tensor.
  static absl::StatusOr<std::unique_ptr<ModelWeights>> Load(std::shared_ptr<const Checkpoint> ckpt,
                                                            const ModelConfig& config,
                                                            const ShardSpec& spec,
                                                            const LoadOptions& options = {});
  // Draws bf16 weights from the config alone (common/random_weights.h: the same values
  // `moe-tools random-model` writes for the same seed). Nothing is read from disk.
  // With weight_format kInt8 each matrix is quantized as it is drawn (the bf16 copy freed).
  static absl::StatusOr<std::unique_ptr<ModelWeights>> Random(
      const ModelConfig& config, const ShardSpec& spec, uint64_t seed, ThreadPool* pool,
      WeightFormat weight_format = WeightFormat::kCheckpoint);

  const ModelConfig& config() const { return config_; }
  const ShardSpec& spec() const { return spec_; }
  // Layer `layer` (global index, inside the shard's range).
  const LayerWeights& layer(int64_t layer) const {
    return layers_[static_cast<size_t>(layer - spec_.layer_begin)];
  }
  const kernels::Matrix& embedding() const { return embedding_; }  // [vocab, hidden]; first shard
  const kernels::Matrix& lm_head() const { return lm_head_; }      // [vocab, hidden]; last shard
  const std::vector<float>& final_norm() const { return final_norm_; }  // [hidden]; last shard

  // Bytes of weight matrices this shard holds (what a decode step streams at most; int8:
  // values and scales, kernels::MatrixBytes).
  int64_t matrix_bytes() const { return matrix_bytes_; }
  WeightFormat weight_format() const { return weight_format_; }

  class Source;  // where tensors come from (checkpoint or random); weights.cc

 private:
  ModelWeights() = default;
  absl::Status Build(Source& source);
  // m as weight_format_ asks (int8 for role kLinear only); a converted m is handed back to
  // `release` (may be null) to free.
  enum class Role { kEmbedding, kRouter, kLinear };
  absl::StatusOr<kernels::Matrix> Convert(const kernels::Matrix& m, Role role, Source* release);
  uint8_t* Allocate(int64_t bytes);  // 64-byte aligned, owned by this object

  ModelConfig config_;
  ShardSpec spec_;
  std::vector<LayerWeights> layers_;
  kernels::Matrix embedding_;
  kernels::Matrix lm_head_;
  std::vector<float> final_norm_;
  int64_t matrix_bytes_ = 0;
  WeightFormat weight_format_ = WeightFormat::kCheckpoint;
  ThreadPool* pool_ = nullptr;  // during loading only

  std::shared_ptr<const Checkpoint> checkpoint_;       // keeps mapped views alive
  std::vector<std::vector<uint16_t>> owned_;           // random weights
  std::vector<std::unique_ptr<uint8_t[]>> converted_;  // bf16 / int8 buffers (Allocate)
};

}  // namespace moe
