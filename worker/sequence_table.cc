#include "worker/sequence_table.h"

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

void SequenceState::Sample(Sampler& sampler, float* logits, int64_t vocab, int64_t position,
                           v1::SampledToken* out) const {
  if (suppressing()) {
    for (int32_t id : suppressed) {
      if (id >= 0 && id < vocab) logits[id] = -std::numeric_limits<float>::infinity();
    }
  }
  const SampleResult r = sampler.Sample(logits, vocab, sampling, prompt, output, position);
  out->set_token(r.token);
  out->set_logprob(r.logprob);
  for (const TokenLogprob& t : r.top) {
    out->add_top_ids(t.id);
    out->add_top_logprobs(t.logprob);
  }
}

absl::Status SequenceTable::Apply(const v1::StepPlan& plan, StepBatch* batch,
                                  std::vector<SequenceState*>* states) {
  for (int64_t id : plan.released_seq_ids()) seqs_.erase(id);
  *batch = StepBatch();
  states->clear();
  for (const v1::SeqPlan& sp : plan.seqs()) {
    if (sp.is_new()) {
      SequenceState s;
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
    SequenceState& s = it->second;
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
    batch->tokens.insert(batch->tokens.end(), sp.tokens().begin(), sp.tokens().end());
    batch->seqs.push_back(std::move(step));
    states->push_back(&s);
  }
  return absl::OkStatus();
}

}  // namespace moe
