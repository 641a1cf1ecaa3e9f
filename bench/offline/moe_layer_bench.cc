#include "bench/offline/moe_layer_bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/offline/bench_common.h"
#include "common/json.h"
#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "model/qwen3.h"
#include "tools/flags.h"
#include "tools/model_source.h"

namespace moe {
namespace {

constexpr char kUsage[] =
    R"(usage: moe-bench moe-layer (--model DIR [--random-weights] | --like NAME) [flags]
  --layers N       MoE layers loaded and timed in turn (default 1; layers 1..N of the model,
                   so neither the embedding nor the lm_head is loaded)
  --batch N[,N..]  tokens T per call (default 1,4,16,64)
  --threads N      worker threads (default 1)
  --math exact|fast  Linear arithmetic (default fast)
  --weights bf16|int8  convert the weight matrices at load (default: as stored)
  --inputs N       distinct random hidden states per batch size, used in turn (default 8)
  --calls N        timed calls per run (default: about 0.5 s worth, at least 8)
  --repeat N       runs per batch size; figures are the median and [min, max] (default 3)
  --seed N         seed of the hidden states (default 1)
  --json           one JSON object per line: each run, then one summary per batch size
  --probe-mib N    bandwidth probe buffer in MiB (default 1024; smaller only for quick tests)
Consecutive calls use a different input (and layer, with --layers > 1); the limit is the max
of 1 GiB read probes taken before the first run and after every run.
)";

// What one (layer, input) call reads.
struct CallPlan {
  int64_t layer = 0;
  int64_t input = 0;
  std::vector<bool> used;  // [experts]
  int64_t distinct = 0;    // experts routed to
  int64_t bytes = 0;       // router + gate, up, down of each distinct expert
};

struct BatchResult {
  int64_t batch = 0;
  int64_t calls = 0;
  std::vector<double> ms_per_call, gb_s;  // per run
  double bytes_per_call = 0, distinct_mean = 0, reused = 0;
  int64_t distinct_min = 0, distinct_max = 0, mismatches = 0;
  int64_t min_call_bytes = 0;  // the smallest call's bytes (vs the L3: could it be cache-hot?)
};

int64_t ExpertBytes(const ExpertWeights& e) {
  return kernels::MatrixBytes(e.gate) + kernels::MatrixBytes(e.up) + kernels::MatrixBytes(e.down);
}

// The last-level cache of CPU 0 as the kernel reports it (sysfs; glibc's sysconf reads CPUID,
// which on some VMs describes the host's whole L3); 0 when unknown.
int64_t L3CacheBytes() {
  FILE* f = std::fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
  if (f != nullptr) {
    long long v = 0;
    char unit = 0;
    const int got = std::fscanf(f, "%lld%c", &v, &unit);
    std::fclose(f);
    if (got >= 1 && v > 0) return unit == 'M' ? v << 20 : unit == 'K' ? v << 10 : v;
  }
  const long v = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return v > 0 ? v : 0;
}

// Routes every (layer, input) pair as MlpPartial will (same norm, same router) and counts what
// each call reads.
std::vector<CallPlan> PlanCalls(Qwen3Model* model, int64_t begin, int64_t layers,
                                const std::vector<std::vector<float>>& inputs, int64_t T) {
  const ModelConfig& c = model->config();
  const int64_t H = c.hidden_size, E = c.num_experts;
  std::vector<float> norm(static_cast<size_t>(T * H));
  std::vector<CallPlan> plans;
  for (int64_t l = begin; l < begin + layers; ++l) {
    const LayerWeights& lw = model->weights().layer(l);
    for (size_t i = 0; i < inputs.size(); ++i) {
      kernels::RmsNorm(inputs[i].data(), lw.post_norm.data(), T, H,
                       static_cast<float>(c.rms_norm_eps), norm.data());
      std::vector<ExpertAssignment> assignments;
      model->Route(l, norm.data(), T, &assignments);
      CallPlan p;
      p.layer = l;
      p.input = static_cast<int64_t>(i);
      p.used.assign(static_cast<size_t>(E), false);
      p.bytes = kernels::MatrixBytes(lw.router);
      for (const ExpertAssignment& a : assignments) {
        if (p.used[static_cast<size_t>(a.expert)]) continue;
        p.used[static_cast<size_t>(a.expert)] = true;
        ++p.distinct;
        p.bytes += ExpertBytes(lw.experts[static_cast<size_t>(a.expert)]);
      }
      plans.push_back(std::move(p));
    }
  }
  return plans;
}

// Call c of a run: layer c % layers, input (c / layers) % inputs (plans are [layer][input]).
const CallPlan& PlanOf(const std::vector<CallPlan>& plans, int64_t layers, int64_t inputs,
                       int64_t c) {
  const int64_t l = c % layers, i = (c / layers) % inputs;
  return plans[static_cast<size_t>(l * inputs + i)];
}

absl::Status CheckMoeLayers(const ModelWeights& w, int64_t begin, int64_t end) {
  if (w.config().num_experts <= 0) {
    return absl::InvalidArgumentError("moe-layer needs a MoE model (num_experts is 0)");
  }
  for (int64_t l = begin; l < end; ++l) {
    if (!w.layer(l).is_moe) {
      return absl::InvalidArgumentError(absl::StrCat("layer ", l, " is a dense MLP layer"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MoeLayerBench(int argc, char** argv) {
  MOE_ASSIGN_OR_RETURN(
      Flags flags, Flags::Parse(argc, argv, 0,
                                {"model", "like", "layers", "batch", "threads", "repeat", "calls",
                                 "inputs", "seed", "weight-seed", "math", "weights", "probe-mib"},
                                {"random-weights", "json", "help"}));
  if (flags.GetBool("help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  MOE_ASSIGN_OR_RETURN(ModelSource source, ModelSourceFromFlags(flags));
  const int64_t want_layers = source.layers_override;
  source.layers_override = 0;  // the shard is cut out of the model's own layer count
  MOE_ASSIGN_OR_RETURN(std::vector<int64_t> batches, BatchSizesFromFlags(flags, {1, 4, 16, 64}));
  MOE_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 1));
  MOE_ASSIGN_OR_RETURN(int64_t repeat, flags.GetInt("repeat", 3));
  MOE_ASSIGN_OR_RETURN(int64_t calls_flag, flags.GetInt("calls", 0));
  MOE_ASSIGN_OR_RETURN(int64_t num_inputs, flags.GetInt("inputs", 8));
  MOE_ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 1));
  MOE_ASSIGN_OR_RETURN(int64_t probe_mib, flags.GetInt("probe-mib", 1024));
  if (repeat < 1 || num_inputs < 1 || probe_mib < 1 || calls_flag < 0 || want_layers < 0) {
    return absl::InvalidArgumentError(
        "--batch, --repeat, --inputs, --probe-mib must be >= 1; --calls, --layers >= 0");
  }
  MOE_ASSIGN_OR_RETURN(const ArithmeticNames arithmetic, SetMathFromFlags(flags, source.weights));
  const std::string& math_name = arithmetic.math;
  const std::string& weights_name = arithmetic.weights;
  const bool json = flags.GetBool("json");
  const std::string name = source.like.empty() ? source.model_dir : source.like;

  MOE_ASSIGN_OR_RETURN(ModelConfig config, LoadSourceConfig(source));
  // Layers [1, 1 + N): no embedding (first shard) and, for N < layers - 1, no lm_head.
  const int64_t L = std::max<int64_t>(1, want_layers);
  ShardSpec spec;
  spec.layer_begin = config.num_hidden_layers > L ? 1 : 0;
  spec.layer_end = std::min(config.num_hidden_layers, spec.layer_begin + L);
  const int64_t layers = spec.layer_end - spec.layer_begin;
  ThreadPool pool(static_cast<int>(threads));
  MOE_ASSIGN_OR_RETURN(std::unique_ptr<ModelWeights> weights,
                       LoadShard(source, config, spec, &pool));
  MOE_RETURN_IF_ERROR(CheckMoeLayers(*weights, spec.layer_begin, spec.layer_end));
  Qwen3Model model(weights.get(), &pool);
  const int64_t H = config.hidden_size, E = config.num_experts;
  const LayerWeights& first = weights->layer(spec.layer_begin);
  const int64_t router_bytes = kernels::MatrixBytes(first.router);
  const int64_t expert_bytes = ExpertBytes(first.experts[0]);
  const int64_t l3 = L3CacheBytes();
  BandwidthProbe probe(&pool, probe_mib << 20);
  probe.Probe();
  const CpuTimes cpu0 = CpuTimes::Now();

  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<BatchResult> results;
  for (int64_t T : batches) {
    std::vector<std::vector<float>> inputs(static_cast<size_t>(num_inputs));
    for (auto& in : inputs) {
      in.resize(static_cast<size_t>(T * H));
      for (float& v : in) v = normal(rng);
    }
    const std::vector<CallPlan> plans = PlanCalls(&model, spec.layer_begin, layers, inputs, T);
    std::vector<float> out(static_cast<size_t>(T * H));
    auto call = [&](const CallPlan& p) {
      model.MlpPartial(p.layer, inputs[static_cast<size_t>(p.input)].data(), T, out.data());
    };
    // Warm-up (scratch buffers grow), which also sizes the runs.
    const auto w0 = std::chrono::steady_clock::now();
    for (int64_t l = 0; l < layers; ++l) call(PlanOf(plans, layers, num_inputs, l));
    const double warm_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count() / layers;
    BatchResult br;
    br.batch = T;
    br.calls = calls_flag > 0 ? calls_flag
                              : std::clamp<int64_t>(static_cast<int64_t>(0.5 / warm_s), 8, 4000);
    double bytes_sum = 0, distinct_sum = 0, reused_sum = 0, expert_bytes_sum = 0;
    br.distinct_min = E;
    br.min_call_bytes = plans.front().bytes;
    for (const CallPlan& p : plans) br.min_call_bytes = std::min(br.min_call_bytes, p.bytes);
    for (int64_t r = 0; r < repeat; ++r) {
      double seconds = 0, bytes = 0;
      for (int64_t c = 0; c < br.calls; ++c) {
        const CallPlan& p = PlanOf(plans, layers, num_inputs, c);
        const int64_t counted0 = model.weight_bytes_read();
        const auto t0 = std::chrono::steady_clock::now();
        call(p);
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (model.weight_bytes_read() - counted0 != p.bytes) ++br.mismatches;
        bytes += static_cast<double>(p.bytes);
        distinct_sum += static_cast<double>(p.distinct);
        br.distinct_min = std::min(br.distinct_min, p.distinct);
        br.distinct_max = std::max(br.distinct_max, p.distinct);
        // Expert bytes this call reads that the previous call of the run read too.
        expert_bytes_sum += static_cast<double>(p.bytes - router_bytes);
        if (c > 0) {
          const CallPlan& prev = PlanOf(plans, layers, num_inputs, c - 1);
          if (prev.layer == p.layer) {
            for (int64_t e = 0; e < E; ++e) {
              if (p.used[static_cast<size_t>(e)] && prev.used[static_cast<size_t>(e)]) {
                reused_sum += static_cast<double>(
                    ExpertBytes(weights->layer(p.layer).experts[static_cast<size_t>(e)]));
              }
            }
          }
        }
      }
      const double after = probe.Probe();
      bytes_sum += bytes;
      br.ms_per_call.push_back(1000.0 * seconds / static_cast<double>(br.calls));
      br.gb_s.push_back(bytes / seconds / 1e9);
      if (json) {
        OrderedJson j;
        j["batch"] = T;
        j["run"] = r;
        j["calls"] = br.calls;
        j["ms_per_call"] = br.ms_per_call.back();
        j["gb_s"] = br.gb_s.back();
        j["read_bandwidth_probe_after_gb_s"] = after;
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
      }
    }
    const double n = static_cast<double>(br.calls * repeat);
    br.bytes_per_call = bytes_sum / n;
    br.distinct_mean = distinct_sum / n;
    br.reused = expert_bytes_sum > 0 ? reused_sum / expert_bytes_sum : 0.0;
    results.push_back(std::move(br));
  }
  const CpuTimes cpu1 = CpuTimes::Now();
  const double bw = probe.limit();
  int64_t mismatches = 0;
  for (const BatchResult& br : results) mismatches += br.mismatches;

  if (json) {
    for (const BatchResult& br : results) {
      std::vector<double> frac;
      for (double g : br.gb_s) frac.push_back(g / bw);
      const Spread ms = SummarizeRuns(br.ms_per_call), g = SummarizeRuns(br.gb_s),
                   f = SummarizeRuns(frac);
      OrderedJson j;
      j["model"] = name;
      j["layers"] = {spec.layer_begin, spec.layer_end};
      j["experts"] = E;
      j["experts_per_tok"] = config.num_experts_per_tok;
      j["threads"] = pool.num_threads();
      j["kernels"] = std::string(kernels::ActiveIsa());
      j["math"] = math_name;
      j["weights"] = weights_name;
      j["batch"] = br.batch;
      j["calls_per_run"] = br.calls;
      j["repeat"] = repeat;
      j["inputs"] = num_inputs;
      j["ms_per_call"] = {{"median", ms.median}, {"min", ms.min}, {"max", ms.max}};
      j["bytes_per_call"] = br.bytes_per_call;
      j["router_bytes"] = router_bytes;
      j["expert_bytes"] = expert_bytes;
      j["distinct_experts"] = {
          {"mean", br.distinct_mean}, {"min", br.distinct_min}, {"max", br.distinct_max}};
      j["reused_from_previous_call"] = br.reused;
      j["gb_s"] = {{"median", g.median}, {"min", g.min}, {"max", g.max}};
      j["read_bandwidth_gb_s"] = bw;
      j["read_bandwidth_probes_gb_s"] = {{"count", static_cast<int64_t>(probe.probes().size())},
                                         {"min", probe.min()},
                                         {"max", bw},
                                         {"all", probe.probes()}};
      j["bandwidth_fraction"] = {{"median", f.median}, {"min", f.min}, {"max", f.max}};
      j["l3_bytes"] = l3;
      j["min_call_bytes"] = br.min_call_bytes;
      j["byte_count_mismatches"] = br.mismatches;
      j["cpu_s"] = {{"self", cpu1.self - cpu0.self},
                    {"others", std::max(0.0, cpu1.busy - cpu0.busy - (cpu1.self - cpu0.self))},
                    {"stolen", cpu1.stolen - cpu0.stolen}};
      std::printf("%s\n", j.dump().c_str());
    }
    return absl::OkStatus();
  }
  std::printf(
      "moe-layer %s: layers [%lld, %lld), %lld experts (top %lld), hidden %lld, moe_intermediate "
      "%lld; %d threads, kernels %s, math %s, weights %s\n",
      name.c_str(), static_cast<long long>(spec.layer_begin),
      static_cast<long long>(spec.layer_end), static_cast<long long>(E),
      static_cast<long long>(config.num_experts_per_tok), static_cast<long long>(H),
      static_cast<long long>(config.moe_intermediate_size), pool.num_threads(),
      std::string(kernels::ActiveIsa()).c_str(), math_name.c_str(), weights_name.c_str());
  std::printf(
      "bytes: router %.3f MB, one expert (gate+up+down) %.3f MB, all experts of a layer %.1f MB; "
      "L3 %s\n",
      router_bytes / 1e6, expert_bytes / 1e6, static_cast<double>(expert_bytes) * E / 1e6,
      l3 > 0 ? absl::StrFormat("%.1f MiB", l3 / 1048576.0).c_str() : "unknown");
  std::printf("memory read bandwidth: %.1f GB/s (%s)\n", bw, probe.Describe().c_str());
  std::printf("CPU time during the runs: %s\n", cpu1.DescribeSince(cpu0).c_str());
  std::printf("%5s %6s %22s %11s %9s %18s %8s %7s %6s\n", "batch", "calls", "ms/call [min, max]",
              "us/token", "MB/call", "distinct experts", "GB/s", "% limit", "reused");
  for (const BatchResult& br : results) {
    const Spread ms = SummarizeRuns(br.ms_per_call), g = SummarizeRuns(br.gb_s);
    std::printf("%5lld %6lld %22s %11.1f %9.1f %18s %8.2f %6.1f%% %5.0f%%\n",
                static_cast<long long>(br.batch), static_cast<long long>(br.calls),
                absl::StrFormat("%.3f [%.3f, %.3f]", ms.median, ms.min, ms.max).c_str(),
                1000.0 * ms.median / br.batch, br.bytes_per_call / 1e6,
                absl::StrFormat("%.1f [%lld, %lld]", br.distinct_mean,
                                static_cast<long long>(br.distinct_min),
                                static_cast<long long>(br.distinct_max))
                    .c_str(),
                g.median, 100 * g.median / bw, 100 * br.reused);
  }
  std::printf(
      "medians of %lld runs; a call is MlpPartial (norm, router, grouping, expert GEMMs) of T\n"
      "tokens; MB/call: router + the distinct experts' matrices; reused: share of a call's expert\n"
      "bytes the previous call also read (cache-hot only if that call read less than the L3).\n",
      static_cast<long long>(repeat));
  for (const BatchResult& br : results) {
    if (l3 > 0 && br.min_call_bytes < 2 * l3) {
      std::printf(
          "note: batch %lld: a call can read as little as %.1f MB, under twice the L3: "
          "experts the previous call read may still be cached (see reused)\n",
          static_cast<long long>(br.batch), br.min_call_bytes / 1e6);
    }
  }
  int64_t min_all = results.front().min_call_bytes;
  for (const BatchResult& br : results) min_all = std::min(min_all, br.min_call_bytes);
  if (l3 > 0 && min_all >= 2 * l3) {
    std::printf(
        "cache: every call reads at least %.1f MB, over twice the L3: what the previous "
        "call read is mostly evicted\n",
        min_all / 1e6);
  }
  if (mismatches > 0) {
    std::printf(
        "WARNING: %lld calls streamed a byte count other than planned (the model's "
        "counter disagrees with the routing)\n",
        static_cast<long long>(mismatches));
  }
  return absl::OkStatus();
}

}  // namespace moe
