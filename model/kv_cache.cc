#include "model/kv_cache.h"

#include <cstdio>
#include <string>

namespace moe {

KvCache::KvCache(const ModelConfig& config, int64_t num_layers, int64_t num_blocks,
                 int64_t block_size, DType dtype)
    : num_layers_(num_layers),
      num_blocks_(num_blocks),
      block_size_(block_size),
      kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim),
      dtype_(dtype) {
  if (dtype != DType::kF32 && dtype != DType::kBF16) {
    std::fprintf(stderr, "KvCache: unsupported dtype %s\n", std::string(DTypeName(dtype)).c_str());
    std::abort();
  }
  const size_t n = static_cast<size_t>(num_blocks * block_size * kv_heads_ * head_dim_);
  const size_t elem = static_cast<size_t>(DTypeSize(dtype));
  for (int64_t l = 0; l < num_layers; ++l) {
    k_.emplace_back(std::calloc(n, elem));
    v_.emplace_back(std::calloc(n, elem));
    if (n > 0 && (k_.back() == nullptr || v_.back() == nullptr)) {
      std::fprintf(stderr, "KvCache: cannot allocate %zu bytes\n", 2 * n * elem);
      std::abort();
    }
  }
}

kernels::PagedKv KvCache::layer(int64_t local_layer) {
  kernels::PagedKv kv;
  kv.k = k_[static_cast<size_t>(local_layer)].get();
  kv.v = v_[static_cast<size_t>(local_layer)].get();
  kv.num_blocks = num_blocks_;
  kv.block_size = block_size_;
  kv.num_kv_heads = kv_heads_;
  kv.head_dim = head_dim_;
  kv.dtype = dtype_;
  return kv;
}

}  // namespace moe
