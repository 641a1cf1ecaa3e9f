// moe-serve: the inference service. Alone, one process holds the coordinator (gRPC API,
// OpenAI-style HTTP, scheduler, metrics) and an in-process worker with the whole model. Under
// mpirun, rank 0 is the coordinator and ranks 1..P*E the workers of a --pp P --ep E layout.
//
//   moe-serve --model DIR [--grpc-port 50051] [--http-port 8000] [--threads N] ...
//   mpirun -np 1+P*E moe-serve --model DIR --pp P --ep E ...
//   moe-serve --model DIR --device cuda:0        (the in-process worker on a GPU)
//   moe-serve plan --model DIR --pp P --ep E     (what each rank will hold)
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "comm/communicator.h"
#include "common/file.h"
#include "common/json.h"
#include "common/thread_pool.h"
#include "coordinator/api/auth.h"
#include "coordinator/api/grpc_server.h"
#include "coordinator/core/coordinator.h"
#include "coordinator/http/openai_server.h"
#include "coordinator/metrics/metrics.h"
#include "coordinator/remote/remote_executor.h"
#include "kernels/kernels.h"
#include "model/kv_cache.h"
#include "tools/device_flag.h"
#include "tools/flags.h"
#include "tools/launch.h"
#include "tools/model_source.h"
#include "worker/layout.h"
#include "worker/shard_runner.h"
#include "worker/shard_worker.h"

namespace moe {
namespace {

constexpr char kUsage[] = R"(usage: moe-serve --model DIR [flags]
       mpirun -np 1+P*E moe-serve --model DIR --pp P --ep E [flags]
       moe-serve plan --model DIR --pp P --ep E [--device D] [--kv-blocks N | --kv-cache-gb X]

Serves a Qwen3 / Qwen3-MoE model over gRPC (moe.v1.Inference, health, reflection) and an
OpenAI-compatible HTTP API. A model directory without tokenizer files serves token-id
prompts only.

Model:
  --model DIR              Hugging Face model directory (config.json, safetensors, tokenizer)
  --random-weights         random weights of DIR's config.json shape (or --like NAME)
  --like NAME [--layers N] a preset shape with random weights (qwen3-0.6b, qwen3-30b-a3b, ...)
  --served-model-name S    the model name clients use (default: DIR's basename)
  --max-model-len N        prompt + output tokens per sequence (default: the model's context)
  --device D               cpu, cuda or cuda:N: where each worker computes (default cpu); under
                           mpirun, cuda gives each worker rank a GPU of its host (local rank
                           modulo the host's GPUs)
  --threads N              compute threads per worker (default: all cores)
  --math exact|fast        fp32 math, or bf16 activations in the matrix products (default fast)
  --weights bf16|int8      convert the weight matrices at load; int8: quantized in blocks of 32
                           with a scale each, VNNI kernels (default: as stored)
Distributed (under mpirun; rank 0 is the coordinator, ranks 1..P*E the workers):
  --pp P                   pipeline stages: contiguous layer ranges (default 1)
  --ep E                   expert-parallel ranks per stage: each MoE layer's experts split E ways
  --layer-split A,B,...    layers per stage (default: an even split)
  --expert-map R0,R1,...   the EP rank of each expert (default: expert e on rank e mod E)
  --step-timeout S         a worker that does not finish a step in S seconds is lost (default 30)
Scheduling:
  --max-batch-tokens N     tokens per step; prefill is chunked to it (default 512)
  --max-num-seqs N         sequences per step (default 256)
  --max-queued N           waiting requests before RESOURCE_EXHAUSTED (default 1024)
  --block-size N           tokens per KV block (default 16)
  --kv-blocks N            KV blocks (default: --kv-cache-gb worth)
  --kv-cache-gb X          KV cache memory per worker when --kv-blocks is not given (default 2)
  --no-prefix-caching      do not reuse KV blocks of identical prompt prefixes
Network:
  --host H                 listen address (default 0.0.0.0)
  --grpc-port P            gRPC API port (default 50051; 0 picks a free port)
  --http-port P            OpenAI-compatible HTTP port (default 8000; 0 picks one; -1: off)
  --health-port P          also serve gRPC health in plaintext on P (for probes; -1: off)
  --tls-cert F --tls-key F serve both APIs over TLS
  --api-keys F             require "authorization: Bearer KEY" (one key per line in F)
  --reasoning-parser qwen3 HTTP chat: "<think>...</think>" goes to reasoning_content (as vLLM)
  --port-file F            write {"grpc": P, "http": P, "health": P} once listening
  --drain-seconds S        on SIGTERM (SIGUSR1 to mpirun for a job): stop admitting, finish
                           running requests for up to S seconds (default 30), then exit 0
)";

volatile sig_atomic_t g_signal = 0;
// The MPI job this process is a rank of (null when alone): an error exit aborts the whole job,
// so that no rank waits for this one and mpirun exits non-zero.
comm::Communicator* g_world = nullptr;
void OnSignal(int sig) { g_signal = sig; }

std::string Basename(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::Status WritePortFile(const std::string& path, int grpc, int http, int health) {
  Json j = {{"grpc", grpc}, {"http", http}, {"health", health}};
  const std::string tmp = path + ".tmp";
  MOE_RETURN_IF_ERROR(WriteFile(tmp, j.dump() + "\n"));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::Status LoadServedModel(const ModelSource& source, const ModelConfig& config,
                             const std::string& name, ServedModel* model) {
  model->config = config;
  model->model_id = !name.empty()               ? name
                    : !source.model_dir.empty() ? Basename(source.model_dir)
                                                : source.like;
  if (!source.model_dir.empty()) {
    MOE_ASSIGN_OR_RETURN(model->generation, LoadGenerationConfig(source.model_dir));
    if (FileExists(JoinPath(source.model_dir, "tokenizer.json"))) {
      MOE_ASSIGN_OR_RETURN(model->tokenizer, Tokenizer::Load(source.model_dir));
      if (model->tokenizer->config().contains("chat_template")) {
        MOE_ASSIGN_OR_RETURN(model->chat, ChatFormatter::Create(
                                              model->tokenizer->config(), "",
                                              JoinPath(source.model_dir, "tokenizer_config.json")));
      }
    }
  }
  return absl::OkStatus();
}

// The KV pool in blocks: --kv-blocks, or as many as --kv-cache-gb holds on the worker with the
// most layers (never more than max_num_seqs full-length sequences need).
int64_t KvBlocks(const ModelConfig& config, const Layout& layout, int64_t kv_blocks, double kv_gb,
                 int64_t max_model_len, const SchedulerOptions& sched) {
  if (kv_blocks > 0) return kv_blocks;
  int64_t layers = 0;
  for (int64_t s = 0; s < layout.pp(); ++s) {
    layers = std::max(layers, layout.stage_begin(s + 1) - layout.stage_begin(s));
  }
  const int64_t block_bytes = KvCache::BytesPerBlock(config, layers, sched.block_size);
  const int64_t per_seq = (max_model_len + sched.block_size - 1) / sched.block_size;
  return std::max<int64_t>(1,
                           std::min<int64_t>(static_cast<int64_t>(kv_gb * (1 << 30)) / block_bytes,
                                             per_seq * sched.max_num_seqs));
}

// `moe-serve plan`: what each rank of a layout will hold, before anything is launched.
void PrintPlan(const ModelConfig& config, const Layout& layout, const Device& device,
               int64_t kv_blocks, int64_t block_size) {
  std::printf("layout %s on %s, %lld MPI ranks (mpirun -np %lld), %lld KV blocks of %lld tokens\n",
              layout.Describe().c_str(), device.ToString().c_str(),
              static_cast<long long>(layout.world_size()),
              static_cast<long long>(layout.world_size()), static_cast<long long>(kv_blocks),
              static_cast<long long>(block_size));
  std::printf("%-5s %-12s %-7s %-10s %-8s %12s %12s %12s\n", "rank", "role", "device", "layers",
              "experts", "weights MiB", "KV MiB", "total MiB");
  std::printf("%-5d %-12s %-7s %-10s %-8s %12s %12s %12s\n", 0, "coordinator", "-", "-", "-", "0",
              "0", "0");
  const double mib = 1 << 20;
  const int64_t bytes_per_param = config.torch_dtype == "float32" ? 4 : 2;
  for (int64_t w = 0; w < layout.num_workers(); ++w) {
    const ShardSpec spec = layout.Shard(w);
    const ShardMemory m = EstimateShardMemory(config, spec, bytes_per_param, kv_blocks, block_size);
    const std::string role =
        absl::StrCat("stage ", layout.stage_of(w), " ep ", layout.ep_rank_of(w));
    const std::string layers = absl::StrCat("[", spec.layer_begin, ",", spec.layer_end, ")");
    const std::string experts =
        config.is_moe() ? absl::StrCat(m.experts, "/", config.num_experts) : "-";
    std::printf("%-5lld %-12s %-7s %-10s %-8s %12.1f %12.1f %12.1f\n",
                static_cast<long long>(w + 1), role.c_str(), device.ToString().c_str(),
                layers.c_str(), experts.c_str(), m.weight_bytes / mib, m.kv_bytes / mib,
                (m.weight_bytes + m.kv_bytes) / mib);
  }
}

absl::Status Serve(int argc, char** argv) {
  // mpirun forwards SIGUSR1 to the ranks (SIGTERM to mpirun kills the job at once): the
  // coordinator drains on either.
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  signal(SIGUSR1, OnSignal);
  const bool plan_only = argc > 1 && std::string(argv[1]) == "plan";
  MOE_ASSIGN_OR_RETURN(Flags flags, Flags::Parse(argc, argv, plan_only ? 2 : 1,
                                                 {"model",
                                                  "like",
                                                  "layers",
                                                  "weight-seed",
                                                  "served-model-name",
                                                  "max-model-len",
                                                  "threads",
                                                  "max-batch-tokens",
                                                  "max-num-seqs",
                                                  "max-queued",
                                                  "block-size",
                                                  "kv-blocks",
                                                  "kv-cache-gb",
                                                  "host",
                                                  "grpc-port",
                                                  "http-port",
                                                  "health-port",
                                                  "tls-cert",
                                                  "tls-key",
                                                  "api-keys",
                                                  "reasoning-parser",
                                                  "port-file",
                                                  "drain-seconds",
                                                  "pp",
                                                  "ep",
                                                  "layer-split",
                                                  "expert-map",
                                                  "step-timeout",
                                                  "math",
                                                  "weights",
                                                  "device"},
                                                 {"random-weights", "no-prefix-caching", "help"}));
  if (flags.GetBool("help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", flags.positional()[0], "' (see --help)"));
  }
  MOE_ASSIGN_OR_RETURN(ModelSource source, ModelSourceFromFlags(flags));
  if (source.model_dir.empty() && source.like.empty()) {
    return absl::InvalidArgumentError("--model DIR is required (see --help)");
  }

  CoordinatorOptions options;
  SchedulerOptions& sched = options.scheduler;
  MOE_ASSIGN_OR_RETURN(sched.block_size, flags.GetInt("block-size", 16));
  MOE_ASSIGN_OR_RETURN(sched.max_batch_tokens, flags.GetInt("max-batch-tokens", 512));
  MOE_ASSIGN_OR_RETURN(sched.max_num_seqs, flags.GetInt("max-num-seqs", 256));
  MOE_ASSIGN_OR_RETURN(options.max_queued, flags.GetInt("max-queued", 1024));
  sched.enable_prefix_caching = !flags.GetBool("no-prefix-caching");
  MOE_ASSIGN_OR_RETURN(int64_t kv_blocks, flags.GetInt("kv-blocks", 0));
  MOE_ASSIGN_OR_RETURN(double kv_gb, flags.GetDouble("kv-cache-gb", 2.0));
  MOE_ASSIGN_OR_RETURN(Device device, DeviceFromFlags(flags));
  MOE_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 0));
  MOE_ASSIGN_OR_RETURN(int64_t max_model_len, flags.GetInt("max-model-len", 0));
  MOE_ASSIGN_OR_RETURN(int64_t grpc_port, flags.GetInt("grpc-port", 50051));
  MOE_ASSIGN_OR_RETURN(int64_t http_port, flags.GetInt("http-port", 8000));
  MOE_ASSIGN_OR_RETURN(int64_t health_port, flags.GetInt("health-port", -1));
  MOE_ASSIGN_OR_RETURN(double drain_seconds, flags.GetDouble("drain-seconds", 30));
  MOE_ASSIGN_OR_RETURN(const JobFlags job, JobFlagsFrom(flags));
  MOE_ASSIGN_OR_RETURN(const kernels::MathMode math,
                       kernels::ParseMathMode(flags.GetString("math", "fast")));
  kernels::SetMathMode(math);
  const double step_timeout = job.step_timeout_seconds;
  if (options.max_queued < 1) return absl::InvalidArgumentError("--max-queued must be >= 1");
  const std::string reasoning_parser = flags.GetString("reasoning-parser");
  if (!reasoning_parser.empty() && reasoning_parser != "qwen3") {
    return absl::InvalidArgumentError(
        absl::StrCat("--reasoning-parser: expected qwen3, got '", reasoning_parser, "'"));
  }
  const bool split_reasoning = !reasoning_parser.empty();
  if (threads < 0) return absl::InvalidArgumentError("--threads must be >= 0");
  if (kv_blocks < 0) return absl::InvalidArgumentError("--kv-blocks must be >= 0");
  if (kv_gb <= 0) return absl::InvalidArgumentError("--kv-cache-gb must be > 0");
  if (max_model_len < 0) return absl::InvalidArgumentError("--max-model-len must be >= 1");
  if (sched.block_size < 1) return absl::InvalidArgumentError("--block-size must be >= 1");
  if (flags.Has("tls-cert") != flags.Has("tls-key")) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }

  // The layout is checked against the config (and the MPI world) before any weight is read.
  MOE_ASSIGN_OR_RETURN(const ModelConfig config, LoadSourceConfig(source));
  MOE_ASSIGN_OR_RETURN(const Layout layout, Layout::Make(config, job.layout));
  int64_t model_len = max_model_len > 0 ? max_model_len : config.max_position_embeddings;
  if (model_len <= 0) model_len = 4096;
  if (config.max_position_embeddings > 0 && model_len > config.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("--max-model-len ", model_len,
                                                   " exceeds the model's context of ",
                                                   config.max_position_embeddings));
  }
  kv_blocks = KvBlocks(config, layout, kv_blocks, kv_gb, model_len, sched);
  if (plan_only) {
    PrintPlan(config, layout, device, kv_blocks, sched.block_size);
    return absl::OkStatus();
  }
  MOE_RETURN_IF_ERROR(JoinJob(layout, "moe-serve", &g_world));
  comm::Communicator* world = g_world;
  // Workers on a GPU: alone, fail now when there is none (worker ranks check their own).
  if (world == nullptr) {
    MOE_ASSIGN_OR_RETURN(device, CheckDevice(device));
  }
  // A worker's steps: at most what the scheduler sends (sizes the CUDA buffers and graphs).
  const int64_t step_seq_len = std::min(model_len, kv_blocks * sched.block_size);
  if (world != nullptr && world->rank() != 0) {
    // A worker: the coordinator decides when to stop (a shutdown plan after its drain).
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    ThreadPool pool(static_cast<int>(threads));
    WorkerRankOptions w;
    w.kv_blocks = kv_blocks;
    w.block_size = sched.block_size;
    w.step_timeout_seconds = step_timeout;
    w.device = device;
    w.max_tokens = sched.max_batch_tokens;
    w.max_seqs = sched.max_num_seqs;
    w.max_seq_len = step_seq_len;
    return RunWorkerRank(world, layout, source, config, w, &pool);
  }

  ApiKeys api_keys;
  if (flags.Has("api-keys")) {
    MOE_ASSIGN_OR_RETURN(api_keys, ApiKeys::Load(flags.GetString("api-keys")));
  }

  // The API listens (health NOT_SERVING, requests UNAVAILABLE) while the weights load.
  Metrics metrics;
  ServedModel served;
  LocalExecutor local;
  std::unique_ptr<RemoteExecutor> remote;
  std::unique_ptr<comm::Communicator> stage_group;
  if (world != nullptr) {
    // Rank 0 takes part in the workers' collective split (a group of its own).
    MOE_ASSIGN_OR_RETURN(stage_group, SplitStages(world, layout));
    remote = std::make_unique<RemoteExecutor>(
        world, RemoteExecutorOptions{layout.pp(), layout.ep(), step_timeout});
  }
  StepExecutor* executor = remote ? static_cast<StepExecutor*>(remote.get()) : &local;
  Coordinator coordinator(&served, executor, &metrics, options);
  GrpcServerOptions grpc_options;
  grpc_options.host = flags.GetString("host", "0.0.0.0");
  grpc_options.port = static_cast<int>(grpc_port);
  grpc_options.health_port = static_cast<int>(health_port);
  grpc_options.tls_cert_file = flags.GetString("tls-cert");
  grpc_options.tls_key_file = flags.GetString("tls-key");
  grpc_options.api_keys = &api_keys;
  MOE_ASSIGN_OR_RETURN(std::unique_ptr<GrpcServer> grpc,
                       GrpcServer::Start(grpc_options, &coordinator, &metrics));
  grpc->SetServing(false);
  std::unique_ptr<HttpServer> http;
  if (http_port >= 0) {
    HttpServerOptions http_options;
    http_options.host = grpc_options.host;
    http_options.port = static_cast<int>(http_port);
    http_options.tls_cert_file = grpc_options.tls_cert_file;
    http_options.tls_key_file = grpc_options.tls_key_file;
    http_options.api_keys = &api_keys;
    http_options.split_reasoning = split_reasoning;
    MOE_ASSIGN_OR_RETURN(http, HttpServer::Start(http_options, &coordinator, &metrics));
    http->SetServing(false);
  }
  if (flags.Has("port-file")) {
    MOE_RETURN_IF_ERROR(WritePortFile(flags.GetString("port-file"), grpc->port(),
                                      http ? http->port() : -1, grpc->health_port()));
  }

  const absl::Time t0 = absl::Now();
  MOE_RETURN_IF_ERROR(
      LoadServedModel(source, config, flags.GetString("served-model-name"), &served));
  // A sequence longer than the whole pool could never finish (it would preempt forever).
  if (model_len > kv_blocks * sched.block_size) {
    model_len = kv_blocks * sched.block_size;
    std::fprintf(stderr, "moe-serve: max model length capped to the KV pool: %lld tokens\n",
                 static_cast<long long>(model_len));
  }
  served.max_model_len = model_len;
  sched.num_blocks = kv_blocks;
  MOE_RETURN_IF_ERROR(sched.Validate());
  served.kv_block_size = sched.block_size;
  served.kv_blocks_total = kv_blocks;

  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<ModelWeights> weights;
  std::unique_ptr<ShardRunner> runner;
  if (remote) {
    MOE_ASSIGN_OR_RETURN(std::vector<v1::WorkerHello> hellos, remote->AwaitWorkers());
    for (const v1::WorkerHello& h : hellos) {
      std::fprintf(stderr,
                   "moe-serve: rank %d on %s (pid %lld): %s, %.1f MiB weights, %.1f MiB KV, "
                   "loaded in %.2f s, resident %.1f MiB\n",
                   h.rank(), h.host().c_str(), static_cast<long long>(h.pid()), h.shard().c_str(),
                   h.weight_bytes() / 1048576.0, h.kv_bytes() / 1048576.0, h.load_seconds(),
                   h.resident_bytes() / 1048576.0);
    }
    served.layout = absl::StrCat(layout.Describe(), " ", device.ToString(),
                                 " workers=", layout.num_workers(), " mpi");
  } else {
    pool = std::make_unique<ThreadPool>(static_cast<int>(threads));
    MOE_ASSIGN_OR_RETURN(weights, LoadShard(source, config, ShardSpec::Whole(config), pool.get()));
    ShardRunnerOptions ro;
    ro.device = device;
    ro.num_blocks = kv_blocks;
    ro.block_size = sched.block_size;
    ro.max_tokens = sched.max_batch_tokens;
    ro.max_seqs = sched.max_num_seqs;
    ro.max_seq_len = model_len;
    MOE_ASSIGN_OR_RETURN(runner, MakeShardRunner(weights.get(), pool.get(), ro));
    local.set_runner(runner.get());
    const double weight_mib = weights->matrix_bytes() / 1048576.0;
    if (device.is_cuda()) {
      weights.reset();  // uploaded to the device
      served.layout = absl::StrCat("pp1 ep1 ", device.ToString());
    } else {
      served.layout = absl::StrCat("pp1 ep1 cpu threads=", pool->num_threads(),
                                   " math=", kernels::FastLinearActive() ? "fast" : "exact");
    }
    std::fprintf(stderr, "moe-serve: %.1f MiB weights loaded on %s, resident %.1f MiB\n",
                 weight_mib, device.ToString().c_str(), ResidentBytes() / 1048576.0);
  }
  const int64_t block_bytes =
      KvCache::BytesPerBlock(config, config.num_hidden_layers, sched.block_size);
  coordinator.set_scheduler_options(sched);
  coordinator.Start();
  grpc->SetServing(true);
  if (http) http->SetServing(true);
  std::fprintf(stderr,
               "moe-serve: %s (%s) ready in %.2f s; %lld KV blocks of %lld tokens (%.1f MiB); "
               "gRPC on %s:%d%s%s\n",
               served.model_id.c_str(), served.layout.c_str(),
               absl::ToDoubleSeconds(absl::Now() - t0), static_cast<long long>(kv_blocks),
               static_cast<long long>(sched.block_size),
               static_cast<double>(kv_blocks * block_bytes) / (1 << 20), grpc_options.host.c_str(),
               grpc->port(), http ? absl::StrCat(", HTTP on port ", http->port()).c_str() : "",
               served.tokenizer ? "" : "; no tokenizer: token-id prompts only");

  // Serve until SIGTERM / SIGINT / SIGUSR1 (handlers set at start), or until the workers are
  // lost.
  while (g_signal == 0 && coordinator.healthy()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!coordinator.healthy()) {
    grpc->SetServing(false);
    if (http) http->Shutdown();
    grpc->Shutdown(absl::Seconds(1));
    return absl::UnavailableError(absl::StrCat(coordinator.failure().message(),
                                               "; exiting so that the orchestrator restarts us"));
  }
  // Graceful drain: refuse new requests, let running ones finish up to the grace period.
  std::fprintf(stderr, "moe-serve: draining (%d active requests, up to %.0f s)\n",
               static_cast<int>(coordinator.active_requests()), drain_seconds);
  grpc->SetServing(false);
  coordinator.Drain();
  const absl::Time deadline = absl::Now() + absl::Seconds(drain_seconds);
  while (coordinator.active_requests() > 0 && absl::Now() < deadline && g_signal != SIGINT) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (http) http->Shutdown();
  grpc->Shutdown(absl::Seconds(1));
  coordinator.Stop();
  if (remote && remote->stats().steps > 0) {
    const RemoteStats& st = remote->stats();
    const double n = static_cast<double>(st.steps);
    std::fprintf(stderr,
                 "moe-serve: %lld steps over %s: %.2f ms per step; slowest worker %.2f ms per "
                 "step, of which %.2f ms waiting for peers\n",
                 static_cast<long long>(st.steps), layout.Describe().c_str(),
                 1e3 * st.step_seconds / n, 1e3 * st.compute_seconds / n,
                 1e3 * st.comm_seconds / n);
  }
  std::fprintf(stderr, "moe-serve: stopped\n");
  return absl::OkStatus();
}

}  // namespace
}  // namespace moe

int main(int argc, char** argv) {
  absl::Status s = moe::Serve(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "moe-serve: %s\n", std::string(s.message()).c_str());
    std::fflush(stderr);
    if (moe::g_world != nullptr) moe::g_world->Abort(1);
    return 1;
  }
  return 0;
}
