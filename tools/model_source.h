// How the tools get a model: a checkpoint directory, or random weights from a directory's
// config.json or a named preset shape (nothing read from disk but the config).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/model_config.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "model/weights.h"

namespace moe {

struct ModelSource {
  std::string model_dir;        // --model DIR (config.json, weights, tokenizer)
  std::string like;             // --like NAME: a preset shape (random weights)
  int64_t layers_override = 0;  // --layers N with --like
  bool random_weights = false;  // --random-weights
  uint64_t weight_seed = 0;
  // --weights bf16|int8: convert or quantize the matrices at load (default: as stored).
  WeightFormat weights = WeightFormat::kCheckpoint;
};

struct LoadedModel {
  ModelConfig config;
  std::unique_ptr<ModelWeights> weights;
  double load_seconds = 0;
};

class Flags;

// Reads --model, --like, --layers, --random-weights, --weight-seed and --weights (each tool
// lists the flag names it accepts in its Flags::Parse).
absl::StatusOr<ModelSource> ModelSourceFromFlags(const Flags& flags);

// The model's config alone (nothing else is read): to check a layout before loading.
absl::StatusOr<ModelConfig> LoadSourceConfig(const ModelSource& source);

// Loads (or draws, for random weights) one shard's tensors and only those.
absl::StatusOr<std::unique_ptr<ModelWeights>> LoadShard(const ModelSource& source,
                                                        const ModelConfig& config,
                                                        const ShardSpec& spec, ThreadPool* pool);

// Loads the whole model as one shard. Errors name the directory, file, tensor or preset.
absl::StatusOr<LoadedModel> LoadWholeModel(const ModelSource& source, ThreadPool* pool);

}  // namespace moe
