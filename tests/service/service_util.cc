#include "tests/service/service_util.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "tests/model/golden_util.h"

namespace moe {

using testing::ServerProcess;

std::unique_ptr<v1::Inference::Stub> Stub(const ServerProcess& s) {
  return v1::Inference::NewStub(
      grpc::CreateChannel(s.grpc_target(), grpc::InsecureChannelCredentials()));
}

Output Generate(v1::Inference::Stub* stub, const v1::GenerateRequest& req, int cancel_after) {
  Output out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto reader = stub->Generate(&ctx, req);
  v1::GenerateResponse r;
  while (reader->Read(&r)) {
    ++out.responses;
    out.ids.insert(out.ids.end(), r.token_ids().begin(), r.token_ids().end());
    out.text += r.text();
    out.logprobs.insert(out.logprobs.end(), r.logprobs().begin(), r.logprobs().end());
    out.last = r;
    if (cancel_after > 0 && out.responses == cancel_after) ctx.TryCancel();
  }
  out.status = reader->Finish();
  return out;
}

v1::GenerateRequest Request(const std::vector<int32_t>& prompt, int max_tokens, float temperature,
                            uint64_t seed) {
  v1::GenerateRequest req;
  req.mutable_token_ids()->mutable_ids()->Add(prompt.begin(), prompt.end());
  v1::SamplingParams* s = req.mutable_sampling();
  s->set_max_tokens(max_tokens);
  s->set_temperature(temperature);
  s->set_seed(seed);
  s->set_ignore_eos(true);
  if (temperature > 0) {
    s->set_top_k(50);
    s->set_top_p(0.9f);
    s->set_repetition_penalty(1.1f);
  }
  return req;
}

// A mix of prompts: the fixture's golden prompts and pseudo-random ones, greedy and seeded.
std::vector<v1::GenerateRequest> Mix(int n, const std::string& model_dir) {
  auto golden = testing::LoadGolden(model_dir);
  EXPECT_TRUE(golden.ok());
  std::vector<v1::GenerateRequest> reqs;
  uint64_t x = 12345;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> prompt;
    if (i < static_cast<int>(golden->cases.size())) {
      prompt = golden->cases[i].prompt;
    } else {
      const int len = 1 + (i * 7) % 37;
      for (int j = 0; j < len; ++j) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        prompt.push_back(static_cast<int32_t>((x >> 33) % 1000));
      }
    }
    reqs.push_back(Request(prompt, 12 + i % 9, i % 3 == 2 ? 0.8f : 0.0f, 1000 + i));
  }
  return reqs;
}

std::vector<Output> RunConcurrently(const ServerProcess& s,
                                    const std::vector<v1::GenerateRequest>& reqs) {
  std::vector<Output> outs(reqs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i) {
    threads.emplace_back([&, i] {
      auto stub = Stub(s);
      outs[i] = Generate(stub.get(), reqs[i]);
    });
  }
  for (auto& t : threads) t.join();
  return outs;
}

std::vector<Output> RunAlone(const ServerProcess& s, const std::vector<v1::GenerateRequest>& reqs) {
  auto stub = Stub(s);
  std::vector<Output> outs;
  for (const auto& r : reqs) outs.push_back(Generate(stub.get(), r));
  return outs;
}

double Metric(const ServerProcess& s, const std::string& name) {
  httplib::Client http("localhost", s.http_port());
  auto res = http.Get("/metrics");
  if (!res || res->status != 200) return -1;
  std::istringstream in(res->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

bool WaitMetric(const ServerProcess& s, const std::string& name, double value) {
  for (int i = 0; i < 500; ++i) {
    if (Metric(s, name) == value) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace moe
