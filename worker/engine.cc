#include "worker/engine.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace moe {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct SeqState {
  int64_t index = 0;
  std::vector<int32_t> tokens;  // prompt, then generated
  int64_t prompt_len = 0;
  int64_t cached = 0;  // tokens whose keys/values are in the cache
  std::vector<int32_t> block_table;
  std::vector<int32_t> output;
  bool done = false;
};

}  // namespace

Engine::Engine(const ModelWeights* weights, ThreadPool* pool, EngineOptions options)
    : weights_(weights), options_(options), model_(weights, pool) {}

absl::Status Engine::Generate(const std::vector<GenerateRequest>& requests, const TokenFn& on_token,
                              GenerateStats* stats) {
  const ModelConfig& c = weights_->config();
  const int64_t bs = options_.block_size;
  if (!weights_->spec().has_embedding() || !weights_->spec().has_head(c)) {
    return absl::FailedPreconditionError("the offline engine needs the whole model in one shard");
  }
  // Validate and lay out KV blocks up front (offline: every sequence is admitted at once).
  std::vector<SeqState> seqs(requests.size());
  int64_t total_blocks = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerateRequest& r = requests[i];
    if (r.prompt.empty())
      return absl::InvalidArgumentError(absl::StrCat("request ", i, ": empty prompt"));
    for (int32_t t : r.prompt) {
      if (t < 0 || t >= c.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "request ", i, ": token id ", t, " is outside the vocabulary [0, ", c.vocab_size, ")"));
      }
    }
    if (r.max_tokens < 1) {
      return absl::InvalidArgumentError(absl::StrCat("request ", i, ": max_tokens must be >= 1"));
    }
    MOE_RETURN_IF_ERROR(r.sampling.Validate());
    const int64_t len = static_cast<int64_t>(r.prompt.size()) + r.max_tokens;
    if (c.max_position_embeddings > 0 && len > c.max_position_embeddings) {
      return absl::InvalidArgumentError(absl::StrCat(
          "request ", i, ": prompt (", r.prompt.size(), " tokens) + max_tokens (", r.max_tokens,
          ") exceeds the model's context of ", c.max_position_embeddings));
    }
    SeqState& s = seqs[i];
    s.index = static_cast<int64_t>(i);
    s.tokens = r.prompt;
    s.prompt_len = static_cast<int64_t>(r.prompt.size());
    const int64_t blocks = (len + bs - 1) / bs;
    for (int64_t b = 0; b < blocks; ++b)
      s.block_table.push_back(static_cast<int32_t>(total_blocks + b));
    total_blocks += blocks;
    stats->prompt_tokens += s.prompt_len;
  }
  KvCache cache(c, c.num_hidden_layers, total_blocks, bs);

  const int64_t H = c.hidden_size, V = c.vocab_size;
  std::vector<float> hidden, logits;
  for (;;) {
    // Build the step: decodes first, then prefill chunks under the token budget.
    StepBatch batch;
    std::vector<SeqState*> in_step;
    int64_t budget = options_.max_batch_tokens;
    bool has_prefill = false;
    for (int pass = 0; pass < 2; ++pass) {
      for (SeqState& s : seqs) {
        if (s.done || budget <= 0) continue;
        const int64_t pending = static_cast<int64_t>(s.tokens.size()) - s.cached;
        const bool decode = s.cached >= s.prompt_len;
        if ((pass == 0) != decode) continue;
        const int64_t n = std::min(pending, budget);
        SeqStep st;
        st.start_pos = s.cached;
        st.num_tokens = n;
        st.block_table = s.block_table;
        batch.tokens.insert(batch.tokens.end(), s.tokens.begin() + s.cached,
                            s.tokens.begin() + s.cached + n);
        batch.seqs.push_back(std::move(st));
        in_step.push_back(&s);
        budget -= n;
        if (!decode) has_prefill = true;
      }
    }
    if (batch.seqs.empty()) break;
    MOE_RETURN_IF_ERROR(model_.ValidateBatch(batch, cache));

    const double t0 = Now();
    const int64_t T = batch.num_tokens();
    hidden.resize(static_cast<size_t>(T * H));
    model_.Embed(batch, hidden.data());
    const int64_t bytes_before = model_.weight_bytes_read();
    model_.Forward(batch, &cache, hidden.data());
    // Logits only for sequences whose prompt is complete after this step.
    std::vector<int64_t> rows;
    std::vector<SeqState*> sampling;
    int64_t row = 0;
    for (size_t i = 0; i < batch.seqs.size(); ++i) {
      SeqState* s = in_step[i];
      s->cached += batch.seqs[i].num_tokens;
      row += batch.seqs[i].num_tokens;
      if (s->cached == static_cast<int64_t>(s->tokens.size())) {
        rows.push_back(row - 1);
        sampling.push_back(s);
      }
    }
    logits.resize(static_cast<size_t>(rows.size()) * V);
    if (!rows.empty()) model_.Logits(hidden.data(), rows, logits.data());
    const int64_t step_bytes = model_.weight_bytes_read() - bytes_before;
    for (size_t i = 0; i < sampling.size(); ++i) {
      SeqState* s = sampling[i];
      const GenerateRequest& r = requests[static_cast<size_t>(s->index)];
      const int64_t position = static_cast<int64_t>(s->tokens.size());
      SampleResult res =
          sampler_.Sample(logits.data() + i * V, V, r.sampling, r.prompt, s->output, position);
      s->output.push_back(res.token);
      s->tokens.push_back(res.token);
      FinishReason finish = FinishReason::kNone;
      if (!r.ignore_eos &&
          std::find(r.stop_ids.begin(), r.stop_ids.end(), res.token) != r.stop_ids.end()) {
        finish = FinishReason::kStop;
      } else if (static_cast<int64_t>(s->output.size()) >= r.max_tokens) {
        finish = FinishReason::kLength;
      }
      const bool keep_going = on_token(s->index, res, finish);
      if (finish != FinishReason::kNone || !keep_going) s->done = true;
    }
    const double dt = Now() - t0;
    if (has_prefill) {
      stats->prefill_seconds += dt;
    } else {
      stats->decode_seconds += dt;
      stats->decode_steps++;
      stats->decode_weight_bytes += step_bytes;
    }
    stats->generated_tokens += static_cast<int64_t>(sampling.size());
  }
  return absl::OkStatus();
}

}  // namespace moe
