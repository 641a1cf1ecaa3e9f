#include "worker/layout.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "model/kv_cache.h"

namespace moe {
namespace {

absl::StatusOr<std::vector<int64_t>> ParseList(const std::string& flag, const std::string& text) {
  std::vector<int64_t> out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v)) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, " '", text, "': '",
                                                     std::string(part),
                                                     "' is not an integer (expected e.g. 10,14)"));
    }
    out.push_back(v);
  }
  return out;
}

}  // namespace

Layout Layout::Single(const ModelConfig& config) {
  Layout l;
  l.boundaries_ = {0, config.num_hidden_layers};
  l.expert_rank_.assign(static_cast<size_t>(config.num_experts), 0);
  return l;
}

absl::StatusOr<Layout> Layout::Make(const ModelConfig& config, const LayoutOptions& options) {
  const int64_t L = config.num_hidden_layers, P = options.pp, E = options.ep;
  if (P < 1) return absl::InvalidArgumentError(absl::StrCat("--pp ", P, ": must be >= 1"));
  if (E < 1) return absl::InvalidArgumentError(absl::StrCat("--ep ", E, ": must be >= 1"));
  if (P > L) {
    return absl::InvalidArgumentError(
        absl::StrCat("--pp ", P, ": the model has only ", L, " layers; use --pp ", L, " or fewer"));
  }
  if (E > 1 && !config.is_moe()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--ep ", E, ": the model is dense (no experts to split); use --ep 1 and --pp for size"));
  }
  if (config.is_moe() && E > config.num_experts) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ep ", E, ": the model has only ", config.num_experts,
                     " experts per layer; use --ep ", config.num_experts, " or fewer"));
  }
  Layout l;
  l.pp_ = P;
  l.ep_ = E;
  l.boundaries_.push_back(0);
  if (options.layer_split.empty()) {
    for (int64_t s = 0; s < P; ++s) l.boundaries_.push_back(L * (s + 1) / P);
  } else {
    MOE_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, ParseList("layer-split", options.layer_split));
    if (static_cast<int64_t>(sizes.size()) != P) {
      return absl::InvalidArgumentError(
          absl::StrCat("--layer-split ", options.layer_split, " gives ", sizes.size(),
                       " stages but --pp is ", P, ": give one layer count per stage"));
    }
    int64_t sum = 0;
    for (int64_t n : sizes) {
      if (n < 1) {
        return absl::InvalidArgumentError(absl::StrCat("--layer-split ", options.layer_split,
                                                       ": every stage needs at least one layer"));
      }
      sum += n;
      l.boundaries_.push_back(sum);
    }
    if (sum != L) {
      return absl::InvalidArgumentError(absl::StrCat("--layer-split ", options.layer_split,
                                                     " covers ", sum, " layers; the model has ", L,
                                                     ": make the counts add up to ", L));
    }
  }
  if (config.is_moe()) {
    if (options.expert_map.empty()) {
      for (int64_t e = 0; e < config.num_experts; ++e) l.expert_rank_.push_back(e % E);
    } else {
      MOE_ASSIGN_OR_RETURN(l.expert_rank_, ParseList("expert-map", options.expert_map));
      if (static_cast<int64_t>(l.expert_rank_.size()) != config.num_experts) {
        return absl::InvalidArgumentError(
            absl::StrCat("--expert-map has ", l.expert_rank_.size(), " entries; the model has ",
                         config.num_experts, " experts: give the EP rank of each"));
      }
      std::vector<int64_t> count(static_cast<size_t>(E), 0);
      for (int64_t r : l.expert_rank_) {
        if (r < 0 || r >= E) {
          return absl::InvalidArgumentError(
              absl::StrCat("--expert-map: EP rank ", r, " is outside [0, ", E, ") (--ep ", E, ")"));
        }
        ++count[static_cast<size_t>(r)];
      }
      for (int64_t r = 0; r < E; ++r) {
        if (count[static_cast<size_t>(r)] == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("--expert-map gives EP rank ", r,
                           " no experts: map at least one to it or lower --ep"));
        }
      }
    }
  } else if (!options.expert_map.empty()) {
    return absl::InvalidArgumentError("--expert-map: the model is dense (no experts)");
  }
  return l;
}

ShardSpec Layout::Shard(int64_t worker) const {
  ShardSpec spec;
  const int64_t s = stage_of(worker), e = ep_rank_of(worker);
  spec.layer_begin = stage_begin(s);
  spec.layer_end = stage_begin(s + 1);
  if (ep_ > 1) {
    for (int64_t r : expert_rank_) spec.expert_owned.push_back(r == e);
  }
  return spec;
}

absl::Status Layout::CheckWorldSize(int64_t world_size) const {
  if (world_size == this->world_size()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--pp ", pp_, " --ep ", ep_, " needs ", this->world_size(),
                   " MPI ranks (1 coordinator + ", num_workers(), " workers) but the job has ",
                   world_size, ": run mpirun -np ", this->world_size(), " or change --pp/--ep"));
}

std::string Layout::Describe() const {
  std::vector<std::string> stages;
  for (int64_t s = 0; s < pp_; ++s) {
    stages.push_back(absl::StrCat("[", stage_begin(s), ",", stage_begin(s + 1), ")"));
  }
  return absl::StrCat("pp", pp_, " ep", ep_, " layers ", absl::StrJoin(stages, " "));
}

ShardMemory EstimateShardMemory(const ModelConfig& c, const ShardSpec& spec,
                                int64_t weight_bytes_per_param, int64_t kv_blocks,
                                int64_t block_size) {
  const int64_t H = c.hidden_size, D = c.head_dim;
  const int64_t Hq = c.num_attention_heads, Hkv = c.num_key_value_heads;
  ShardMemory m;
  int64_t params = 0, norm_floats = 0;
  if (spec.has_embedding()) params += c.vocab_size * H;
  if (spec.has_head(c)) {
    norm_floats += H;
    // Tied: the head is the embedding, held once when this shard also embeds.
    if (!c.tie_word_embeddings || !spec.has_embedding()) params += c.vocab_size * H;
  }
  for (int64_t l = spec.layer_begin; l < spec.layer_end; ++l) {
    params += (Hq * D) * H * 2 + (Hkv * D) * H * 2;  // q, o, k, v
    norm_floats += 2 * H + 2 * D;
    if (c.IsMoeLayer(l)) {
      int64_t held = 0;
      for (int64_t e = 0; e < c.num_experts; ++e) held += spec.OwnsExpert(e) ? 1 : 0;
      m.experts = held;
      params += c.num_experts * H + held * 3 * c.moe_intermediate_size * H;
    } else {
      params += 3 * c.intermediate_size * H;
    }
  }
  m.weight_bytes = params * weight_bytes_per_param + norm_floats * 4;
  m.kv_bytes = kv_blocks * KvCache::BytesPerBlock(c, spec.layer_end - spec.layer_begin, block_size);
  return m;
}

}  // namespace moe
