// The kernel interface the layer math is written against (CPU backend).
//
// Activations are fp32 row-major; weights stay in their checkpoint dtype (BF16, F16 or F32)
// and are widened inside the kernels. Each op has a plain scalar reference
// (kernels/cpu/reference.h) and a fast version (AVX-512 where the CPU has it, AVX2 otherwise)
// selected once at start-up; tests hold the fast versions to the reference.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/dtype.h"
#include "common/thread_pool.h"

namespace moe::kernels {

// A row-major weight matrix [rows, cols] = [out_features, in_features] (PyTorch nn.Linear).
struct Matrix {
  const void* data = nullptr;
  DType dtype = DType::kBF16;
  int64_t rows = 0;
  int64_t cols = 0;
  // DType::kQ8 only: the bf16 scales, [rows, Q8Blocks(cols)] (see "Int8 weights" below).
  const void* scales = nullptr;
};

// The paged KV cache of one layer: k and v are [num_blocks, block_size, num_kv_heads, head_dim]
// of `dtype` (kF32, or kBF16: half the memory and traffic; see KvWrite and PagedAttention). A
// sequence's position p lives in block block_table[p / block_size], slot p % block_size.
struct PagedKv {
  void* k = nullptr;
  void* v = nullptr;
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  DType dtype = DType::kF32;  // kF32 or kBF16
};

// The arithmetic of Linear, process-wide:
//  - kExact: fp32 activations times the weights widened to fp32, fp32 FMA sums (the library
//    default; what the golden tests hold to the fixtures' tight tolerances).
//  - kFast: for BF16 weights on CPUs with AVX-512 BF16 (avx512_bf16), x is rounded to bf16
//    (round to nearest even, relative error <= 2^-8) inside Linear and multiplied with the
//    bf16 dot-product instruction (vdpbf16ps), fp32 sums: about twice the multiply-adds per
//    second of fp32 FMA: batched decode and prefill up to ~2x faster where compute-bound;
//    single-sequence decode (memory-bound) ~5-20%. Other weight dtypes, and CPUs without
//    avx512_bf16 (or MOE_KERNELS below avx512), fall back to kExact.
// In both modes an output depends only on its weight row and its token's x (not on the other
// tokens of the call within the GEMV or the GEMM path, nor on threads).
enum class MathMode { kExact, kFast };

// Int8 weights (DType::kQ8) do not follow the mode: their Linear always quantizes x (see
// "Int8 weights" below).
//
// Sets the mode. Call once at start-up, before any kernel runs (like the ISA choice); not
// meant to change while other threads run kernels.
void SetMathMode(MathMode mode);
MathMode GetMathMode();
// "exact" or "fast"; an error names the value and the choices.
absl::StatusOr<MathMode> ParseMathMode(std::string_view name);
std::string_view MathModeName(MathMode mode);
// Whether Linear on BF16 weights actually runs the fast kernels now (mode kFast, and the CPU
// and active ISA have them).
bool FastLinearActive();

// The KV cache dtype for a math mode: kBF16 when `mode` is kFast and the fast kernels run
// here (FastLinearActive() would be true in that mode), else kF32. The exact mode always keeps
// fp32 KV.
DType KvDTypeFor(MathMode mode);

// y[t, r] = sum_c x[t, c] * w[r, c]. x: [T, w.cols], y: [T, w.rows] (overwritten).
// Splits the rows of w over the pool; reads each weight once for all T rows of x. The
// arithmetic follows GetMathMode() (see MathMode).
void Linear(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool);
// ys[i] = x ws[i]^T for n matrices that share x (decode's q/k/v, gate/up): the same bits as n
// Linear calls. Where the matrices have one dtype and cols and a fast or int8 kernel runs
// them, x is converted once and a decode GEMV streams all their rows in one fork-join.
void LinearMany(const float* x, int64_t T, const Matrix* ws, float* const* ys, int n,
                ThreadPool* pool);

// y[t] = x[t] * rsqrt(mean(x[t]^2) + eps) * weight, rows of width n. y may alias x.
void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t n, float eps, float* y);

// Rotate-half RoPE in place on x: [T, heads, head_dim]; token t is at position pos[t].
// inv_freq: [head_dim / 2], theta^(-2i/head_dim). Dims i and i + head_dim/2 rotate together.
void Rope(float* x, int64_t T, int64_t heads, int64_t head_dim, const int32_t* pos,
          const float* inv_freq);

// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
void SiluMul(const float* gate, const float* up, float* out, int64_t n);

// out[t] = table[ids[t]] widened to fp32. out: [T, table.cols].
void EmbeddingGather(const Matrix& table, const int32_t* ids, int64_t T, float* out);

// Writes the keys and values of positions [start, start + n) of one sequence into its blocks.
// k, v: [n, num_kv_heads, head_dim]. A kBF16 cache stores them rounded to bf16 (round to
// nearest even).
void KvWrite(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
             const float* k, const float* v);

// Causal attention of n query tokens at positions [start, start + n) of one sequence over its
// cached positions [0, start + n) (KvWrite them first). q, out: [n, num_q_heads, head_dim].
// GQA: query head h reads kv head h / (num_q_heads / num_kv_heads). Scores scaled by `scale`.
// fp32 cache: fp32 arithmetic throughout. kBF16 cache: the score of q and key k is
// sum_c bf16(q[c]) * k[c] (q rounded to nearest even, fp32 sums), values widened to fp32; the
// softmax and the weighted sum of values in fp32. Either way a query token's output depends
// only on its own query and its sequence's cache (not on the other tokens of the call).
void PagedAttention(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
                    const float* q, int64_t num_q_heads, float scale, float* out);

// x[i] += y[i].
void Add(float* x, const float* y, int64_t n);
// x[i] += a * y[i].
void Axpy(float* x, float a, const float* y, int64_t n);

// log(sum_i exp(x[i])) of n >= 1 values, as max + log(sum exp(x - max)) with the exps summed
// in double (the sampler's log-softmax normaliser over the vocabulary). Relative error of the
// sum ~1e-6 (vector exp), so about 1e-6 absolute in the result.
float LogSumExp(const float* x, int64_t n);
// The first index of the largest of n >= 1 values (no NaN), as a scalar scan would give.
int64_t ArgMax(const float* x, int64_t n);

// The instruction set chosen at start-up: "avx512", "avx2" or "scalar". MOE_KERNELS=scalar|avx2
// in the environment forces a lower one (for tests and comparisons).
std::string_view ActiveIsa();

// As PagedAttention above, with the (kv head, query token) work spread over `pool` (may be
// null: runs inline). Same results as the single-threaded call, bit for bit.
void PagedAttention(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
                    const float* q, int64_t num_q_heads, float scale, float* out, ThreadPool* pool);

// Streaming read bandwidth of main memory in GB/s (10^9 bytes/s) with the threads of `pool`
// (null: the calling thread only): sums a buffer of `bytes` (bigger than the caches), best of a
// few passes. The roofline for the memory-bound kernels (decode Linear).
double MeasureReadBandwidthGBs(ThreadPool* pool, int64_t bytes = int64_t{1} << 30);
// One streaming pass (a sum) over data: [n] with the threads of `pool`, in GB/s. For
// benchmarks that interleave probes with kernel runs on a machine whose bandwidth drifts.
double ReadPassGBs(ThreadPool* pool, const float* data, int64_t n);

// Peak fp32 FMA throughput in GFLOP/s (an FMA = 2 flops) with the vectors of the active ISA
// (ActiveIsa()), on every thread of `pool` (null: the calling thread): independent register
// FMAs, best of a few runs. The roofline for the compute-bound kernels (prefill Linear).
double MeasureFmaPeakGflops(ThreadPool* pool);

// Peak bf16 dot-product throughput (vdpbf16ps: 32 multiply-adds = 64 flops) in GFLOP/s on
// every thread of `pool`, as MeasureFmaPeakGflops; 0 when the CPU lacks avx512_bf16. The
// roofline for the fast-mode prefill Linear.
double MeasureBf16DotPeakGflops(ThreadPool* pool);

// ---------------------------------------------------------------------------------------------
// Int8 weights (DType::kQ8), quantized at load from BF16 / F16 / F32 (QuantizeQ8).
//
// Each row is cut into blocks of 32 along K (cols rounded up to Kp = Q8RowBytes(cols), the
// padding zero). Block b of row r has a scale d = bf16(max |w| / 127) and values
// q = round(w / d) in [-127, 127] (round to nearest even, against the stored bf16 scale, so
// the scale's own rounding costs nothing): w ~ d * q, error <= d / 2.
//   scales: [rows, Q8Blocks(cols)] bf16.
//   data:   [rows, Kp] bytes, q + 128 (offset binary: 1..255), the blocks of a row interleaved
//           per "superblock" of 16 blocks (512 values; the last may hold fewer, nbs): chunk i
//           (i = 0..7, 4 * nbs bytes at i * 4 * nbs) holds, in its 32-bit word j, values
//           4i..4i+3 of block j. So one 64-byte vector holds 4 values of each of 16 blocks, and
//           8 vectors sum whole blocks in 32-bit lanes (vpdpbusd), one scale per lane.
// Linear on kQ8 weights quantizes each token of x per block of 32 (scale max |x| / 127,
// values round(x / scale) in [-127, 127]) and sums per block exactly in int32:
//   y[t, r] = sum_b (dw[r, b] * dx[t, b]) * sum_{k in b} qw[r, k] * qx[t, k]   (fp32 outer sum)
// Relative error per output ~ 2^-8 of sum |x w| from each operand's rounding (see
// tests/kernels/int8_linear_test.cc). Results do not depend on the other tokens of the call
// within the GEMV (T < 32) or GEMM path, nor on threads.

// Kp: cols rounded up to a multiple of 32 (bytes per row of data).
inline int64_t Q8RowBytes(int64_t cols) { return (cols + 31) / 32 * 32; }
// Scales per row.
inline int64_t Q8Blocks(int64_t cols) { return (cols + 31) / 32; }

// Quantizes src (BF16, F16 or F32) into q ([rows, Q8RowBytes(cols)] bytes) and scales
// ([rows, Q8Blocks(cols)] bf16), rows spread over `pool` (may be null). Returns the kQ8 Matrix
// viewing q and scales (the caller owns them and keeps them alive).
Matrix QuantizeQ8(const Matrix& src, uint8_t* q, uint16_t* scales, ThreadPool* pool);

// Bytes Linear streams for w: rows * cols * DTypeSize, or for kQ8 its values and scales.
int64_t MatrixBytes(const Matrix& w);

// Whether Linear on kQ8 weights runs the AVX-512 VNNI kernels (the CPU has avx512_vnni and the
// active ISA is avx512); otherwise it runs the scalar reference (slow, for tests).
bool Int8LinearActive();

// Peak int8 dot-product throughput (vpdpbusd: 64 multiply-adds = 128 ops) in GOP/s on every
// thread of `pool`, as MeasureFmaPeakGflops; 0 without avx512_vnni. Roofline of the int8 GEMM.
double MeasureInt8DotPeakGops(ThreadPool* pool);

}  // namespace moe::kernels
