#include "model/cuda/cuda_forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cuda/gemm.h"

namespace moe::cuda {
namespace {

constexpr int64_t kMaxSplits = 16;
constexpr int64_t kSplitTokens = 64;  // steps above this run attention with one split
constexpr int64_t kGemvTokens = 64;   // steps up to this use the GEMV expert kernel
constexpr int64_t kCublasWorkspace = 32 << 20;

}  // namespace

template <typename T>
Status CudaForward::Alloc(T** ptr, int64_t count) {
  void* p = nullptr;
  const size_t bytes = sizeof(T) * static_cast<size_t>(std::max<int64_t>(count, 1));
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    return Status::Error("cudaMalloc of " + std::to_string(bytes) +
                         " bytes: " + cudaGetErrorString(e));
  }
  allocations_.push_back(p);
  *ptr = static_cast<T*>(p);
  return Status();
}

Status CudaForward::Create(const ForwardConfig& config, const ForwardOptions& options,
                           std::unique_ptr<CudaForward>* out) {
  std::unique_ptr<CudaForward> f(new CudaForward());
  f->config_ = config;
  f->options_ = options;
  if (f->options_.max_blocks_per_seq <= 0) f->options_.max_blocks_per_seq = options.num_blocks;
  const ForwardConfig& c = f->config_;
  const bool head_dim_ok =
      c.head_dim == 32 || c.head_dim == 64 || c.head_dim == 128 || c.head_dim == 256;
  const bool moe_ok =
      c.num_experts == 0 || (c.num_experts <= 1024 && c.top_k >= 1 && c.top_k <= 32 &&
                             c.top_k <= c.num_experts && c.moe_intermediate_size % 8 == 0);
  if (!head_dim_ok || !moe_ok || c.hidden_size % 8 != 0) {
    return Status::Error(
        "CudaForward: unsupported shape (head_dim must be 32, 64, 128 or 256; experts <= 1024, "
        "top-k <= 32; hidden and moe_intermediate sizes multiples of 8)");
  }
  if (c.hidden_size <= 0 || c.num_layers < 0 || c.num_kv_heads <= 0 ||
      c.num_heads % c.num_kv_heads != 0 || options.num_blocks <= 0 || options.block_size <= 0 ||
      options.max_tokens <= 0 || options.max_seqs <= 0 ||
      static_cast<int64_t>(c.is_moe_layer.size()) != c.num_layers) {
    return Status::Error("CudaForward: inconsistent config or options");
  }
  MOE_CUDA_TRY(cudaStreamCreateWithFlags(&f->stream_, cudaStreamNonBlocking));
  MOE_CUBLAS_TRY(cublasCreate(&f->cublas_));
  MOE_CUBLAS_TRY(cublasSetStream(f->cublas_, f->stream_));
  int device = 0;
  MOE_CUDA_TRY(cudaGetDevice(&device));
  MOE_CUDA_TRY(cudaDeviceGetAttribute(&f->num_sms_, cudaDevAttrMultiProcessorCount, device));
  MOE_CUDA_RETURN_IF_ERROR(f->Allocate());
  *out = std::move(f);
  return Status();
}

CudaForward::~CudaForward() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
  for (void* p : allocations_) cudaFree(p);
  for (void* p : {static_cast<void*>(host_.tokens), static_cast<void*>(host_.positions),
                  static_cast<void*>(host_.seq_index), static_cast<void*>(host_.block_tables),
                  static_cast<void*>(host_.sample_rows), static_cast<void*>(host_.temperature),
                  static_cast<void*>(host_.seed), static_cast<void*>(host_.sample_position),
                  static_cast<void*>(host_.sampled), static_cast<void*>(host_.logprobs)}) {
    if (p != nullptr) cudaFreeHost(p);
  }
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

Status CudaForward::Allocate() {
  const ForwardConfig& c = config_;
  const ForwardOptions& o = options_;
  const int64_t H = c.hidden_size, D = c.head_dim, Hq = c.num_heads, Hkv = c.num_kv_heads;
  const int64_t qkv_rows = (Hq + 2 * Hkv) * D, E = c.num_experts, k = c.top_k;
  const int64_t I = c.intermediate_size, MI = c.moe_intermediate_size;
  // Experts held here.
  std::vector<int32_t> local(static_cast<size_t>(E), -1);
  for (int64_t e = 0; e < E; ++e) {
    if (c.expert_owned.empty() || c.expert_owned[static_cast<size_t>(e)]) {
      local[static_cast<size_t>(e)] = static_cast<int32_t>(num_local_experts_++);
    }
  }
  // Weights.
  layers_.resize(static_cast<size_t>(c.num_layers));
  auto matrix = [&](bf16** p, int64_t rows, int64_t cols) {
    weight_bytes_ += rows * cols * 2;
    return Alloc(p, rows * cols);
  };
  for (int64_t l = 0; l < c.num_layers; ++l) {
    DeviceLayer& lw = layers_[static_cast<size_t>(l)];
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&lw.input_norm, H));
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&lw.post_norm, H));
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&lw.q_norm, D));
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&lw.k_norm, D));
    MOE_CUDA_RETURN_IF_ERROR(matrix(&lw.wqkv, qkv_rows, H));
    MOE_CUDA_RETURN_IF_ERROR(matrix(&lw.wo, H, Hq * D));
    lw.is_moe = c.is_moe_layer[static_cast<size_t>(l)];
    if (lw.is_moe) {
      MOE_CUDA_RETURN_IF_ERROR(matrix(&lw.router, E, H));
      if (num_local_experts_ > 0) {
        MOE_CUDA_RETURN_IF_ERROR(matrix(&lw.expert_w13, num_local_experts_ * 2 * MI, H));
        MOE_CUDA_RETURN_IF_ERROR(matrix(&lw.expert_w2, num_local_experts_ * H, MI));
      }
    } else {
      MOE_CUDA_RETURN_IF_ERROR(matrix(&lw.w13, 2 * I, H));
      MOE_CUDA_RETURN_IF_ERROR(matrix(&lw.w2, H, I));
    }
  }
  if (c.has_embedding) MOE_CUDA_RETURN_IF_ERROR(matrix(&embedding_, c.vocab_size, H));
  if (c.has_head) {
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&final_norm_, H));
    if (c.tie_word_embeddings && c.has_embedding) {
      lm_head_ = embedding_;
    } else {
      MOE_CUDA_RETURN_IF_ERROR(matrix(&lm_head_, c.vocab_size, H));
    }
  }
  if (E > 0) {
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&local_expert_, E));
    MOE_CUDA_TRY(
        cudaMemcpy(local_expert_, local.data(), sizeof(int32_t) * E, cudaMemcpyHostToDevice));
  }
  std::vector<float> inv_freq(static_cast<size_t>(D / 2));
  for (int64_t i = 0; i < D / 2; ++i) {  // theta^(-2i/D) in double, as the CPU model
    inv_freq[i] = static_cast<float>(
        1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(D)));
  }
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&inv_freq_, D / 2));
  MOE_CUDA_TRY(cudaMemcpy(inv_freq_, inv_freq.data(), sizeof(float) * inv_freq.size(),
                          cudaMemcpyHostToDevice));
  // KV cache.
  const int64_t cache_n = o.num_blocks * o.block_size * Hkv * D;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    PagedKvBf16 kv{nullptr, nullptr, o.num_blocks, o.block_size, Hkv, D};
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&kv.k, cache_n));
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&kv.v, cache_n));
    MOE_CUDA_TRY(cudaMemset(kv.k, 0, sizeof(bf16) * cache_n));
    MOE_CUDA_TRY(cudaMemset(kv.v, 0, sizeof(bf16) * cache_n));
    kv_.push_back(kv);
  }
  // Metadata: pinned staging and device copies.
  const int64_t M = o.max_tokens, S = o.max_seqs, W = o.max_blocks_per_seq;
  MOE_CUDA_TRY(cudaMallocHost(&host_.tokens, sizeof(int32_t) * M));
  MOE_CUDA_TRY(cudaMallocHost(&host_.positions, sizeof(int32_t) * M));
  MOE_CUDA_TRY(cudaMallocHost(&host_.seq_index, sizeof(int32_t) * M));
  MOE_CUDA_TRY(cudaMallocHost(&host_.block_tables, sizeof(int32_t) * S * W));
  MOE_CUDA_TRY(cudaMallocHost(&host_.sample_rows, sizeof(int64_t) * S));
  MOE_CUDA_TRY(cudaMallocHost(&host_.temperature, sizeof(float) * S));
  MOE_CUDA_TRY(cudaMallocHost(&host_.seed, sizeof(uint64_t) * S));
  MOE_CUDA_TRY(cudaMallocHost(&host_.sample_position, sizeof(int64_t) * S));
  MOE_CUDA_TRY(cudaMallocHost(&host_.sampled, sizeof(int32_t) * S));
  MOE_CUDA_TRY(cudaMallocHost(&host_.logprobs, sizeof(float) * S));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&dev_.tokens, M));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&dev_.positions, M));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&dev_.seq_index, M));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&dev_.block_tables, S * W));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&dev_.sample_rows, S));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&dev_.temperature, S));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&dev_.seed, S));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&dev_.sample_position, S));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&dev_.sampled, S));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&dev_.logprobs, S));
  // Scratch.
  int64_t plan_rows = 0, plan_bytes = 0;
  if (E > 0) {
    for (int64_t tile : {int64_t{8}, int64_t{64}}) {
      int64_t rows, tiles;
      MoePlanSizes(M * k, E, tile, &rows, &tiles);
      plan_rows = std::max(plan_rows, rows);
      plan_bytes = std::max(plan_bytes, MoePlanBytes(M * k, E, tile));
    }
  }
  bool any_dense = false;
  for (bool moe : c.is_moe_layer) any_dense = any_dense || !moe;
  const int64_t gu_floats = std::max(any_dense ? M * 2 * I : 0, plan_rows * 2 * MI);
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&hidden_, M * H));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&xn_, std::max(M, S) * H));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&qkv_, M * qkv_rows));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&q_, M * Hq * D));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&attn_, M * Hq * D));
  MOE_CUDA_RETURN_IF_ERROR(
      Alloc(&partial_, AttentionPartialFloats(std::min(M, kSplitTokens), Hq, D, kMaxSplits)));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&gu_, gu_floats));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&act_, gu_floats / 2));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(&mlp_out_, M * H));
  if (E > 0) {
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&router_logits_, M * E));
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&topk_ids_, M * k));
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&topk_w_, M * k));
    MOE_CUDA_RETURN_IF_ERROR(Alloc(reinterpret_cast<char**>(&plan_buffer_), plan_bytes));
    MOE_CUDA_RETURN_IF_ERROR(Alloc(&ys_, plan_rows * H));
  }
  if (c.has_head) MOE_CUDA_RETURN_IF_ERROR(Alloc(&logits_, S * c.vocab_size));
  MOE_CUDA_RETURN_IF_ERROR(Alloc(reinterpret_cast<char**>(&cublas_workspace_), kCublasWorkspace));
  MOE_CUBLAS_TRY(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspace));
  return Status();
}

int64_t CudaForward::active_weight_bytes_per_token() const {
  const ForwardConfig& c = config_;
  const int64_t H = c.hidden_size, D = c.head_dim;
  int64_t elems = 0;
  for (const DeviceLayer& lw : layers_) {
    elems += (c.num_heads + 2 * c.num_kv_heads) * D * H + H * c.num_heads * D;
    elems += lw.is_moe ? c.num_experts * H + c.top_k * 3 * c.moe_intermediate_size * H
                       : 3 * c.intermediate_size * H;
  }
  if (c.has_head) elems += c.vocab_size * H;
  return elems * 2;
}

void CudaForward::set_ep_all_reduce(AllReduceFn fn, bool graph_safe) {
  ep_all_reduce_ = std::move(fn);
  ep_graph_safe_ = graph_safe;
}

Status CudaForward::Prepare(const StepMeta& meta) {
  const int64_t T = static_cast<int64_t>(meta.positions.size());
  const int64_t S = meta.num_seqs, R = static_cast<int64_t>(meta.sample_rows.size());
  const int64_t W = options_.max_blocks_per_seq;
  if (T > options_.max_tokens || S > options_.max_seqs || R > options_.max_seqs ||
      static_cast<int64_t>(meta.seq_index.size()) != T ||
      static_cast<int64_t>(meta.block_tables.size()) != S * W ||
      (config_.has_embedding && static_cast<int64_t>(meta.tokens.size()) != T) ||
      static_cast<int64_t>(meta.temperature.size()) != R ||
      static_cast<int64_t>(meta.seed.size()) != R ||
      static_cast<int64_t>(meta.sample_position.size()) != R) {
    return Status::Error("CudaForward::Prepare: step shape outside the options or inconsistent");
  }
  // The previous step's uploads must be done before the staging buffers are rewritten.
  MOE_CUDA_TRY(cudaStreamSynchronize(stream_));
  T_ = T;
  R_ = config_.has_head ? R : 0;
  decode_ = meta.decode;
  auto up = [&](auto* host, auto* dev, const auto& src) -> Status {
    if (src.empty()) return Status();
    std::memcpy(host, src.data(), sizeof(src[0]) * src.size());
    return CudaCheck(
        cudaMemcpyAsync(dev, host, sizeof(src[0]) * src.size(), cudaMemcpyHostToDevice, stream_),
        "step metadata upload");
  };
  if (config_.has_embedding) MOE_CUDA_RETURN_IF_ERROR(up(host_.tokens, dev_.tokens, meta.tokens));
  MOE_CUDA_RETURN_IF_ERROR(up(host_.positions, dev_.positions, meta.positions));
  MOE_CUDA_RETURN_IF_ERROR(up(host_.seq_index, dev_.seq_index, meta.seq_index));
  MOE_CUDA_RETURN_IF_ERROR(up(host_.block_tables, dev_.block_tables, meta.block_tables));
  if (R_ > 0) {
    MOE_CUDA_RETURN_IF_ERROR(up(host_.sample_rows, dev_.sample_rows, meta.sample_rows));
    MOE_CUDA_RETURN_IF_ERROR(up(host_.temperature, dev_.temperature, meta.temperature));
    MOE_CUDA_RETURN_IF_ERROR(up(host_.seed, dev_.seed, meta.seed));
    MOE_CUDA_RETURN_IF_ERROR(up(host_.sample_position, dev_.sample_position, meta.sample_position));
  }
  return Status();
}

Status CudaForward::Run() {
  if (T_ == 0) return Status();
  const bool graph = options_.use_graphs && decode_ && T_ <= options_.max_graph_tokens &&
                     (!ep_all_reduce_ || ep_graph_safe_);
  if (!graph) return Enqueue();
  const std::pair<int64_t, int64_t> key(T_, R_);
  auto it = graphs_.find(key);
  if (it == graphs_.end()) {
    cudaGraph_t g = nullptr;
    MOE_CUDA_TRY(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    const Status enqueued = Enqueue();
    const cudaError_t ended = cudaStreamEndCapture(stream_, &g);
    MOE_CUDA_RETURN_IF_ERROR(enqueued);
    MOE_CUDA_TRY(ended);
    cudaGraphExec_t exec = nullptr;
    const cudaError_t inst = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    MOE_CUDA_TRY(inst);
    it = graphs_.emplace(key, exec).first;
  }
  MOE_CUDA_TRY(cudaGraphLaunch(it->second, stream_));
  return Status();
}

Status CudaForward::Enqueue() {
  const ForwardConfig& c = config_;
  if (c.has_embedding) {
    MOE_CUDA_TRY(EmbeddingGather(embedding_, dev_.tokens, T_, c.hidden_size, hidden_, stream_));
  }
  for (int64_t l = 0; l < c.num_layers; ++l) MOE_CUDA_RETURN_IF_ERROR(Layer(l));
  if (R_ > 0) MOE_CUDA_RETURN_IF_ERROR(Head());
  return Status();
}

Status CudaForward::Layer(int64_t l) {
  const ForwardConfig& c = config_;
  const DeviceLayer& lw = layers_[static_cast<size_t>(l)];
  const int64_t T = T_, H = c.hidden_size, D = c.head_dim, Hq = c.num_heads;
  const int64_t qkv_rows = (Hq + 2 * c.num_kv_heads) * D;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const TokenMeta meta{dev_.positions, dev_.seq_index, dev_.block_tables,
                       options_.max_blocks_per_seq, T};
  // Attention block: hidden += o_proj(attn(rope(norm(q))), rope(norm(k)), v).
  MOE_CUDA_TRY(RmsNormBf16(hidden_, nullptr, lw.input_norm, T, H, eps, xn_, stream_));
  MOE_CUBLAS_TRY(GemmBf16F32(cublas_, xn_, T, lw.wqkv, qkv_rows, H, 0.0f, qkv_));
  MOE_CUDA_TRY(QkNormRopeKvWrite(qkv_, meta, Hq, lw.q_norm, lw.k_norm, eps, inv_freq_,
                                 kv_[static_cast<size_t>(l)], q_, stream_));
  int splits = 1;
  if (T <= kSplitTokens) {
    const int64_t blocks = T * c.num_kv_heads;
    splits = static_cast<int>(std::clamp<int64_t>(2 * num_sms_ / blocks, 1, kMaxSplits));
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  MOE_CUDA_TRY(PagedAttention(q_, meta, kv_[static_cast<size_t>(l)], Hq, scale, splits, partial_,
                              attn_, stream_));
  MOE_CUBLAS_TRY(GemmBf16F32(cublas_, attn_, T, lw.wo, H, Hq * D, 1.0f, hidden_));
  // MLP block.
  MOE_CUDA_TRY(RmsNormBf16(hidden_, nullptr, lw.post_norm, T, H, eps, xn_, stream_));
  return Mlp(lw, T);
}

Status CudaForward::Mlp(const DeviceLayer& lw, int64_t T) {
  const ForwardConfig& c = config_;
  const int64_t H = c.hidden_size;
  if (!lw.is_moe) {
    const int64_t I = c.intermediate_size;
    MOE_CUBLAS_TRY(GemmBf16F32(cublas_, xn_, T, lw.w13, 2 * I, H, 0.0f, gu_));
    MOE_CUDA_TRY(SiluMul(gu_, T, I, act_, stream_));
    MOE_CUBLAS_TRY(GemmBf16F32(cublas_, act_, T, lw.w2, H, I, 1.0f, hidden_));
    return Status();
  }
  const int64_t E = c.num_experts, k = c.top_k, MI = c.moe_intermediate_size;
  MOE_CUBLAS_TRY(GemmBf16F32(cublas_, xn_, T, lw.router, E, H, 0.0f, router_logits_));
  const int64_t tile = T <= kGemvTokens ? 8 : 64;
  const MoePlan plan = MoePlanCarve(plan_buffer_, T * k, E, tile);
  MOE_CUDA_TRY(RouteAndAlign(router_logits_, T, E, k, c.norm_topk_prob, topk_ids_, topk_w_,
                             local_expert_, plan, stream_));
  // Gate/up of the routed rows, read through the plan (no gather), then the down projection:
  // small steps fuse SiLU-mul into its input (fewer launches: decode is launch-bound).
  MOE_CUDA_TRY(MoeGroupedGemm(xn_, plan.row_token, lw.expert_w13, 2 * MI, H, plan, gu_, stream_));
  if (tile <= 8) {
    MOE_CUDA_TRY(MoeGroupedGemmSiluIn(gu_, lw.expert_w2, H, MI, plan, ys_, stream_));
  } else {
    MOE_CUDA_TRY(SiluMul(gu_, plan.max_rows, MI, act_, stream_));
    MOE_CUDA_TRY(MoeGroupedGemm(act_, nullptr, lw.expert_w2, H, MI, plan, ys_, stream_));
  }
  if (!ep_all_reduce_) {
    MOE_CUDA_TRY(
        MoeCombine(ys_, plan, topk_ids_, topk_w_, T, k, H, /*accumulate=*/true, hidden_, stream_));
    return Status();
  }
  MOE_CUDA_TRY(
      MoeCombine(ys_, plan, topk_ids_, topk_w_, T, k, H, /*accumulate=*/false, mlp_out_, stream_));
  MOE_CUDA_RETURN_IF_ERROR(ep_all_reduce_(mlp_out_, T * H, stream_));
  MOE_CUDA_TRY(Add(hidden_, mlp_out_, T * H, stream_));
  return Status();
}

Status CudaForward::Head() {
  const ForwardConfig& c = config_;
  const int64_t H = c.hidden_size, V = c.vocab_size;
  MOE_CUDA_TRY(RmsNormBf16(hidden_, dev_.sample_rows, final_norm_, R_, H,
                           static_cast<float>(c.rms_norm_eps), xn_, stream_));
  MOE_CUBLAS_TRY(GemmBf16F32(cublas_, xn_, R_, lm_head_, V, H, 0.0f, logits_));
  MOE_CUDA_TRY(SampleRows(logits_, R_, V, dev_.temperature, dev_.seed, dev_.sample_position,
                          dev_.sampled, dev_.logprobs, stream_));
  MOE_CUDA_TRY(cudaMemcpyAsync(host_.sampled, dev_.sampled, sizeof(int32_t) * R_,
                               cudaMemcpyDeviceToHost, stream_));
  MOE_CUDA_TRY(cudaMemcpyAsync(host_.logprobs, dev_.logprobs, sizeof(float) * R_,
                               cudaMemcpyDeviceToHost, stream_));
  return Status();
}

Status CudaForward::Synchronize() { return CudaCheck(cudaStreamSynchronize(stream_), "step"); }

Status CudaForward::SampledTokens(std::vector<int32_t>* tokens, std::vector<float>* logprobs) {
  MOE_CUDA_RETURN_IF_ERROR(Synchronize());
  tokens->assign(host_.sampled, host_.sampled + R_);
  logprobs->assign(host_.logprobs, host_.logprobs + R_);
  return Status();
}

}  // namespace moe::cuda
