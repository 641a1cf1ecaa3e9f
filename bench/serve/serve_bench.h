// moe-bench serve: a load generator for a running moe-serve, like `vllm bench serve`. It sends
// --num-prompts Generate calls through the C++ SDK, at most --concurrency at a time and/or at
// Poisson arrivals of --request-rate per second, with random token-id prompts (--input-len,
// --output-len, seeded) or prompts from a jsonl --dataset, and reports request and token
// throughput and TTFT / TPOT / ITL / end-to-end latency (mean, p50, p90, p99).
//
//   moe-bench serve --target localhost:50051 --concurrency 8 --num-prompts 64
//       --input-len 128 --output-len 64
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "moe/v1/inference.pb.h"

namespace moe {

// Runs `moe-bench serve` on argv[0..argc) (the flags after the subcommand); prints the report
// to stdout. Fails on bad flags, when the server can't be reached, or when every request failed.
absl::Status ServeBench(int argc, char** argv);

// What one request measured. Times in seconds.
struct RequestRecord {
  bool ok = false;
  std::string error;  // "CODE: message" when !ok
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  double ttft = 0;           // start -> first delta with tokens
  double e2e = 0;            // start -> end of stream
  std::vector<double> itls;  // gaps between deltas with tokens
};

struct LatencySummary {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0;
};

// Mean and linearly interpolated percentiles (numpy's default); all zero when empty.
LatencySummary Summarize(std::vector<double> values);

// Reads a jsonl file: each line an object with "prompt" (text, or an array of token ids) and
// optionally "max_tokens" (else `default_max_tokens`). Blank lines are skipped.
absl::StatusOr<std::vector<v1::GenerateRequest>> LoadDataset(const std::string& path,
                                                             int32_t default_max_tokens);

// `count` prompts of `input_len` token ids uniform in [0, vocab), from a generator seeded with
// `seed`, each asking for `output_len` tokens.
std::vector<v1::GenerateRequest> RandomPrompts(int64_t count, int64_t input_len, int32_t output_len,
                                               int64_t vocab, uint64_t seed);

}  // namespace moe
