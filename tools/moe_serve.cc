// moe-serve: the inference service. One process holds the coordinator (gRPC API, OpenAI-style
// HTTP, scheduler, metrics) and an in-process worker with the whole model.
//
//   moe-serve --model DIR [--grpc-port 50051] [--http-port 8000] [--threads N] ...
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/file.h"
#include "common/json.h"
#include "common/thread_pool.h"
#include "coordinator/api/auth.h"
#include "coordinator/api/grpc_server.h"
#include "coordinator/core/coordinator.h"
#include "coordinator/http/openai_server.h"
#include "coordinator/metrics/metrics.h"
#include "model/kv_cache.h"
#include "tools/flags.h"
#include "tools/model_source.h"
#include "worker/step_runner.h"

namespace moe {
namespace {

constexpr char kUsage[] = R"(usage: moe-serve --model DIR [flags]

Serves a Qwen3 / Qwen3-MoE model over gRPC (moe.v1.Inference, health, reflection) and an
OpenAI-compatible HTTP API. A model directory without tokenizer files serves token-id
prompts only.

Model:
  --model DIR              Hugging Face model directory (config.json, safetensors, tokenizer)
  --random-weights         random weights of DIR's config.json shape (or --like NAME)
  --like NAME [--layers N] a preset shape with random weights (qwen3-0.6b, qwen3-30b-a3b, ...)
  --served-model-name S    the model name clients use (default: DIR's basename)
  --max-model-len N        prompt + output tokens per sequence (default: the model's context)
  --threads N              compute threads (default: all cores)
Scheduling:
  --max-batch-tokens N     tokens per step; prefill is chunked to it (default 512)
  --max-num-seqs N         sequences per step (default 256)
  --max-queued N           waiting requests before RESOURCE_EXHAUSTED (default 1024)
  --block-size N           tokens per KV block (default 16)
  --kv-blocks N            KV blocks (default: --kv-cache-gb worth)
  --kv-cache-gb X          KV cache memory when --kv-blocks is not given (default 2)
  --no-prefix-caching      do not reuse KV blocks of identical prompt prefixes
Network:
  --host H                 listen address (default 0.0.0.0)
  --grpc-port P            gRPC API port (default 50051; 0 picks a free port)
  --http-port P            OpenAI-compatible HTTP port (default 8000; 0 picks one; -1: off)
  --health-port P          also serve gRPC health in plaintext on P (for probes; -1: off)
  --tls-cert F --tls-key F serve both APIs over TLS
  --api-keys F             require "authorization: Bearer KEY" (one key per line in F)
  --port-file F            write {"grpc": P, "http": P, "health": P} once listening
  --drain-seconds S        on SIGTERM: stop admitting, finish running requests for up to S
                           seconds (default 30), then exit 0
)";

// The in-process worker. REQUIRES: set_runner() before the coordinator starts.
class LocalExecutor : public StepExecutor {
 public:
  void set_runner(StepRunner* runner) { runner_ = runner; }
  absl::StatusOr<v1::StepResult> Execute(const v1::StepPlan& plan) override {
    if (plan.shutdown() || runner_ == nullptr) return v1::StepResult();
    return runner_->Run(plan);
  }

 private:
  StepRunner* runner_ = nullptr;
};

volatile sig_atomic_t g_signal = 0;
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

absl::Status Serve(int argc, char** argv) {
  MOE_ASSIGN_OR_RETURN(
      Flags flags,
      Flags::Parse(
          argc, argv, 1,
          {"model",         "like",         "layers",           "weight-seed",  "served-model-name",
           "max-model-len", "threads",      "max-batch-tokens", "max-num-seqs", "max-queued",
           "block-size",    "kv-blocks",    "kv-cache-gb",      "host",         "grpc-port",
           "http-port",     "health-port",  "tls-cert",         "tls-key",      "api-keys",
           "port-file",     "drain-seconds"},
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
  MOE_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 0));
  MOE_ASSIGN_OR_RETURN(int64_t max_model_len, flags.GetInt("max-model-len", 0));
  MOE_ASSIGN_OR_RETURN(int64_t grpc_port, flags.GetInt("grpc-port", 50051));
  MOE_ASSIGN_OR_RETURN(int64_t http_port, flags.GetInt("http-port", 8000));
  MOE_ASSIGN_OR_RETURN(int64_t health_port, flags.GetInt("health-port", -1));
  MOE_ASSIGN_OR_RETURN(double drain_seconds, flags.GetDouble("drain-seconds", 30));
  if (options.max_queued < 1) return absl::InvalidArgumentError("--max-queued must be >= 1");
  if (threads < 0) return absl::InvalidArgumentError("--threads must be >= 0");
  if (kv_blocks < 0) return absl::InvalidArgumentError("--kv-blocks must be >= 0");
  if (kv_gb <= 0) return absl::InvalidArgumentError("--kv-cache-gb must be > 0");
  if (max_model_len < 0) return absl::InvalidArgumentError("--max-model-len must be >= 1");
  if (sched.block_size < 1) return absl::InvalidArgumentError("--block-size must be >= 1");
  if (flags.Has("tls-cert") != flags.Has("tls-key")) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  ApiKeys api_keys;
  if (flags.Has("api-keys")) {
    MOE_ASSIGN_OR_RETURN(api_keys, ApiKeys::Load(flags.GetString("api-keys")));
  }

  // The API listens (health NOT_SERVING, requests UNAVAILABLE) while the weights load.
  Metrics metrics;
  ServedModel served;
  LocalExecutor executor;
  Coordinator coordinator(&served, &executor, &metrics, options);
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
    MOE_ASSIGN_OR_RETURN(http, HttpServer::Start(http_options, &coordinator, &metrics));
    http->SetServing(false);
  }
  if (flags.Has("port-file")) {
    MOE_RETURN_IF_ERROR(WritePortFile(flags.GetString("port-file"), grpc->port(),
                                      http ? http->port() : -1, grpc->health_port()));
  }

  ThreadPool pool(static_cast<int>(threads));
  const absl::Time t0 = absl::Now();
  MOE_ASSIGN_OR_RETURN(LoadedModel loaded, LoadWholeModel(source, &pool));
  MOE_RETURN_IF_ERROR(
      LoadServedModel(source, loaded.config, flags.GetString("served-model-name"), &served));
  const ModelConfig& config = loaded.config;
  served.max_model_len = max_model_len > 0 ? max_model_len : config.max_position_embeddings;
  if (served.max_model_len <= 0) served.max_model_len = 4096;
  if (config.max_position_embeddings > 0 && served.max_model_len > config.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("--max-model-len ", served.max_model_len,
                                                   " exceeds the model's context of ",
                                                   config.max_position_embeddings));
  }
  const int64_t block_bytes =
      KvCache::BytesPerBlock(config, config.num_hidden_layers, sched.block_size);
  if (kv_blocks == 0) {
    const int64_t per_seq = (served.max_model_len + sched.block_size - 1) / sched.block_size;
    kv_blocks = std::max<int64_t>(
        1, std::min<int64_t>(static_cast<int64_t>(kv_gb * (1 << 30)) / block_bytes,
                             per_seq * sched.max_num_seqs));
  }
  sched.num_blocks = kv_blocks;
  MOE_RETURN_IF_ERROR(sched.Validate());
  // A sequence longer than the whole pool could never finish (it would preempt forever).
  if (served.max_model_len > kv_blocks * sched.block_size) {
    served.max_model_len = kv_blocks * sched.block_size;
    std::fprintf(stderr, "moe-serve: max model length capped to the KV pool: %lld tokens\n",
                 static_cast<long long>(served.max_model_len));
  }
  served.kv_block_size = sched.block_size;
  served.kv_blocks_total = kv_blocks;
  served.layout = absl::StrCat("pp1 ep1 cpu threads=", pool.num_threads());

  StepRunner runner(loaded.weights.get(), &pool, kv_blocks, sched.block_size);
  executor.set_runner(&runner);
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

  // Serve until SIGTERM / SIGINT, or until the workers are lost.
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  while (g_signal == 0 && coordinator.healthy()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!coordinator.healthy()) {
    grpc->SetServing(false);
    if (http) http->Shutdown();
    grpc->Shutdown(absl::Seconds(1));
    return absl::UnavailableError("a worker failed; exiting so the orchestrator restarts us");
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
  std::fprintf(stderr, "moe-serve: stopped\n");
  return absl::OkStatus();
}

}  // namespace
}  // namespace moe

int main(int argc, char** argv) {
  absl::Status s = moe::Serve(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "moe-serve: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
