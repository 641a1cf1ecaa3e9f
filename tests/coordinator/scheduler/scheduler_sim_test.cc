// A randomized simulation of the Scheduler: a fake coordinator adds sequences with random
// prompts (sharing prefixes over a tiny vocabulary, so the prefix cache is busy), cancels some
// at random, keeps up to `depth` plans in flight, and releases each sequence when it has all
// its tokens; a fake worker executes every plan against a simulated paged KV pool in which
// each slot holds a fingerprint of the whole prefix it was computed from.
//
// Checked at every step: the tokens fed to the worker per sequence (context + tokens across
// chunks) equal the sequence's true tokens; every KV slot a sequence reads holds exactly its
// own prefix (so a block is shared only with identical content, and nothing overwrote it);
// block tables cover the positions, grow by appending and hold no block twice; blocks shared
// by live sequences are full, computed and at the same index; blocks_used equals the blocks of
// the live sequences; released ids are known to the worker and not planned in the same step;
// is_new carries the context, prompt_len and sampling. At the end every sequence
// has all its tokens (or was cancelled), and no block is used.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <unordered_map>
#include <vector>

#include "coordinator/scheduler/scheduler.h"

namespace moe {
namespace {

using Tokens = std::vector<int32_t>;

struct SimConfig {
  uint32_t seed = 1;
  int64_t block_size = 4;
  int64_t num_blocks = 16;
  int64_t max_batch_tokens = 16;
  int64_t max_num_seqs = 4;
  int depth = 1;  // plans in flight
  bool caching = true;
  int num_seqs = 60;
  bool cancel = true;  // cancel random sequences now and then
};

class Sim {
 public:
  explicit Sim(const SimConfig& c) : c_(c), rng_(c.seed), sched_(Options(c)) {
    pool_.assign(c.num_blocks * c.block_size, 0);
    for (int b = 0; b < 3; ++b) bases_.push_back(RandomTokens(24));
  }

  void Run();
  SchedulerStats stats() const { return sched_.stats(); }

 private:
  struct Truth {
    Tokens prompt;
    int64_t max_tokens = 0;
    Tokens generated;
    bool finished = false;  // all tokens, or cancelled
    bool cancelled = false;
  };
  struct WorkerSeq {
    Tokens tokens;                 // what the worker was given: context + every chunk
    std::vector<uint64_t> prints;  // fingerprint of the prefix [0, p] for each position p
  };

  static SchedulerOptions Options(const SimConfig& c) {
    SchedulerOptions o;
    o.block_size = c.block_size;
    o.num_blocks = c.num_blocks;
    o.max_batch_tokens = c.max_batch_tokens;
    o.max_num_seqs = c.max_num_seqs;
    o.enable_prefix_caching = c.caching;
    return o;
  }
  int64_t Uniform(int64_t lo, int64_t hi) {  // [lo, hi]
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  Tokens RandomTokens(int64_t n) {
    Tokens t;
    for (int64_t i = 0; i < n; ++i) t.push_back(static_cast<int32_t>(Uniform(0, 3)));
    return t;
  }
  static int32_t Sampled(int64_t id, int64_t pos) {
    return static_cast<int32_t>((id * 7 + pos * 3) % 4);
  }
  int32_t TrueToken(int64_t id, int64_t pos) const {
    const Truth& t = truth_.at(id);
    const int64_t plen = static_cast<int64_t>(t.prompt.size());
    return pos < plen ? t.prompt[pos] : Sampled(id, pos);
  }
  static uint64_t Print(uint64_t prev, int32_t token) {
    return (prev ^ static_cast<uint64_t>(token + 1)) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
  }
  int64_t Slot(const v1::SeqPlan& sp, int64_t pos) const {
    return sp.block_table(pos / c_.block_size) * c_.block_size + pos % c_.block_size;
  }

  void AddSeq();
  void CancelOne();
  void Execute(const v1::StepPlan& plan, v1::StepResult* result);
  void CheckTables(const v1::StepPlan& plan);
  void Apply(const v1::StepResult& result);

  SimConfig c_;
  std::mt19937 rng_;
  Scheduler sched_;
  std::vector<Tokens> bases_;
  std::map<int64_t, Truth> truth_;
  int64_t next_id_ = 1;
  std::unordered_map<int64_t, WorkerSeq> worker_;
  std::vector<uint64_t> pool_;  // [num_blocks * block_size]: the prefix print a slot holds
  std::map<int64_t, std::vector<int32_t>> tables_;  // live sequences' latest block tables
};

void Sim::AddSeq() {
  const int64_t id = next_id_++;
  const int64_t capacity = c_.num_blocks * c_.block_size;
  Truth t;
  t.max_tokens = Uniform(1, std::min<int64_t>(12, capacity / 4));
  const int64_t max_prompt = capacity - t.max_tokens;
  const Tokens& base = bases_[Uniform(0, 2)];
  const int64_t shared = Uniform(0, std::min<int64_t>(24, max_prompt - 1));
  t.prompt.assign(base.begin(), base.begin() + shared);
  Tokens tail = RandomTokens(Uniform(1, std::min<int64_t>(12, max_prompt - shared)));
  t.prompt.insert(t.prompt.end(), tail.begin(), tail.end());
  SeqSpec spec;
  spec.seq_id = id;
  spec.prompt = t.prompt;
  spec.sampling.set_seed(static_cast<uint64_t>(id));
  truth_[id] = std::move(t);
  sched_.Add(std::move(spec));
}

void Sim::CancelOne() {
  std::vector<int64_t> live;
  for (const auto& [id, t] : truth_) {
    if (!t.finished) live.push_back(id);
  }
  if (live.empty()) return;
  const int64_t id = live[Uniform(0, static_cast<int64_t>(live.size()) - 1)];
  truth_[id].finished = truth_[id].cancelled = true;
  sched_.Release(id);
  tables_.erase(id);
}

void Sim::Execute(const v1::StepPlan& plan, v1::StepResult* result) {
  result->set_step_id(plan.step_id());
  std::set<int64_t> in_plan;
  for (const v1::SeqPlan& sp : plan.seqs()) in_plan.insert(sp.seq_id());
  for (int64_t id : plan.released_seq_ids()) {
    EXPECT_EQ(worker_.erase(id), 1u) << "released " << id << " the worker never saw";
    EXPECT_EQ(in_plan.count(id), 0u) << id << " released and planned in one step";
  }
  // Feed the tokens; check every slot each sequence reads (before this step's writes).
  for (const v1::SeqPlan& sp : plan.seqs()) {
    const int64_t id = sp.seq_id();
    const Truth& t = truth_.at(id);
    if (sp.is_new()) {
      EXPECT_EQ(sp.context_size(), sp.start_pos());
      EXPECT_EQ(sp.prompt_len(), static_cast<int64_t>(t.prompt.size()));
      EXPECT_EQ(sp.sampling().seed(), static_cast<uint64_t>(id));
      WorkerSeq& ws = worker_[id];
      ws = WorkerSeq();
      for (int32_t tok : sp.context()) {
        ws.prints.push_back(Print(ws.prints.empty() ? 0 : ws.prints.back(), tok));
        ws.tokens.push_back(tok);
      }
    } else {
      ASSERT_EQ(worker_.count(id), 1u) << "continuing " << id << " the worker does not know";
      EXPECT_EQ(sp.context_size(), 0);
    }
    WorkerSeq& ws = worker_[id];
    ASSERT_EQ(sp.start_pos(), static_cast<int64_t>(ws.tokens.size())) << "seq " << id;
    for (int32_t tok : sp.tokens()) {
      ws.prints.push_back(Print(ws.prints.empty() ? 0 : ws.prints.back(), tok));
      ws.tokens.push_back(tok);
    }
    const int64_t end = static_cast<int64_t>(ws.tokens.size());
    const int64_t known = static_cast<int64_t>(t.prompt.size() + t.generated.size());
    ASSERT_LE(end, known);
    for (int64_t p = 0; p < end; ++p) {
      ASSERT_EQ(ws.tokens[p], TrueToken(id, p)) << "seq " << id << " position " << p;
    }
    EXPECT_EQ(sp.sample(), end == known);
    ASSERT_EQ(sp.block_table_size(), (end + c_.block_size - 1) / c_.block_size);
    for (int64_t p = 0; p < sp.start_pos(); ++p) {
      ASSERT_EQ(pool_[Slot(sp, p)], ws.prints[p]) << "seq " << id << " reads a wrong KV at " << p;
    }
  }
  // Write this step's KV; no slot is written twice in one step.
  std::set<int64_t> written;
  for (const v1::SeqPlan& sp : plan.seqs()) {
    const WorkerSeq& ws = worker_[sp.seq_id()];
    for (int64_t p = sp.start_pos(); p < static_cast<int64_t>(ws.tokens.size()); ++p) {
      ASSERT_TRUE(written.insert(Slot(sp, p)).second) << "slot written twice in a step";
      pool_[Slot(sp, p)] = ws.prints[p];
    }
  }
  // Reads again: nothing another sequence wrote in this step may have hit them.
  for (const v1::SeqPlan& sp : plan.seqs()) {
    const WorkerSeq& ws = worker_[sp.seq_id()];
    for (int64_t p = 0; p < static_cast<int64_t>(ws.tokens.size()); ++p) {
      ASSERT_EQ(pool_[Slot(sp, p)], ws.prints[p]) << "seq " << sp.seq_id() << " position " << p;
    }
    if (sp.sample()) {
      v1::SampledToken* tok = result->add_tokens();
      tok->set_seq_id(sp.seq_id());
      tok->set_token(Sampled(sp.seq_id(), static_cast<int64_t>(ws.tokens.size())));
    }
  }
}

void Sim::CheckTables(const v1::StepPlan& plan) {
  for (int64_t id : plan.released_seq_ids()) tables_.erase(id);  // preempted
  for (const v1::SeqPlan& sp : plan.seqs()) {
    std::vector<int32_t> table(sp.block_table().begin(), sp.block_table().end());
    auto it = tables_.find(sp.seq_id());
    if (!sp.is_new()) {
      ASSERT_TRUE(it != tables_.end());
      ASSERT_LE(it->second.size(), table.size());
      EXPECT_TRUE(std::equal(it->second.begin(), it->second.end(), table.begin()))
          << "block table of " << sp.seq_id() << " changed";
    }
    std::set<int32_t> unique(table.begin(), table.end());
    EXPECT_EQ(unique.size(), table.size()) << "a block twice in one table";
    tables_[sp.seq_id()] = std::move(table);
  }
  // Blocks held by several live sequences: same index, full and computed in each.
  std::map<int32_t, std::vector<std::pair<int64_t, size_t>>> holders;
  for (const auto& [id, table] : tables_) {
    for (size_t i = 0; i < table.size(); ++i) holders[table[i]].push_back({id, i});
  }
  for (const auto& [block, list] : holders) {
    if (list.size() < 2) continue;
    for (const auto& [id, index] : list) {
      EXPECT_EQ(index, list[0].second) << "block " << block << " at different indices";
      EXPECT_LE(static_cast<int64_t>(index + 1) * c_.block_size,
                static_cast<int64_t>(worker_[id].tokens.size()))
          << "block " << block << " shared while seq " << id << " still writes it";
    }
  }
  const SchedulerStats st = sched_.stats();
  EXPECT_EQ(st.blocks_used, static_cast<int64_t>(holders.size()));
  EXPECT_EQ(st.running, static_cast<int64_t>(tables_.size()));
  EXPECT_LE(st.blocks_used + st.blocks_cached, st.blocks_total);
}

void Sim::Apply(const v1::StepResult& result) {
  ASSERT_TRUE(sched_.OnResult(result).ok());
  for (const v1::SampledToken& tok : result.tokens()) {
    Truth& t = truth_.at(tok.seq_id());
    if (t.finished) continue;  // cancelled meanwhile: the scheduler drops it too
    t.generated.push_back(tok.token());
    if (static_cast<int64_t>(t.generated.size()) == t.max_tokens) {
      t.finished = true;  // the stop condition: the coordinator releases it
      sched_.Release(tok.seq_id());
      tables_.erase(tok.seq_id());
    }
  }
}

void Sim::Run() {
  std::deque<v1::StepResult> in_flight;
  int64_t steps = 0;
  for (; steps < 20000; ++steps) {
    if (next_id_ <= c_.num_seqs && Uniform(0, 2) == 0) {
      for (int64_t n = Uniform(1, 3); n > 0 && next_id_ <= c_.num_seqs; --n) AddSeq();
    }
    if (c_.cancel && Uniform(0, 29) == 0) CancelOne();
    while (static_cast<int>(in_flight.size()) < c_.depth) {
      v1::StepPlan plan = sched_.Schedule();
      ASSERT_LE(plan.seqs_size(), c_.max_num_seqs);
      int64_t tokens = 0;
      for (const v1::SeqPlan& sp : plan.seqs()) tokens += sp.tokens_size();
      ASSERT_LE(tokens, c_.max_batch_tokens);
      v1::StepResult result;
      ASSERT_NO_FATAL_FAILURE(Execute(plan, &result));
      ASSERT_NO_FATAL_FAILURE(CheckTables(plan));
      if (plan.seqs_size() == 0) break;
      in_flight.push_back(std::move(result));
    }
    if (in_flight.empty()) {
      // Nothing runnable with nothing in flight: only allowed while nothing is queued.
      ASSERT_FALSE(sched_.has_work()) << "stuck at step " << steps;
      if (next_id_ > c_.num_seqs) break;
      continue;
    }
    ASSERT_EQ(sched_.in_flight(), static_cast<int64_t>(in_flight.size()));
    ASSERT_NO_FATAL_FAILURE(Apply(in_flight.front()));
    in_flight.pop_front();
  }
  ASSERT_LT(steps, 20000) << "did not finish";
  for (const auto& [id, t] : truth_) {
    ASSERT_TRUE(t.finished) << "seq " << id;
    if (t.cancelled) continue;
    ASSERT_EQ(static_cast<int64_t>(t.generated.size()), t.max_tokens);
    for (size_t k = 0; k < t.generated.size(); ++k) {
      EXPECT_EQ(t.generated[k], Sampled(id, static_cast<int64_t>(t.prompt.size() + k)));
    }
  }
  const SchedulerStats st = sched_.stats();
  EXPECT_FALSE(sched_.has_work());
  EXPECT_EQ(sched_.in_flight(), 0);
  EXPECT_EQ(st.blocks_used, 0);
  EXPECT_EQ(st.running, 0);
  EXPECT_EQ(st.waiting, 0);
  EXPECT_EQ(sched_.block_manager().num_free(), c_.num_blocks);
}

// Runs the simulation over a grid of block sizes, pool sizes (from barely one sequence to
// roomy), pipeline depths, prefix caching on/off and cancellations on/off (without them, a
// livelock could not hide behind cancelled sequences).
TEST(SchedulerSimTest, RandomWorkloadsKeepEveryInvariant) {
  int64_t preemptions = 0, hits = 0;
  uint32_t seed = 1;
  for (int64_t block_size : {1, 2, 4, 16}) {
    for (int64_t pool_tokens : {24, 48, 160}) {
      for (int depth : {1, 3}) {
        for (int variant = 0; variant < 4; ++variant) {
          SimConfig c;
          c.seed = seed++;
          c.block_size = block_size;
          c.num_blocks = std::max<int64_t>(pool_tokens / block_size, 2);
          c.max_batch_tokens = 1 + static_cast<int64_t>(c.seed * 7 % 24);
          c.max_num_seqs = 1 + static_cast<int64_t>(c.seed % 5);
          c.depth = depth;
          c.caching = variant % 2 == 0;
          c.cancel = variant < 2;
          SCOPED_TRACE(testing::Message()
                       << "seed " << c.seed << " block_size " << c.block_size << " num_blocks "
                       << c.num_blocks << " max_batch_tokens " << c.max_batch_tokens
                       << " max_num_seqs " << c.max_num_seqs << " depth " << depth << " caching "
                       << c.caching << " cancel " << c.cancel);
          Sim sim(c);
          ASSERT_NO_FATAL_FAILURE(sim.Run());
          preemptions += sim.stats().preemptions;
          hits += sim.stats().prefix_hit_tokens;
          if (!c.caching) {
            EXPECT_EQ(sim.stats().prefix_hit_tokens, 0);
          }
        }
      }
    }
  }
  // The workloads did exercise preemption and the prefix cache.
  EXPECT_GT(preemptions, 0);
  EXPECT_GT(hits, 0);
}

}  // namespace
}  // namespace moe
