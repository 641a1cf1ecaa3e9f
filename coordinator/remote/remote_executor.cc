#include "coordinator/remote/remote_executor.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace moe {
namespace {

comm::Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<comm::Clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

RemoteExecutor::RemoteExecutor(comm::Communicator* world, RemoteExecutorOptions options)
    : world_(world), options_(options), hosts_(static_cast<size_t>(1 + num_workers())) {}

std::string RemoteExecutor::DescribeRank(int rank) const {
  const int64_t w = rank - 1;
  std::string host = rank >= 0 && rank < static_cast<int>(hosts_.size())
                         ? hosts_[static_cast<size_t>(rank)]
                         : std::string();
  return absl::StrCat("rank ", rank, " (stage ", w / options_.ep, ", ep ", w % options_.ep,
                      host.empty() ? "" : ", host ", host, ")");
}

absl::StatusOr<std::vector<v1::WorkerHello>> RemoteExecutor::AwaitWorkers() {
  std::vector<v1::WorkerHello> hellos;
  for (int r = 1; r <= num_workers(); ++r) {
    MOE_ASSIGN_OR_RETURN(std::string bytes, world_->RecvMessage(r, comm::kTagControl));
    v1::WorkerHello hello;
    if (!hello.ParseFromString(bytes)) {
      return absl::InternalError(absl::StrCat("rank ", r, ": its start-up report does not parse"));
    }
    hosts_[static_cast<size_t>(r)] = hello.host();
    if (!hello.error().empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(DescribeRank(r), " could not load its shard: ", hello.error()));
    }
    hellos.push_back(std::move(hello));
  }
  last_done_ = comm::Clock::now();
  return hellos;
}

absl::Status RemoteExecutor::Submit(const v1::StepPlan& plan) {
  Pending p;
  p.step_id = plan.step_id();
  p.has_seqs = plan.seqs_size() > 0;
  p.bytes = std::make_shared<const std::string>(plan.SerializeAsString());
  for (int r = 1; r <= num_workers(); ++r) {
    absl::StatusOr<std::unique_ptr<comm::Request>> req =
        world_->ISend(r, comm::kTagPlan, p.bytes->data(), static_cast<int64_t>(p.bytes->size()));
    if (!req.ok()) {
      return absl::UnavailableError(absl::StrCat("sending step ", plan.step_id(), " to ",
                                                 DescribeRank(r), ": ", req.status().message()));
    }
    p.sends.push_back(std::move(*req));
  }
  if (pending_.empty()) last_done_ = comm::Clock::now();
  pending_.push_back(std::move(p));
  stats_.most_in_flight = std::max(stats_.most_in_flight, static_cast<int64_t>(pending_.size()));
  return absl::OkStatus();
}

absl::StatusOr<v1::StepResult> RemoteExecutor::Next() {
  if (pending_.empty()) return absl::InternalError("no step plan is in flight");
  Pending& p = pending_.front();
  // The oldest plan may have queued behind others: its time starts when its predecessor ended.
  const comm::Clock::time_point deadline = last_done_ + Seconds(options_.step_timeout_seconds);
  std::vector<std::unique_ptr<comm::Request>> acks;
  for (int r = 1; r <= num_workers(); ++r) {
    absl::StatusOr<std::unique_ptr<comm::Request>> req = world_->IRecvMessage(r, comm::kTagAck);
    if (!req.ok()) {
      return absl::UnavailableError(
          absl::StrCat("receiving from ", DescribeRank(r), ": ", req.status().message()));
    }
    acks.push_back(std::move(*req));
  }
  // Poll them all so that a timeout names every rank that did not answer.
  std::vector<bool> done(acks.size(), false);
  size_t remaining = acks.size();
  std::vector<std::string> errors;
  v1::StepResult result;
  double compute = 0, comm_wait = 0;
  int spins = 0;
  while (remaining > 0) {
    for (size_t i = 0; i < acks.size(); ++i) {
      if (done[i]) continue;
      const int rank = static_cast<int>(i) + 1;
      absl::StatusOr<bool> ready = acks[i]->Test();
      if (!ready.ok()) {
        errors.push_back(absl::StrCat(DescribeRank(rank), ": ", ready.status().message()));
        done[i] = true;
        --remaining;
        continue;
      }
      if (!*ready) continue;
      done[i] = true;
      --remaining;
      spins = 0;
      v1::StepResult ack;
      if (!ack.ParseFromString(acks[i]->message())) {
        errors.push_back(absl::StrCat(DescribeRank(rank), ": its reply does not parse"));
      } else if (!ack.error().empty()) {
        errors.push_back(ack.error());
      } else if (ack.step_id() != p.step_id) {
        errors.push_back(absl::StrCat(DescribeRank(rank), " answered step ", ack.step_id(),
                                      ", expected ", p.step_id));
      } else {
        compute = std::max(compute, ack.compute_seconds());
        comm_wait = std::max(comm_wait, ack.comm_seconds());
        if (rank == sampling_rank()) result = std::move(ack);
      }
    }
    if (remaining == 0) break;
    if (comm::Clock::now() >= deadline) {
      std::vector<std::string> late;
      for (size_t i = 0; i < acks.size(); ++i) {
        if (!done[i]) late.push_back(DescribeRank(static_cast<int>(i) + 1));
      }
      std::string msg = absl::StrCat(absl::StrJoin(late, ", "), " did not finish step ", p.step_id,
                                     " within the step timeout of ", options_.step_timeout_seconds,
                                     " s (died or hung)");
      if (!errors.empty()) absl::StrAppend(&msg, "; ", absl::StrJoin(errors, "; "));
      return absl::UnavailableError(msg);
    }
    // Spin briefly for a fast step, then back off so an idle coordinator leaves the core alone.
    if (++spins > 64) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  if (!errors.empty()) return absl::UnavailableError(absl::StrJoin(errors, "; "));
  for (auto& s : p.sends) {
    absl::Status st = s->Wait(deadline);
    if (!st.ok())
      return absl::UnavailableError(absl::StrCat("sending a step plan: ", st.message()));
  }
  const comm::Clock::time_point now = comm::Clock::now();
  if (p.has_seqs) {
    ++stats_.steps;
    stats_.step_seconds += std::chrono::duration<double>(now - last_done_).count();
    stats_.compute_seconds += compute;
    stats_.comm_seconds += comm_wait;
  }
  pending_.pop_front();
  last_done_ = now;
  result.set_step_id(p.step_id);
  result.set_compute_seconds(compute);
  result.set_comm_seconds(comm_wait);
  return result;
}

absl::StatusOr<v1::StepResult> RemoteExecutor::Execute(const v1::StepPlan& plan) {
  MOE_RETURN_IF_ERROR(Submit(plan));
  return Next();
}

void RemoteExecutor::Shutdown() {
  v1::StepPlan plan;
  plan.set_shutdown(true);
  const std::string bytes = plan.SerializeAsString();
  const comm::Clock::time_point deadline = comm::Clock::now() + Seconds(5);
  for (int r = 1; r <= num_workers(); ++r) {
    world_->Send(r, comm::kTagPlan, bytes.data(), static_cast<int64_t>(bytes.size()), deadline)
        .IgnoreError();
  }
}

}  // namespace moe
