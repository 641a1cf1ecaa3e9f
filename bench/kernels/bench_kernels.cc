// moe-bench-kernels: throughput of the CPU kernels against rooflines measured in the same run.
//
//   moe-bench-kernels [--threads N] [--reps R] [--quick] [--only gemv|gemm|attn|fast|int8]
//                     [--tokens T,T..]   (the fast section's token counts)
//
// Rooflines: streaming read bandwidth (MeasureReadBandwidthGBs) for decode Linear (GEMV:
// weight bytes / time) and the FMA peak (MeasureFmaPeakGflops) for prefill Linear (GEMM) and
// attention; the fast math mode's Linear (bf16 dot products) against the vdpbf16ps peak
// (MeasureBf16DotPeakGflops) and the read bandwidth, beside the exact one; the int8 weights'
// Linear (vpdpbusd) against the int8 dot peak (MeasureInt8DotPeakGops) and the read bandwidth
// (bytes: int8 values + bf16 scales), beside the fast bf16 one. Each row is the best of
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
  std::string only;             // "gemv", "gemm", "attn", "fast" or "int8": run one section
  std::vector<int64_t> tokens;  // --tokens: the fast section's token counts (default: its list)
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
// qwen3-0.6b's matrices, T = 1 .. 512 (the serving prefill chunk): GFLOP/s against the vdpbf16ps
// peak, and weight GB/s against read probes interleaved with the runs (as BenchGemv). Matrices
// cycled through copies bigger than the last-level cache, so the weights come from memory as in a
// model.
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
      {"3072 x 1024 (gate/up)", 3072, 1024}, {"1024 x 3072 (down)", 1024, 3072},
      {"2048 x 1024 (q)", 2048, 1024},       {"1024 x 2048 (o)", 1024, 2048},
      {"4096 x 2048 (30b q)", 4096, 2048},
  };
  std::vector<int64_t> ts = {1, 2, 4, 8, 16, 32, 64, 128, 512};
  if (!o.tokens.empty()) ts = o.tokens;
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

// kQ8 copies of a MatrixSet (quantized once), cycled per call like MatrixSet.
struct Q8Set {
  std::vector<std::vector<uint8_t>> q;
  std::vector<std::vector<uint16_t>> scales;
  std::vector<Matrix> m;
};

Q8Set Quantize(const MatrixSet& src, ThreadPool* pool) {
  Q8Set s;
  for (const Matrix& m : src.m) {
    s.q.emplace_back(m.rows * Q8RowBytes(m.cols) + 64);
    s.scales.emplace_back(m.rows * Q8Blocks(m.cols));
    uint8_t* q = s.q.back().data();
    q += (64 - reinterpret_cast<uintptr_t>(q) % 64) % 64;
    s.m.push_back(QuantizeQ8(m, q, s.scales.back().data(), pool));
  }
  return s;
}

// The int8 weights' Linear (Int8LinearKernel) beside the fast bf16 one on qwen3-0.6b's and
// qwen3-30b-a3b's matrices, T = 1 .. 128: weight GB/s (int8 values + scales) against read
// probes interleaved with the runs, and GOP/s against the vpdpbusd peak.
void BenchInt8(const Options& o, ThreadPool* pool, double int8_peak) {
  const LinearFn int8 = Int8LinearKernel();
  if (int8 == nullptr) {
    std::printf("\nInt8 Linear: this CPU lacks avx512_vnni (kQ8 weights run the reference)\n");
    return;
  }
  const LinearFn bf16 =
      FastLinearKernel() != nullptr ? FastLinearKernel() : ActiveKernelTable().linear;
  const int64_t probe_n = int64_t{64} << 20;  // floats
  std::vector<float> probe(probe_n, 1.0f);
  std::printf(
      "\nInt8 Linear (kQ8 weights, x quantized per token, vpdpbusd) vs bf16 %s; roofline %.1f "
      "GOP/s (vpdpbusd, measured);\n%%bw: int8 bytes (values + scales) against read probes "
      "interleaved with the row's runs\n",
      FastLinearKernel() != nullptr ? "fast" : "exact", int8_peak);
  std::printf("%-24s %4s %10s %10s %9s %7s %8s %7s %7s %8s\n", "matrix [N x K]", "T", "bf16 us",
              "int8 us", "GOP/s", "%peak", "GB/s", "%bw", "(med)", "speedup");
  struct Shape {
    const char* name;
    int64_t rows, cols;
    int copies;  // for T <= 32 (bigger than the last-level cache)
  };
  std::vector<Shape> shapes = {
      {"3072 x 1024 (gate/up)", 3072, 1024, 32}, {"1024 x 3072 (down)", 1024, 3072, 32},
      {"2048 x 1024 (q)", 2048, 1024, 48},       {"768 x 2048 (expert)", 768, 2048, 64},
      {"151936 x 1024 (head)", 151936, 1024, 1},
  };
  std::vector<int64_t> ts = {1, 2, 4, 8, 16, 32, 64, 128};
  if (o.quick) ts = {1};
  for (const Shape& s : shapes) {
    for (int64_t T : ts) {
      if (s.copies == 1 && T > 1) continue;
      const int copies = T <= 32 ? s.copies : std::max(1, s.copies / 4);
      const MatrixSet set = MakeSet(s.rows, s.cols, DType::kBF16, copies);
      const Q8Set qset = Quantize(set, pool);
      const std::vector<float> x = RandomFloats(T * s.cols, 1);  // [T, cols]
      std::vector<float> y(T * s.rows);                          // [T, rows]
      double probe_best = 0.0;
      auto run = [&](LinearFn fn, const std::vector<Matrix>& ms) {
        return Time(o.reps, [&](int) {
          probe_best = std::max(probe_best, ReadPassGBs(pool, probe.data(), probe_n));
          const auto t0 = std::chrono::steady_clock::now();
          for (const Matrix& m : ms) fn(x.data(), T, m, y.data(), pool);
          return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        });
      };
      const Timing tb = run(bf16, set.m);
      const Timing ti = run(int8, qset.m);
      const double ops = 2.0 * T * s.rows * s.cols * copies;
      const double bytes = static_cast<double>(MatrixBytes(qset.m[0])) * copies;
      const double gops = ops / ti.best_s / 1e9, gbs = bytes / ti.best_s / 1e9;
      std::printf("%-24s %4ld %10.1f %10.1f %9.1f %6.1f%% %8.1f %6.1f%% %6.1f%% %7.2fx\n", s.name,
                  static_cast<long>(T), tb.best_s / copies * 1e6, ti.best_s / copies * 1e6, gops,
                  100.0 * gops / int8_peak, gbs, 100.0 * gbs / probe_best,
                  100.0 * bytes / ti.median_s / 1e9 / probe_best, tb.best_s / ti.best_s);
    }
  }
}

// PagedAttention on qwen3-0.6b (16 query heads over 8 kv heads) and Qwen3-30B-A3B (32 over 4)
// shapes, head_dim 128, block 16, fp32 and bf16 caches: prefill chunks (GFLOP/s against the FMA
// peak) and decode (one token; KV bytes read per second against the read bandwidth). Decode
// runs over `copies` sequences of its context, cycled, so the KV comes from memory as in a
// batched decode step.
void BenchAttention(const Options& o, ThreadPool* pool, double peak, double bw) {
  std::printf(
      "\nPagedAttention, head_dim 128, block 16; %%peak of the FMA peak, %%bw of %.1f GB/s\n", bw);
  std::printf("%-36s %5s %10s %9s %8s %9s %7s\n", "case", "kv", "ms/call", "GFLOP/s", "%peak",
              "GB/s(KV)", "%bw");
  struct Case {
    int64_t hq, kvh, start, n;
  };
  std::vector<Case> cases = {{16, 8, 0, 128},  {16, 8, 0, 512}, {16, 8, 143, 1},
                             {16, 8, 1023, 1}, {32, 4, 0, 512}, {32, 4, 4095, 1}};
  if (o.quick) cases = {{16, 8, 0, 128}, {16, 8, 143, 1}};
  const int64_t d = 128, bs = 16;
  for (const Case& c : cases) {
    const int64_t len = c.start + c.n, nb = (len + bs - 1) / bs, width = c.kvh * d;
    // Enough copies of the cache that a pass exceeds the last-level cache (decode only).
    const int copies =
        c.n == 1
            ? static_cast<int>(std::max<int64_t>(1, (int64_t{256} << 20) / (2 * len * width * 4)))
            : 1;
    for (DType dt : {DType::kF32, DType::kBF16}) {
      const int64_t elems = nb * bs * width * copies;
      std::vector<uint8_t> kbuf(elems * DTypeSize(dt)), vbuf(elems * DTypeSize(dt));
      const PagedKv kv{kbuf.data(), vbuf.data(), nb * copies, bs, c.kvh, d, dt};
      std::vector<std::vector<int32_t>> bts(copies, std::vector<int32_t>(nb));
      for (int cp = 0; cp < copies; ++cp) {
        for (int64_t i = 0; i < nb; ++i) {
          bts[cp][i] = static_cast<int32_t>(cp * nb + (i * 7) % nb);  // scattered
        }
      }
      const std::vector<float> kv_src = RandomFloats(len * width, 3);
      for (int cp = 0; cp < copies; ++cp) {
        KvWrite(kv, bts[cp].data(), 0, len, kv_src.data(), kv_src.data());
      }
      const std::vector<float> q = RandomFloats(c.n * c.hq * d, 5);
      std::vector<float> out(c.n * c.hq * d);
      const Timing t = Time(o.reps, [&](int) {
        for (int cp = 0; cp < copies; ++cp) {
          PagedAttention(kv, bts[cp].data(), c.start, c.n, q.data(), c.hq, 0.088f, out.data(),
                         pool);
        }
        return -1.0;
      });
      const double s = t.best_s / copies;
      double pairs = 0.0;  // visible (query, key) pairs per head
      for (int64_t i = 0; i < c.n; ++i) pairs += static_cast<double>(c.start + i + 1);
      const double flops = 4.0 * d * c.hq * pairs;  // QK and PV, 2 flops per multiply-add
      const double kv_bytes = 2.0 * len * width * DTypeSize(dt);
      char name[64];
      std::snprintf(name, sizeof(name), "%s %ld tok @ %ld (hq %ld kv %ld)",
                    c.n == 1 ? "decode" : "prefill", static_cast<long>(c.n),
                    static_cast<long>(c.start), static_cast<long>(c.hq), static_cast<long>(c.kvh));
      std::printf("%-36s %5s %10.3f %9.1f %7.1f%% %9.1f %6.1f%%\n", name,
                  std::string(DTypeName(dt)).c_str(), s * 1e3, flops / s / 1e9,
                  100.0 * flops / s / 1e9 / peak, kv_bytes / s / 1e9,
                  100.0 * kv_bytes / s / 1e9 / bw);
    }
  }
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
    } else if (a == "--tokens" && i + 1 < argc) {
      const char* p = argv[++i];
      while (true) {
        char* end = nullptr;
        const long n = std::strtol(p, &end, 10);
        if (end == p || n < 1 || (*end != ',' && *end != '\0')) {
          std::fprintf(stderr, "--tokens: expected positive counts like 1,8,16; got '%s'\n",
                       argv[i]);
          return 2;
        }
        o.tokens.push_back(n);
        if (*end == '\0') break;
        p = end + 1;
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s [--threads N] [--reps R] [--quick] [--only "
                   "gemv|gemm|attn|fast|int8] [--tokens T,T..]\n",
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
  const double int8_peak = MeasureInt8DotPeakGops(pool);
  std::printf("\nmeasured int8 dot peak    %8.1f GOP/s (register vpdpbusd; 0: none)\n", int8_peak);
  if (o.only.empty() || o.only == "int8") BenchInt8(o, pool, int8_peak);
  return 0;
}

}  // namespace
}  // namespace moe::kernels

int main(int argc, char** argv) { return moe::kernels::Main(argc, argv); }
