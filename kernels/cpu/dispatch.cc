// Routes the public kernels to the table chosen once at start-up and spreads the threaded ops
// over the pool.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/reference.h"
#include "kernels/kernels.h"

namespace moe::kernels {
namespace {

float ScalarSum(const float* x, int64_t n) {
  float s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += x[i + j];
  }
  for (; i < n; ++i) s[0] += x[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// Scalar Linear: whole 64-row groups per task.
void ScalarLinear(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
  constexpr int64_t kRowGroup = 64;
  struct Ctx {
    const float* x;
    int64_t T;
    const Matrix* w;
    float* y;
  } ctx{x, T, &w, y};
  const int64_t groups = (w.rows + kRowGroup - 1) / kRowGroup;
  ParallelRanges(
      pool, groups, 1,
      [](void* c, int64_t g0, int64_t g1) {
        auto* a = static_cast<Ctx*>(c);
        reference::LinearRows(a->x, a->T, *a->w, g0 * kRowGroup,
                              std::min(a->w->rows, g1 * kRowGroup), a->y);
      },
      &ctx);
}

int64_t ScalarFmaBurn(int64_t iters, float* sink) {
  float a[12];
  for (int i = 0; i < 12; ++i) a[i] = 0.001f * static_cast<float>(i);
  for (int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < 12; ++i) a[i] = a[i] * 0.9999f + 1e-4f;
  }
  float s = 0.0f;
  for (int i = 0; i < 12; ++i) s += a[i];
  *sink = s;
  return iters * 12 * 2;
}

const KernelTable kScalarTable = {
    "scalar",           ScalarLinear,
    reference::RmsNorm, reference::Rope,
    reference::SiluMul, reference::EmbeddingGather,
    reference::KvWrite, reference::PagedAttentionPart,
    reference::Add,     reference::Axpy,
    ScalarSum,          reference::LogSumExp,
    reference::ArgMax,  ScalarFmaBurn,
};

bool CpuHasAvx512() {
#if defined(MOE_KERNELS_HAVE_AVX512)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

bool CpuHasAvx2() {
#if defined(MOE_KERNELS_HAVE_AVX2)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

bool CpuHasAvx512Bf16() {
#if defined(MOE_KERNELS_HAVE_AVX512BF16)
  __builtin_cpu_init();
  return CpuHasAvx512() && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

bool CpuHasAvx512Vnni() {
#if defined(MOE_KERNELS_HAVE_AVX512VNNI)
  __builtin_cpu_init();
  return CpuHasAvx512() && __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

std::atomic<MathMode> g_math_mode{MathMode::kExact};

// The fast Linear when kernels::Linear may use it: the CPU has it and the active table is
// avx512 (MOE_KERNELS=avx2|scalar turns it off with the rest of AVX-512).
LinearFn UsableFastLinear() {
  static const LinearFn fn = ActiveKernelTable().isa == "avx512" ? FastLinearKernel() : nullptr;
  return fn;
}

// The int8 Linear when kernels::Linear may use it (as UsableFastLinear).
LinearFn UsableInt8Linear() {
  static const LinearFn fn = ActiveKernelTable().isa == "avx512" ? Int8LinearKernel() : nullptr;
  return fn;
}

// Their LinearMany forms, non-null exactly when those are.
LinearManyFn UsableFastLinearMany() {
  static const LinearManyFn fn = UsableFastLinear() != nullptr ? FastLinearManyKernel() : nullptr;
  return fn;
}
LinearManyFn UsableInt8LinearMany() {
  static const LinearManyFn fn = UsableInt8Linear() != nullptr ? Int8LinearManyKernel() : nullptr;
  return fn;
}

const KernelTable* Best() {
  if (auto* t = GetKernelTable("avx512")) return t;
  if (auto* t = GetKernelTable("avx2")) return t;
  return &kScalarTable;
}

const KernelTable* Choose() {
  const KernelTable* best = Best();
  const char* env = std::getenv("MOE_KERNELS");
  if (env == nullptr || *env == '\0') return best;
  const std::string_view want(env);
  // Only ever lower: the order is scalar < avx2 < avx512.
  auto rank = [](std::string_view isa) {
    return isa == "avx512" ? 2 : isa == "avx2" ? 1 : isa == "scalar" ? 0 : -1;
  };
  const KernelTable* t = GetKernelTable(want);
  if (t == nullptr || rank(want) > rank(best->isa)) {
    std::fprintf(stderr, "moe::kernels: MOE_KERNELS=%s not available here, using %s\n", env,
                 std::string(best->isa).c_str());
    return best;
  }
  return t;
}

}  // namespace

const KernelTable* GetKernelTable(std::string_view isa) {
  if (isa == "scalar") return &kScalarTable;
#if defined(MOE_KERNELS_HAVE_AVX512)
  if (isa == "avx512") return CpuHasAvx512() ? &Avx512KernelTable() : nullptr;
#endif
#if defined(MOE_KERNELS_HAVE_AVX2)
  if (isa == "avx2") return CpuHasAvx2() ? &Avx2KernelTable() : nullptr;
#endif
  return nullptr;
}

const KernelTable& ActiveKernelTable() {
  static const KernelTable* const table = Choose();
  return *table;
}

std::string_view ActiveIsa() { return ActiveKernelTable().isa; }

LinearFn FastLinearKernel() {
#if defined(MOE_KERNELS_HAVE_AVX512BF16)
  if (CpuHasAvx512Bf16()) return Avx512Bf16Linear;
#endif
  return nullptr;
}

LinearManyFn FastLinearManyKernel() {
#if defined(MOE_KERNELS_HAVE_AVX512BF16)
  if (CpuHasAvx512Bf16()) return Avx512Bf16LinearMany;
#endif
  return nullptr;
}

LinearManyFn Int8LinearManyKernel() {
#if defined(MOE_KERNELS_HAVE_AVX512VNNI)
  if (CpuHasAvx512Vnni()) return Avx512Int8LinearMany;
#endif
  return nullptr;
}

LinearFn Int8LinearKernel() {
#if defined(MOE_KERNELS_HAVE_AVX512VNNI)
  if (CpuHasAvx512Vnni()) return Avx512Int8Linear;
#endif
  return nullptr;
}

bool Int8LinearActive() { return UsableInt8Linear() != nullptr; }

void SetMathMode(MathMode mode) { g_math_mode.store(mode, std::memory_order_relaxed); }

MathMode GetMathMode() { return g_math_mode.load(std::memory_order_relaxed); }

absl::StatusOr<MathMode> ParseMathMode(std::string_view name) {
  if (name == "exact") return MathMode::kExact;
  if (name == "fast") return MathMode::kFast;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown math mode '", std::string(name), "' (choices: exact, fast)"));
}

std::string_view MathModeName(MathMode mode) { return mode == MathMode::kFast ? "fast" : "exact"; }

bool FastLinearActive() {
  return GetMathMode() == MathMode::kFast && UsableFastLinear() != nullptr;
}

DType KvDTypeFor(MathMode mode) {
  return mode == MathMode::kFast && UsableFastLinear() != nullptr ? DType::kBF16 : DType::kF32;
}

void Linear(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool) {
  if (w.dtype == DType::kQ8) {
    if (const LinearFn int8 = UsableInt8Linear()) {
      int8(x, T, w, y, pool);
    } else {
      ScalarLinear(x, T, w, y, pool);  // reference::LinearRows takes kQ8
    }
    return;
  }
  if (w.dtype != DType::kBF16 && w.dtype != DType::kF16 && w.dtype != DType::kF32) {
    std::fprintf(stderr, "moe::kernels::Linear: unsupported weight dtype %s\n",
                 std::string(DTypeName(w.dtype)).c_str());
    std::abort();
  }
  if (w.dtype == DType::kBF16 && GetMathMode() == MathMode::kFast) {
    if (const LinearFn fast = UsableFastLinear()) {
      fast(x, T, w, y, pool);
      return;
    }
  }
  ActiveKernelTable().linear(x, T, w, y, pool);
}

void LinearMany(const float* x, int64_t T, const Matrix* ws, float* const* ys, int n,
                ThreadPool* pool) {
  bool same = n > 1;
  for (int i = 1; i < n; ++i) {
    same = same && ws[i].dtype == ws[0].dtype && ws[i].cols == ws[0].cols;
  }
  if (same && ws[0].dtype == DType::kQ8) {
    if (const LinearManyFn int8 = UsableInt8LinearMany()) {
      int8(x, T, ws, ys, n, pool);
      return;
    }
  }
  if (same && ws[0].dtype == DType::kBF16 && GetMathMode() == MathMode::kFast) {
    if (const LinearManyFn fast = UsableFastLinearMany()) {
      fast(x, T, ws, ys, n, pool);
      return;
    }
  }
  for (int i = 0; i < n; ++i) Linear(x, T, ws[i], ys[i], pool);
}

void ParallelRanges(ThreadPool* pool, int64_t n, int64_t grain,
                    void (*fn)(void* ctx, int64_t begin, int64_t end), void* ctx) {
  if (n <= 0) return;
  if (pool == nullptr || pool->num_threads() == 1 || n == 1) {
    fn(ctx, 0, n);
    return;
  }
  pool->ParallelFor(n, grain, [&](int64_t b, int64_t e) { fn(ctx, b, e); });
}

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t n, float eps, float* y) {
  ActiveKernelTable().rms_norm(x, weight, rows, n, eps, y);
}

void Rope(float* x, int64_t T, int64_t heads, int64_t head_dim, const int32_t* pos,
          const float* inv_freq) {
  ActiveKernelTable().rope(x, T, heads, head_dim, pos, inv_freq);
}

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  ActiveKernelTable().silu_mul(gate, up, out, n);
}

void EmbeddingGather(const Matrix& table, const int32_t* ids, int64_t T, float* out) {
  ActiveKernelTable().embedding_gather(table, ids, T, out);
}

void KvWrite(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
             const float* k, const float* v) {
  ActiveKernelTable().kv_write(kv, block_table, start, n, k, v);
}

void PagedAttention(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
                    const float* q, int64_t num_q_heads, float scale, float* out) {
  ActiveKernelTable().paged_attention_part(kv, block_table, start, n, q, num_q_heads, scale, out, 0,
                                           n, 0, kv.num_kv_heads);
}

void PagedAttention(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
                    const float* q, int64_t num_q_heads, float scale, float* out,
                    ThreadPool* pool) {
  const KernelTable& k = ActiveKernelTable();
  const int64_t heads = kv.num_kv_heads;
  if (pool == nullptr || pool->num_threads() == 1 || n * heads < 2) {
    k.paged_attention_part(kv, block_table, start, n, q, num_q_heads, scale, out, 0, n, 0, heads);
    return;
  }
  // Tasks: (kv head, chunk of query tokens). Causal rows grow with the token index; the
  // pool's chunk counter balances the uneven tasks.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(32, n / 4));
  const int64_t chunks = (n + chunk - 1) / chunk;
  pool->ParallelFor(chunks * heads, 1, [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      // Later (longer) query chunks first.
      const int64_t c = chunks - 1 - task / heads;
      const int64_t h = task % heads;
      k.paged_attention_part(kv, block_table, start, n, q, num_q_heads, scale, out, c * chunk,
                             std::min(n, (c + 1) * chunk), h, h + 1);
    }
  });
}

void Add(float* x, const float* y, int64_t n) { ActiveKernelTable().add(x, y, n); }

void Axpy(float* x, float a, const float* y, int64_t n) { ActiveKernelTable().axpy(x, a, y, n); }
float LogSumExp(const float* x, int64_t n) { return ActiveKernelTable().log_sum_exp(x, n); }
int64_t ArgMax(const float* x, int64_t n) { return ActiveKernelTable().argmax(x, n); }

double ReadPassGBs(ThreadPool* pool, const float* data, int64_t n) {
  const KernelTable& k = *Best();
  constexpr int64_t kChunk = 1 << 20;  // floats per task (4 MiB)
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  struct Ctx {
    const KernelTable* k;
    const float* data;
    int64_t n;
    float sink;
  } ctx{&k, data, n, 0.0f};
  const auto t0 = std::chrono::steady_clock::now();
  ParallelRanges(
      pool, chunks, 4,
      [](void* c, int64_t c0, int64_t c1) {
        auto* a = static_cast<Ctx*>(c);
        const int64_t b = c0 * kChunk, e = std::min(a->n, c1 * kChunk);
        volatile float s = a->k->sum(a->data + b, e - b);
        (void)s;
      },
      &ctx);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(n) * 4.0 / s / 1e9;
}

double MeasureReadBandwidthGBs(ThreadPool* pool, int64_t bytes) {
  const int64_t n = std::max<int64_t>(bytes / 4, 1 << 20);  // floats
  std::unique_ptr<float[]> buf(new float[n]);               // [n]
  // Fault the pages in (with the same threads, so first-touch placement matches).
  struct Ctx {
    float* buf;
    int64_t n;
  } ctx{buf.get(), n};
  constexpr int64_t kChunk = 1 << 20;
  ParallelRanges(
      pool, (n + kChunk - 1) / kChunk, 4,
      [](void* c, int64_t c0, int64_t c1) {
        auto* a = static_cast<Ctx*>(c);
        const int64_t b = c0 * kChunk, e = std::min(a->n, c1 * kChunk);
        std::fill(a->buf + b, a->buf + e, 1.0f);
      },
      &ctx);
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) best = std::max(best, ReadPassGBs(pool, buf.get(), n));
  return best;
}

namespace {

// Best of a few runs of burn(kIters) on every thread of `pool`, in GFLOP/s.
double PeakGflops(ThreadPool* pool, int64_t (*burn)(int64_t iters, float* sink)) {
  const int threads = pool == nullptr ? 1 : pool->num_threads();
  constexpr int64_t kIters = 20'000'000;  // ~20 ms per thread at peak
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<int64_t> flops(threads, 0);
    std::vector<float> sink(threads, 0.0f);
    const auto t0 = std::chrono::steady_clock::now();
    if (threads == 1) {
      flops[0] = burn(kIters, &sink[0]);
    } else {
      pool->RunOnAll([&](int i) { flops[i] = burn(kIters, &sink[i]); });
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t total = 0;
    for (int64_t f : flops) total += f;
    best = std::max(best, static_cast<double>(total) / s / 1e9);
  }
  return best;
}

}  // namespace

double MeasureFmaPeakGflops(ThreadPool* pool) {
  return PeakGflops(pool, ActiveKernelTable().fma_burn);
}

double MeasureBf16DotPeakGflops(ThreadPool* pool) {
#if defined(MOE_KERNELS_HAVE_AVX512BF16)
  if (CpuHasAvx512Bf16()) return PeakGflops(pool, Avx512Bf16DotBurn);
#endif
  return 0.0;
}

double MeasureInt8DotPeakGops(ThreadPool* pool) {
#if defined(MOE_KERNELS_HAVE_AVX512VNNI)
  if (CpuHasAvx512Vnni()) return PeakGflops(pool, Avx512Int8DotBurn);
#endif
  return 0.0;
}

}  // namespace moe::kernels
