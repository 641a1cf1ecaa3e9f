// Plain scalar reference of every op in kernels/kernels.h: one obvious loop per op, fp32
// accumulation in index order. The fast kernels (avx2.cc, avx512.cc) are tested against these;
// they are also the "scalar" ISA level of the dispatcher.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/kernels.h"

namespace moe::kernels::reference {

// Element c of row r of w, widened to fp32 (kQ8: dequantized, scale * value).
float WeightAt(const Matrix& w, int64_t r, int64_t c);

// y[t, r] = sum_c x[t, c] * w[r, c]. x: [T, w.cols], y: [T, w.rows].
void Linear(const float* x, int64_t T, const Matrix& w, float* y);
// As Linear, only output columns r in [r0, r1) of y (the rest untouched). kQ8 weights: the
// int8 arithmetic of kernels.h ("Int8 weights"), as LinearQ8Rows.
void LinearRows(const float* x, int64_t T, const Matrix& w, int64_t r0, int64_t r1, float* y);

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t n, float eps, float* y);
void Rope(float* x, int64_t T, int64_t heads, int64_t head_dim, const int32_t* pos,
          const float* inv_freq);
void SiluMul(const float* gate, const float* up, float* out, int64_t n);
void EmbeddingGather(const Matrix& table, const int32_t* ids, int64_t T, float* out);
void KvWrite(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
             const float* k, const float* v);
void PagedAttention(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
                    const float* q, int64_t num_q_heads, float scale, float* out);
// As PagedAttention, only query tokens [i0, i1) and kv heads [h0, h1) (with their query heads).
void PagedAttentionPart(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
                        const float* q, int64_t num_q_heads, float scale, float* out, int64_t i0,
                        int64_t i1, int64_t h0, int64_t h1);
void Add(float* x, const float* y, int64_t n);
void Axpy(float* x, float a, const float* y, int64_t n);
float LogSumExp(const float* x, int64_t n);
int64_t ArgMax(const float* x, int64_t n);

// ---- Int8 weights (DType::kQ8; layout in kernels.h) ----

// Byte offset of value k of a row in a kQ8 matrix's data (row of Q8RowBytes(cols) bytes).
inline int64_t Q8Offset(int64_t cols, int64_t k) {
  const int64_t s = k / 512, j = (k % 512) / 32, e = k % 32;
  const int64_t nbs = std::min<int64_t>(16, Q8Blocks(cols) - 16 * s);  // blocks in superblock s
  return s * 512 + (e / 4) * 4 * nbs + j * 4 + e % 4;
}

// Below this block maximum a block (of weights or activations) quantizes to zero (scale 0).
constexpr float kQ8MinAbs = 1e-30f;

// One token's activations x[0:K] quantized per block of 32 (kernels.h): q: [Q8RowBytes(K)] in
// natural order (padding zero), dx: [Q8Blocks(K)] scales (max |x| / 127), qsum:
// [Q8Blocks(K)] the sum of each block's q. q = nearbyint(x * (127 / max)) (fp32 multiply,
// round to nearest even), clamped to [-127, 127]; the VNNI kernels compute the same bits.
void QuantizeActivations(const float* x, int64_t K, int8_t* q, float* dx, int32_t* qsum);

// Rows [r0, r1) of src (BF16, F16 or F32) quantized into q and scales (full-matrix buffers,
// see QuantizeQ8 in kernels.h).
void QuantizeQ8Rows(const Matrix& src, int64_t r0, int64_t r1, uint8_t* q, uint16_t* scales);

// y[t, r] for r in [r0, r1) with w kQ8: per token QuantizeActivations, then
// acc += (dw[r, b] * dx[t, b]) * float(int32 dot of block b), blocks in order, fp32.
void LinearQ8Rows(const float* x, int64_t T, const Matrix& w, int64_t r0, int64_t r1, float* y);

}  // namespace moe::kernels::reference
