// The Qwen3 / Qwen3-MoE forward pass of one shard on one CUDA device (DESIGN.md sections 1 and
// 3): device weights (bf16 matrices, fp32 norm vectors), a paged bf16 KV cache in device
// memory, scratch for a step of up to `max_tokens` tokens, logits for the sampling rows only
// and sampling on the GPU. Decode steps (one token per sequence) are captured in CUDA graphs
// keyed by (tokens, sampling rows) and replayed.
//
// Plain C++ over kernels/cuda (no abseil) so that the GPU machine's benchmark builds it with
// the CUDA toolkit alone; model/cuda/cuda_qwen3.h uploads a ModelWeights shard into it.
//
// Thread-compatible: one thread drives a CudaForward; all work is enqueued on its stream.
// Owns every device buffer it allocates.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "model/cuda/cuda_status.h"

namespace moe::cuda {

// The model's shape and the shard's part of it.
struct ForwardConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // dense MLP layers
  int64_t layer_begin = 0;        // global index of the shard's first layer
  int64_t num_layers = 0;         // layers in this shard
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t num_experts = 0;  // 0: dense model
  int64_t top_k = 0;
  int64_t moe_intermediate_size = 0;
  bool norm_topk_prob = false;
  double rms_norm_eps = 1e-6;
  double rope_theta = 1e6;
  bool has_embedding = true;  // first shard
  bool has_head = true;       // last shard: final norm, lm_head, sampling
  bool tie_word_embeddings = false;
  std::vector<bool> is_moe_layer;  // [num_layers]
  // [num_experts]: expert e is held here (empty: all). Only held experts are allocated.
  std::vector<bool> expert_owned;
};

struct ForwardOptions {
  int64_t num_blocks = 0;          // KV cache blocks (per layer)
  int64_t block_size = 16;         // tokens per block
  int64_t max_tokens = 2048;       // tokens per step
  int64_t max_seqs = 256;          // sequences per step
  int64_t max_blocks_per_seq = 0;  // block table width (0: num_blocks)
  bool use_graphs = true;          // capture decode steps in CUDA graphs
  int64_t max_graph_tokens = 256;  // decode steps above this run eagerly
};

// The device weights of one layer; buffers allocated by CudaForward, filled by the caller.
struct DeviceLayer {
  float* input_norm = nullptr;  // [hidden]
  float* post_norm = nullptr;   // [hidden]
  float* q_norm = nullptr;      // [head_dim]
  float* k_norm = nullptr;      // [head_dim]
  bf16* wqkv = nullptr;         // [(heads + 2 kv_heads) * head_dim, hidden]: q, k, v rows
  bf16* wo = nullptr;           // [hidden, heads * head_dim]
  bool is_moe = false;
  bf16* w13 = nullptr;         // dense: [2 * intermediate, hidden]: gate rows then up rows
  bf16* w2 = nullptr;          // dense: [hidden, intermediate]
  bf16* router = nullptr;      // moe: [experts, hidden]
  bf16* expert_w13 = nullptr;  // moe: [local experts, 2 * moe_intermediate, hidden]
  bf16* expert_w2 = nullptr;   // moe: [local experts, hidden, moe_intermediate]
};

// One step's batch on the host: tokens flattened by sequence.
struct StepMeta {
  std::vector<int32_t> tokens;        // [T] (first shard)
  std::vector<int32_t> positions;     // [T]
  std::vector<int32_t> seq_index;     // [T] sequence of each token, 0..S-1
  std::vector<int32_t> block_tables;  // [S, max_blocks_per_seq], unused entries 0
  int64_t num_seqs = 0;
  bool decode = false;  // every sequence has one token (graph-eligible)
  // Last shard: rows of the step's hidden states to sample, with their parameters. [R] each.
  std::vector<int64_t> sample_rows;
  std::vector<float> temperature;  // 0: greedy
  std::vector<uint64_t> seed;
  std::vector<int64_t> sample_position;  // position of the token being sampled
};

class CudaForward {
 public:
  // Allocates weights (uninitialised), KV cache (zeroed), scratch; on the current device.
  static Status Create(const ForwardConfig& config, const ForwardOptions& options,
                       std::unique_ptr<CudaForward>* out);
  ~CudaForward();
  CudaForward(const CudaForward&) = delete;
  CudaForward& operator=(const CudaForward&) = delete;

  const ForwardConfig& config() const { return config_; }
  const ForwardOptions& options() const { return options_; }
  cudaStream_t stream() const { return stream_; }
  // Weights to fill (local layer index), before the first step.
  DeviceLayer& layer(int64_t local) { return layers_[static_cast<size_t>(local)]; }
  bf16* embedding() { return embedding_; }  // [vocab, hidden]; first shard
  bf16* lm_head() { return lm_head_; }      // [vocab, hidden]; last shard (== embedding when tied)
  float* final_norm() { return final_norm_; }  // [hidden]; last shard
  int64_t num_local_experts() const { return num_local_experts_; }
  // Bytes of weight matrices held (what a batch-1 decode step reads at most).
  int64_t weight_bytes() const { return weight_bytes_; }
  // Weight bytes one decode token reads: attention + dense MLPs + top_k experts per MoE layer
  // (+ lm_head for one row).
  int64_t active_weight_bytes_per_token() const;

  // Sums [n] fp32 device values across the expert-parallel group on `stream`, in place. Unset:
  // one rank. graph_safe: the function only enqueues work on the stream (NCCL), so decode
  // steps may still be captured; otherwise graphs are off.
  using AllReduceFn = std::function<Status(float* data, int64_t n, cudaStream_t stream)>;
  void set_ep_all_reduce(AllReduceFn fn, bool graph_safe);

  // Stages and uploads a step's metadata (asynchronously, on the stream). REQUIRES: shapes within
  // the options; block tables inside the cache (checked by the caller: Qwen3Model::ValidateBatch).
  Status Prepare(const StepMeta& meta);
  // hidden_states [T, hidden] fp32 on the device: the first shard embeds the tokens into it,
  // later shards' callers copy the previous stage's output in before Run.
  float* hidden_states() { return hidden_; }
  // Runs the shard's layers on the prepared step (and, on the last shard, logits of the sample
  // rows and sampling). Enqueued only; Synchronize() or SampledTokens() waits.
  Status Run();
  // Last shard, after Run: logits [R, vocab] fp32 on the device.
  const float* logits() const { return logits_; }
  // Waits for the step and copies the sampled tokens and logprobs out. [R] each.
  Status SampledTokens(std::vector<int32_t>* tokens, std::vector<float>* logprobs);
  Status Synchronize();
  int64_t graphs_captured() const { return static_cast<int64_t>(graphs_.size()); }

 private:
  CudaForward() = default;
  Status Allocate();
  template <typename T>
  Status Alloc(T** ptr, int64_t count);
  Status Layer(int64_t l);
  Status Mlp(const DeviceLayer& lw, int64_t T);
  Status Head();
  Status Enqueue();  // the whole step on stream_

  ForwardConfig config_;
  ForwardOptions options_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::vector<void*> allocations_;
  int num_sms_ = 0;

  // Weights.
  std::vector<DeviceLayer> layers_;
  bf16* embedding_ = nullptr;
  bf16* lm_head_ = nullptr;
  float* final_norm_ = nullptr;
  int32_t* local_expert_ = nullptr;  // [experts]
  int64_t num_local_experts_ = 0;
  int64_t weight_bytes_ = 0;
  float* inv_freq_ = nullptr;    // [head_dim / 2]
  std::vector<PagedKvBf16> kv_;  // [num_layers]

  // Step metadata: pinned host staging and device copies.
  struct Meta {
    int32_t* tokens = nullptr;
    int32_t* positions = nullptr;
    int32_t* seq_index = nullptr;
    int32_t* block_tables = nullptr;
    int64_t* sample_rows = nullptr;
    float* temperature = nullptr;
    uint64_t* seed = nullptr;
    int64_t* sample_position = nullptr;
    int32_t* sampled = nullptr;
    float* logprobs = nullptr;
  };
  Meta host_, dev_;
  int64_t T_ = 0, R_ = 0;
  bool decode_ = false;

  // Scratch.
  float* hidden_ = nullptr;         // [max_tokens, hidden]
  bf16* xn_ = nullptr;              // [max(max_tokens, ...), hidden]
  float* qkv_ = nullptr;            // [max_tokens, (heads + 2 kv_heads) * head_dim]
  bf16* q_ = nullptr;               // [max_tokens, heads * head_dim]
  bf16* attn_ = nullptr;            // [max_tokens, heads * head_dim]
  float* partial_ = nullptr;        // attention splits
  float* gu_ = nullptr;             // [rows, 2 * inter]
  bf16* act_ = nullptr;             // [rows, inter]
  float* mlp_out_ = nullptr;        // [max_tokens, hidden] (expert parallel)
  float* router_logits_ = nullptr;  // [max_tokens, experts]
  int32_t* topk_ids_ = nullptr;     // [max_tokens, top_k]
  float* topk_w_ = nullptr;         // [max_tokens, top_k]
  void* plan_buffer_ = nullptr;
  float* ys_ = nullptr;      // [max plan rows, hidden]
  float* logits_ = nullptr;  // [max_seqs, vocab]
  void* cublas_workspace_ = nullptr;

  AllReduceFn ep_all_reduce_;
  bool ep_graph_safe_ = true;
  std::map<std::pair<int64_t, int64_t>, cudaGraphExec_t> graphs_;  // (T, R) -> decode graph
};

}  // namespace moe::cuda
