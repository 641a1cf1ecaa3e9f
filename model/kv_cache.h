// The paged KV cache of a shard: for each of its layers, fp32 key and value blocks
// [num_blocks, block_size, kv_heads, head_dim]. Blocks are handed out by the caller (the
// coordinator's block manager, or an offline engine) through per-sequence block tables.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "common/model_config.h"
#include "kernels/kernels.h"

namespace moe {

class KvCache {
 public:
  KvCache(const ModelConfig& config, int64_t num_layers, int64_t num_blocks, int64_t block_size);

  kernels::PagedKv layer(int64_t local_layer);
  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  // Bytes of one block across all of this cache's layers (keys and values).
  int64_t bytes_per_block() const {
    return 2 * num_layers_ * block_size_ * kv_heads_ * head_dim_ * 4;
  }
  static int64_t BytesPerBlock(const ModelConfig& config, int64_t num_layers, int64_t block_size) {
    return 2 * num_layers * block_size * config.num_key_value_heads * config.head_dim * 4;
  }

 private:
  int64_t num_layers_, num_blocks_, block_size_, kv_heads_, head_dim_;
  // Zeroed by calloc: the OS maps pages on first touch, so a large pool costs nothing at start.
  struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
  };
  using Buffer = std::unique_ptr<float[], FreeDeleter>;
  std::vector<Buffer> k_, v_;  // [layer][num_blocks * block_size * kv_heads * head_dim]
};

}  // namespace moe
