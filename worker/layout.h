// How a model is split over the workers of one job (DESIGN.md section 2): P pipeline stages of
// contiguous layers, and inside each stage E expert-parallel ranks that split every MoE layer's
// experts. Worker w (0-based; MPI rank w + 1, rank 0 being the coordinator) is EP rank w % E of
// stage w / E.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/model_config.h"
#include "common/status.h"
#include "model/weights.h"

namespace moe {

struct LayoutOptions {
  int64_t pp = 1;
  int64_t ep = 1;
  std::string layer_split;  // --layer-split: layers per stage, "10,14" (empty: even split)
  std::string expert_map;   // --expert-map: EP rank of each expert, "0,1,1,0" (empty: e mod E)
};

class Layout {
 public:
  // Checks the options against the model before anything loads; every refusal says what to
  // change (INVALID_ARGUMENT).
  static absl::StatusOr<Layout> Make(const ModelConfig& config, const LayoutOptions& options);
  // The whole model in one in-process worker.
  static Layout Single(const ModelConfig& config);

  int64_t pp() const { return pp_; }
  int64_t ep() const { return ep_; }
  int64_t num_workers() const { return pp_ * ep_; }
  // The MPI world size this layout needs: the coordinator plus the workers.
  int64_t world_size() const { return 1 + num_workers(); }
  int64_t stage_of(int64_t worker) const { return worker / ep_; }
  int64_t ep_rank_of(int64_t worker) const { return worker % ep_; }
  // The MPI rank of EP rank `e` of stage `s`.
  int64_t rank_of(int64_t stage, int64_t e) const { return 1 + stage * ep_ + e; }
  // Layers [stage_begin(s), stage_begin(s + 1)) belong to stage s.
  int64_t stage_begin(int64_t s) const { return boundaries_[static_cast<size_t>(s)]; }
  // The EP rank computing expert e (MoE models).
  int64_t expert_rank(int64_t e) const { return expert_rank_[static_cast<size_t>(e)]; }

  // What worker `worker` holds.
  ShardSpec Shard(int64_t worker) const;
  // OK when `world_size` MPI ranks fit the layout; otherwise says how to launch.
  absl::Status CheckWorldSize(int64_t world_size) const;
  // "pp2 ep1 stages [0,2) [2,4)".
  std::string Describe() const;

 private:
  int64_t pp_ = 1, ep_ = 1;
  std::vector<int64_t> boundaries_;   // [pp + 1]
  std::vector<int64_t> expert_rank_;  // [num_experts]
};

// Bytes one worker will hold: weight matrices and norms (at `weight_bytes_per_param`, 2 for
// bf16), and the KV cache of its layers for `kv_blocks` blocks of `block_size` tokens.
struct ShardMemory {
  int64_t weight_bytes = 0;
  int64_t kv_bytes = 0;
  int64_t experts = 0;  // experts held per MoE layer
};
ShardMemory EstimateShardMemory(const ModelConfig& config, const ShardSpec& spec,
                                int64_t weight_bytes_per_param, int64_t kv_blocks,
                                int64_t block_size);

}  // namespace moe
