// Plain scalar reference of every op in kernels/kernels.h: one obvious loop per op, fp32
// accumulation in index order. The fast kernels (avx2.cc, avx512.cc) are tested against these;
// they are also the "scalar" ISA level of the dispatcher.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace moe::kernels::reference {

// Element c of row r of w, widened to fp32.
float WeightAt(const Matrix& w, int64_t r, int64_t c);

// y[t, r] = sum_c x[t, c] * w[r, c]. x: [T, w.cols], y: [T, w.rows].
void Linear(const float* x, int64_t T, const Matrix& w, float* y);
// As Linear, only output columns r in [r0, r1) of y (the rest untouched).
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

}  // namespace moe::kernels::reference
