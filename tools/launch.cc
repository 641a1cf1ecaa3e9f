#include "tools/launch.h"

#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "coordinator/core/coordinator.h"
#include "coordinator/remote/remote_executor.h"
#include "tools/flags.h"
#include "worker/shard_worker.h"

namespace moe {

absl::StatusOr<JobFlags> JobFlagsFrom(const Flags& flags) {
  JobFlags j;
  MOE_ASSIGN_OR_RETURN(j.layout.pp, flags.GetInt("pp", 1));
  MOE_ASSIGN_OR_RETURN(j.layout.ep, flags.GetInt("ep", 1));
  j.layout.layer_split = flags.GetString("layer-split");
  j.layout.expert_map = flags.GetString("expert-map");
  MOE_ASSIGN_OR_RETURN(j.step_timeout_seconds, flags.GetDouble("step-timeout", 30));
  if (j.step_timeout_seconds <= 0) return absl::InvalidArgumentError("--step-timeout must be > 0");
  return j;
}

absl::Status JoinJob(const Layout& layout, const char* program, comm::Communicator** world) {
  *world = nullptr;
  if (!comm::LaunchedByMpirun()) {
    if (layout.num_workers() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--pp ", layout.pp(), " --ep ", layout.ep(), " runs as ", layout.world_size(),
          " MPI ranks: start it with mpirun -np ", layout.world_size(), " ", program, " ..."));
    }
    return absl::OkStatus();
  }
  MOE_ASSIGN_OR_RETURN(std::unique_ptr<comm::Communicator> mpi, comm::MpiWorld());
  *world = mpi.release();  // MPI is finalised at exit
  return layout.CheckWorldSize((*world)->size());
}

absl::Status RunWorkerRank(comm::Communicator* world, const Layout& layout,
                           const ModelSource& source, const ModelConfig& config,
                           const WorkerRankOptions& options, ThreadPool* pool) {
  WorkerLaunch launch;
  launch.layout = layout;
  launch.kv_blocks = options.kv_blocks;
  launch.block_size = options.block_size;
  launch.device = options.device;
  launch.max_tokens = options.max_tokens;
  launch.max_seqs = options.max_seqs;
  launch.max_seq_len = options.max_seq_len;
  launch.options.step_timeout_seconds = options.step_timeout_seconds;
  launch.pool = pool;
  launch.load = [&](const ShardSpec& spec) { return LoadShard(source, config, spec, pool); };
  return RunWorker(world, launch);
}

int64_t RunKvBlocks(const ModelConfig& config, int64_t block_size) {
  const int64_t context =
      config.max_position_embeddings > 0 ? config.max_position_embeddings : 4096;
  return (context + block_size - 1) / block_size;
}

namespace {

// Hands each streamed token to on_token, as Engine::Generate does.
class TokenSink : public StreamSink {
 public:
  explicit TokenSink(const std::function<void(const SampleResult&)>* on_token)
      : on_token_(on_token) {}
  void OnResponse(v1::GenerateResponse r) override {
    for (int i = 0; i < r.token_ids_size(); ++i) {
      SampleResult s;
      s.token = r.token_ids(i);
      if (i < r.logprobs_size()) {
        s.logprob = r.logprobs(i).logprob();
        for (const v1::TopLogprob& t : r.logprobs(i).top())
          s.top.push_back({t.token_id(), t.logprob()});
      }
      (*on_token_)(s);
      ++generated_;
    }
  }
  void OnDone(const absl::Status& status) override {
    status_ = status;
    done_.Notify();
  }
  absl::Status Wait() {
    done_.WaitForNotification();
    return status_;
  }
  int64_t generated() const { return generated_; }

 private:
  const std::function<void(const SampleResult&)>* on_token_;
  absl::Status status_;
  absl::Notification done_;
  int64_t generated_ = 0;
};

}  // namespace

absl::Status GenerateOnJob(comm::Communicator* world, const Layout& layout,
                           const ModelConfig& config, const GenerateRequest& request,
                           const EngineOptions& options, int64_t kv_blocks,
                           double step_timeout_seconds,
                           const std::function<void(const SampleResult&)>& on_token,
                           GenerateStats* stats) {
  MOE_ASSIGN_OR_RETURN(std::unique_ptr<comm::Communicator> stage, SplitStages(world, layout));
  RemoteExecutor executor(world, {layout.pp(), layout.ep(), step_timeout_seconds});
  MOE_RETURN_IF_ERROR(executor.AwaitWorkers().status());
  return GenerateWith(&executor, config, request, options, kv_blocks, on_token, stats);
}

absl::Status GenerateWith(StepExecutor* executor, const ModelConfig& config,
                          const GenerateRequest& request, const EngineOptions& options,
                          int64_t kv_blocks,
                          const std::function<void(const SampleResult&)>& on_token,
                          GenerateStats* stats) {
  ServedModel model;
  model.model_id = "moe-run";
  model.config = config;
  model.max_model_len = kv_blocks * options.block_size;
  CoordinatorOptions copts;
  copts.scheduler.block_size = options.block_size;
  copts.scheduler.num_blocks = kv_blocks;
  copts.scheduler.max_batch_tokens = options.max_batch_tokens;
  copts.scheduler.max_num_seqs = kRunMaxSeqs;
  MOE_RETURN_IF_ERROR(copts.scheduler.Validate());

  RequestParams p;
  p.prompt = request.prompt;
  p.max_tokens = request.max_tokens;
  p.detokenize = false;
  p.return_logprobs = true;
  const SamplingParams& s = request.sampling;
  p.sampling.set_temperature(s.temperature);
  p.sampling.set_top_k(s.top_k);
  p.sampling.set_top_p(s.top_p);
  p.sampling.set_min_p(s.min_p);
  p.sampling.set_repetition_penalty(s.repetition_penalty);
  p.sampling.set_presence_penalty(s.presence_penalty);
  p.sampling.set_frequency_penalty(s.frequency_penalty);
  p.sampling.set_seed(s.seed);
  p.sampling.set_logprobs(s.logprobs);
  if (!request.ignore_eos) p.stop_token_ids = request.stop_ids;
  if (static_cast<int64_t>(p.prompt.size()) + p.max_tokens > model.max_model_len) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt of ", p.prompt.size(), " tokens + --max-tokens ", p.max_tokens,
                     " exceed the model's context of ", model.max_model_len));
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto sink = std::make_shared<TokenSink>(&on_token);
  absl::Status status;
  {
    Coordinator coordinator(&model, executor, nullptr, copts);
    coordinator.Start();
    absl::StatusOr<int64_t> id = coordinator.Submit(p, sink);
    status = id.ok() ? sink->Wait() : id.status();
    coordinator.Stop();  // on success, the workers' shutdown plan
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (stats != nullptr) {
    stats->prompt_tokens = static_cast<int64_t>(p.prompt.size());
    stats->generated_tokens = sink->generated();
    // One figure for the whole run: the job does not separate prefill from decode steps.
    stats->decode_seconds = seconds;
    stats->decode_steps = sink->generated();
  }
  return status;
}

}  // namespace moe
