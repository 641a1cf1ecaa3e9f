#include "tools/model_source.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/model_presets.h"
#include "common/safetensors.h"
#include "tools/flags.h"

namespace moe {

absl::StatusOr<ModelSource> ModelSourceFromFlags(const Flags& flags) {
  ModelSource source;
  source.model_dir = flags.GetString("model");
  source.like = flags.GetString("like");
  MOE_ASSIGN_OR_RETURN(source.layers_override, flags.GetInt("layers", 0));
  source.random_weights = flags.GetBool("random-weights");
  MOE_ASSIGN_OR_RETURN(int64_t weight_seed, flags.GetInt("weight-seed", 0));
  source.weight_seed = static_cast<uint64_t>(weight_seed);
  MOE_ASSIGN_OR_RETURN(source.weights, ParseWeightFormat(flags.GetString("weights")));
  return source;
}

absl::StatusOr<ModelConfig> LoadSourceConfig(const ModelSource& source) {
  if (!source.like.empty()) {
    if (!source.model_dir.empty()) {
      return absl::InvalidArgumentError("give either --model DIR or --like NAME, not both");
    }
    return PresetConfig(source.like, source.layers_override);
  }
  if (source.model_dir.empty()) return absl::InvalidArgumentError("--model DIR is required");
  return LoadModelConfig(source.model_dir);
}

absl::StatusOr<std::unique_ptr<ModelWeights>> LoadShard(const ModelSource& source,
                                                        const ModelConfig& config,
                                                        const ShardSpec& spec, ThreadPool* pool) {
  if (!source.like.empty() || source.random_weights) {
    return ModelWeights::Random(config, spec, source.weight_seed, pool, source.weights);
  }
  MOE_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> ckpt, Checkpoint::Open(source.model_dir));
  LoadOptions options;
  options.weight_format = source.weights;
  options.pool = pool;
  return ModelWeights::Load(std::move(ckpt), config, spec, options);
}

absl::StatusOr<LoadedModel> LoadWholeModel(const ModelSource& source, ThreadPool* pool) {
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel out;
  MOE_ASSIGN_OR_RETURN(out.config, LoadSourceConfig(source));
  MOE_ASSIGN_OR_RETURN(out.weights,
                       LoadShard(source, out.config, ShardSpec::Whole(out.config), pool));
  out.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace moe
