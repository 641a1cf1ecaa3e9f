#include "model/kv_cache.h"

namespace moe {

KvCache::KvCache(const ModelConfig& config, int64_t num_layers, int64_t num_blocks,
                 int64_t block_size)
    : num_layers_(num_layers),
      num_blocks_(num_blocks),
      block_size_(block_size),
      kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim) {
  const size_t n = static_cast<size_t>(num_blocks * block_size * kv_heads_ * head_dim_);
  k_.resize(static_cast<size_t>(num_layers));
  v_.resize(static_cast<size_t>(num_layers));
  for (int64_t l = 0; l < num_layers; ++l) {
    k_[l].assign(n, 0.0f);
    v_[l].assign(n, 0.0f);
  }
}

kernels::PagedKv KvCache::layer(int64_t local_layer) {
  kernels::PagedKv kv;
  kv.k = k_[static_cast<size_t>(local_layer)].data();
  kv.v = v_[static_cast<size_t>(local_layer)].data();
  kv.num_blocks = num_blocks_;
  kv.block_size = block_size_;
  kv.num_kv_heads = kv_heads_;
  kv.head_dim = head_dim_;
  return kv;
}

}  // namespace moe
