// moe-bench offline: prefill and decode throughput of the in-process engine, like llama-bench,
// against the machine's memory read bandwidth measured in the same run (bench_common.h: the
// limit is the max of probes taken before the first run and after every run).
//   (moe-bench moe-layer, one MoE layer's MLP alone: moe_layer_bench.h)
//   (moe-bench serve, a load generator for a running server: bench/serve/serve_bench.h)
//
//   moe-bench offline --like qwen3-0.6b --prompt-len 128 --gen-len 32 --threads 1 --repeat 3
//   moe-bench offline --model DIR --batch 1,4,16,64 --json
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/offline/bench_common.h"
#include "bench/offline/moe_layer_bench.h"
#include "bench/serve/serve_bench.h"
#include "common/json.h"
#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "tools/flags.h"
#include "tools/model_source.h"
#include "worker/engine.h"

namespace moe {
namespace {

constexpr char kUsage[] =
    R"(usage: moe-bench offline (--model DIR [--random-weights] | --like NAME [--layers N]) [flags]
  --prompt-len N   prompt tokens per sequence (default 128)
  --gen-len N      generated tokens per sequence (default 32)
  --batch N[,N..]  sequences decoded together (default 1); a list (1,4,16,64) runs each size
                   on the same loaded model and prints one table row per size
  --threads N      worker threads (default 1)
  --math exact|fast  Linear arithmetic (default fast: activations rounded to bf16 for bf16
                   weights where the CPU has AVX-512 BF16)
  --weights bf16|int8  convert the weight matrices at load (int8: quantized, bf16 scale per
                   block of 32, VNNI kernels; default: as stored)
  --repeat N       runs per batch size; figures are the median and [min, max] (default 3)
  --max-batch-tokens N   prefill chunk (default: the whole batch's prompts, at least 512)
  --json           one JSON object per line: each run, then the summary (one per batch size)
  --probe-mib N    bandwidth probe buffer in MiB (default 1024; smaller only for quick tests)
The bandwidth limit is the max of 1 GiB read probes taken before the first run and after every
run (the lowest fraction of the limit); their min is reported beside it.
)";

// The runs of one batch size.
struct BatchRuns {
  int64_t batch = 0;
  std::vector<double> prefill, decode, achieved;  // tok/s, tok/s, decode weight GB/s
  double bytes_per_step = 0;
};

OrderedJson ProbeJson(const BandwidthProbe& probe) {
  OrderedJson j;
  j["count"] = static_cast<int64_t>(probe.probes().size());
  j["min"] = probe.min();
  j["max"] = probe.limit();
  j["all"] = probe.probes();
  return j;
}

absl::Status Offline(int argc, char** argv) {
  MOE_ASSIGN_OR_RETURN(
      Flags flags,
      Flags::Parse(argc, argv, 0,
                   {"model", "like", "layers", "prompt-len", "gen-len", "batch", "threads",
                    "repeat", "max-batch-tokens", "weight-seed", "math", "weights", "probe-mib"},
                   {"random-weights", "json", "help"}));
  if (flags.GetBool("help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  MOE_ASSIGN_OR_RETURN(ModelSource source, ModelSourceFromFlags(flags));
  MOE_ASSIGN_OR_RETURN(int64_t prompt_len, flags.GetInt("prompt-len", 128));
  MOE_ASSIGN_OR_RETURN(int64_t gen_len, flags.GetInt("gen-len", 32));
  MOE_ASSIGN_OR_RETURN(std::vector<int64_t> batches, BatchSizesFromFlags(flags, {1}));
  MOE_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 1));
  MOE_ASSIGN_OR_RETURN(int64_t repeat, flags.GetInt("repeat", 3));
  MOE_ASSIGN_OR_RETURN(int64_t chunk_flag, flags.GetInt("max-batch-tokens", 0));
  MOE_ASSIGN_OR_RETURN(int64_t probe_mib, flags.GetInt("probe-mib", 1024));
  if (prompt_len < 1 || gen_len < 2 || repeat < 1 || probe_mib < 1 ||
      (flags.Has("max-batch-tokens") && chunk_flag < 1)) {
    return absl::InvalidArgumentError(
        "--prompt-len, --batch, --repeat, --max-batch-tokens, --probe-mib must be >= 1 and "
        "--gen-len >= 2");
  }
  MOE_ASSIGN_OR_RETURN(const ArithmeticNames arithmetic, SetMathFromFlags(flags, source.weights));
  const std::string& math_name = arithmetic.math;
  const std::string& weights_name = arithmetic.weights;
  const bool json = flags.GetBool("json");
  ThreadPool pool(static_cast<int>(threads));
  MOE_ASSIGN_OR_RETURN(LoadedModel model, LoadWholeModel(source, &pool));
  const std::string name = source.like.empty() ? source.model_dir : source.like;
  BandwidthProbe probe(&pool, probe_mib << 20);
  probe.Probe();
  const CpuTimes cpu0 = CpuTimes::Now();
  const ThreadPool::Stats pool0 = pool.stats();

  std::vector<BatchRuns> results;
  for (int64_t batch : batches) {
    EngineOptions options;
    options.max_batch_tokens =
        flags.Has("max-batch-tokens") ? chunk_flag : std::max<int64_t>(512, prompt_len * batch);
    Engine engine(model.weights.get(), &pool, options);
    BatchRuns br;
    br.batch = batch;
    for (int64_t r = 0; r < repeat; ++r) {
      std::vector<GenerateRequest> reqs(static_cast<size_t>(batch));
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t i = 0; i < prompt_len; ++i) {  // deterministic ordinary-token prompts
          reqs[b].prompt.push_back(
              static_cast<int32_t>((1000 + 7919 * (i + 131 * b + r)) %
                                   std::min<int64_t>(model.config.vocab_size, 151643)));
        }
        reqs[b].max_tokens = gen_len;
        reqs[b].ignore_eos = true;
        reqs[b].sampling.temperature = 0.0f;
      }
      GenerateStats st;
      MOE_RETURN_IF_ERROR(engine.Generate(
          reqs, [](int64_t, const SampleResult&, FinishReason) { return true; }, &st));
      const double after = probe.Probe();
      const double pp = st.prompt_tokens / st.prefill_seconds;
      const double tg = static_cast<double>(st.decode_steps * batch) / st.decode_seconds;
      br.bytes_per_step = static_cast<double>(st.decode_weight_bytes) / st.decode_steps;
      const double achieved = br.bytes_per_step * st.decode_steps / st.decode_seconds / 1e9;
      br.prefill.push_back(pp);
      br.decode.push_back(tg);
      br.achieved.push_back(achieved);
      if (json) {
        OrderedJson j;
        j["batch"] = batch;
        j["run"] = r;
        j["prefill_tok_s"] = pp;
        j["decode_tok_s"] = tg;
        j["decode_weight_gb_s"] = achieved;
        j["read_bandwidth_probe_after_gb_s"] = after;
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
      }
    }
    results.push_back(std::move(br));
  }

  const double bw = probe.limit();  // known only now: fractions are computed at the end
  const CpuTimes cpu1 = CpuTimes::Now();
  const int64_t shared_jobs = pool.stats().shared_jobs - pool0.shared_jobs;
  const int64_t alone_jobs = pool.stats().alone_jobs - pool0.alone_jobs;
  if (json) {
    for (const BatchRuns& br : results) {
      std::vector<double> frac;
      for (double a : br.achieved) frac.push_back(a / bw);
      const Spread p = SummarizeRuns(br.prefill), d = SummarizeRuns(br.decode),
                   f = SummarizeRuns(frac);
      OrderedJson j;
      j["model"] = name;
      j["layers"] = model.config.num_hidden_layers;
      j["weights_gb"] = model.weights->matrix_bytes() / 1e9;
      j["threads"] = pool.num_threads();
      j["kernels"] = std::string(kernels::ActiveIsa());
      j["math"] = math_name;
      j["weights"] = weights_name;
      j["batch"] = br.batch;
      j["prompt_len"] = prompt_len;
      j["gen_len"] = gen_len;
      j["repeat"] = repeat;
      j["prefill_tok_s"] = {{"median", p.median}, {"min", p.min}, {"max", p.max}};
      j["decode_tok_s"] = {{"median", d.median}, {"min", d.min}, {"max", d.max}};
      j["weight_bytes_per_decode_step"] = br.bytes_per_step;
      j["weight_bytes_per_decoded_token"] = br.bytes_per_step / br.batch;
      j["read_bandwidth_gb_s"] = bw;
      j["read_bandwidth_probes_gb_s"] = ProbeJson(probe);
      j["cpu_s"] = {{"self", cpu1.self - cpu0.self},
                    {"others", std::max(0.0, cpu1.busy - cpu0.busy - (cpu1.self - cpu0.self))},
                    {"stolen", cpu1.stolen - cpu0.stolen}};
      j["bandwidth_fraction"] = {{"median", f.median}, {"min", f.min}, {"max", f.max}};
      j["pool_jobs"] = {{"shared", shared_jobs}, {"alone", alone_jobs}};
      std::printf("%s\n", j.dump().c_str());
    }
    return absl::OkStatus();
  }
  std::printf("model %s: %lld layers, %.3f GB of weights (%s), %d threads, kernels %s, math %s\n",
              name.c_str(), static_cast<long long>(model.config.num_hidden_layers),
              model.weights->matrix_bytes() / 1e9, weights_name.c_str(), pool.num_threads(),
              std::string(kernels::ActiveIsa()).c_str(), math_name.c_str());
  std::printf("memory read bandwidth (measured now): %.1f GB/s\n", bw);
  std::printf("bandwidth probes: %s (the limit is the max)\n", probe.Describe().c_str());
  std::printf("CPU time during the runs: %s\n", cpu1.DescribeSince(cpu0).c_str());
  if (pool.num_threads() > 1) {
    std::printf("thread pool: %lld jobs shared, %lld run alone by the caller (workers stalled)\n",
                static_cast<long long>(shared_jobs), static_cast<long long>(alone_jobs));
  }
  if (results.size() == 1) {
    const BatchRuns& br = results[0];
    const int64_t batch = br.batch;
    std::vector<double> frac;
    for (double a : br.achieved) frac.push_back(a / bw);
    const Spread p = SummarizeRuns(br.prefill), d = SummarizeRuns(br.decode),
                 f = SummarizeRuns(frac);
    std::printf("%-28s %12s %12s %12s\n", "", "median", "min", "max");
    std::printf("%-28s %12.1f %12.1f %12.1f\n",
                absl::StrCat("prefill pp", prompt_len, "x", batch, " tok/s").c_str(), p.median,
                p.min, p.max);
    std::printf("%-28s %12.2f %12.2f %12.2f\n",
                absl::StrCat("decode tg", gen_len, " b", batch, " tok/s").c_str(), d.median, d.min,
                d.max);
    std::printf("%-28s %12.1f%% %11.1f%% %11.1f%%\n", "decode / bandwidth limit", 100 * f.median,
                100 * f.min, 100 * f.max);
    std::printf("weight bytes per decode step: %.1f MB (%.1f MB per token)\n",
                br.bytes_per_step / 1e6, br.bytes_per_step / batch / 1e6);
    return absl::OkStatus();
  }
  // One row per batch size: medians of the runs, decode tok/s also as [min, max].
  std::printf("prefill pp%lld x batch, decode tg%lld; medians of %lld runs\n",
              static_cast<long long>(prompt_len), static_cast<long long>(gen_len),
              static_cast<long long>(repeat));
  std::printf("%5s %13s %24s %9s %10s %11s %9s %12s\n", "batch", "prefill tok/s",
              "decode tok/s [min, max]", "step ms", "ms/token", "weight GB/s", "% limit",
              "MB/step");
  for (const BatchRuns& br : results) {
    const Spread p = SummarizeRuns(br.prefill), d = SummarizeRuns(br.decode),
                 a = SummarizeRuns(br.achieved);
    std::printf("%5lld %13.1f %24s %9.2f %10.3f %11.2f %8.1f%% %12.1f\n",
                static_cast<long long>(br.batch), p.median,
                absl::StrFormat("%.2f [%.2f, %.2f]", d.median, d.min, d.max).c_str(),
                1000.0 * br.batch / d.median, 1000.0 / d.median, a.median, 100 * a.median / bw,
                br.bytes_per_step / 1e6);
  }
  std::printf(
      "step ms: one decode step (each sequence's time per token); ms/token: 1 / decode tok/s;\n"
      "weight GB/s: matrix bytes streamed per step / step time.\n");
  return absl::OkStatus();
}

}  // namespace
}  // namespace moe

int main(int argc, char** argv) {
  const std::string sub = argc >= 2 ? argv[1] : "";
  absl::Status s;
  if (sub == "offline") {
    s = moe::Offline(argc - 2, argv + 2);
  } else if (sub == "moe-layer") {
    s = moe::MoeLayerBench(argc - 2, argv + 2);
  } else if (sub == "serve") {
    s = moe::ServeBench(argc - 2, argv + 2);
  } else {
    std::fprintf(stderr,
                 "usage: moe-bench offline|moe-layer|serve [flags] (see moe-bench offline --help, "
                 "moe-bench moe-layer --help, moe-bench serve --help)\n");
    return 2;
  }
  if (!s.ok()) {
    std::fprintf(stderr, "moe-bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
