// Prompts (random or from a jsonl dataset) and latency statistics for moe-bench serve.
#include <algorithm>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "bench/serve/serve_bench.h"
#include "common/json.h"

namespace moe {

LatencySummary Summarize(std::vector<double> values) {
  LatencySummary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  auto percentile = [&values](double p) {
    const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
    const size_t lo = static_cast<size_t>(rank);
    const size_t hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (rank - static_cast<double>(lo)) * (values[hi] - values[lo]);
  };
  s.p50 = percentile(50);
  s.p90 = percentile(90);
  s.p99 = percentile(99);
  return s;
}

absl::StatusOr<std::vector<v1::GenerateRequest>> LoadDataset(const std::string& path,
                                                             int32_t default_max_tokens) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read dataset ", path));
  std::vector<v1::GenerateRequest> requests;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = absl::StrCat(path, ":", line_no);
    MOE_ASSIGN_OR_RETURN(Json j, ParseJson(line, where));
    if (!j.is_object() || !j.contains("prompt")) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected an object with \"prompt\""));
    }
    v1::GenerateRequest req;
    const Json& prompt = j["prompt"];
    if (prompt.is_string()) {
      req.set_text(prompt.get<std::string>());
    } else if (prompt.is_array() && !prompt.empty()) {
      for (const Json& id : prompt) {
        if (!id.is_number_integer()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": \"prompt\" ids must be integers"));
        }
        req.mutable_token_ids()->add_ids(id.get<int32_t>());
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"prompt\" must be a string or a non-empty array of token ids"));
    }
    int32_t max_tokens = default_max_tokens;
    if (j.contains("max_tokens")) {
      if (!j["max_tokens"].is_number_integer() || j["max_tokens"].get<int64_t>() < 1) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": \"max_tokens\" must be >= 1"));
      }
      max_tokens = j["max_tokens"].get<int32_t>();
    }
    req.mutable_sampling()->set_max_tokens(max_tokens);
    requests.push_back(std::move(req));
  }
  if (requests.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no prompts"));
  return requests;
}

std::vector<v1::GenerateRequest> RandomPrompts(int64_t count, int64_t input_len, int32_t output_len,
                                               int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(vocab - 1));
  std::vector<v1::GenerateRequest> requests(static_cast<size_t>(count));
  for (v1::GenerateRequest& req : requests) {
    for (int64_t i = 0; i < input_len; ++i) req.mutable_token_ids()->add_ids(token(rng));
    req.mutable_sampling()->set_max_tokens(output_len);
  }
  return requests;
}

}  // namespace moe
