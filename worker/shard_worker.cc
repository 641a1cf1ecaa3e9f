#include "worker/shard_worker.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace moe {
namespace {

comm::Clock::time_point DeadlineAfter(double seconds) {
  return comm::Clock::now() +
         std::chrono::duration_cast<comm::Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

absl::Status SendHello(comm::Communicator* world, const v1::WorkerHello& hello) {
  const std::string bytes = hello.SerializeAsString();
  return world->Send(0, comm::kTagControl, bytes.data(), static_cast<int64_t>(bytes.size()),
                     DeadlineAfter(60));
}

ShardWorker::ShardWorker(const Layout& layout, int64_t worker, comm::Communicator* world,
                         comm::Communicator* stage, ShardRunner* runner, ShardWorkerOptions options)
    : layout_(layout),
      worker_(worker),
      stage_index_(layout.stage_of(worker)),
      ep_rank_(layout.ep_rank_of(worker)),
      world_(world),
      stage_(stage),
      runner_(runner),
      options_(options) {
  if (layout_.ep() > 1) {
    runner_->set_ep_all_reduce([this](float* data, int64_t n) {
      if (!comm_error_.ok()) return;  // the step has failed already: skip the rest
      const auto t0 = comm::Clock::now();
      absl::Status s = stage_->AllReduceSum(data, n, deadline_);
      comm_seconds_ += std::chrono::duration<double>(comm::Clock::now() - t0).count();
      if (!s.ok()) {
        comm_error_ = absl::Status(
            s.code(), absl::StrCat("EP all-reduce of stage ", stage_index_, ": ", s.message()));
      }
    });
  }
}

absl::Status ShardWorker::FinishSend(comm::Clock::time_point deadline) {
  if (send_ == nullptr) return absl::OkStatus();
  const auto t0 = comm::Clock::now();
  absl::Status s = send_->Wait(deadline);
  comm_seconds_ += std::chrono::duration<double>(comm::Clock::now() - t0).count();
  send_.reset();
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("sending activations to stage ", stage_index_ + 1,
                                               ": ", s.message()));
  }
  return absl::OkStatus();
}

v1::StepResult ShardWorker::Step(const v1::StepPlan& plan) {
  v1::StepResult result;
  const auto t0 = comm::Clock::now();
  auto fail = [&](const absl::Status& s) {
    v1::StepResult r;
    r.set_step_id(plan.step_id());
    r.set_error(absl::StrCat("rank ", world_->rank(), " (stage ", stage_index_, ", ep ", ep_rank_,
                             ", host ", world_->host(), "): ", s.message()));
    return r;
  };
  deadline_ = DeadlineAfter(options_.step_timeout_seconds);
  comm_error_ = absl::OkStatus();
  comm_seconds_ = 0;
  absl::StatusOr<int64_t> T = runner_->Prepare(plan);
  if (!T.ok()) return fail(T.status());
  const bool last = stage_index_ == layout_.pp() - 1;
  if (*T > 0) {
    const int64_t n = *T * runner_->config().hidden_size;
    float* h = runner_->hidden(*T);
    if (stage_index_ > 0) {
      const int src = static_cast<int>(layout_.rank_of(stage_index_ - 1, ep_rank_));
      const auto r0 = comm::Clock::now();
      absl::Status s = world_->Recv(src, comm::kTagActivation, h,
                                    n * static_cast<int64_t>(sizeof(float)), deadline_);
      comm_seconds_ += std::chrono::duration<double>(comm::Clock::now() - r0).count();
      if (!s.ok()) {
        return fail(absl::Status(s.code(), absl::StrCat("activations from stage ", stage_index_ - 1,
                                                        ": ", s.message())));
      }
    }
    absl::Status forward = runner_->Forward(h);
    if (!comm_error_.ok()) return fail(comm_error_);
    if (!forward.ok()) return fail(forward);
    if (!last) {
      // The next stage may still be busy with an earlier plan: send in the background.
      absl::Status s = FinishSend(deadline_);
      if (!s.ok()) return fail(s);
      send_buf_.assign(h, h + n);
      const int dst = static_cast<int>(layout_.rank_of(stage_index_ + 1, ep_rank_));
      absl::StatusOr<std::unique_ptr<comm::Request>> req = world_->ISend(
          dst, comm::kTagActivation, send_buf_.data(), n * static_cast<int64_t>(sizeof(float)));
      if (!req.ok()) return fail(req.status());
      send_ = std::move(*req);
    } else if (ep_rank_ == 0) {
      absl::StatusOr<v1::StepResult> sampled = runner_->Sample(plan, h);
      if (!sampled.ok()) return fail(sampled.status());
      result = *std::move(sampled);
    }
  }
  result.set_step_id(plan.step_id());
  result.set_compute_seconds(std::chrono::duration<double>(comm::Clock::now() - t0).count());
  result.set_comm_seconds(comm_seconds_);
  return result;
}

absl::Status ShardWorker::Run() {
  for (;;) {
    // An idle coordinator sends a heartbeat plan every half step timeout: silence for two step
    // timeouts means it is gone.
    absl::StatusOr<std::string> bytes =
        world_->RecvMessage(0, comm::kTagPlan, DeadlineAfter(2 * options_.step_timeout_seconds));
    if (!bytes.ok()) {
      return absl::UnavailableError(
          absl::StrCat("rank ", world_->rank(),
                       ": the coordinator (rank 0) stopped answering: ", bytes.status().message()));
    }
    v1::StepPlan plan;
    if (!plan.ParseFromString(*bytes)) {
      return absl::InternalError(absl::StrCat("rank ", world_->rank(),
                                              ": a step plan from the coordinator does not parse"));
    }
    if (plan.shutdown()) return FinishSend(DeadlineAfter(options_.step_timeout_seconds));
    const v1::StepResult result = Step(plan);
    const std::string ack = result.SerializeAsString();
    MOE_RETURN_IF_ERROR(world_->Send(0, comm::kTagAck, ack.data(), static_cast<int64_t>(ack.size()),
                                     DeadlineAfter(options_.step_timeout_seconds)));
  }
}

int WorkerLocalRank(const comm::Communicator& world) {
  const char* env = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  if (env != nullptr && *env != '\0') return std::atoi(env);
  return world.rank() - 1;
}

int64_t ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

absl::StatusOr<std::unique_ptr<comm::Communicator>> SplitStages(comm::Communicator* world,
                                                                const Layout& layout) {
  const int rank = world->rank();
  if (rank == 0) return world->Split(static_cast<int>(layout.pp()), 0);
  const int64_t w = rank - 1;
  return world->Split(static_cast<int>(layout.stage_of(w)), static_cast<int>(layout.ep_rank_of(w)));
}

absl::Status RunWorker(comm::Communicator* world, const WorkerLaunch& launch) {
  const Layout& layout = launch.layout;
  const int64_t w = world->rank() - 1;
  MOE_ASSIGN_OR_RETURN(std::unique_ptr<comm::Communicator> stage, SplitStages(world, layout));
  const ShardSpec spec = layout.Shard(w);
  v1::WorkerHello hello;
  hello.set_rank(world->rank());
  hello.set_host(world->host());
  hello.set_pid(getpid());
  int64_t experts = 0;
  for (bool owned : spec.expert_owned) experts += owned ? 1 : 0;
  hello.set_shard(absl::StrCat("stage ", layout.stage_of(w), " ep ", layout.ep_rank_of(w),
                               " layers [", spec.layer_begin, ",", spec.layer_end, ")",
                               spec.expert_owned.empty() ? std::string()
                                                         : absl::StrCat(" experts ", experts, "/",
                                                                        spec.expert_owned.size())));
  auto report = [&](const absl::Status& s) {
    hello.set_error(std::string(s.message()));
    SendHello(world, hello).IgnoreError();
    return s;
  };
  const auto t0 = comm::Clock::now();
  absl::StatusOr<Device> device = ResolveDevice(launch.device, WorkerLocalRank(*world));
  if (!device.ok()) return report(device.status());
  hello.set_shard(absl::StrCat(hello.shard(), " on ", device->ToString()));
  absl::StatusOr<std::unique_ptr<ModelWeights>> weights = launch.load(spec);
  if (!weights.ok()) return report(weights.status());
  ShardRunnerOptions ro;
  ro.device = *device;
  ro.num_blocks = launch.kv_blocks;
  ro.block_size = launch.block_size;
  ro.max_tokens = launch.max_tokens;
  ro.max_seqs = launch.max_seqs;
  ro.max_seq_len = launch.max_seq_len;
  absl::StatusOr<std::unique_ptr<ShardRunner>> runner =
      MakeShardRunner(weights->get(), launch.pool, ro);
  if (!runner.ok()) return report(runner.status());
  hello.set_weight_bytes((*weights)->matrix_bytes());
  hello.set_kv_bytes((*runner)->kv_bytes());
  // The device holds its own copy of the weights: free the host one.
  if (device->is_cuda()) weights->reset();
  hello.set_load_seconds(std::chrono::duration<double>(comm::Clock::now() - t0).count());
  hello.set_resident_bytes(ResidentBytes());
  MOE_RETURN_IF_ERROR(SendHello(world, hello));
  ShardWorker worker(layout, w, world, stage.get(), runner->get(), launch.options);
  return worker.Run();
}

}  // namespace moe
