#include "worker/step_runner.h"

namespace moe {

StepRunner::StepRunner(const ModelWeights* weights, ThreadPool* pool, int64_t num_blocks,
                       int64_t block_size)
    : weights_(weights),
      model_(weights, pool),
      cache_(weights->config(), weights->spec().layer_end - weights->spec().layer_begin, num_blocks,
             block_size) {}

float* StepRunner::hidden(int64_t T) {
  const size_t n = static_cast<size_t>(T * weights_->config().hidden_size);
  if (hidden_.size() < n) hidden_.resize(n);
  return hidden_.data();
}

absl::StatusOr<int64_t> StepRunner::Prepare(const v1::StepPlan& plan) {
  MOE_RETURN_IF_ERROR(sequences_.Apply(plan, &batch_, &states_));
  if (batch_.seqs.empty()) return 0;
  MOE_RETURN_IF_ERROR(model_.ValidateBatch(batch_, cache_));
  return batch_.num_tokens();
}

absl::Status StepRunner::Forward(float* hidden) {
  if (weights_->spec().has_embedding()) model_.Embed(batch_, hidden);
  model_.Forward(batch_, &cache_, hidden);
  return absl::OkStatus();
}

absl::StatusOr<v1::StepResult> StepRunner::Sample(const v1::StepPlan& plan, const float* hidden) {
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
    v1::SampledToken* out = result.add_tokens();
    out->set_seq_id(sp.seq_id());
    states_[static_cast<size_t>(sampling[j])]->Sample(sampler_,
                                                      logits_.data() + j * static_cast<size_t>(V),
                                                      V, sp.start_pos() + sp.tokens_size(), out);
  }
  return result;
}

}  // namespace moe
