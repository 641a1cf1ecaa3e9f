#include "model/cuda/cuda_random_weights.h"

#include <string>

namespace moe::cuda {
namespace {

constexpr float kStddev = 0.02f;  // common/random_weights.h via model/weights.cc

class Filler {
 public:
  Filler(uint64_t seed, cudaStream_t stream) : seed_(seed), stream_(stream) {}
  Status Matrix(const std::string& name, bf16* dst, int64_t n) {
    return CudaCheck(
        FillRandomBf16(dst, n, RandomTensorSeed(seed_, name.c_str()), kStddev, stream_),
        name.c_str());
  }
  Status Norm(const std::string& name, float* dst, int64_t n) {
    return CudaCheck(FillRandomNorm(dst, n, RandomTensorSeed(seed_, name.c_str()), stream_),
                     name.c_str());
  }

 private:
  uint64_t seed_;
  cudaStream_t stream_;
};

}  // namespace

Status FillRandomWeights(CudaForward* forward, uint64_t seed) {
  const ForwardConfig& c = forward->config();
  const int64_t H = c.hidden_size, D = c.head_dim;
  const int64_t q_rows = c.num_heads * D, kv_rows = c.num_kv_heads * D;
  Filler fill(seed, forward->stream());
  if (c.has_embedding) {
    MOE_CUDA_RETURN_IF_ERROR(
        fill.Matrix("model.embed_tokens.weight", forward->embedding(), c.vocab_size * H));
  }
  for (int64_t l = 0; l < c.num_layers; ++l) {
    DeviceLayer& lw = forward->layer(l);
    const std::string p = "model.layers." + std::to_string(c.layer_begin + l) + ".";
    MOE_CUDA_RETURN_IF_ERROR(fill.Norm(p + "input_layernorm.weight", lw.input_norm, H));
    MOE_CUDA_RETURN_IF_ERROR(fill.Norm(p + "post_attention_layernorm.weight", lw.post_norm, H));
    MOE_CUDA_RETURN_IF_ERROR(fill.Norm(p + "self_attn.q_norm.weight", lw.q_norm, D));
    MOE_CUDA_RETURN_IF_ERROR(fill.Norm(p + "self_attn.k_norm.weight", lw.k_norm, D));
    MOE_CUDA_RETURN_IF_ERROR(fill.Matrix(p + "self_attn.q_proj.weight", lw.wqkv, q_rows * H));
    MOE_CUDA_RETURN_IF_ERROR(
        fill.Matrix(p + "self_attn.k_proj.weight", lw.wqkv + q_rows * H, kv_rows * H));
    MOE_CUDA_RETURN_IF_ERROR(
        fill.Matrix(p + "self_attn.v_proj.weight", lw.wqkv + (q_rows + kv_rows) * H, kv_rows * H));
    MOE_CUDA_RETURN_IF_ERROR(fill.Matrix(p + "self_attn.o_proj.weight", lw.wo, H * q_rows));
    if (lw.is_moe) {
      const int64_t MI = c.moe_intermediate_size;
      MOE_CUDA_RETURN_IF_ERROR(fill.Matrix(p + "mlp.gate.weight", lw.router, c.num_experts * H));
      int64_t local = 0;
      for (int64_t e = 0; e < c.num_experts; ++e) {
        if (!c.expert_owned.empty() && !c.expert_owned[static_cast<size_t>(e)]) continue;
        const std::string ep = p + "mlp.experts." + std::to_string(e) + ".";
        bf16* w13 = lw.expert_w13 + local * 2 * MI * H;
        MOE_CUDA_RETURN_IF_ERROR(fill.Matrix(ep + "gate_proj.weight", w13, MI * H));
        MOE_CUDA_RETURN_IF_ERROR(fill.Matrix(ep + "up_proj.weight", w13 + MI * H, MI * H));
        MOE_CUDA_RETURN_IF_ERROR(
            fill.Matrix(ep + "down_proj.weight", lw.expert_w2 + local * H * MI, H * MI));
        ++local;
      }
    } else {
      const int64_t I = c.intermediate_size;
      MOE_CUDA_RETURN_IF_ERROR(fill.Matrix(p + "mlp.gate_proj.weight", lw.w13, I * H));
      MOE_CUDA_RETURN_IF_ERROR(fill.Matrix(p + "mlp.up_proj.weight", lw.w13 + I * H, I * H));
      MOE_CUDA_RETURN_IF_ERROR(fill.Matrix(p + "mlp.down_proj.weight", lw.w2, H * I));
    }
  }
  if (c.has_head) {
    MOE_CUDA_RETURN_IF_ERROR(fill.Norm("model.norm.weight", forward->final_norm(), H));
    if (!(c.tie_word_embeddings && c.has_embedding)) {
      const char* name = c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
      MOE_CUDA_RETURN_IF_ERROR(fill.Matrix(name, forward->lm_head(), c.vocab_size * H));
    }
  }
  return forward->Synchronize();
}

}  // namespace moe::cuda
