#include "coordinator/scheduler/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace moe {
namespace {

absl::Status AtLeastOne(const char* flag, int64_t value) {
  if (value >= 1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(flag, " must be >= 1, got ", value));
}

}  // namespace

absl::Status SchedulerOptions::Validate() const {
  MOE_RETURN_IF_ERROR(AtLeastOne("--block-size", block_size));
  MOE_RETURN_IF_ERROR(AtLeastOne("--kv-blocks", num_blocks));
  MOE_RETURN_IF_ERROR(AtLeastOne("--max-batch-tokens", max_batch_tokens));
  MOE_RETURN_IF_ERROR(AtLeastOne("--max-num-seqs", max_num_seqs));
  return absl::OkStatus();
}

Scheduler::Scheduler(SchedulerOptions options)
    : options_(options),
      blocks_(std::max<int64_t>(options.num_blocks, 1), std::max<int64_t>(options.block_size, 1),
              options.enable_prefix_caching) {}

void Scheduler::Add(SeqSpec spec) {
  auto seq = std::make_unique<Seq>();
  seq->id = spec.seq_id;
  seq->tokens = std::move(spec.prompt);
  seq->prompt_len = static_cast<int64_t>(seq->tokens.size());
  seq->sampling = std::move(spec.sampling);
  waiting_.push_back(seq.get());
  seq->queue_pos = std::prev(waiting_.end());
  seqs_[spec.seq_id] = std::move(seq);
}

Scheduler::Seq* Scheduler::Find(int64_t seq_id) const {
  auto it = seqs_.find(seq_id);
  return it == seqs_.end() ? nullptr : it->second.get();
}

void Scheduler::Release(int64_t seq_id) {
  Seq* seq = Find(seq_id);
  if (seq == nullptr) return;
  Unqueue(seq);
  NoteReleased(seq);
  seqs_.erase(seq_id);
}

void Scheduler::Unqueue(Seq* seq) {
  blocks_.Free(&seq->block_table);
  if (seq->running) {
    running_.erase(seq->queue_pos);
  } else {
    waiting_.erase(seq->queue_pos);
  }
  seq->running = false;
}

void Scheduler::NoteReleased(Seq* seq) {
  if (seq->seen_by_worker) released_.push_back(seq->id);
  seq->seen_by_worker = false;
}

void Scheduler::Requeue(Seq* seq) {
  Unqueue(seq);
  NoteReleased(seq);
  seq->num_computed = 0;
  seq->chain = PrefixChain();
  seq->in_flight = false;
  seq->is_new = true;
  waiting_.push_front(seq);
  seq->queue_pos = waiting_.begin();
}

Scheduler::Seq* Scheduler::NewestPreemptible() {
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    if (!(*it)->in_flight) return *it;
  }
  return nullptr;
}

v1::StepPlan Scheduler::Schedule() {
  v1::StepPlan plan;
  plan.set_step_id(next_step_id_++);
  int64_t budget = options_.max_batch_tokens;
  auto full = [&] { return budget <= 0 || plan.seqs_size() >= options_.max_num_seqs; };

  // Running sequences: decodes first, then chunked prefills, each in admission order. The
  // snapshot is needed because preemption removes sequences from running_.
  std::vector<Seq*> running(running_.begin(), running_.end());
  bool blocked = false;  // a running sequence waits for blocks
  const int64_t preemptions_before = preemptions_;
  for (int pass = 0; pass < 2 && !full(); ++pass) {
    const bool decodes = pass == 0;
    for (Seq* seq : running) {
      if (full()) break;
      if (!seq->running || seq->in_flight) continue;  // preempted, in flight or planned
      const int64_t remaining = static_cast<int64_t>(seq->tokens.size()) - seq->num_computed;
      if (remaining <= 0 || (remaining == 1) != decodes) continue;
      const int64_t n = std::min(remaining, budget);
      if (ScheduleRunning(seq, n, &plan)) {
        budget -= n;
      } else {
        blocked = true;
      }
    }
  }

  // Waiting sequences, strict FCFS: a head that does not fit blocks everything behind it.
  // None in a step in which running sequences were short of blocks (preempted or waiting).
  if (preemptions_ != preemptions_before) blocked = true;
  while (!blocked && !waiting_.empty() && !full()) {
    const int64_t n = AdmitHead(budget, &plan);
    if (n == 0) break;
    budget -= n;
  }

  // A sequence requeued after a failed step and readmitted in this very plan needs no
  // release: is_new resets it.
  for (int64_t id : released_) {
    const Seq* seq = Find(id);
    if (seq == nullptr || !seq->seen_by_worker) plan.add_released_seq_ids(id);
  }
  released_.clear();
  if (plan.seqs_size() > 0) {
    Outstanding out;
    out.step_id = plan.step_id();
    out.seqs.reserve(plan.seqs_size());
    for (const v1::SeqPlan& p : plan.seqs()) {
      out.seqs.push_back({p.seq_id(), p.start_pos() + p.tokens_size(), p.sample()});
    }
    outstanding_.push_back(std::move(out));
  }
  return plan;
}

bool Scheduler::ScheduleRunning(Seq* seq, int64_t n, v1::StepPlan* plan) {
  const int64_t need =
      blocks_.BlocksFor(seq->num_computed + n) - static_cast<int64_t>(seq->block_table.size());
  while (need > blocks_.num_free()) {
    Seq* victim = NewestPreemptible();  // never null: `seq` itself qualifies
    if (victim == seq && seq != running_.back()) {
      // Every newer sequence is in flight. Preempting `seq` would let newer ones overtake
      // it (and with plans in flight, sequences could preempt each other forever): keep its
      // blocks and wait until the newer ones come back and can be preempted.
      return false;
    }
    Requeue(victim);
    ++preemptions_;
    if (victim == seq) return false;
  }
  blocks_.Allocate(need, &seq->block_table);
  AddToPlan(seq, n, plan);
  return true;
}

int64_t Scheduler::AdmitHead(int64_t budget, v1::StepPlan* plan) {
  Seq* seq = waiting_.front();
  const int64_t num_tokens = static_cast<int64_t>(seq->tokens.size());
  if (num_tokens == 0) return 0;
  const int64_t bs = blocks_.block_size();
  std::vector<int32_t> matched;
  PrefixChain chain;
  if (blocks_.prefix_caching()) {
    blocks_.ExtendHashes(seq->tokens, (num_tokens - 1) / bs, &seq->block_hashes);
    matched = blocks_.MatchPrefix(seq->tokens, seq->block_hashes, &chain);
  }
  const int64_t num_matched = static_cast<int64_t>(matched.size());
  const int64_t start = num_matched * bs;
  const int64_t n = std::min(num_tokens - start, budget);
  const int64_t need = blocks_.BlocksFor(start + n) - num_matched;
  if (need > blocks_.num_free() - blocks_.CountFree(matched)) return 0;

  blocks_.Share(matched, &seq->block_table);
  blocks_.Allocate(need, &seq->block_table);
  seq->chain = chain;
  seq->num_computed = start;
  if (!seq->first_scheduled) {
    seq->first_scheduled = true;
    seq->cached_prompt_tokens = start;
    if (blocks_.prefix_caching()) {
      prefix_query_tokens_ += seq->prompt_len;
      prefix_hit_tokens_ += start;
    }
  }
  waiting_.pop_front();
  running_.push_back(seq);
  seq->queue_pos = std::prev(running_.end());
  seq->running = true;
  AddToPlan(seq, n, plan);
  return n;
}

void Scheduler::AddToPlan(Seq* seq, int64_t n, v1::StepPlan* plan) {
  const int64_t start = seq->num_computed;
  v1::SeqPlan* p = plan->add_seqs();
  p->set_seq_id(seq->id);
  p->set_start_pos(start);
  p->mutable_tokens()->Add(seq->tokens.begin() + start, seq->tokens.begin() + start + n);
  p->mutable_block_table()->Add(seq->block_table.begin(), seq->block_table.end());
  p->set_sample(start + n == static_cast<int64_t>(seq->tokens.size()));
  if (seq->is_new) {
    p->set_is_new(true);
    p->mutable_context()->Add(seq->tokens.begin(), seq->tokens.begin() + start);
    p->set_prompt_len(seq->prompt_len);
    *p->mutable_sampling() = seq->sampling;
    seq->is_new = false;
  }
  seq->num_computed = start + n;
  seq->in_flight = true;
  seq->seen_by_worker = true;
}

absl::Status Scheduler::OnResult(const v1::StepResult& result) {
  const int64_t step = result.step_id();
  if (outstanding_.empty() || outstanding_.front().step_id != step) {
    bool outstanding = false;
    for (const Outstanding& o : outstanding_) outstanding |= o.step_id == step;
    if (!outstanding && step >= 1 && step < next_step_id_ && result.tokens_size() == 0 &&
        result.error().empty()) {
      return absl::OkStatus();  // the result of a plan without seqs: nothing to apply
    }
    return absl::InternalError(
        absl::StrCat("StepResult for step ", step, " does not match the next outstanding plan (",
                     outstanding_.empty() ? std::string("none")
                                          : absl::StrCat("step ", outstanding_.front().step_id),
                     ")", result.error().empty() ? "" : absl::StrCat(": ", result.error())));
  }
  const Outstanding& plan = outstanding_.front();

  if (!result.error().empty()) {
    // The workers' state for these sequences is unknown: recompute them from scratch.
    for (const PlannedSeq& ps : plan.seqs) {
      if (Seq* seq = Find(ps.seq_id)) Requeue(seq);
    }
    outstanding_.pop_front();
    return absl::InternalError(absl::StrCat("step ", step, " failed: ", result.error()));
  }

  // Validate before applying anything.
  int k = 0;
  for (const PlannedSeq& ps : plan.seqs) {
    if (!ps.sample) continue;
    if (k >= result.tokens_size()) {
      return absl::InternalError(absl::StrCat("StepResult for step ", step,
                                              " has no sampled token for sequence ", ps.seq_id));
    }
    if (result.tokens(k).seq_id() != ps.seq_id) {
      return absl::InternalError(absl::StrCat("StepResult for step ", step, ": sampled token ", k,
                                              " is for sequence ", result.tokens(k).seq_id(),
                                              ", expected sequence ", ps.seq_id));
    }
    ++k;
  }
  if (k != result.tokens_size()) {
    return absl::InternalError(absl::StrCat("StepResult for step ", step, " has ",
                                            result.tokens_size(), " sampled tokens, expected ", k));
  }

  k = 0;
  const int64_t bs = blocks_.block_size();
  for (const PlannedSeq& ps : plan.seqs) {
    const int token_index = ps.sample ? k++ : -1;
    Seq* seq = Find(ps.seq_id);
    if (seq == nullptr) continue;  // released meanwhile
    seq->in_flight = false;
    if (token_index >= 0) seq->tokens.push_back(result.tokens(token_index).token());
    if (blocks_.prefix_caching()) {
      const int64_t num_full = ps.end / bs;
      blocks_.ExtendHashes(seq->tokens, num_full, &seq->block_hashes);
      blocks_.Register(seq->block_table, seq->tokens, seq->block_hashes, num_full, &seq->chain);
    }
  }
  outstanding_.pop_front();
  return absl::OkStatus();
}

int64_t Scheduler::cached_prompt_tokens(int64_t seq_id) const {
  const Seq* seq = Find(seq_id);
  return seq == nullptr ? 0 : seq->cached_prompt_tokens;
}

bool Scheduler::has_work() const { return !waiting_.empty() || !running_.empty(); }

int64_t Scheduler::in_flight() const { return static_cast<int64_t>(outstanding_.size()); }

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  s.waiting = static_cast<int64_t>(waiting_.size());
  s.running = static_cast<int64_t>(running_.size());
  s.blocks_total = blocks_.num_blocks();
  s.blocks_used = blocks_.num_used();
  s.blocks_cached = blocks_.num_cached();
  s.preemptions = preemptions_;
  s.prefix_query_tokens = prefix_query_tokens_;
  s.prefix_hit_tokens = prefix_hit_tokens_;
  return s;
}

}  // namespace moe
