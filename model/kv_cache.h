// The paged KV cache of a shard: for each of its layers, key and value blocks
// [num_blocks, block_size, kv_heads, head_dim] of one dtype: fp32, or bf16 in the fast math
// mode (half the memory and the attention's traffic; see kernels::KvDTypeFor). Blocks are
// handed out by the caller (the coordinator's block manager, or an offline engine) through
// per-sequence block tables. Not thread-safe itself: the model's step writes and reads it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "common/dtype.h"
#include "common/model_config.h"
#include "kernels/kernels.h"

namespace moe {

class KvCache {
 public:
  // dtype: kF32 or kBF16; by default the one of the math mode set now
  // (kernels::KvDTypeFor(kernels::GetMathMode())): set the mode before making the cache.
  KvCache(const ModelConfig& config, int64_t num_layers, int64_t num_blocks, int64_t block_size,
          DType dtype = kernels::KvDTypeFor(kernels::GetMathMode()));

  kernels::PagedKv layer(int64_t local_layer);
  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  DType dtype() const { return dtype_; }
  // Bytes of one block across all of this cache's layers (keys and values).
  int64_t bytes_per_block() const {
    return 2 * num_layers_ * block_size_ * kv_heads_ * head_dim_ * DTypeSize(dtype_);
  }
  // As bytes_per_block for a cache of `dtype`.
  static int64_t BytesPerBlock(const ModelConfig& config, int64_t num_layers, int64_t block_size,
                               DType dtype) {
    return 2 * num_layers * block_size * config.num_key_value_heads * config.head_dim *
           DTypeSize(dtype);
  }
  // As above for the dtype a cache made now would get (the math mode's).
  static int64_t BytesPerBlock(const ModelConfig& config, int64_t num_layers, int64_t block_size) {
    return BytesPerBlock(config, num_layers, block_size,
                         kernels::KvDTypeFor(kernels::GetMathMode()));
  }

 private:
  int64_t num_layers_, num_blocks_, block_size_, kv_heads_, head_dim_;
  DType dtype_;
  // Zeroed by calloc: the OS maps pages on first touch, so a large pool costs nothing at start.
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  using Buffer = std::unique_ptr<void, FreeDeleter>;
  std::vector<Buffer> k_, v_;  // [layer][num_blocks * block_size * kv_heads * head_dim]
};

}  // namespace moe
