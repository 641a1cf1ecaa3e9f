// moe-bench offline: prefill and decode throughput of the in-process engine, like llama-bench,
// against the machine's memory read bandwidth measured in the same run.
//   (moe-bench serve, a load generator for a running server: bench/serve/serve_bench.h)
//
//   moe-bench offline --like qwen3-0.6b --prompt-len 128 --gen-len 32 --threads 1 --repeat 3
//   moe-bench offline --model DIR --batch 16 --json
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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
  --batch N        sequences decoded together (default 1)
  --threads N      worker threads (default 1)
  --math exact|fast  Linear arithmetic (default fast: activations rounded to bf16 for bf16
                   weights where the CPU has AVX-512 BF16)
  --weights bf16|int8  convert the weight matrices at load (int8: quantized, bf16 scale per
                   block of 32, VNNI kernels; default: as stored)
  --repeat N       runs; figures are the median and [min, max] (default 3)
  --max-batch-tokens N   prefill chunk (default: the whole batch's prompts)
  --json           one JSON object per line: each run, then the summary
)";

struct Spread {
  double median = 0, min = 0, max = 0;
};

Spread Summarize(std::vector<double> v) {
  Spread s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return s;
}

absl::Status Offline(int argc, char** argv) {
  MOE_ASSIGN_OR_RETURN(
      Flags flags,
      Flags::Parse(argc, argv, 0,
                   {"model", "like", "layers", "prompt-len", "gen-len", "batch", "threads",
                    "repeat", "max-batch-tokens", "weight-seed", "math", "weights"},
                   {"random-weights", "json", "help"}));
  if (flags.GetBool("help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  ModelSource source;
  source.model_dir = flags.GetString("model");
  source.like = flags.GetString("like");
  MOE_ASSIGN_OR_RETURN(source.layers_override, flags.GetInt("layers", 0));
  source.random_weights = flags.GetBool("random-weights");
  MOE_ASSIGN_OR_RETURN(source.weights, ParseWeightFormat(flags.GetString("weights")));
  MOE_ASSIGN_OR_RETURN(int64_t prompt_len, flags.GetInt("prompt-len", 128));
  MOE_ASSIGN_OR_RETURN(int64_t gen_len, flags.GetInt("gen-len", 32));
  MOE_ASSIGN_OR_RETURN(int64_t batch, flags.GetInt("batch", 1));
  MOE_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 1));
  MOE_ASSIGN_OR_RETURN(int64_t repeat, flags.GetInt("repeat", 3));
  MOE_ASSIGN_OR_RETURN(
      int64_t chunk, flags.GetInt("max-batch-tokens", std::max<int64_t>(512, prompt_len * batch)));
  if (prompt_len < 1 || gen_len < 2 || batch < 1 || repeat < 1 || chunk < 1) {
    return absl::InvalidArgumentError(
        "--prompt-len, --batch, --repeat, --max-batch-tokens must be >= 1 and --gen-len >= 2");
  }
  MOE_ASSIGN_OR_RETURN(kernels::MathMode math,
                       kernels::ParseMathMode(flags.GetString("math", "fast")));
  kernels::SetMathMode(math);
  // What runs: "fast" only where the CPU has the fast kernels.
  const std::string math_name = kernels::FastLinearActive() ? "fast" : "exact";
  const std::string weights_name =
      source.weights != WeightFormat::kInt8
          ? std::string(WeightFormatName(source.weights))
          : (kernels::Int8LinearActive() ? "int8 (vnni)" : "int8 (scalar reference)");
  const bool json = flags.GetBool("json");
  ThreadPool pool(static_cast<int>(threads));
  MOE_ASSIGN_OR_RETURN(LoadedModel model, LoadWholeModel(source, &pool));
  const double bw = kernels::MeasureReadBandwidthGBs(&pool);
  const std::string name = source.like.empty() ? source.model_dir : source.like;

  EngineOptions options;
  options.max_batch_tokens = chunk;
  Engine engine(model.weights.get(), &pool, options);
  std::vector<double> prefill, decode, frac;
  double bytes_per_step = 0;
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
    const double pp = st.prompt_tokens / st.prefill_seconds;
    const double tg = static_cast<double>(st.decode_steps * batch) / st.decode_seconds;
    bytes_per_step = static_cast<double>(st.decode_weight_bytes) / st.decode_steps;
    const double achieved = bytes_per_step * st.decode_steps / st.decode_seconds / 1e9;
    prefill.push_back(pp);
    decode.push_back(tg);
    frac.push_back(achieved / bw);
    if (json) {
      OrderedJson j;
      j["run"] = r;
      j["prefill_tok_s"] = pp;
      j["decode_tok_s"] = tg;
      j["decode_weight_gb_s"] = achieved;
      std::printf("%s\n", j.dump().c_str());
    }
  }
  const Spread p = Summarize(prefill), d = Summarize(decode), f = Summarize(frac);
  if (json) {
    OrderedJson j;
    j["model"] = name;
    j["layers"] = model.config.num_hidden_layers;
    j["weights_gb"] = model.weights->matrix_bytes() / 1e9;
    j["threads"] = pool.num_threads();
    j["kernels"] = std::string(kernels::ActiveIsa());
    j["math"] = math_name;
    j["weights"] = weights_name;
    j["batch"] = batch;
    j["prompt_len"] = prompt_len;
    j["gen_len"] = gen_len;
    j["repeat"] = repeat;
    j["prefill_tok_s"] = {{"median", p.median}, {"min", p.min}, {"max", p.max}};
    j["decode_tok_s"] = {{"median", d.median}, {"min", d.min}, {"max", d.max}};
    j["weight_bytes_per_decode_step"] = bytes_per_step;
    j["weight_bytes_per_decoded_token"] = bytes_per_step / batch;
    j["read_bandwidth_gb_s"] = bw;
    j["bandwidth_fraction"] = {{"median", f.median}, {"min", f.min}, {"max", f.max}};
    std::printf("%s\n", j.dump().c_str());
    return absl::OkStatus();
  }
  std::printf("model %s: %lld layers, %.3f GB of weights (%s), %d threads, kernels %s, math %s\n",
              name.c_str(), static_cast<long long>(model.config.num_hidden_layers),
              model.weights->matrix_bytes() / 1e9, weights_name.c_str(), pool.num_threads(),
              std::string(kernels::ActiveIsa()).c_str(), math_name.c_str());
  std::printf("memory read bandwidth (measured now): %.1f GB/s\n", bw);
  std::printf("%-28s %12s %12s %12s\n", "", "median", "min", "max");
  std::printf("%-28s %12.1f %12.1f %12.1f\n",
              absl::StrCat("prefill pp", prompt_len, "x", batch, " tok/s").c_str(), p.median, p.min,
              p.max);
  std::printf("%-28s %12.2f %12.2f %12.2f\n",
              absl::StrCat("decode tg", gen_len, " b", batch, " tok/s").c_str(), d.median, d.min,
              d.max);
  std::printf("%-28s %12.1f%% %11.1f%% %11.1f%%\n", "decode / bandwidth limit", 100 * f.median,
              100 * f.min, 100 * f.max);
  std::printf("weight bytes per decode step: %.1f MB (%.1f MB per token)\n", bytes_per_step / 1e6,
              bytes_per_step / batch / 1e6);
  return absl::OkStatus();
}

}  // namespace
}  // namespace moe

int main(int argc, char** argv) {
  const bool offline = argc >= 2 && std::strcmp(argv[1], "offline") == 0;
  const bool serve = argc >= 2 && std::strcmp(argv[1], "serve") == 0;
  if (!offline && !serve) {
    std::fprintf(stderr,
                 "usage: moe-bench offline|serve [flags] (see moe-bench offline --help, "
                 "moe-bench serve --help)\n");
    return 2;
  }
  absl::Status s = offline ? moe::Offline(argc - 2, argv + 2) : moe::ServeBench(argc - 2, argv + 2);
  if (!s.ok()) {
    std::fprintf(stderr, "moe-bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
