#include "model/qwen3.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace moe {
namespace {

void Grow(std::vector<float>* v, int64_t n) {
  if (static_cast<int64_t>(v->size()) < n) v->resize(static_cast<size_t>(n));
}

}  // namespace

int64_t StepBatch::num_tokens() const {
  int64_t n = 0;
  for (const SeqStep& s : seqs) n += s.num_tokens;
  return n;
}

Qwen3Model::Qwen3Model(const ModelWeights* weights, ThreadPool* pool)
    : weights_(weights), pool_(pool) {
  const ModelConfig& c = weights_->config();
  const int64_t half = c.head_dim / 2;
  inv_freq_.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    // theta^(-2i/D), computed in double like the reference, then rounded once.
    inv_freq_[i] = static_cast<float>(
        1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(c.head_dim)));
  }
}

absl::Status Qwen3Model::ValidateBatch(const StepBatch& batch, const KvCache& cache) const {
  const ModelConfig& c = config();
  const int64_t T = batch.num_tokens();
  if (weights_->spec().has_embedding()) {
    if (static_cast<int64_t>(batch.tokens.size()) != T) {
      return absl::InvalidArgumentError(absl::StrCat("batch has ", batch.tokens.size(),
                                                     " token ids but its sequences cover ", T));
    }
    for (size_t i = 0; i < batch.tokens.size(); ++i) {
      if (batch.tokens[i] < 0 || batch.tokens[i] >= c.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "token id ", batch.tokens[i], " is outside the vocabulary [0, ", c.vocab_size, ")"));
      }
    }
  }
  for (size_t s = 0; s < batch.seqs.size(); ++s) {
    const SeqStep& seq = batch.seqs[s];
    if (seq.start_pos < 0 || seq.num_tokens <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s, ": start ", seq.start_pos, ", tokens ", seq.num_tokens));
    }
    const int64_t need =
        (seq.start_pos + seq.num_tokens + cache.block_size() - 1) / cache.block_size();
    if (static_cast<int64_t>(seq.block_table.size()) < need) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence ", s, ": block table has ", seq.block_table.size(), " blocks, needs ", need));
    }
    for (int64_t b = 0; b < need; ++b) {
      if (seq.block_table[b] < 0 || seq.block_table[b] >= cache.num_blocks()) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", s, ": block ", seq.block_table[b], " is outside the cache (",
                         cache.num_blocks(), " blocks)"));
      }
    }
  }
  return absl::OkStatus();
}

void Qwen3Model::Embed(const StepBatch& batch, float* hidden) const {
  kernels::EmbeddingGather(weights_->embedding(), batch.tokens.data(),
                           static_cast<int64_t>(batch.tokens.size()), hidden);
}

void Qwen3Model::Linear(const float* x, int64_t T, const kernels::Matrix& w, float* y) {
  weight_bytes_read_ += kernels::MatrixBytes(w);
  kernels::Linear(x, T, w, y, pool_);
}

void Qwen3Model::LinearMany(const float* x, int64_t T, const kernels::Matrix* ws, float* const* ys,
                            int n) {
  for (int i = 0; i < n; ++i) weight_bytes_read_ += kernels::MatrixBytes(ws[i]);
  kernels::LinearMany(x, T, ws, ys, n, pool_);
}

void Qwen3Model::SetPositions(const StepBatch& batch) {
  positions_.resize(static_cast<size_t>(batch.num_tokens()));
  int64_t t = 0;
  for (const SeqStep& s : batch.seqs) {
    for (int64_t i = 0; i < s.num_tokens; ++i) {
      positions_[t++] = static_cast<int32_t>(s.start_pos + i);
    }
  }
}

void Qwen3Model::AttentionBlock(int64_t layer, const StepBatch& batch, KvCache* cache,
                                float* hidden) {
  const ModelConfig& c = config();
  const int64_t T = batch.num_tokens(), H = c.hidden_size;
  Grow(&norm_, T * H);
  Grow(&proj_, T * H);
  SetPositions(batch);
  kernels::RmsNorm(hidden, weights_->layer(layer).input_norm.data(), T, H,
                   static_cast<float>(c.rms_norm_eps), norm_.data());
  Attention(layer, batch, cache, norm_.data(), proj_.data());
  kernels::Add(hidden, proj_.data(), T * H);
}

void Qwen3Model::MlpPartial(int64_t layer, const float* hidden, int64_t T, float* out) {
  const ModelConfig& c = config();
  const int64_t H = c.hidden_size;
  Grow(&norm_, T * H);
  kernels::RmsNorm(hidden, weights_->layer(layer).post_norm.data(), T, H,
                   static_cast<float>(c.rms_norm_eps), norm_.data());
  Mlp(layer, norm_.data(), T, out);
}

void Qwen3Model::Forward(const StepBatch& batch, KvCache* cache, float* hidden) {
  const int64_t T = batch.num_tokens(), H = config().hidden_size;
  Grow(&mlp_out_, T * H);
  const ShardSpec& spec = weights_->spec();
  for (int64_t l = spec.layer_begin; l < spec.layer_end; ++l) {
    AttentionBlock(l, batch, cache, hidden);
    MlpPartial(l, hidden, T, mlp_out_.data());
    if (weights_->layer(l).is_moe && ep_all_reduce_) ep_all_reduce_(mlp_out_.data(), T * H);
    kernels::Add(hidden, mlp_out_.data(), T * H);
  }
}

void Qwen3Model::Attention(int64_t layer, const StepBatch& batch, KvCache* cache, const float* h,
                           float* out) {
  const ModelConfig& c = config();
  const LayerWeights& lw = weights_->layer(layer);
  const int64_t T = batch.num_tokens(), D = c.head_dim;
  const int64_t Hq = c.num_attention_heads, Hkv = c.num_key_value_heads;
  const float eps = static_cast<float>(c.rms_norm_eps);
  Grow(&q_, T * Hq * D);
  Grow(&k_, T * Hkv * D);
  Grow(&v_, T * Hkv * D);
  Grow(&attn_, T * Hq * D);
  {  // q: [T, Hq*D], k and v: [T, Hkv*D]
    const kernels::Matrix ws[] = {lw.q, lw.k, lw.v};
    float* const ys[] = {q_.data(), k_.data(), v_.data()};
    LinearMany(h, T, ws, ys, 3);
  }
  kernels::RmsNorm(q_.data(), lw.q_norm.data(), T * Hq, D, eps, q_.data());
  kernels::RmsNorm(k_.data(), lw.k_norm.data(), T * Hkv, D, eps, k_.data());
  kernels::Rope(q_.data(), T, Hq, D, positions_.data(), inv_freq_.data());
  kernels::Rope(k_.data(), T, Hkv, D, positions_.data(), inv_freq_.data());

  const kernels::PagedKv kv = cache->layer(layer - weights_->spec().layer_begin);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  std::vector<int64_t> offsets(batch.seqs.size());
  int64_t off = 0;
  for (size_t s = 0; s < batch.seqs.size(); ++s) {
    offsets[s] = off;
    off += batch.seqs[s].num_tokens;
  }
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      const SeqStep& seq = batch.seqs[static_cast<size_t>(s)];
      const int64_t o = offsets[static_cast<size_t>(s)];
      kernels::KvWrite(kv, seq.block_table.data(), seq.start_pos, seq.num_tokens,
                       k_.data() + o * Hkv * D, v_.data() + o * Hkv * D);
      kernels::PagedAttention(kv, seq.block_table.data(), seq.start_pos, seq.num_tokens,
                              q_.data() + o * Hq * D, Hq, scale, attn_.data() + o * Hq * D);
    }
  };
  const int64_t num_seqs = static_cast<int64_t>(batch.seqs.size());
  if (num_seqs == 1 && pool_ != nullptr) {  // one sequence: spread its heads and queries
    const SeqStep& seq = batch.seqs[0];
    kernels::KvWrite(kv, seq.block_table.data(), seq.start_pos, seq.num_tokens, k_.data(),
                     v_.data());
    kernels::PagedAttention(kv, seq.block_table.data(), seq.start_pos, seq.num_tokens, q_.data(),
                            Hq, scale, attn_.data(), pool_);
  } else if (pool_ != nullptr) {
    pool_->ParallelFor(num_seqs, 1, run);
  } else {
    run(0, num_seqs);
  }
  Linear(attn_.data(), T, lw.o, out);  // [T, H]
}

void Qwen3Model::Mlp(int64_t layer, const float* h, int64_t T, float* out) {
  const ModelConfig& c = config();
  const LayerWeights& lw = weights_->layer(layer);
  if (!lw.is_moe) {
    const int64_t I = c.intermediate_size;
    Grow(&gate_, T * I);
    Grow(&up_, T * I);
    const kernels::Matrix ws[] = {lw.gate, lw.up};
    float* const ys[] = {gate_.data(), up_.data()};
    LinearMany(h, T, ws, ys, 2);
    kernels::SiluMul(gate_.data(), up_.data(), gate_.data(), T * I);
    Linear(gate_.data(), T, lw.down, out);
    return;
  }
  std::vector<ExpertAssignment> assignments;
  Route(layer, h, T, &assignments);
  std::fill(out, out + T * c.hidden_size, 0.0f);
  MoeExperts(layer, h, T, assignments, out);
}

void Qwen3Model::Route(int64_t layer, const float* h, int64_t T,
                       std::vector<ExpertAssignment>* out) {
  const ModelConfig& c = config();
  const LayerWeights& lw = weights_->layer(layer);
  const int64_t E = c.num_experts, K = c.num_experts_per_tok;
  Grow(&router_logits_, T * E);
  Linear(h, T, lw.router, router_logits_.data());  // [T, E]
  std::vector<float> p(static_cast<size_t>(E));
  std::vector<int32_t> order(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    const float* r = router_logits_.data() + t * E;
    float mx = r[0];
    for (int64_t e = 1; e < E; ++e) mx = std::max(mx, r[e]);
    float sum = 0.0f;
    for (int64_t e = 0; e < E; ++e) {
      p[e] = std::exp(r[e] - mx);
      sum += p[e];
    }
    for (int64_t e = 0; e < E; ++e) p[e] /= sum;
    for (int64_t e = 0; e < E; ++e) order[e] = static_cast<int32_t>(e);
    // Top-k by probability; ties go to the lower expert id.
    std::partial_sort(order.begin(), order.begin() + K, order.end(),
                      [&](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    float wsum = 0.0f;
    for (int64_t j = 0; j < K; ++j) wsum += p[order[j]];
    for (int64_t j = 0; j < K; ++j) {
      float w = p[order[j]];
      if (c.norm_topk_prob) w /= wsum;
      out->push_back({static_cast<int32_t>(t), order[j], w});
    }
  }
}

namespace {

// One expert's MLP for its n tokens: y: [n, H] = down(silu(gate x) * up x), x the rows of h
// that `list` names; x, gate, up: scratch. Linear's rows are split over `pool` (may be null).
void ExpertMlp(const ExpertWeights& ew, const std::vector<ExpertAssignment>& list, const float* h,
               int64_t H, int64_t MI, ThreadPool* pool, std::vector<float>* x,
               std::vector<float>* gate, std::vector<float>* up, float* y) {
  const int64_t n = static_cast<int64_t>(list.size());
  Grow(x, n * H);
  for (int64_t i = 0; i < n; ++i) {
    std::copy(h + list[i].token * H, h + (list[i].token + 1) * H, x->data() + i * H);
  }
  Grow(gate, n * MI);
  Grow(up, n * MI);
  const kernels::Matrix ws[] = {ew.gate, ew.up};
  float* const ys[] = {gate->data(), up->data()};
  kernels::LinearMany(x->data(), n, ws, ys, 2, pool);
  kernels::SiluMul(gate->data(), up->data(), gate->data(), n * MI);
  kernels::Linear(gate->data(), n, ew.down, y, pool);
}

}  // namespace

void Qwen3Model::MoeExperts(int64_t layer, const float* h, int64_t T,
                            const std::vector<ExpertAssignment>& assignments, float* out) {
  const ModelConfig& c = config();
  const LayerWeights& lw = weights_->layer(layer);
  const int64_t H = c.hidden_size, MI = c.moe_intermediate_size, E = c.num_experts;
  // Group the assignments by expert, so each expert's weights are read once for all its tokens.
  std::vector<std::vector<ExpertAssignment>> by_expert(static_cast<size_t>(E));
  for (const ExpertAssignment& a : assignments) {
    if (a.token < 0 || a.token >= T || a.expert < 0 || a.expert >= E ||
        !weights_->spec().OwnsExpert(a.expert)) {
      continue;
    }
    by_expert[static_cast<size_t>(a.expert)].push_back(a);
  }
  // The routed experts in order, and where each one's output rows start in moe_y_.
  std::vector<int64_t> active, row0 = {0};
  for (int64_t e = 0; e < E; ++e) {
    const auto& list = by_expert[static_cast<size_t>(e)];
    if (list.empty()) continue;
    active.push_back(e);
    row0.push_back(row0.back() + static_cast<int64_t>(list.size()));
    const ExpertWeights& ew = lw.experts[static_cast<size_t>(e)];
    weight_bytes_read_ +=
        kernels::MatrixBytes(ew.gate) + kernels::MatrixBytes(ew.up) + kernels::MatrixBytes(ew.down);
  }
  const int64_t na = static_cast<int64_t>(active.size());
  Grow(&moe_y_, row0.back() * H);
  const int threads = pool_ == nullptr ? 1 : pool_->num_threads();
  if (threads > 1 && na >= 2 * threads) {
    // Whole experts per thread behind one fork-join: splitting each expert's three Linears
    // over the threads costs three fork-joins per expert, each waiting for the slowest thread
    // (measured on qwen3-30b-a3b with the second vCPU busy: 2 threads ~2x slower than 1).
    // Each output row is computed as the row split would compute it (the kernels' results do
    // not depend on the split), so the answers do not depend on this choice.
    pool_->ParallelFor(na, 1, [&](int64_t i0, int64_t i1) {
      static thread_local std::vector<float> x, gate, up;
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t e = active[static_cast<size_t>(i)];
        ExpertMlp(lw.experts[static_cast<size_t>(e)], by_expert[static_cast<size_t>(e)], h, H, MI,
                  nullptr, &x, &gate, &up, moe_y_.data() + row0[static_cast<size_t>(i)] * H);
      }
    });
  } else {
    std::vector<float> x;
    for (int64_t i = 0; i < na; ++i) {
      const int64_t e = active[static_cast<size_t>(i)];
      ExpertMlp(lw.experts[static_cast<size_t>(e)], by_expert[static_cast<size_t>(e)], h, H, MI,
                pool_, &x, &gate_, &up_, moe_y_.data() + row0[static_cast<size_t>(i)] * H);
    }
  }
  // The weighted sum in expert order, whichever way the experts ran.
  for (int64_t i = 0; i < na; ++i) {
    const auto& list = by_expert[static_cast<size_t>(active[static_cast<size_t>(i)])];
    const float* y = moe_y_.data() + row0[static_cast<size_t>(i)] * H;
    for (size_t j = 0; j < list.size(); ++j) {
      kernels::Axpy(out + list[j].token * H, list[j].weight, y + static_cast<int64_t>(j) * H, H);
    }
  }
}

void Qwen3Model::Logits(const float* hidden, const std::vector<int64_t>& rows, float* logits) {
  const ModelConfig& c = config();
  const int64_t H = c.hidden_size, R = static_cast<int64_t>(rows.size());
  Grow(&norm_, R * H);
  for (int64_t i = 0; i < R; ++i)
    std::copy(hidden + rows[i] * H, hidden + (rows[i] + 1) * H, norm_.data() + i * H);
  kernels::RmsNorm(norm_.data(), weights_->final_norm().data(), R, H,
                   static_cast<float>(c.rms_norm_eps), norm_.data());
  Linear(norm_.data(), R, weights_->lm_head(), logits);
}

}  // namespace moe
