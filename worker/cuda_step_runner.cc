#include "worker/cuda_step_runner.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "worker/step_runner.h"  // ToSamplingParams

namespace moe {

void CudaStepRunner::set_ep_all_reduce_host(std::function<void(float* data, int64_t n)> fn) {
  cuda::CudaForward& f = model_->forward();
  f.set_ep_all_reduce(
      [this, fn = std::move(fn)](float* data, int64_t n, cudaStream_t stream) -> cuda::Status {
        staging_.resize(static_cast<size_t>(n));
        MOE_CUDA_TRY(cudaMemcpyAsync(staging_.data(), data, sizeof(float) * n,
                                     cudaMemcpyDeviceToHost, stream));
        MOE_CUDA_TRY(cudaStreamSynchronize(stream));
        fn(staging_.data(), n);
        MOE_CUDA_TRY(cudaMemcpyAsync(data, staging_.data(), sizeof(float) * n,
                                     cudaMemcpyHostToDevice, stream));
        return cuda::Status();
      },
      /*graph_safe=*/false);
}

float* CudaStepRunner::hidden(int64_t T) {
  const size_t n = static_cast<size_t>(T * model_->config().hidden_size);
  if (hidden_.size() < n) hidden_.resize(n);
  return hidden_.data();
}

bool CudaStepRunner::GpuSamplable(const SeqState& s) {
  const SamplingParams& p = s.sampling;
  const bool suppressing =
      !s.suppressed.empty() && static_cast<int64_t>(s.output.size()) < s.min_tokens;
  return !suppressing && p.logprobs == 0 && p.repetition_penalty == 1.0f &&
         p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f &&
         (p.greedy() || (p.top_k <= 0 && p.top_p >= 1.0f && p.min_p <= 0.0f));
}

absl::StatusOr<int64_t> CudaStepRunner::Prepare(const v1::StepPlan& plan) {
  for (int64_t id : plan.released_seq_ids()) seqs_.erase(id);
  batch_ = StepBatch();
  states_.clear();
  samples_.clear();
  sample_seq_.clear();
  if (plan.seqs_size() == 0) return 0;
  int64_t row = 0;
  for (int i = 0; i < plan.seqs_size(); ++i) {
    const v1::SeqPlan& sp = plan.seqs(i);
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
    batch_.tokens.insert(batch_.tokens.end(), sp.tokens().begin(), sp.tokens().end());
    batch_.seqs.push_back(std::move(step));
    states_.push_back(&s);
    row += sp.tokens_size();
    if (sp.sample() && model_->spec().has_head(model_->config())) {
      CudaSampleRow r;
      r.row = row - 1;
      r.temperature = s.sampling.greedy() ? 0.0f : s.sampling.temperature;
      r.seed = s.sampling.seed;
      r.position = sp.start_pos() + sp.tokens_size();
      samples_.push_back(r);
      sample_seq_.push_back(i);
    }
  }
  MOE_RETURN_IF_ERROR(model_->ValidateBatch(batch_));
  return batch_.num_tokens();
}

absl::Status CudaStepRunner::Forward(float* hidden) {
  const bool first = model_->spec().has_embedding();
  const bool last = model_->spec().has_head(model_->config());
  return model_->Forward(batch_, samples_, first ? nullptr : hidden, last ? nullptr : hidden);
}

absl::StatusOr<v1::StepResult> CudaStepRunner::Sample(const v1::StepPlan& plan) {
  v1::StepResult result;
  result.set_step_id(plan.step_id());
  if (samples_.empty()) return result;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  MOE_RETURN_IF_ERROR(model_->Sampled(&tokens, &logprobs));
  const int64_t V = model_->config().vocab_size;
  bool have_logits = false;
  for (size_t j = 0; j < samples_.size(); ++j) {
    const v1::SeqPlan& sp = plan.seqs(sample_seq_[j]);
    SeqState& s = *states_[static_cast<size_t>(sample_seq_[j])];
    v1::SampledToken* out = result.add_tokens();
    out->set_seq_id(sp.seq_id());
    if (GpuSamplable(s)) {
      out->set_token(tokens[j]);
      out->set_logprob(logprobs[j]);
      continue;
    }
    if (!have_logits) {
      logits_.resize(samples_.size() * static_cast<size_t>(V));
      MOE_RETURN_IF_ERROR(
          model_->CopyLogits(static_cast<int64_t>(samples_.size()), logits_.data()));
      have_logits = true;
    }
    float* logits = logits_.data() + j * static_cast<size_t>(V);
    if (static_cast<int64_t>(s.output.size()) < s.min_tokens) {
      for (int32_t id : s.suppressed) {
        if (id >= 0 && id < V) logits[id] = -std::numeric_limits<float>::infinity();
      }
    }
    SampleResult r =
        sampler_.Sample(logits, V, s.sampling, s.prompt, s.output, samples_[j].position);
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
