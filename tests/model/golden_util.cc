#include "tests/model/golden_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/file.h"

namespace moe::testing {
namespace {

template <typename T>
absl::StatusOr<std::vector<T>> ReadTensor(const SafetensorsFile& f, const std::string& name) {
  MOE_ASSIGN_OR_RETURN(TensorView t, f.Get(name));
  std::vector<T> out(t.nbytes / sizeof(T));
  std::memcpy(out.data(), t.data, out.size() * sizeof(T));
  return out;
}

}  // namespace

absl::StatusOr<Golden> LoadGolden(const std::string& dir) {
  MOE_ASSIGN_OR_RETURN(Json j, ReadJsonFile(JoinPath(dir, "golden.json")));
  MOE_ASSIGN_OR_RETURN(auto tensors, SafetensorsFile::Open(JoinPath(dir, "golden.safetensors")));
  Golden g;
  g.atol = j["tolerance"]["atol"].get<double>();
  g.rtol = j["tolerance"]["rtol"].get<double>();
  for (const Json& c : j["cases"]) {
    GoldenCase gc;
    gc.name = c["name"].get<std::string>();
    gc.prompt = c["prompt_ids"].get<std::vector<int32_t>>();
    gc.greedy_ids = c["greedy_ids"].get<std::vector<int32_t>>();
    MOE_ASSIGN_OR_RETURN(gc.logits, ReadTensor<float>(*tensors, c["logits"].get<std::string>()));
    gc.logits_all_positions = c["logits_positions"].get<std::string>() == "all";
    if (c.contains("greedy_step_logits")) {
      MOE_ASSIGN_OR_RETURN(gc.step_logits,
                           ReadTensor<float>(*tensors, c["greedy_step_logits"].get<std::string>()));
    }
    MOE_ASSIGN_OR_RETURN(
        gc.top5_ids, ReadTensor<int32_t>(*tensors, c["greedy_step_top5_ids"].get<std::string>()));
    MOE_ASSIGN_OR_RETURN(
        gc.top5_logits,
        ReadTensor<float>(*tensors, c["greedy_step_top5_logits"].get<std::string>()));
    if (c.contains("router_topk_ids")) {
      MOE_ASSIGN_OR_RETURN(gc.router_ids,
                           ReadTensor<int32_t>(*tensors, c["router_topk_ids"].get<std::string>()));
      MOE_ASSIGN_OR_RETURN(
          gc.router_weights,
          ReadTensor<float>(*tensors, c["router_topk_weights"].get<std::string>()));
    }
    g.cases.push_back(std::move(gc));
  }
  return g;
}

std::string CompareClose(const float* actual, const float* golden, int64_t n, double atol,
                         double rtol) {
  for (int64_t i = 0; i < n; ++i) {
    const double diff = std::fabs(static_cast<double>(actual[i]) - golden[i]);
    if (!(diff <= atol + rtol * std::fabs(static_cast<double>(golden[i])))) {
      return absl::StrCat("element ", i, ": got ", actual[i], ", want ", golden[i], " (diff ", diff,
                          ")");
    }
  }
  return "";
}

std::vector<RunOutput> RunGreedy(Qwen3Model* model,
                                 const std::vector<std::vector<int32_t>>& prompts, int64_t steps,
                                 int64_t block_size, int64_t chunk) {
  const ModelConfig& c = model->config();
  const int64_t V = c.vocab_size, H = c.hidden_size;
  const int64_t n = static_cast<int64_t>(prompts.size());
  int64_t max_len = 0;
  for (const auto& p : prompts)
    max_len = std::max<int64_t>(max_len, static_cast<int64_t>(p.size()));
  const int64_t blocks_per_seq = (max_len + steps + block_size - 1) / block_size;
  KvCache cache(c, c.num_hidden_layers, n * blocks_per_seq + 1, block_size);
  // Interleave: sequence s gets blocks s+1, s+1+n, ... (block 0 stays unused).
  std::vector<std::vector<int32_t>> tables(static_cast<size_t>(n));
  for (int64_t s = 0; s < n; ++s) {
    for (int64_t b = 0; b < blocks_per_seq; ++b)
      tables[s].push_back(static_cast<int32_t>(1 + s + b * n));
  }
  std::vector<RunOutput> out(static_cast<size_t>(n));
  std::vector<int64_t> done(static_cast<size_t>(n), 0);  // tokens already in the cache
  std::vector<float> hidden, logits;
  for (;;) {
    StepBatch batch;
    std::vector<int64_t> seq_of_step;
    for (int64_t s = 0; s < n; ++s) {
      const int64_t len = static_cast<int64_t>(prompts[s].size());
      if (static_cast<int64_t>(out[s].greedy_ids.size()) >= steps) continue;
      SeqStep st;
      st.start_pos = done[s];
      st.block_table = tables[s];
      if (done[s] < len) {
        st.num_tokens = std::min(chunk, len - done[s]);
        for (int64_t i = 0; i < st.num_tokens; ++i) batch.tokens.push_back(prompts[s][done[s] + i]);
      } else {
        st.num_tokens = 1;
        batch.tokens.push_back(out[s].greedy_ids.back());
      }
      batch.seqs.push_back(std::move(st));
      seq_of_step.push_back(s);
    }
    if (batch.seqs.empty()) break;
    const int64_t T = batch.num_tokens();
    if (!model->ValidateBatch(batch, cache).ok()) std::abort();
    hidden.assign(static_cast<size_t>(T * H), 0.0f);
    model->Embed(batch, hidden.data());
    model->Forward(batch, &cache, hidden.data());
    std::vector<int64_t> rows(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) rows[t] = t;
    logits.resize(static_cast<size_t>(T * V));
    model->Logits(hidden.data(), rows, logits.data());
    int64_t row = 0;
    for (size_t i = 0; i < batch.seqs.size(); ++i) {
      const int64_t s = seq_of_step[i];
      const int64_t len = static_cast<int64_t>(prompts[s].size());
      const SeqStep& st = batch.seqs[i];
      const bool prefill = done[s] < len;
      if (prefill) {
        out[s].prompt_logits.insert(out[s].prompt_logits.end(), logits.begin() + row * V,
                                    logits.begin() + (row + st.num_tokens) * V);
      }
      done[s] += st.num_tokens;
      const float* last = logits.data() + (row + st.num_tokens - 1) * V;
      if (done[s] >= len) {  // the last row picks the next token
        out[s].step_logits.insert(out[s].step_logits.end(), last, last + V);
        out[s].greedy_ids.push_back(static_cast<int32_t>(std::max_element(last, last + V) - last));
      }
      row += st.num_tokens;
    }
  }
  return out;
}

}  // namespace moe::testing
