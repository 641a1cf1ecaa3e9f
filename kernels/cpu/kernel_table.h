// The per-ISA table of kernel functions behind kernels/kernels.h (internal to kernels/, its
// tests and bench/kernels). dispatch.cc picks one table at start-up; tests fetch each table the CPU
// supports and hold it to the reference.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernels/kernels.h"

namespace moe::kernels {

struct KernelTable {
  std::string_view isa;  // "avx512", "avx2" or "scalar"
  // y = x w^T, rows of w spread over `pool` (null: inline). x: [T, w.cols], y: [T, w.rows].
  // The sum for one output never depends on how the rows are split (bit-exact threading).
  void (*linear)(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool);
  void (*rms_norm)(const float* x, const float* weight, int64_t rows, int64_t n, float eps,
                   float* y);
  void (*rope)(float* x, int64_t T, int64_t heads, int64_t head_dim, const int32_t* pos,
               const float* inv_freq);
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n);
  void (*embedding_gather)(const Matrix& table, const int32_t* ids, int64_t T, float* out);
  void (*kv_write)(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
                   const float* k, const float* v);
  // Query tokens [i0, i1) and kv heads [h0, h1) (with their query heads) of PagedAttention.
  void (*paged_attention_part)(const PagedKv& kv, const int32_t* block_table, int64_t start,
                               int64_t n, const float* q, int64_t num_q_heads, float scale,
                               float* out, int64_t i0, int64_t i1, int64_t h0, int64_t h1);
  void (*add)(float* x, const float* y, int64_t n);
  void (*axpy)(float* x, float a, const float* y, int64_t n);
  // Sum of n floats (the bandwidth probe's inner loop).
  float (*sum)(const float* x, int64_t n);
  // LogSumExp and ArgMax of kernels.h (the sampler's passes over the vocabulary).
  float (*log_sum_exp)(const float* x, int64_t n);
  int64_t (*argmax)(const float* x, int64_t n);
  // Runs `iters` rounds of 12 independent vector FMAs; returns the flops done (the FMA peak
  // probe). `sink` receives a result so the work is not optimised away.
  int64_t (*fma_burn)(int64_t iters, float* sink);
};

// The table for `isa` ("avx512", "avx2", "scalar"), or null when the name is unknown or this
// CPU (or this build) lacks the instructions.
const KernelTable* GetKernelTable(std::string_view isa);

// The table chosen at start-up (best the CPU has, lowered by MOE_KERNELS).
const KernelTable& ActiveKernelTable();

// Calls fn(ctx, begin, end) over [0, n) in chunks of about `grain` on `pool` (null or one
// thread: a single inline call over [0, n)). A plain function pointer, so that the ISA
// translation units instantiate no shared templates (their copies would carry AVX code).
void ParallelRanges(ThreadPool* pool, int64_t n, int64_t grain,
                    void (*fn)(void* ctx, int64_t begin, int64_t end), void* ctx);

// Defined in avx512.cc / avx2.cc (compiled with their ISA flags); call only when supported.
const KernelTable& Avx512KernelTable();
const KernelTable& Avx2KernelTable();

// The Linear of the fast math mode (MathMode::kFast, kernels.h): for BF16 weights, x rounded
// to bf16 (round to nearest even) and multiplied with vdpbf16ps, fp32 sums; other dtypes go to
// the exact avx512 Linear. Contract as
// KernelTable::linear (bit-exact threading; an output depends only on its row and its token).
using LinearFn = void (*)(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool);
// kernels::LinearMany's kernels (same results as a Linear per matrix): x converted once, and
// in the GEMV (decode) the rows of all the matrices in one fork-join. At most kMaxLinearMany
// matrices go to the GEMV together (more: one call each).
using LinearManyFn = void (*)(const float* x, int64_t T, const Matrix* ws, float* const* ys, int n,
                              ThreadPool* pool);
inline constexpr int kMaxLinearMany = 8;

// Null when this CPU (or build) lacks AVX-512 with avx512_bf16. Tests and benchmarks fetch it
// here; kernels::Linear uses it in fast mode when the active table is avx512.
LinearFn FastLinearKernel();
LinearManyFn FastLinearManyKernel();  // its LinearMany form

// Defined in avx512_bf16_*.cc (compiled with the AVX-512 + BF16 flags); call only when
// FastLinearKernel() is not null.
void Avx512Bf16Linear(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool);
void Avx512Bf16LinearMany(const float* x, int64_t T, const Matrix* ws, float* const* ys, int n,
                          ThreadPool* pool);
// Runs `iters` rounds of 12 independent vdpbf16ps (64 flops each); returns the flops done.
int64_t Avx512Bf16DotBurn(int64_t iters, float* sink);

// The Linear of int8 weights (DType::kQ8, kernels.h "Int8 weights") with AVX-512 VNNI
// (vpdpbusd); contract as KernelTable::linear. Null when this CPU (or build) lacks AVX-512 with
// avx512_vnni. kernels::Linear uses it for kQ8 weights when the active table is avx512 (else
// the scalar reference).
LinearFn Int8LinearKernel();
LinearManyFn Int8LinearManyKernel();  // its LinearMany form

// Defined in avx512_int8_*.cc (compiled with the AVX-512 + VNNI flags); call only when
// Int8LinearKernel() is not null. Takes kQ8 weights only.
void Avx512Int8Linear(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool);
void Avx512Int8LinearMany(const float* x, int64_t T, const Matrix* ws, float* const* ys, int n,
                          ThreadPool* pool);
// Runs `iters` rounds of 12 independent vpdpbusd (128 ops each); returns the ops done.
int64_t Avx512Int8DotBurn(int64_t iters, float* sink);

}  // namespace moe::kernels
