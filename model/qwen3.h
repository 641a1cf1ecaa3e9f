// The Qwen3 / Qwen3-MoE forward pass of one shard over a flattened batch of tokens from many
// sequences (prefill chunks and decode tokens mixed), reading and writing a paged KV cache.
// Math in fp32 on weights in their checkpoint dtype (DESIGN.md section 1).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace moe {

// One sequence's part of a step: tokens [start_pos, start_pos + num_tokens) of it.
struct SeqStep {
  int64_t start_pos = 0;
  int64_t num_tokens = 0;
  std::vector<int32_t> block_table;  // blocks holding positions [0, start_pos + num_tokens)
};

// A step's batch: sequences' tokens flattened in order (no padding).
struct StepBatch {
  std::vector<int32_t> tokens;  // [T]; used by the first shard only
  std::vector<SeqStep> seqs;    // sum of num_tokens == T
  int64_t num_tokens() const;
};

// One routing decision of a MoE layer: token row `token` goes to `expert` with `weight`.
struct ExpertAssignment {
  int32_t token;
  int32_t expert;
  float weight;
};

class Qwen3Model {
 public:
  // `weights` and `pool` must outlive the model.
  Qwen3Model(const ModelWeights* weights, ThreadPool* pool);

  const ModelConfig& config() const { return weights_->config(); }
  const ModelWeights& weights() const { return *weights_; }
  // Weight bytes streamed by matrix products so far (each matrix counted once per call).
  int64_t weight_bytes_read() const { return weight_bytes_read_; }

  // Checks a batch against the cache: token ids in range (first shard), block tables long
  // enough, blocks inside the cache. INVALID_ARGUMENT naming the sequence otherwise.
  absl::Status ValidateBatch(const StepBatch& batch, const KvCache& cache) const;

  // First shard: hidden[t] = embedding[tokens[t]]. hidden: [T, hidden].
  void Embed(const StepBatch& batch, float* hidden) const;

  // Runs the shard's layers on hidden [T, hidden] in place, appending this step's keys and
  // values to `cache`. REQUIRES: ValidateBatch(batch, *cache) is OK.
  // Per layer this is AttentionBlock, then MlpPartial, then (MoE layers of an expert-parallel
  // shard) `ep_all_reduce` on the MLP output, then the residual add.
  void Forward(const StepBatch& batch, KvCache* cache, float* hidden);

  // Sums a [n] fp32 buffer across the expert-parallel group, in place. Unset (one rank): no-op.
  using AllReduceFn = std::function<void(float* data, int64_t n)>;
  void set_ep_all_reduce(AllReduceFn fn) { ep_all_reduce_ = std::move(fn); }

  // hidden += attention(rms(hidden)) of `layer`, appending this step's keys/values to `cache`.
  void AttentionBlock(int64_t layer, const StepBatch& batch, KvCache* cache, float* hidden);
  // out [T, hidden] = this shard's part of mlp(rms(hidden)) of `layer`: the whole dense MLP, or
  // the sum over the MoE experts this shard holds (to be summed across the group).
  void MlpPartial(int64_t layer, const float* hidden, int64_t T, float* out);

  // Last shard: logits [rows.size(), vocab] for the given rows of hidden (final norm, lm_head).
  void Logits(const float* hidden, const std::vector<int64_t>& rows, float* logits);

  // The MoE experts of `layer` held by this shard, over routed assignments: out[t] +=
  // w * expert(h[t]) for every (t, expert, w). h, out: [T, hidden]. Assignments of experts this
  // shard does not hold are skipped (another expert-parallel rank adds them), as are
  // assignments whose token or expert is out of range.
  void MoeExperts(int64_t layer, const float* h, int64_t T,
                  const std::vector<ExpertAssignment>& assignments, float* out);

  // Router of a MoE layer: softmax over all experts in fp32, top-k, renormalised when
  // norm_topk_prob. Appends T * k assignments, experts in descending weight per token.
  void Route(int64_t layer, const float* h, int64_t T, std::vector<ExpertAssignment>* out);

 private:
  void Attention(int64_t layer, const StepBatch& batch, KvCache* cache, const float* h, float* out);
  void Mlp(int64_t layer, const float* h, int64_t T, float* out);
  void SetPositions(const StepBatch& batch);
  // kernels::Linear, counting the weight bytes it streams.
  void Linear(const float* x, int64_t T, const kernels::Matrix& w, float* y);
  // kernels::LinearMany, counting the bytes as Linear does.
  void LinearMany(const float* x, int64_t T, const kernels::Matrix* ws, float* const* ys, int n);

  const ModelWeights* weights_;
  ThreadPool* pool_;
  std::vector<float> inv_freq_;  // [head_dim / 2]
  // Scratch, grown as needed.
  std::vector<float> norm_, q_, k_, v_, attn_, proj_, gate_, up_, router_logits_;
  std::vector<float> moe_y_;  // [routed (token, expert) pairs, hidden] the experts' outputs
  std::vector<float> mlp_out_;
  std::vector<int32_t> positions_;
  AllReduceFn ep_all_reduce_;
  int64_t weight_bytes_read_ = 0;
};

}  // namespace moe
