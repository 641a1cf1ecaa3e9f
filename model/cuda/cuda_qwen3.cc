#include "model/cuda/cuda_qwen3.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "model/cuda/cuda_random_weights.h"

namespace moe {
namespace {

absl::Status FromCuda(const cuda::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("cuda: ", s.message()));
}

absl::Status CudaOk(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("cuda: ", what, ": ", cudaGetErrorString(e)));
}

// Copies a BF16 / F16 / F32 matrix into dst (bf16, rows * cols), converting on the host.
absl::Status UploadMatrix(const kernels::Matrix& m, cuda::bf16* dst, const char* what) {
  const int64_t n = m.rows * m.cols;
  if (m.data == nullptr) return absl::InternalError(absl::StrCat(what, ": no data"));
  if (m.dtype == DType::kBF16) {
    return CudaOk(cudaMemcpy(dst, m.data, n * 2, cudaMemcpyHostToDevice), what);
  }
  if (m.dtype != DType::kF16 && m.dtype != DType::kF32) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": weight dtype ", DTypeName(m.dtype),
                     " is not supported on cuda (load with --weights checkpoint or bf16)"));
  }
  std::vector<uint16_t> h(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    float f;
    if (m.dtype == DType::kF16) {
      f = F16ToF32(static_cast<const uint16_t*>(m.data)[i]);
    } else {
      f = static_cast<const float*>(m.data)[i];
    }
    h[i] = F32ToBf16(f);
  }
  return CudaOk(cudaMemcpy(dst, h.data(), n * 2, cudaMemcpyHostToDevice), what);
}

absl::Status UploadVector(const std::vector<float>& v, float* dst, const char* what) {
  return CudaOk(cudaMemcpy(dst, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice), what);
}

cuda::ForwardConfig ToForwardConfig(const ModelConfig& c, const ShardSpec& spec) {
  cuda::ForwardConfig f;
  f.vocab_size = c.vocab_size;
  f.hidden_size = c.hidden_size;
  f.intermediate_size = c.intermediate_size;
  f.layer_begin = spec.layer_begin;
  f.num_layers = spec.layer_end - spec.layer_begin;
  f.num_heads = c.num_attention_heads;
  f.num_kv_heads = c.num_key_value_heads;
  f.head_dim = c.head_dim;
  f.num_experts = c.num_experts;
  f.top_k = c.num_experts_per_tok;
  f.moe_intermediate_size = c.moe_intermediate_size;
  f.norm_topk_prob = c.norm_topk_prob;
  f.rms_norm_eps = c.rms_norm_eps;
  f.rope_theta = c.rope_theta;
  f.has_embedding = spec.has_embedding();
  f.has_head = spec.has_head(c);
  f.tie_word_embeddings = c.tie_word_embeddings;
  for (int64_t l = spec.layer_begin; l < spec.layer_end; ++l)
    f.is_moe_layer.push_back(c.IsMoeLayer(l));
  f.expert_owned = spec.expert_owned;
  return f;
}

}  // namespace

absl::Status CudaQwen3Model::Init(const CudaModelOptions& options) {
  if (options.max_tokens < 1 || options.max_seqs < 1 || options.max_seq_len < 1 ||
      options.block_size < 1 || options.num_blocks < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda model options: max_tokens ", options.max_tokens, ", max_seqs ",
                     options.max_seqs, ", max_seq_len ", options.max_seq_len, ", block_size ",
                     options.block_size, ", num_blocks ", options.num_blocks, " must all be >= 1"));
  }
  device_ = options.device;
  MOE_RETURN_IF_ERROR(MakeCurrent());
  cuda::ForwardOptions o;
  o.num_blocks = options.num_blocks;
  o.block_size = options.block_size;
  o.max_tokens = options.max_tokens;
  o.max_seqs = options.max_seqs;
  block_table_width_ = (options.max_seq_len + options.block_size - 1) / options.block_size;
  o.max_blocks_per_seq = block_table_width_;
  o.use_graphs = options.use_graphs;
  return FromCuda(cuda::CudaForward::Create(ToForwardConfig(config_, spec_), o, &forward_));
}

absl::Status CudaQwen3Model::MakeCurrent() const {
  return CudaOk(cudaSetDevice(device_), absl::StrCat("cudaSetDevice(", device_, ")").c_str());
}

int64_t CudaQwen3Model::kv_bytes() const {
  const cuda::ForwardOptions& o = forward_->options();
  return 2 * (spec_.layer_end - spec_.layer_begin) * o.num_blocks * o.block_size *
         config_.num_key_value_heads * config_.head_dim * 2;
}

absl::StatusOr<std::unique_ptr<CudaQwen3Model>> CudaQwen3Model::Create(
    const ModelWeights& weights, const CudaModelOptions& options) {
  std::unique_ptr<CudaQwen3Model> m(new CudaQwen3Model(weights.config(), weights.spec()));
  MOE_RETURN_IF_ERROR(m->Init(options));
  MOE_RETURN_IF_ERROR(m->Upload(weights));
  return m;
}

absl::StatusOr<std::unique_ptr<CudaQwen3Model>> CudaQwen3Model::CreateRandom(
    const ModelConfig& config, const ShardSpec& spec, uint64_t seed,
    const CudaModelOptions& options) {
  MOE_RETURN_IF_ERROR(spec.Validate(config));
  std::unique_ptr<CudaQwen3Model> m(new CudaQwen3Model(config, spec));
  MOE_RETURN_IF_ERROR(m->Init(options));
  MOE_RETURN_IF_ERROR(FromCuda(cuda::FillRandomWeights(m->forward_.get(), seed)));
  return m;
}

absl::Status CudaQwen3Model::Upload(const ModelWeights& weights) {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size, D = c.head_dim;
  const int64_t q_rows = c.num_attention_heads * D, kv_rows = c.num_key_value_heads * D;
  cuda::CudaForward& f = *forward_;
  if (spec_.has_embedding()) {
    MOE_RETURN_IF_ERROR(UploadMatrix(weights.embedding(), f.embedding(), "embedding"));
  }
  for (int64_t l = spec_.layer_begin; l < spec_.layer_end; ++l) {
    const LayerWeights& lw = weights.layer(l);
    cuda::DeviceLayer& d = f.layer(l - spec_.layer_begin);
    const std::string name = absl::StrCat("layer ", l);
    const char* what = name.c_str();
    MOE_RETURN_IF_ERROR(UploadVector(lw.input_norm, d.input_norm, what));
    MOE_RETURN_IF_ERROR(UploadVector(lw.post_norm, d.post_norm, what));
    MOE_RETURN_IF_ERROR(UploadVector(lw.q_norm, d.q_norm, what));
    MOE_RETURN_IF_ERROR(UploadVector(lw.k_norm, d.k_norm, what));
    MOE_RETURN_IF_ERROR(UploadMatrix(lw.q, d.wqkv, what));
    MOE_RETURN_IF_ERROR(UploadMatrix(lw.k, d.wqkv + q_rows * H, what));
    MOE_RETURN_IF_ERROR(UploadMatrix(lw.v, d.wqkv + (q_rows + kv_rows) * H, what));
    MOE_RETURN_IF_ERROR(UploadMatrix(lw.o, d.wo, what));
    if (lw.is_moe) {
      const int64_t MI = c.moe_intermediate_size;
      MOE_RETURN_IF_ERROR(UploadMatrix(lw.router, d.router, what));
      int64_t local = 0;
      for (int64_t e = 0; e < c.num_experts; ++e) {
        if (!spec_.OwnsExpert(e)) continue;
        const ExpertWeights& ew = lw.experts[static_cast<size_t>(e)];
        cuda::bf16* w13 = d.expert_w13 + local * 2 * MI * H;
        MOE_RETURN_IF_ERROR(UploadMatrix(ew.gate, w13, what));
        MOE_RETURN_IF_ERROR(UploadMatrix(ew.up, w13 + MI * H, what));
        MOE_RETURN_IF_ERROR(UploadMatrix(ew.down, d.expert_w2 + local * H * MI, what));
        ++local;
      }
    } else {
      const int64_t I = c.intermediate_size;
      MOE_RETURN_IF_ERROR(UploadMatrix(lw.gate, d.w13, what));
      MOE_RETURN_IF_ERROR(UploadMatrix(lw.up, d.w13 + I * H, what));
      MOE_RETURN_IF_ERROR(UploadMatrix(lw.down, d.w2, what));
    }
  }
  if (spec_.has_head(c)) {
    MOE_RETURN_IF_ERROR(UploadVector(weights.final_norm(), f.final_norm(), "final norm"));
    if (f.lm_head() != f.embedding()) {
      MOE_RETURN_IF_ERROR(UploadMatrix(weights.lm_head(), f.lm_head(), "lm_head"));
    }
  }
  return absl::OkStatus();
}

absl::Status CudaQwen3Model::ValidateBatch(const StepBatch& batch) const {
  const cuda::ForwardOptions& o = forward_->options();
  const int64_t T = batch.num_tokens();
  if (T > o.max_tokens || static_cast<int64_t>(batch.seqs.size()) > o.max_seqs) {
    return absl::InvalidArgumentError(absl::StrCat("step of ", T, " tokens and ", batch.seqs.size(),
                                                   " sequences exceeds the cuda limits (",
                                                   o.max_tokens, ", ", o.max_seqs, ")"));
  }
  if (spec_.has_embedding()) {
    if (static_cast<int64_t>(batch.tokens.size()) != T) {
      return absl::InvalidArgumentError(absl::StrCat("batch has ", batch.tokens.size(),
                                                     " token ids but its sequences cover ", T));
    }
    for (int32_t t : batch.tokens) {
      if (t < 0 || t >= config_.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "token id ", t, " is outside the vocabulary [0, ", config_.vocab_size, ")"));
      }
    }
  }
  for (size_t s = 0; s < batch.seqs.size(); ++s) {
    const SeqStep& seq = batch.seqs[s];
    const int64_t need = (seq.start_pos + seq.num_tokens + o.block_size - 1) / o.block_size;
    if (seq.start_pos < 0 || seq.num_tokens <= 0 || need > block_table_width_ ||
        static_cast<int64_t>(seq.block_table.size()) < need) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s, ": start ", seq.start_pos, ", tokens ", seq.num_tokens,
                       ", blocks ", seq.block_table.size(), " (needs ", need, ")"));
    }
    for (int64_t b = 0; b < need; ++b) {
      if (seq.block_table[b] < 0 || seq.block_table[b] >= o.num_blocks) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", s, ": block ", seq.block_table[b], " is outside the cache"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CudaQwen3Model::Forward(const StepBatch& batch,
                                     const std::vector<CudaSampleRow>& samples,
                                     const float* hidden_in, float* hidden_out) {
  MOE_RETURN_IF_ERROR(ValidateBatch(batch));
  cuda::StepMeta meta;
  meta.tokens = batch.tokens;
  meta.num_seqs = static_cast<int64_t>(batch.seqs.size());
  meta.block_tables.assign(static_cast<size_t>(meta.num_seqs * block_table_width_), 0);
  meta.decode = true;
  for (size_t s = 0; s < batch.seqs.size(); ++s) {
    const SeqStep& seq = batch.seqs[s];
    meta.decode = meta.decode && seq.num_tokens == 1;
    for (int64_t i = 0; i < seq.num_tokens; ++i) {
      meta.positions.push_back(static_cast<int32_t>(seq.start_pos + i));
      meta.seq_index.push_back(static_cast<int32_t>(s));
    }
    const int64_t n =
        std::min<int64_t>(static_cast<int64_t>(seq.block_table.size()), block_table_width_);
    std::copy(seq.block_table.begin(), seq.block_table.begin() + n,
              meta.block_tables.begin() + static_cast<int64_t>(s) * block_table_width_);
  }
  if (!spec_.has_head(config_) && !samples.empty()) {
    return absl::InvalidArgumentError("only the last shard samples");
  }
  for (const CudaSampleRow& r : samples) {
    meta.sample_rows.push_back(r.row);
    meta.temperature.push_back(r.temperature);
    meta.seed.push_back(r.seed);
    meta.sample_position.push_back(r.position);
  }
  const int64_t T = batch.num_tokens(), H = config_.hidden_size;
  MOE_RETURN_IF_ERROR(FromCuda(forward_->Prepare(meta)));
  if (!spec_.has_embedding()) {
    if (hidden_in == nullptr) return absl::InvalidArgumentError("a later shard needs hidden_in");
    MOE_RETURN_IF_ERROR(
        CudaOk(cudaMemcpyAsync(forward_->hidden_states(), hidden_in, sizeof(float) * T * H,
                               cudaMemcpyHostToDevice, forward_->stream()),
               "hidden upload"));
  }
  MOE_RETURN_IF_ERROR(FromCuda(forward_->Run()));
  if (hidden_out != nullptr) {
    MOE_RETURN_IF_ERROR(
        CudaOk(cudaMemcpyAsync(hidden_out, forward_->hidden_states(), sizeof(float) * T * H,
                               cudaMemcpyDeviceToHost, forward_->stream()),
               "hidden download"));
  }
  return FromCuda(forward_->Synchronize());
}

absl::Status CudaQwen3Model::Sampled(std::vector<int32_t>* tokens, std::vector<float>* logprobs) {
  return FromCuda(forward_->SampledTokens(tokens, logprobs));
}

absl::Status CudaQwen3Model::CopyLogits(int64_t rows, float* logits) {
  return CudaOk(cudaMemcpy(logits, forward_->logits(), sizeof(float) * rows * config_.vocab_size,
                           cudaMemcpyDeviceToHost),
                "logits download");
}

}  // namespace moe
