// The scheduler: continuous batching at iteration level over a paged KV cache (DESIGN.md
// section 3). Each Schedule() builds one StepPlan: running decodes first, then waiting
// prefills in FCFS order, chunked to the token budget, limited by free KV blocks and
// max_num_seqs. When a running sequence needs a block and none is free, the newest running
// sequence is preempted (its blocks freed; it goes back to the front of the queue and is
// recomputed from its prompt + output later). Sequences in flight are never preempted: a
// sequence whose newer competitors are all in flight waits for them instead. No waiting
// sequence is admitted in a step in which a running one is short of blocks. Identical prompt
// prefixes reuse blocks (prefix caching, see block_manager.h).
//
// Plans in flight: Schedule() may be called again before the result of an earlier plan has
// been applied (pipeline parallelism keeps up to P plans in flight); sequences of a plan whose
// result is outstanding are not scheduled again until OnResult(). Workers run plans in order.
//
// Thread-compatible: one thread (the coordinator's step loop) owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "coordinator/scheduler/block_manager.h"
#include "moe/v1/step.pb.h"

namespace moe {

struct SchedulerOptions {
  int64_t block_size = 16;         // tokens per KV block
  int64_t num_blocks = 0;          // KV blocks in each worker's pool
  int64_t max_batch_tokens = 512;  // tokens per step (prefill chunked to it)
  int64_t max_num_seqs = 256;      // sequences in one step
  bool enable_prefix_caching = true;

  // INVALID_ARGUMENT naming the option.
  absl::Status Validate() const;
};

// A request as the scheduler sees it.
struct SeqSpec {
  int64_t seq_id = 0;
  std::vector<int32_t> prompt;
  v1::StepSampling sampling;
};

struct SchedulerStats {
  int64_t waiting = 0;  // sequences queued (incl. preempted ones)
  int64_t running = 0;  // sequences holding KV blocks
  int64_t blocks_total = 0;
  int64_t blocks_used = 0;          // referenced by a sequence
  int64_t blocks_cached = 0;        // free but holding a reusable prefix
  int64_t preemptions = 0;          // since start
  int64_t prefix_query_tokens = 0;  // prompt tokens looked up in the prefix cache
  int64_t prefix_hit_tokens = 0;    // of those, served from the cache
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerOptions options);

  // Queues a sequence (FCFS). REQUIRES: a new seq_id; prompt non-empty; the prompt plus one
  // token fits in the KV pool (the coordinator checks this at admission). A sequence that
  // grows beyond the pool (num_blocks * block_size tokens) can never finish: it is preempted
  // over and over, so the coordinator must stop it before (max_model_len <= the pool).
  void Add(SeqSpec spec);

  // Removes a waiting or running sequence and frees its blocks (finished by a stop
  // condition, cancelled, or timed out). Its id is listed in the next plan's
  // released_seq_ids if a worker has seen it. Unknown ids are ignored.
  void Release(int64_t seq_id);

  // The next step. A plan with no seqs means nothing can run now (all waiting sequences
  // blocked, or everything in flight); it may still carry released_seq_ids. Every plan gets
  // the next step_id; only plans with seqs await a result (a result for a plan without seqs
  // is accepted and ignored).
  v1::StepPlan Schedule();

  // Applies the result of an earlier plan: appends each sampled token to its sequence (it is
  // decoded in a later step) and registers the blocks this plan filled in the prefix cache.
  // INTERNAL if the result does not match an outstanding plan (results must come in plan
  // order, with one SampledToken per sampling sequence, in plan order); nothing is applied
  // then. Sampled tokens of sequences released meanwhile are dropped. A result with an error
  // is INTERNAL too; that plan's sequences go back to the queue to be recomputed.
  absl::Status OnResult(const v1::StepResult& result);

  // Prompt tokens the prefix cache served when the sequence was first scheduled (usage).
  // 0 for unknown (e.g. released) ids and for sequences not scheduled yet.
  int64_t cached_prompt_tokens(int64_t seq_id) const;
  bool has_work() const;      // anything waiting or running
  int64_t in_flight() const;  // plans whose result is outstanding
  SchedulerStats stats() const;
  const SchedulerOptions& options() const { return options_; }

  // The KV blocks (read-only; for tests and metrics).
  const BlockManager& block_manager() const { return blocks_; }

 private:
  // One sequence, waiting or running.
  struct Seq {
    int64_t id = 0;
    std::vector<int32_t> tokens;  // prompt + output so far: the known tokens
    int64_t prompt_len = 0;
    v1::StepSampling sampling;
    std::vector<int32_t> block_table;    // covers positions [0, num_computed)
    int64_t num_computed = 0;            // tokens computed or in a plan in flight
    std::vector<uint64_t> block_hashes;  // prefix-cache hashes of full blocks (content only)
    PrefixChain chain;                   // blocks registered in the prefix cache
    bool running = false;
    bool in_flight = false;       // in a plan whose result is outstanding
    bool seen_by_worker = false;  // in a plan since admission (its release must be sent)
    bool is_new = true;           // the next plan is its first since admission/preemption
    int64_t cached_prompt_tokens = 0;
    bool first_scheduled = false;
    std::list<Seq*>::iterator queue_pos;  // in waiting_ or running_
  };
  // A plan whose result is outstanding: per sequence, where its computed tokens end and
  // whether it samples.
  struct PlannedSeq {
    int64_t seq_id = 0;
    int64_t end = 0;
    bool sample = false;
  };
  struct Outstanding {
    int64_t step_id = 0;
    std::vector<PlannedSeq> seqs;
  };

  // Adds a running sequence's next `n` tokens to the plan, allocating its blocks (preempting
  // the newest running sequences not in flight if needed). False if it was not planned: it
  // was the newest running sequence and got preempted, or every newer one is in flight (it
  // keeps its blocks and waits for them).
  bool ScheduleRunning(Seq* seq, int64_t n, v1::StepPlan* plan);
  // Admits the waiting queue's head with up to `budget` tokens; returns how many were
  // planned (0: it does not fit).
  int64_t AdmitHead(int64_t budget, v1::StepPlan* plan);
  void AddToPlan(Seq* seq, int64_t n, v1::StepPlan* plan);
  // The newest running sequence that is not in flight (nullptr if none).
  Seq* NewestPreemptible();
  // Frees a running sequence's blocks and puts it at the front of the queue to be recomputed
  // from scratch (preemption).
  void Requeue(Seq* seq);
  // Frees a sequence's blocks and removes it from the queues (Release and preemption).
  void Unqueue(Seq* seq);
  void NoteReleased(Seq* seq);
  Seq* Find(int64_t seq_id) const;

  SchedulerOptions options_;
  BlockManager blocks_;
  std::unordered_map<int64_t, std::unique_ptr<Seq>> seqs_;
  std::list<Seq*> waiting_;              // FCFS; preempted sequences go to the front
  std::list<Seq*> running_;              // admission order (oldest first)
  std::deque<Outstanding> outstanding_;  // plans in flight, in plan order
  std::vector<int64_t> released_;        // for the next plan's released_seq_ids
  int64_t next_step_id_ = 1;
  int64_t preemptions_ = 0;
  int64_t prefix_query_tokens_ = 0;
  int64_t prefix_hit_tokens_ = 0;
};

}  // namespace moe
