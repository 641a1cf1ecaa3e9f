// moe-bench-kernels: throughput of the CPU kernels against rooflines measured in the same run.
//
//   moe-bench-kernels [--threads N] [--reps R] [--quick] [--only gemv|gemm|attn|fast]
//
// Rooflines: streaming read bandwidth (MeasureReadBandwidthGBs) for decode Linear (GEMV:
// weight bytes / time) and the FMA peak (MeasureFmaPeakGflops) for prefill Linear (GEMM) and
// attention; the fast math mode's Linear (bf16 dot products) against the vdpbf16ps peak
// (MeasureBf16DotPeakGflops) and the read bandwidth, beside the exact one. Each row is the best of
// R runs (median in brackets): the machine is shared, so the best run is the closest to what the
// kernel can do. GEMV matrices are cycled through enough copies to exceed the last-level cache, so
// every call reads its weights from memory.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/thread_pool.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/kernels.h"

namespace moe::kernels {
namespace {

struct Options {
  int threads = 1;
  int reps = 7;
  bool quick = false;
  std::string only;  // "gemv", "gemm", "attn" or "fast": run one section
};

struct Timing {
  double best_s;
  double median_s;
};

// Runs fn reps times (after one warm-up); fn(i) is call i and returns the seconds to count
// (so it can exclude set-up such as a bandwidth probe), or a negative number to time it whole.
Timing Time(int reps, const std::function<double(int)>& fn) {
  fn(0);
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const double own = fn(i + 1);
    t.push_back(own >= 0.0
                    ? own
                    : std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

std::vector<uint8_t> RandomWeights(int64_t elems, DType dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<uint8_t> out(elems * DTypeSize(dtype));
  for (int64_t i = 0; i < elems; ++i) {
    const float f = dist(rng);
    if (dtype == DType::kF32) {
      std::memcpy(out.data() + 4 * i, &f, 4);
    } else {
      const uint16_t h = dtype == DType::kBF16 ? F32ToBf16(f) : F32ToF16(f);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

std::vector<float> RandomFloats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// `copies` matrices of one shape, back to back in one buffer (as the experts of a layer lie
// in a checkpoint), cycled per call.
struct MatrixSet {
  std::vector<uint8_t> data;
  std::vector<Matrix> m;
};

MatrixSet MakeSet(int64_t rows, int64_t cols, DType dtype, int copies) {
  MatrixSet s;
  s.data = RandomWeights(rows * cols * copies, dtype, 100);
  const int64_t bytes = rows * cols * DTypeSize(dtype);
  for (int i = 0; i < copies; ++i)
    s.m.push_back(Matrix{s.data.data() + i * bytes, dtype, rows, cols});
  return s;
}

void BenchGemv(const Options& o, ThreadPool* pool, double bw) {
  // This machine's bandwidth drifts by tens of percent within a minute (shared host), so every
  // row interleaves its runs with read probes over a 256 MiB buffer and reports the kernel's
  // best against the best probe of the same window.
  const int64_t probe_n = int64_t{64} << 20;  // floats
  std::vector<float> probe(probe_n, 1.0f);
  std::printf(
      "\nDecode Linear (GEMV), weights from memory; start-up roofline %.1f GB/s;\n"
      "%%bw is against read probes interleaved with the row's runs (bw column)\n",
      bw);
  std::printf("%-28s %5s %4s %10s %9s %8s %8s %8s\n", "matrix [rows x cols]", "dtype", "T",
              "us/call", "GB/s", "bw", "%bw", "(median)");
  struct Shape {
    const char* name;
    int64_t rows, cols;
    int copies;  // total bytes > LLC
    DType dtype;
  };
  std::vector<Shape> shapes = {
      {"3072 x 1024", 3072, 1024, 16, DType::kBF16},
      {"1024 x 3072", 1024, 3072, 16, DType::kBF16},
      {"151936 x 1024 (lm head)", 151936, 1024, 1, DType::kBF16},
      {"48 experts 768 x 2048", 768, 2048, 48, DType::kBF16},
      {"3072 x 1024", 3072, 1024, 16, DType::kF16},
      {"3072 x 1024", 3072, 1024, 8, DType::kF32},
  };
  if (o.quick) shapes.resize(2);
  for (const Shape& s : shapes) {
    const MatrixSet set = MakeSet(s.rows, s.cols, s.dtype, s.copies);
    for (int64_t T : {1, 2, 4, 8}) {
      if (s.dtype != DType::kBF16 && T != 1) continue;
      const std::vector<float> x = RandomFloats(T * s.cols, 1);  // [T, cols]
      std::vector<float> y(T * s.rows);                          // [T, rows]
      // One timed unit = one pass over all copies, each preceded by a bandwidth probe.
      double probe_best = 0.0;
      const Timing t = Time(o.reps, [&](int) {
        probe_best = std::max(probe_best, ReadPassGBs(pool, probe.data(), probe_n));
        const auto t0 = std::chrono::steady_clock::now();
        for (const Matrix& m : set.m) Linear(x.data(), T, m, y.data(), pool);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      });
      const double bytes = static_cast<double>(s.rows) * s.cols * DTypeSize(s.dtype) * s.copies;
      const double gbs = bytes / t.best_s / 1e9;
      std::printf("%-28s %5s %4ld %10.1f %9.1f %8.1f %7.1f%% %7.1f%%\n", s.name,
                  std::string(DTypeName(s.dtype)).c_str(), static_cast<long>(T),
                  t.best_s / s.copies * 1e6, gbs, probe_best, 100.0 * gbs / probe_best,
                  100.0 * bytes / t.median_s / 1e9 / probe_best);
    }
  }
}

void BenchGemm(const Options& o, ThreadPool* pool, double peak) {
  std::printf("\nPrefill Linear (GEMM), fp32 FMA; roofline %.1f GFLOP/s (measured)\n", peak);
  std::printf("%-28s %5s %4s %10s %9s %8s %8s\n", "matrix [N x K]", "dtype", "T", "ms/call",
              "GFLOP/s", "%peak", "(median)");
  struct Shape {
    const char* name;
    int64_t rows, cols, T;
    DType dtype;
  };
  std::vector<Shape> shapes = {
      {"3072 x 1024", 3072, 1024, 128, DType::kBF16},
      {"1024 x 3072", 1024, 3072, 128, DType::kBF16},
      {"3072 x 1024", 3072, 1024, 128, DType::kF32},
      {"768 x 2048 (expert)", 768, 2048, 16, DType::kBF16},
      {"768 x 2048 (expert)", 768, 2048, 32, DType::kBF16},
      {"2048 x 768 (expert down)", 2048, 768, 32, DType::kBF16},
      {"3072 x 1024", 3072, 1024, 512, DType::kBF16},
  };
  if (o.quick) shapes.resize(2);
  for (const Shape& s : shapes) {
    const MatrixSet set = MakeSet(s.rows, s.cols, s.dtype, 1);
    const std::vector<float> x = RandomFloats(s.T * s.cols, 2);
    std::vector<float> y(s.T * s.rows);
    const Timing t = Time(o.reps, [&](int) {
      Linear(x.data(), s.T, set.m[0], y.data(), pool);
      return -1.0;
    });
    const double flops = 2.0 * s.T * s.rows * s.cols;
    const double gf = flops / t.best_s / 1e9;
    std::printf("%-28s %5s %4ld %10.3f %9.1f %7.1f%% %7.1f%%\n", s.name,
                std::string(DTypeName(s.dtype)).c_str(), static_cast<long>(s.T), t.best_s * 1e3, gf,
                100.0 * gf / peak, 100.0 * flops / t.median_s / 1e9 / peak);
  }
}

// The fast math mode's Linear (FastLinearKernel) beside the exact one (the active table's) on
// qwen3-0.6b's matrices, T = 1 .. 128: GFLOP/s against the vdpbf16ps peak, and weight GB/s
// against read probes interleaved with the runs (as BenchGemv). Matrices cycled through
// copies bigger than the last-level cache, so the weights come from memory as in a model.
void BenchFast(const Options& o, ThreadPool* pool, double dot_peak) {
  const LinearFn fast = FastLinearKernel();
  if (fast == nullptr) {
    std::printf("\nFast Linear: this CPU lacks avx512_bf16 (fast mode falls back to exact)\n");
    return;
  }
  const int64_t probe_n = int64_t{64} << 20;  // floats
  std::vector<float> probe(probe_n, 1.0f);
  std::printf(
      "\nFast Linear (x rounded to bf16, vdpbf16ps) vs exact, bf16 weights; roofline %.1f "
      "GFLOP/s (vdpbf16ps, measured);\n%%bw against read probes interleaved with the row's runs\n",
      dot_peak);
  std::printf("%-22s %4s %10s %9s %10s %9s %7s %8s %7s %8s\n", "matrix [N x K]", "T", "exact us",
              "GFLOP/s", "fast us", "GFLOP/s", "%peak", "GB/s", "%bw", "speedup");
  struct Shape {
    const char* name;
    int64_t rows, cols;
  };
  std::vector<Shape> shapes = {
      {"3072 x 1024 (gate/up)", 3072, 1024},
      {"1024 x 3072 (down)", 1024, 3072},
      {"2048 x 1024 (q)", 2048, 1024},
  };
  std::vector<int64_t> ts = {1, 2, 4, 8, 16, 32, 64, 128};
  if (o.quick) shapes.resize(1);
  for (const Shape& s : shapes) {
    for (int64_t T : ts) {
      const int copies = T <= 32 ? 16 : 8;
      const MatrixSet set = MakeSet(s.rows, s.cols, DType::kBF16, copies);
      const std::vector<float> x = RandomFloats(T * s.cols, 1);  // [T, cols]
      std::vector<float> y(T * s.rows);                          // [T, rows]
      double probe_best = 0.0;
      auto run = [&](LinearFn fn) {
        return Time(o.reps, [&](int) {
          if (copies > 1)
            probe_best = std::max(probe_best, ReadPassGBs(pool, probe.data(), probe_n));
          const auto t0 = std::chrono::steady_clock::now();
          for (const Matrix& m : set.m) fn(x.data(), T, m, y.data(), pool);
          return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        });
      };
      const Timing te = run(ActiveKernelTable().linear);
      const Timing tf = run(fast);
      const double flops = 2.0 * T * s.rows * s.cols * copies;
      const double bytes = 2.0 * s.rows * s.cols * copies;
      const double gf = flops / tf.best_s / 1e9, gbs = bytes / tf.best_s / 1e9;
      char bwp[16] = "-";
      if (copies > 1) std::snprintf(bwp, sizeof(bwp), "%.1f%%", 100.0 * gbs / probe_best);
      std::printf("%-22s %4ld %10.1f %9.1f %10.1f %9.1f %6.1f%% %8.1f %7s %7.2fx\n", s.name,
                  static_cast<long>(T), te.best_s / copies * 1e6, flops / te.best_s / 1e9,
                  tf.best_s / copies * 1e6, gf, 100.0 * gf / dot_peak, gbs, bwp,
                  te.best_s / tf.best_s);
    }
  }
}

void BenchAttention(const Options& o, ThreadPool* pool, double peak, double bw) {
  // Qwen3-30B-A3B attention: 32 query heads, 4 kv heads, head_dim 128; block size 16.
  const int64_t hq = 32, kvh = 4, d = 128, bs = 16;
  std::printf("\nPagedAttention (hq %ld, kv heads %ld, head_dim %ld, block %ld)\n",
              static_cast<long>(hq), static_cast<long>(kvh), static_cast<long>(d),
              static_cast<long>(bs));
  std::printf("%-28s %10s %9s %8s %9s\n", "case", "ms/call", "GFLOP/s", "%peak", "GB/s(KV)");
  std::vector<std::pair<int64_t, int64_t>> cases = {{0, 128}, {0, 512}, {0, 2048}, {4095, 1}};
  if (o.quick) cases = {{0, 128}, {4095, 1}};
  const int64_t max_len = 4096, nb = max_len / bs, width = kvh * d;
  std::vector<float> kbuf = RandomFloats(nb * bs * width, 3),
                     vbuf = RandomFloats(nb * bs * width, 4);
  const PagedKv kv{kbuf.data(), vbuf.data(), nb, bs, kvh, d};
  std::vector<int32_t> bt(nb);
  for (int64_t i = 0; i < nb; ++i) bt[i] = static_cast<int32_t>((i * 7) % nb);  // scattered
  for (auto [start, n] : cases) {
    const std::vector<float> q = RandomFloats(n * hq * d, 5);
    std::vector<float> out(n * hq * d);
    const int reps = n >= 2048 ? std::max(1, o.reps / 3) : o.reps;
    const Timing t = Time(reps, [&](int) {
      PagedAttention(kv, bt.data(), start, n, q.data(), hq, 0.088f, out.data(), pool);
      return -1.0;
    });
    // QK and PV: 2 flops per multiply-add, over every visible (query, key) pair per head.
    double pairs = 0.0;
    for (int64_t i = 0; i < n; ++i) pairs += static_cast<double>(start + i + 1);
    const double flops = 4.0 * d * hq * pairs;
    const double kv_bytes = 2.0 * (start + n) * width * 4;
    char name[64];
    std::snprintf(name, sizeof(name), "%s %ld tok @ %ld", n == 1 ? "decode" : "prefill",
                  static_cast<long>(n), static_cast<long>(start));
    std::printf("%-28s %10.3f %9.1f %7.1f%% %9.1f\n", name, t.best_s * 1e3, flops / t.best_s / 1e9,
                100.0 * flops / t.best_s / 1e9 / peak, kv_bytes / t.best_s / 1e9);
  }
  (void)bw;
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      o.threads = std::atoi(argv[++i]);
    } else if (a == "--reps" && i + 1 < argc) {
      o.reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--only" && i + 1 < argc) {
      o.only = argv[++i];
    } else if (a == "--quick") {
      o.quick = true;
      o.reps = 3;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--threads N] [--reps R] [--quick] [--only gemv|gemm|attn|fast]\n",
                   argv[0]);
      return 2;
    }
  }
  std::unique_ptr<ThreadPool> pool_owner;
  ThreadPool* pool = nullptr;
  if (o.threads > 1) {
    pool_owner = std::make_unique<ThreadPool>(o.threads);
    pool = pool_owner.get();
  }
  std::printf("moe-bench-kernels: isa %s, %d thread(s), best of %d (median in brackets)\n",
              std::string(ActiveIsa()).c_str(), o.threads, o.reps);
  const double bw = MeasureReadBandwidthGBs(pool);
  const double peak = MeasureFmaPeakGflops(pool);
  std::printf("measured read bandwidth   %8.1f GB/s (1 GiB streaming sum, best of 5)\n", bw);
  std::printf("measured fp32 FMA peak    %8.1f GFLOP/s (register FMAs, active ISA)\n", peak);
  std::printf("(brief's assumption: 115 GFLOP/s per core; %% below are of the measured peak)\n");
  const double dot_peak = MeasureBf16DotPeakGflops(pool);
  std::printf("measured bf16 dot peak    %8.1f GFLOP/s (register vdpbf16ps; 0: none)\n", dot_peak);
  if (o.only.empty() || o.only == "gemv") BenchGemv(o, pool, bw);
  if (o.only.empty() || o.only == "gemm") BenchGemm(o, pool, peak);
  if (o.only.empty() || o.only == "attn") BenchAttention(o, pool, peak, bw);
  if (o.only.empty() || o.only == "fast") BenchFast(o, pool, dot_peak);
  return 0;
}

}  // namespace
}  // namespace moe::kernels

int main(int argc, char** argv) { return moe::kernels::Main(argc, argv); }
