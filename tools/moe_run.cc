// moe-run: offline generation. Streams text to stdout as it is generated; a timing summary goes
// to stderr.
//
//   moe-run --model DIR --chat --prompt "What light through yonder window breaks?"
//   moe-run --model DIR --prompt-ids 1,2,3 --max-tokens 16 --temperature 0 --print-ids
//   moe-run --model DIR --device cuda:0 --prompt "Hello"
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file.h"
#include "common/json.h"
#include "common/model_config.h"
#include "common/thread_pool.h"
#include "coordinator/chat/chat_template.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "kernels/kernels.h"
#include "tools/device_flag.h"
#include "tools/flags.h"
#include "tools/launch.h"
#include "tools/model_source.h"
#include "worker/engine.h"

namespace moe {
namespace {

constexpr char kUsage[] = R"(usage: moe-run --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [flags]

model:
  --model DIR            Hugging Face model directory (config.json, safetensors, tokenizer)
  --random-weights       draw weights from config.json instead of reading them
  --like NAME            random weights of a preset shape (qwen3-0.6b, qwen3-30b-a3b, ...)
  --layers N             with --like: keep the first N layers
  --device D             cpu, cuda or cuda:N: where the model runs (default cpu); under
                         mpirun, each worker rank's device (cuda: a GPU of its host by local
                         rank)
  --threads N            worker threads (default: all cores)
  --math exact|fast      Linear arithmetic: fast rounds activations to bf16 for bf16 weights
                         on CPUs with AVX-512 BF16 (batched decode, prefill); exact keeps
                         fp32 activations (default fast)
  --weights bf16|int8    convert the weight matrices at load: int8 quantizes them (a bf16
                         scale per block of 32; activations quantized per token inside
                         Linear; AVX-512 VNNI): ~half the bytes of bf16, faster decode, each
                         Linear ~0.6% (RMS) off (default: as stored in the checkpoint)
distributed (under mpirun -np 1+P*E; the same output as one process):
  --pp P --ep E          pipeline stages, expert-parallel ranks per stage
  --layer-split A,B,...  layers per stage (default: even)
  --expert-map R0,R1,..  EP rank of each expert (default: e mod E)
  --step-timeout S       a worker silent for S seconds ends the job (default 30)
prompt:
  --prompt TEXT          text prompt (needs the tokenizer in DIR)
  --prompt-ids IDS       comma-separated token ids
  --chat                 wrap the prompt as a user message with the model's chat template
  --system TEXT          system message (with --chat)
  --no-think             chat template with enable_thinking=false
generation:
  --max-tokens N         default 256
  --ignore-eos           do not stop at the end-of-sequence ids
  --temperature T        0 is greedy (defaults come from generation_config.json)
  --top-k K  --top-p P  --min-p P
  --repetition-penalty R  --presence-penalty P  --frequency-penalty F
  --seed S               random seed (default: random)
output:
  --print-ids            print the generated ids on one line after the text
  --json                 one JSON line per token {"id","logprob","top":[...]} instead of text
  --logprobs N           top-N alternatives in --json output
  --block-size N         KV cache block size (default 16)
  --max-batch-tokens N   prefill chunk (default 512)
)";

// The MPI job this process is a rank of (null when alone). An error ends the whole job.
comm::Communicator* g_world = nullptr;

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "moe-run: %s\n", std::string(s.message()).c_str());
  std::fflush(stderr);
  if (g_world != nullptr) g_world->Abort(1);
  return 1;
}

absl::Status Run(int argc, char** argv) {
  MOE_ASSIGN_OR_RETURN(Flags flags, Flags::Parse(argc, argv, 1,
                                                 {"model",
                                                  "like",
                                                  "layers",
                                                  "threads",
                                                  "prompt",
                                                  "prompt-ids",
                                                  "system",
                                                  "max-tokens",
                                                  "temperature",
                                                  "top-k",
                                                  "top-p",
                                                  "min-p",
                                                  "repetition-penalty",
                                                  "presence-penalty",
                                                  "frequency-penalty",
                                                  "seed",
                                                  "logprobs",
                                                  "block-size",
                                                  "max-batch-tokens",
                                                  "weight-seed",
                                                  "math",
                                                  "weights",
                                                  "pp",
                                                  "ep",
                                                  "layer-split",
                                                  "expert-map",
                                                  "step-timeout",
                                                  "device"},
                                                 {"random-weights", "chat", "no-think",
                                                  "ignore-eos", "print-ids", "json", "help"}));
  if (flags.GetBool("help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", flags.positional()[0], "' (see --help)"));
  }
  MOE_ASSIGN_OR_RETURN(ModelSource source, ModelSourceFromFlags(flags));
  if (flags.Has("prompt") == flags.Has("prompt-ids")) {
    return absl::InvalidArgumentError("give exactly one of --prompt TEXT or --prompt-ids 1,2,3");
  }
  MOE_ASSIGN_OR_RETURN(const Device device, DeviceFromFlags(flags));
  MOE_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 0));
  MOE_ASSIGN_OR_RETURN(kernels::MathMode math,
                       kernels::ParseMathMode(flags.GetString("math", "fast")));
  kernels::SetMathMode(math);
  ThreadPool pool(static_cast<int>(threads));

  // Under mpirun: rank 0 drives the generation, ranks 1..P*E hold the layout's shards.
  MOE_ASSIGN_OR_RETURN(const JobFlags job, JobFlagsFrom(flags));
  MOE_ASSIGN_OR_RETURN(const ModelConfig config, LoadSourceConfig(source));
  MOE_ASSIGN_OR_RETURN(const Layout layout, Layout::Make(config, job.layout));
  MOE_RETURN_IF_ERROR(JoinJob(layout, "moe-run", &g_world));
  MOE_ASSIGN_OR_RETURN(const int64_t block_size, flags.GetInt("block-size", 16));
  if (block_size < 1) return absl::InvalidArgumentError("--block-size must be >= 1");
  const int64_t kv_blocks = RunKvBlocks(config, block_size);
  EngineOptions options;
  options.block_size = block_size;
  MOE_ASSIGN_OR_RETURN(options.max_batch_tokens, flags.GetInt("max-batch-tokens", 512));
  if (options.max_batch_tokens < 1) {
    return absl::InvalidArgumentError("--max-batch-tokens must be >= 1");
  }
  ShardRunnerOptions runner_options;
  runner_options.device = device;
  runner_options.num_blocks = kv_blocks;
  runner_options.block_size = block_size;
  runner_options.max_tokens = options.max_batch_tokens;
  runner_options.max_seqs = kRunMaxSeqs;
  runner_options.max_seq_len = kv_blocks * block_size;
  if (g_world != nullptr && g_world->rank() != 0) {
    WorkerRankOptions w;
    w.kv_blocks = kv_blocks;
    w.block_size = block_size;
    w.step_timeout_seconds = job.step_timeout_seconds;
    w.device = device;
    w.max_tokens = runner_options.max_tokens;
    w.max_seqs = runner_options.max_seqs;
    w.max_seq_len = runner_options.max_seq_len;
    return RunWorkerRank(g_world, layout, source, config, w, &pool);
  }
  // Alone on a GPU: fail now, before anything is read, when there is none.
  if (g_world == nullptr) {
    MOE_ASSIGN_OR_RETURN(runner_options.device, CheckDevice(device));
  }

  // Tokenizer: needed for text prompts and text output, optional otherwise.
  std::unique_ptr<Tokenizer> tokenizer;
  if (!source.model_dir.empty() && FileExists(JoinPath(source.model_dir, "tokenizer.json"))) {
    MOE_ASSIGN_OR_RETURN(tokenizer, Tokenizer::Load(source.model_dir));
  }

  // The prompt.
  std::vector<int32_t> prompt;
  if (flags.Has("prompt-ids")) {
    if (flags.GetBool("chat")) return absl::InvalidArgumentError("--chat needs --prompt TEXT");
    MOE_ASSIGN_OR_RETURN(std::vector<int64_t> ids, flags.GetIntList("prompt-ids"));
    for (int64_t id : ids) prompt.push_back(static_cast<int32_t>(id));
  } else {
    if (tokenizer == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(source.model_dir.empty() ? std::string("this model") : source.model_dir,
                       " has no tokenizer.json: use --prompt-ids"));
    }
    std::string text = flags.GetString("prompt");
    if (flags.GetBool("chat")) {
      MOE_ASSIGN_OR_RETURN(
          auto formatter,
          ChatFormatter::Create(tokenizer->config(), "",
                                JoinPath(source.model_dir, "tokenizer_config.json")));
      ChatRequest chat;
      if (flags.Has("system")) {
        chat.messages.push_back({{"role", "system"}, {"content", flags.GetString("system")}});
      }
      chat.messages.push_back({{"role", "user"}, {"content", text}});
      chat.add_generation_prompt = true;
      if (flags.GetBool("no-think")) chat.template_kwargs["enable_thinking"] = false;
      MOE_ASSIGN_OR_RETURN(text, formatter->Render(chat));
    }
    MOE_ASSIGN_OR_RETURN(prompt, tokenizer->Encode(text));
  }

  LoadedModel model;
  if (g_world == nullptr) {
    MOE_ASSIGN_OR_RETURN(model, LoadWholeModel(source, &pool));
  } else {
    model.config = config;
  }

  // Sampling: generation_config.json defaults, then flags.
  GenerateRequest req;
  req.prompt = prompt;
  GenerationConfig gen;
  if (!source.model_dir.empty()) {
    MOE_ASSIGN_OR_RETURN(gen, LoadGenerationConfig(source.model_dir));
  }
  SamplingParams& sp = req.sampling;
  if (gen.do_sample.has_value() && !*gen.do_sample) sp.temperature = 0.0f;
  if (gen.temperature) sp.temperature = static_cast<float>(*gen.temperature);
  if (gen.top_k) sp.top_k = static_cast<int32_t>(*gen.top_k);
  if (gen.top_p) sp.top_p = static_cast<float>(*gen.top_p);
  if (gen.min_p) sp.min_p = static_cast<float>(*gen.min_p);
  if (gen.repetition_penalty) sp.repetition_penalty = static_cast<float>(*gen.repetition_penalty);
  MOE_ASSIGN_OR_RETURN(double temperature, flags.GetDouble("temperature", sp.temperature));
  MOE_ASSIGN_OR_RETURN(int64_t top_k, flags.GetInt("top-k", sp.top_k));
  MOE_ASSIGN_OR_RETURN(double top_p, flags.GetDouble("top-p", sp.top_p));
  MOE_ASSIGN_OR_RETURN(double min_p, flags.GetDouble("min-p", sp.min_p));
  MOE_ASSIGN_OR_RETURN(double rep, flags.GetDouble("repetition-penalty", sp.repetition_penalty));
  MOE_ASSIGN_OR_RETURN(double pres, flags.GetDouble("presence-penalty", 0.0));
  MOE_ASSIGN_OR_RETURN(double freq, flags.GetDouble("frequency-penalty", 0.0));
  MOE_ASSIGN_OR_RETURN(int64_t logprobs, flags.GetInt("logprobs", 0));
  MOE_ASSIGN_OR_RETURN(int64_t seed,
                       flags.GetInt("seed", static_cast<int64_t>(std::random_device{}())));
  sp.temperature = static_cast<float>(temperature);
  sp.top_k = static_cast<int32_t>(top_k);
  sp.top_p = static_cast<float>(top_p);
  sp.min_p = static_cast<float>(min_p);
  sp.repetition_penalty = static_cast<float>(rep);
  sp.presence_penalty = static_cast<float>(pres);
  sp.frequency_penalty = static_cast<float>(freq);
  sp.logprobs = static_cast<int32_t>(logprobs);
  sp.seed = static_cast<uint64_t>(seed);
  MOE_RETURN_IF_ERROR(sp.Validate());
  MOE_ASSIGN_OR_RETURN(req.max_tokens, flags.GetInt("max-tokens", 256));
  req.ignore_eos = flags.GetBool("ignore-eos");
  for (int64_t id : gen.eos_token_ids.empty() ? model.config.eos_token_ids : gen.eos_token_ids) {
    req.stop_ids.push_back(static_cast<int32_t>(id));
  }

  const bool json = flags.GetBool("json");
  std::unique_ptr<StreamDecoder> stream;
  if (tokenizer != nullptr && !json) stream = std::make_unique<StreamDecoder>(*tokenizer, true);
  std::vector<int32_t> generated;
  GenerateStats stats;
  auto on_token = [&](const SampleResult& r) {
    generated.push_back(r.token);
    if (json) {
      OrderedJson line;
      line["id"] = r.token;
      line["logprob"] = r.logprob;
      line["top"] = OrderedJson::array();
      for (const TokenLogprob& t : r.top)
        line["top"].push_back({{"id", t.id}, {"logprob", t.logprob}});
      std::cout << line.dump() << "\n" << std::flush;
    } else if (stream != nullptr) {
      std::cout << stream->Push(r.token) << std::flush;
    }
  };
  if (g_world != nullptr) {
    MOE_RETURN_IF_ERROR(GenerateOnJob(g_world, layout, config, req, options, kv_blocks,
                                      job.step_timeout_seconds, on_token, &stats));
  } else if (runner_options.device.is_cuda()) {
    // The in-process worker on the GPU, stepped by the coordinator's scheduler.
    MOE_ASSIGN_OR_RETURN(std::unique_ptr<ShardRunner> runner,
                         MakeShardRunner(model.weights.get(), &pool, runner_options));
    model.weights.reset();  // uploaded
    LocalExecutor local;
    local.set_runner(runner.get());
    MOE_RETURN_IF_ERROR(GenerateWith(&local, config, req, options, kv_blocks, on_token, &stats));
  } else {
    Engine engine(model.weights.get(), &pool, options);
    MOE_RETURN_IF_ERROR(engine.Generate(
        {req},
        [&](int64_t, const SampleResult& r, FinishReason) {
          on_token(r);
          return true;
        },
        &stats));
  }
  if (stream != nullptr) std::cout << stream->Finish() << "\n";
  if (flags.GetBool("print-ids")) std::cout << absl::StrJoin(generated, " ") << "\n";
  std::cout << std::flush;

  std::fprintf(stderr,
               "moe-run: load %.2f s | prompt %lld tokens, %.1f tok/s | decode %lld tokens, "
               "%.1f tok/s | %s, %d threads, kernels %s, math %s\n",
               model.load_seconds, static_cast<long long>(stats.prompt_tokens),
               stats.prefill_seconds > 0 ? stats.prompt_tokens / stats.prefill_seconds : 0.0,
               static_cast<long long>(stats.generated_tokens),
               stats.decode_seconds > 0 ? stats.decode_steps / stats.decode_seconds : 0.0,
               runner_options.device.ToString().c_str(), pool.num_threads(),
               std::string(kernels::ActiveIsa()).c_str(),
               kernels::FastLinearActive() ? "fast" : "exact");
  return absl::OkStatus();
}

}  // namespace
}  // namespace moe

int main(int argc, char** argv) {
  absl::Status s = moe::Run(argc, argv);
  if (!s.ok()) return moe::Fail(s);
  return 0;
}
