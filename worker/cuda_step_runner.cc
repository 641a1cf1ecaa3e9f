#include "worker/cuda_step_runner.h"

namespace moe {

void CudaStepRunner::set_ep_all_reduce(std::function<void(float* data, int64_t n)> fn) {
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

bool CudaStepRunner::GpuSamplable(const SequenceState& s) {
  const SamplingParams& p = s.sampling;
  return !s.suppressing() && p.logprobs == 0 && p.repetition_penalty == 1.0f &&
         p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f &&
         (p.greedy() || (p.top_k <= 0 && p.top_p >= 1.0f && p.min_p <= 0.0f));
}

absl::StatusOr<int64_t> CudaStepRunner::Prepare(const v1::StepPlan& plan) {
  samples_.clear();
  sample_seq_.clear();
  MOE_RETURN_IF_ERROR(model_->MakeCurrent());
  MOE_RETURN_IF_ERROR(sequences_.Apply(plan, &batch_, &states_));
  if (batch_.seqs.empty()) return 0;
  if (model_->spec().has_head(model_->config())) {
    int64_t row = 0;
    for (int i = 0; i < plan.seqs_size(); ++i) {
      const v1::SeqPlan& sp = plan.seqs(i);
      row += sp.tokens_size();
      if (!sp.sample()) continue;
      const SamplingParams& p = states_[static_cast<size_t>(i)]->sampling;
      CudaSampleRow r;
      r.row = row - 1;
      r.temperature = p.greedy() ? 0.0f : p.temperature;
      r.seed = p.seed;
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

absl::StatusOr<v1::StepResult> CudaStepRunner::Sample(const v1::StepPlan& plan,
                                                      const float* /*hidden*/) {
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
    const SequenceState& s = *states_[static_cast<size_t>(sample_seq_[j])];
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
    s.Sample(sampler_, logits_.data() + j * static_cast<size_t>(V), V, samples_[j].position, out);
  }
  return result;
}

}  // namespace moe
