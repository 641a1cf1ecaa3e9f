// Helpers of the service tests: requests, streaming them to the end (alone or concurrently)
// and reading /metrics of a running moe-serve.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "moe/v1/inference.grpc.pb.h"
#include "tests/testing/server_process.h"

namespace moe {

struct Output {
  grpc::Status status;
  std::vector<int32_t> ids;
  std::string text;
  std::vector<v1::TokenLogprob> logprobs;
  v1::GenerateResponse last;
  int responses = 0;
};

std::unique_ptr<v1::Inference::Stub> Stub(const testing::ServerProcess& s);

// Streams one request to the end. `cancel_after` > 0: cancels after that many responses.
Output Generate(v1::Inference::Stub* stub, const v1::GenerateRequest& req, int cancel_after = 0);

// A token-id request (ignore_eos); temperature > 0 adds top-k/top-p/repetition penalty.
v1::GenerateRequest Request(const std::vector<int32_t>& prompt, int max_tokens, float temperature,
                            uint64_t seed);

// A mix of n prompts: the fixture's golden prompts (model_dir) and pseudo-random ones, greedy
// and seeded.
std::vector<v1::GenerateRequest> Mix(int n, const std::string& model_dir);

std::vector<Output> RunConcurrently(const testing::ServerProcess& s,
                                    const std::vector<v1::GenerateRequest>& reqs);
std::vector<Output> RunAlone(const testing::ServerProcess& s,
                             const std::vector<v1::GenerateRequest>& reqs);

// The value of an unlabelled metric in the Prometheus text at /metrics, or -1.
double Metric(const testing::ServerProcess& s, const std::string& name);
// Polls /metrics until `name` == value (the server updates gauges after each step).
bool WaitMetric(const testing::ServerProcess& s, const std::string& name, double value);

}  // namespace moe
