// The CUDA backend's kernels for Qwen3 / Qwen3-MoE (DESIGN.md section 1): host-callable
// launchers, each enqueued on a caller's stream. bf16 weights and activations, fp32
// accumulation; the residual stream and the values feeding norms stay fp32. Each op follows the
// CPU reference (kernels/cpu/reference.cc) in its order of operations: rms-norm eps inside the
// sqrt, rope pairs dims i and i + D/2, router softmax over all experts in fp32 then top-k then
// renormalise.
//
// Plain C++ and the CUDA runtime only (no abseil): the GPU machine builds this library and its
// tests with the CUDA toolkit and CMake alone. Launchers return cudaGetLastError() of the
// launch (errors of the kernel itself surface at the next synchronisation). Every pointer is
// device memory unless it says host. Launchers never synchronise and never allocate, so a
// sequence of them can be captured in a CUDA graph.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace moe::cuda {

using bf16 = __nv_bfloat16;

// ---- elementwise (embedding.cu, silu_mul.cu) ----

// out[t] = table[ids[t]] widened to fp32. table: [vocab, n] bf16; out: [T, n].
cudaError_t EmbeddingGather(const bf16* table, const int32_t* ids, int64_t T, int64_t n, float* out,
                            cudaStream_t stream);
// out[r, i] = silu(gu[r, i]) * gu[r, inter + i] rounded to bf16: gu [rows, 2 * inter] fp32 holds
// gate then up per row (the fused gate/up projection); out [rows, inter].
cudaError_t SiluMul(const float* gu, int64_t rows, int64_t inter, bf16* out, cudaStream_t stream);
// x[i] += y[i].
cudaError_t Add(float* x, const float* y, int64_t n, cudaStream_t stream);

// ---- rms_norm.cu ----

// y[r] = x[rows_index ? rows_index[r] : r] * rsqrt(mean(x^2) + eps) * weight, rows of width n;
// fp32 in, bf16 out (the input of a GEMM). rows_index: [rows] or null.
cudaError_t RmsNormBf16(const float* x, const int64_t* rows_index, const float* weight,
                        int64_t rows, int64_t n, float eps, bf16* y, cudaStream_t stream);
// The same with fp32 out; y may alias x (per-head q/k norm on fp32 values).
cudaError_t RmsNormF32(const float* x, const float* weight, int64_t rows, int64_t n, float eps,
                       float* y, cudaStream_t stream);

// ---- rope.cu ----

// Rotate-half RoPE in place on x: [T, heads, head_dim] fp32; token t at position pos[t].
// inv_freq: [head_dim / 2] (theta^(-2i/D), computed on the host in double, as the CPU model).
cudaError_t Rope(float* x, int64_t T, int64_t heads, int64_t head_dim, const int32_t* pos,
                 const float* inv_freq, cudaStream_t stream);

// The paged KV cache of one layer: k and v [num_blocks, block_size, kv_heads, head_dim] bf16.
struct PagedKvBf16 {
  bf16* k = nullptr;
  bf16* v = nullptr;
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
};

// Where each token of a flattened batch belongs. Device arrays.
struct TokenMeta {
  const int32_t* pos = nullptr;           // [T] position of token t in its sequence
  const int32_t* seq = nullptr;           // [T] sequence index of token t
  const int32_t* block_tables = nullptr;  // [num_seqs, block_table_stride]
  int64_t block_table_stride = 0;
  int64_t num_tokens = 0;
};

// The attention prologue of one layer: qkv [T, (Hq + 2 Hkv) * D] fp32 (fused q/k/v projection)
// -> per-head RMSNorm of q and k (q_norm, k_norm: [D]) -> RoPE of q and k at pos[t] -> q_out
// [T, Hq, D] bf16, and k, v written to the cache at (seq[t], pos[t]) in bf16.
cudaError_t QkNormRopeKvWrite(const float* qkv, const TokenMeta& meta, int64_t num_q_heads,
                              const float* q_norm, const float* k_norm, float eps,
                              const float* inv_freq, const PagedKvBf16& kv, bf16* q_out,
                              cudaStream_t stream);

// ---- attention.cu ----

// Causal attention of each token t over its sequence's cached positions [0, pos[t]] (written
// by QkNormRopeKvWrite first): prefill chunks and decode tokens alike. q, out: [T, Hq, D] bf16.
// GQA: q head h reads kv head h / (Hq / Hkv). Scores scaled by `scale`, softmax in fp32.
// Positions are split into `num_splits` ranges (flash-decoding) whose partial results meet in
// `partial` (fp32, AttentionPartialFloats(T, Hq, D, num_splits) floats); the split count is a
// launch constant, so a captured decode graph stays valid as sequences grow.
// REQUIRES: D in {32, 64, 128, 256}, Hq % Hkv == 0, Hq / Hkv <= 16 (else cudaErrorInvalidValue).
int64_t AttentionPartialFloats(int64_t T, int64_t num_q_heads, int64_t head_dim, int num_splits);
cudaError_t PagedAttention(const bf16* q, const TokenMeta& meta, const PagedKvBf16& kv,
                           int64_t num_q_heads, float scale, int num_splits, float* partial,
                           bf16* out, cudaStream_t stream);

// ---- router_topk.cu ----

// Router of a MoE layer for T tokens: p = softmax(logits[t]) over E experts in fp32, top-k
// (descending probability, ties to the lower expert id), divided by their sum when
// `renormalize`. logits [T, E] fp32 -> ids [T, k], weights [T, k]. REQUIRES: E <= 1024, k <= 32.
cudaError_t RouterTopK(const float* logits, int64_t T, int64_t E, int64_t k, bool renormalize,
                       int32_t* ids, float* weights, cudaStream_t stream);

// ---- moe_align.cu: group the (token, expert) assignments by expert (counting sort) ----

// The device buffers of a grouping plan for at most `max_assignments` = T * k assignments over
// E experts, rows of each expert padded to multiples of `tile_rows`. Sizes from MoePlanSizes.
struct MoePlan {
  int32_t* counts = nullptr;       // [E] assignments per expert (this shard's experts only)
  int32_t* offsets = nullptr;      // [E + 1] padded start row of each expert
  int32_t* rank = nullptr;         // [max_assignments] order of an assignment within its expert
  int32_t* slot = nullptr;         // [max_assignments] row of assignment (t, j) or -1 (skipped)
  int32_t* row_token = nullptr;    // [max_rows] token of each row, -1 for padding
  int32_t* tile_expert = nullptr;  // [max_tiles] local expert of each tile, -1 past the end
  int32_t* tile_row0 = nullptr;    // [max_tiles] first row of each tile
  int32_t* tile_rows = nullptr;    // [max_tiles] valid rows of each tile (<= tile_rows)
  int64_t max_assignments = 0;
  int64_t max_rows = 0;
  int64_t max_tiles = 0;
  int64_t tile_rows_per_tile = 0;
};
// Upper bounds: rows = A + min(E, A) * (tile - 1), tiles = ceil(A / tile) + min(E, A).
void MoePlanSizes(int64_t max_assignments, int64_t E, int64_t tile_rows, int64_t* max_rows,
                  int64_t* max_tiles);
// Bytes of device memory MoePlan needs; MoePlanCarve lays the plan out in `buffer`.
int64_t MoePlanBytes(int64_t max_assignments, int64_t E, int64_t tile_rows);
MoePlan MoePlanCarve(void* buffer, int64_t max_assignments, int64_t E, int64_t tile_rows);
// Builds the plan for ids [T, k]. local_expert: [E] index of each expert among this shard's
// stacked experts, -1 when another rank holds it (its assignments are skipped).
cudaError_t MoeAlign(const int32_t* ids, int64_t T, int64_t k, int64_t E,
                     const int32_t* local_expert, const MoePlan& plan, cudaStream_t stream);

// RouterTopK then MoeAlign, in one single-block launch for small steps (T * E <= 16384 and
// E <= 256: decode steps are launch-bound); the two launches otherwise. Same results.
cudaError_t RouteAndAlign(const float* logits, int64_t T, int64_t E, int64_t k, bool renormalize,
                          int32_t* ids, float* weights, const int32_t* local_expert,
                          const MoePlan& plan, cudaStream_t stream);

// The same plan on the host (tests, and the reference for the device plan): ids [T, k] host,
// local_expert [E] host. Within an expert, rows follow assignment order (t, j); the device
// plan orders them by an atomic counter instead (the set of rows per expert is the same).
struct MoePlanHost {
  std::vector<int32_t> counts, offsets, slot, row_token, tile_expert, tile_row0, tile_rows;
};
MoePlanHost MoeAlignHost(const int32_t* ids, int64_t T, int64_t k, int64_t E,
                         const int32_t* local_expert, int64_t tile_rows);

// ---- moe_grouped_gemm.cu ----

// xs[row] = x[row_token[row]] (bf16 rows of width n; padding rows are zero). xs: [max_rows, n].
cudaError_t MoeGatherRows(const bf16* x, const MoePlan& plan, int64_t n, bf16* xs,
                          cudaStream_t stream);
// Grouped GEMM over the plan's tiles: y[row] = in[row] @ w[e]^T for each valid row of each tile,
// e = the tile's local expert. w: [experts, N, K] bf16 (stacked), y: [rows, N] fp32. Input rows:
// x_rows null: x is [rows, K] in plan order (MoeGatherRows); x_rows == plan.row_token: x is the
// token rows [T, K], read through the plan (the gather fused). Own kernels: a GEMV-style kernel
// (weights streamed once per tile, 16-byte loads) for tiles of up to 8 rows, and a WMMA
// tensor-core kernel (64 x 64 tiles) for plans with tile_rows_per_tile == 64; the cuBLAS
// grouped GEMM is not used (it needs each expert's row count on the host).
// REQUIRES: K % 8 == 0.
cudaError_t MoeGroupedGemm(const bf16* x, const int32_t* x_rows, const bf16* w, int64_t N,
                           int64_t K, const MoePlan& plan, float* y, cudaStream_t stream);
// The down projection with SiLU-mul fused into its input: in[row] = bf16(silu(gu[row, :K]) *
// gu[row, K:]) (SiluMul's values), gu: [rows, 2K] fp32. GEMV plans (tile rows <= 8) only.
cudaError_t MoeGroupedGemmSiluIn(const float* gu, const bf16* w, int64_t N, int64_t K,
                                 const MoePlan& plan, float* y, cudaStream_t stream);
// out[t] (+)= sum over t's assignments j, in ascending expert order, of weights[t, j] *
// ys[slot[t, j]] (skipped slots add nothing). accumulate: add onto out, else overwrite.
// ys: [rows, n] fp32; out: [T, n] fp32.
cudaError_t MoeCombine(const float* ys, const MoePlan& plan, const int32_t* ids,
                       const float* weights, int64_t T, int64_t k, int64_t n, bool accumulate,
                       float* out, cudaStream_t stream);

// ---- sampling.cu ----

// Per row r of logits [R, V] fp32: token[r] = argmax (first index on ties) when temperature[r]
// == 0, else a draw from softmax(logits / temperature) with the uniform CounterUniform(seed[r],
// position[r]) of model/sampler.cc (cumulative sum in index order, in double); logprob[r] =
// log softmax(logits)[token] of the raw logits. temperature, seed, position: [R] device.
cudaError_t SampleRows(const float* logits, int64_t R, int64_t V, const float* temperature,
                       const uint64_t* seed, const int64_t* position, int32_t* token,
                       float* logprob, cudaStream_t stream);
// The sampler's uniform, bit-identical to moe::CounterUniform (host side, for tests).
double CounterUniformHost(uint64_t seed, int64_t position);

// ---- random_fill.cu ----

// out[i] = bf16 of uniform [-a, a] drawn from SplitMix64(tensor_seed + i), a = stddev * sqrt(3):
// the values of common/random_weights.h FillRandomBf16 (for benchmarks with random weights).
cudaError_t FillRandomBf16(bf16* out, int64_t n, uint64_t tensor_seed, float stddev,
                           cudaStream_t stream);
// out[i] = widened bf16 of 1 + 0.1 * uniform [-1, 1] (FillRandomNormBf16), fp32.
cudaError_t FillRandomNorm(float* out, int64_t n, uint64_t tensor_seed, cudaStream_t stream);
// common/random_weights.h TensorSeed (FNV-1a of the name mixed with the seed), on the host.
uint64_t RandomTensorSeed(uint64_t seed, const char* tensor_name);
// out[i] = bf16(in[i]) (uploading F32 weights).
cudaError_t F32ToBf16(const float* in, int64_t n, bf16* out, cudaStream_t stream);

}  // namespace moe::cuda
