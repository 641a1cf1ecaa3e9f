#include "worker/step_runner.h"

#include <chrono>
#include <limits>

#include "absl/strings/str_cat.h"

namespace moe {

SamplingParams ToSamplingParams(const v1::StepSampling& s) {
  SamplingParams p;
  p.temperature = s.temperature();
  p.top_k = s.top_k();
  p.top_p = s.top_p();
  p.min_p = s.min_p();
  p.repetition_penalty = s.repetition_penalty();
  p.presence_penalty = s.presence_penalty();
  p.frequency_penalty = s.frequency_penalty();
  p.seed = s.seed();
  p.logprobs = s.logprobs();
  return p;
}

StepRunner::StepRunner(const ModelWeights* weights, ThreadPool* pool, int64_t num_blocks,
                       int64_t block_size)
    : weights_(weights),
      model_(weights, pool),
      cache_(weights->config(), weights->spec().layer_end - weights->spec().layer_begin, num_blocks,
             block_size) {}

absl::StatusOr<v1::StepResult> StepRunner::Run(const v1::StepPlan& plan) {
  const auto t0 = std::chrono::steady_clock::now();
  MOE_ASSIGN_OR_RETURN(const int64_t T, Prepare(plan));
  v1::StepResult result;
  result.set_step_id(plan.step_id());
  if (T == 0) return result;
  float* h = hidden(T);
  Forward(h);
  result = Sample(plan, h);
  result.set_compute_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return result;
}

float* StepRunner::hidden(int64_t T) {
  const size_t n = static_cast<size_t>(T * weights_->config().hidden_size);
  if (hidden_.size() < n) hidden_.resize(n);
  return hidden_.data();
}

absl::StatusOr<int64_t> StepRunner::Prepare(const v1::StepPlan& plan) {
  for (int64_t id : plan.released_seq_ids()) seqs_.erase(id);
  batch_ = StepBatch();
  states_.clear();
  if (plan.seqs_size() == 0) return 0;

  // Bring each sequence's token history up to date and build the batch.
  StepBatch& batch = batch_;
  std::vector<SeqState*>& states = states_;
  for (const v1::SeqPlan& sp : plan.seqs()) {
    if (sp.is_new()) {
      SeqState s;
      s.sampling = ToSamplingParams(sp.sampling());
      MOE_RETURN_IF_ERROR(s.sampling.Validate());
      s.min_tokens = sp.sampling().min_tokens();
      s.suppressed.assign(sp.sampling().suppressed_token_ids().begin(),
                          sp.sampling().suppressed_token_ids().end());
      s.prompt_len = sp.prompt_len();
      if (sp.context_size() != sp.start_pos()) {
        return absl::InvalidArgumentError(
            absl::StrCat("step ", plan.step_id(), ": sequence ", sp.seq_id(), " starts at ",
                         sp.start_pos(), " but carries ", sp.context_size(), " context tokens"));
      }
      seqs_[sp.seq_id()] = std::move(s);
    }
    auto it = seqs_.find(sp.seq_id());
    if (it == seqs_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("step ", plan.step_id(), ": sequence ",
                                                     sp.seq_id(), " is unknown to the worker"));
    }
    SeqState& s = it->second;
    const int64_t known = static_cast<int64_t>(s.prompt.size() + s.output.size());
    if (!sp.is_new() && sp.start_pos() != known) {
      return absl::InvalidArgumentError(absl::StrCat("step ", plan.step_id(), ": sequence ",
                                                     sp.seq_id(), " continues at ", sp.start_pos(),
                                                     " but the worker has ", known, " tokens"));
    }
    auto append = [&s](int32_t t) {
      if (static_cast<int64_t>(s.prompt.size()) < s.prompt_len) {
        s.prompt.push_back(t);
      } else {
        s.output.push_back(t);
      }
    };
    if (sp.is_new()) {
      for (int32_t t : sp.context()) append(t);
    }
    for (int32_t t : sp.tokens()) append(t);
    SeqStep step;
    step.start_pos = sp.start_pos();
    step.num_tokens = sp.tokens_size();
    step.block_table.assign(sp.block_table().begin(), sp.block_table().end());
    batch.tokens.insert(batch.tokens.end(), sp.tokens().begin(), sp.tokens().end());
    batch.seqs.push_back(std::move(step));
    states.push_back(&s);
  }
  MOE_RETURN_IF_ERROR(model_.ValidateBatch(batch, cache_));
  return batch.num_tokens();
}

void StepRunner::Forward(float* hidden) {
  if (weights_->spec().has_embedding()) model_.Embed(batch_, hidden);
  model_.Forward(batch_, &cache_, hidden);
}

v1::StepResult StepRunner::Sample(const v1::StepPlan& plan, const float* hidden) {
  const int64_t V = weights_->config().vocab_size;
  v1::StepResult result;
  result.set_step_id(plan.step_id());
  std::vector<int64_t> rows;
  std::vector<int> sampling;
  int64_t row = 0;
  for (int i = 0; i < plan.seqs_size(); ++i) {
    row += plan.seqs(i).tokens_size();
    if (plan.seqs(i).sample()) {
      rows.push_back(row - 1);
      sampling.push_back(i);
    }
  }
  logits_.resize(rows.size() * static_cast<size_t>(V));
  if (!rows.empty()) model_.Logits(hidden, rows, logits_.data());
  for (size_t j = 0; j < sampling.size(); ++j) {
    const v1::SeqPlan& sp = plan.seqs(sampling[j]);
    SeqState& s = *states_[static_cast<size_t>(sampling[j])];
    float* logits = logits_.data() + j * static_cast<size_t>(V);
    if (static_cast<int64_t>(s.output.size()) < s.min_tokens) {
      for (int32_t id : s.suppressed) {
        if (id >= 0 && id < V) logits[id] = -std::numeric_limits<float>::infinity();
      }
    }
    const int64_t position = sp.start_pos() + sp.tokens_size();
    SampleResult r = sampler_.Sample(logits, V, s.sampling, s.prompt, s.output, position);
    v1::SampledToken* out = result.add_tokens();
    out->set_seq_id(sp.seq_id());
    out->set_token(r.token);
    out->set_logprob(r.logprob);
    for (const TokenLogprob& t : r.top) {
      out->add_top_ids(t.id);
      out->add_top_logprobs(t.logprob);
    }
  }
  return result;
}

}  // namespace moe
