#include "bench/serve/serve_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "common/json.h"
#include "tools/flags.h"

namespace moe {
namespace {

constexpr char kUsage[] = R"(usage: moe-bench serve [flags]
  --target HOST:PORT     server (default localhost:50051)
  --api-key KEY          API key (default: $MOE_API_KEY)
  --tls, --tls-ca FILE, --tls-server-name NAME   TLS to the server
  --num-prompts N        requests to send (default 100; with --dataset: its size)
  --concurrency N        at most N requests in flight (default: no limit)
  --request-rate R       Poisson arrivals of R requests/s (default inf: all at once)
  --input-len N          random prompt length in tokens (default 128)
  --output-len N         tokens to generate per request (default 128)
  --vocab N              random token ids in [0, N) (default: from ModelInfo, below the eos ids)
  --dataset FILE         jsonl prompts: {"prompt": "text" or [ids], "max_tokens": N}
  --ignore-eos / --no-ignore-eos   generate the full output length (default: on, off for --dataset)
  --temperature T        sampling temperature (default 0: greedy)
  --seed N               prompt and arrival seed (default 0)
  --timeout SECONDS      deadline per request (default none)
  --json                 print the summary as one JSON object
)";

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Sends one request and times its deltas.
void RunOne(Client* client, const v1::GenerateRequest& request, absl::Duration timeout,
            RequestRecord* record) {
  const Clock::time_point start = Clock::now();
  Clock::time_point last = start;
  std::unique_ptr<GenerateStream> stream = client->StartGenerate(request, timeout);
  v1::GenerateResponse delta;
  int64_t counted = 0;
  v1::Usage usage;
  while (stream->Next(&delta)) {
    const Clock::time_point now = Clock::now();
    if (delta.token_ids_size() > 0) {
      if (counted == 0) {
        record->ttft = Seconds(start, now);
      } else {
        record->itls.push_back(Seconds(last, now));
      }
      last = now;
      counted += delta.token_ids_size();
    }
    if (delta.has_usage()) usage = delta.usage();
  }
  absl::Status status = stream->Finish();
  record->e2e = Seconds(start, Clock::now());
  record->ok = status.ok();
  if (!status.ok()) {
    record->error = absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
  }
  record->prompt_tokens = usage.prompt_tokens() > 0 ? usage.prompt_tokens()
                          : request.has_token_ids() ? request.token_ids().ids_size()
                                                    : 0;
  record->output_tokens = usage.completion_tokens() > 0 ? usage.completion_tokens() : counted;
}

// A counting semaphore limiting the requests in flight.
class Slots {
 public:
  explicit Slots(int64_t n) : free_(n) {}
  void Acquire() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int64_t* free) { return *free > 0; }, &free_));
    --free_;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    ++free_;
  }

 private:
  absl::Mutex mu_;
  int64_t free_ ABSL_GUARDED_BY(mu_);
};

// Sends every request (each on its own thread) and returns the wall time in seconds.
double RunAll(Client* client, const std::vector<v1::GenerateRequest>& requests, int64_t concurrency,
              double rate, uint64_t seed, absl::Duration timeout,
              std::vector<RequestRecord>* records) {
  records->assign(requests.size(), RequestRecord());
  Slots slots(concurrency);
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  std::exponential_distribution<double> gap(std::isinf(rate) ? 1.0 : rate);
  std::vector<std::thread> threads;
  threads.reserve(requests.size());
  const Clock::time_point start = Clock::now();
  double arrival = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (!std::isinf(rate)) {
      std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(arrival)));
      arrival += gap(rng);
    }
    slots.Acquire();
    threads.emplace_back([&, i] {
      RunOne(client, requests[i], timeout, &(*records)[i]);
      slots.Release();
    });
  }
  for (std::thread& t : threads) t.join();
  return Seconds(start, Clock::now());
}

void AddLatency(OrderedJson* j, const char* name, const LatencySummary& s) {
  (*j)[name] = {
      {"mean", s.mean * 1e3}, {"p50", s.p50 * 1e3}, {"p90", s.p90 * 1e3}, {"p99", s.p99 * 1e3}};
}

void Report(const std::vector<RequestRecord>& records, double duration, int64_t concurrency,
            double rate, bool json) {
  int64_t ok = 0, failed = 0, input = 0, output = 0;
  std::vector<double> ttft, tpot, itl, e2e;
  std::string first_error;
  for (const RequestRecord& r : records) {
    if (!r.ok) {
      ++failed;
      if (first_error.empty()) first_error = r.error;
      continue;
    }
    ++ok;
    input += r.prompt_tokens;
    output += r.output_tokens;
    ttft.push_back(r.ttft);
    e2e.push_back(r.e2e);
    if (r.output_tokens > 1) tpot.push_back((r.e2e - r.ttft) / (r.output_tokens - 1));
    itl.insert(itl.end(), r.itls.begin(), r.itls.end());
  }
  const LatencySummary s_ttft = Summarize(ttft), s_tpot = Summarize(tpot), s_itl = Summarize(itl),
                       s_e2e = Summarize(e2e);
  const double req_s = ok / duration, out_s = output / duration,
               total_s = (input + output) / duration;
  if (json) {
    OrderedJson j;
    j["requests_ok"] = ok;
    j["requests_failed"] = failed;
    j["max_concurrency"] = concurrency == std::numeric_limits<int64_t>::max() ? -1 : concurrency;
    j["request_rate"] = std::isinf(rate) ? -1.0 : rate;
    j["duration_s"] = duration;
    j["input_tokens"] = input;
    j["output_tokens"] = output;
    j["request_throughput"] = req_s;
    j["output_throughput"] = out_s;
    j["total_token_throughput"] = total_s;
    AddLatency(&j, "ttft_ms", s_ttft);
    AddLatency(&j, "tpot_ms", s_tpot);
    AddLatency(&j, "itl_ms", s_itl);
    AddLatency(&j, "e2e_ms", s_e2e);
    if (!first_error.empty()) j["first_error"] = first_error;
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("============ Serving Benchmark Result ============\n");
  std::printf("%-40s %lld\n", "Successful requests:", static_cast<long long>(ok));
  std::printf("%-40s %lld\n", "Failed requests:", static_cast<long long>(failed));
  if (!first_error.empty()) std::printf("%-40s %s\n", "First error:", first_error.c_str());
  std::printf("%-40s %s\n", "Maximum request concurrency:",
              concurrency == std::numeric_limits<int64_t>::max()
                  ? "inf"
                  : std::to_string(concurrency).c_str());
  std::printf("%-40s %s\n",
              "Request rate (req/s):", std::isinf(rate) ? "inf" : absl::StrCat(rate).c_str());
  std::printf("%-40s %.2f\n", "Benchmark duration (s):", duration);
  std::printf("%-40s %lld\n", "Total input tokens:", static_cast<long long>(input));
  std::printf("%-40s %lld\n", "Total generated tokens:", static_cast<long long>(output));
  std::printf("%-40s %.2f\n", "Request throughput (req/s):", req_s);
  std::printf("%-40s %.2f\n", "Output token throughput (tok/s):", out_s);
  std::printf("%-40s %.2f\n", "Total token throughput (tok/s):", total_s);
  std::printf("%-18s %10s %10s %10s %10s\n", "Latency (ms)", "mean", "p50", "p90", "p99");
  const std::pair<const char*, LatencySummary> rows[] = {
      {"TTFT", s_ttft}, {"TPOT", s_tpot}, {"ITL", s_itl}, {"E2E", s_e2e}};
  for (const auto& [name, s] : rows) {
    std::printf("%-18s %10.2f %10.2f %10.2f %10.2f\n", name, s.mean * 1e3, s.p50 * 1e3, s.p90 * 1e3,
                s.p99 * 1e3);
  }
  std::printf("==================================================\n");
}

}  // namespace

absl::Status ServeBench(int argc, char** argv) {
  MOE_ASSIGN_OR_RETURN(
      Flags flags, Flags::Parse(argc, argv, 0,
                                {"target", "api-key", "tls-ca", "tls-server-name", "num-prompts",
                                 "concurrency", "request-rate", "input-len", "output-len", "vocab",
                                 "dataset", "temperature", "seed", "timeout"},
                                {"tls", "ignore-eos", "no-ignore-eos", "json", "help"}));
  if (flags.GetBool("help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument ", flags.positional()[0]));
  }
  ClientOptions options;
  options.target = flags.GetString("target", "localhost:50051");
  const char* env_key = std::getenv("MOE_API_KEY");
  options.api_key = flags.GetString("api-key", env_key ? env_key : "");
  options.tls = flags.GetBool("tls") || flags.Has("tls-ca");
  options.tls_root_certs_file = flags.GetString("tls-ca");
  options.tls_server_name_override = flags.GetString("tls-server-name");
  MOE_ASSIGN_OR_RETURN(int64_t num_prompts, flags.GetInt("num-prompts", -1));
  MOE_ASSIGN_OR_RETURN(int64_t concurrency,
                       flags.GetInt("concurrency", std::numeric_limits<int64_t>::max()));
  MOE_ASSIGN_OR_RETURN(double rate,
                       flags.GetDouble("request-rate", std::numeric_limits<double>::infinity()));
  MOE_ASSIGN_OR_RETURN(int64_t input_len, flags.GetInt("input-len", 128));
  MOE_ASSIGN_OR_RETURN(int64_t output_len, flags.GetInt("output-len", 128));
  MOE_ASSIGN_OR_RETURN(int64_t vocab, flags.GetInt("vocab", 0));
  MOE_ASSIGN_OR_RETURN(double temperature, flags.GetDouble("temperature", 0.0));
  MOE_ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 0));
  MOE_ASSIGN_OR_RETURN(double timeout_s, flags.GetDouble("timeout", 0.0));
  if (concurrency < 1 || !(rate > 0) || input_len < 1 || output_len < 1 || num_prompts == 0 ||
      vocab < 0 || timeout_s < 0) {
    return absl::InvalidArgumentError(
        "--concurrency, --request-rate, --input-len, --output-len, --num-prompts must be > 0");
  }
  const std::string dataset = flags.GetString("dataset");
  const bool ignore_eos =
      flags.GetBool("ignore-eos") || (dataset.empty() && !flags.GetBool("no-ignore-eos"));

  MOE_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Create(options));
  std::vector<v1::GenerateRequest> requests;
  if (!dataset.empty()) {
    MOE_ASSIGN_OR_RETURN(std::vector<v1::GenerateRequest> loaded,
                         LoadDataset(dataset, static_cast<int32_t>(output_len)));
    const size_t n = num_prompts > 0 ? static_cast<size_t>(num_prompts) : loaded.size();
    for (size_t i = 0; i < n; ++i) requests.push_back(loaded[i % loaded.size()]);
  } else {
    if (vocab == 0) {  // ordinary tokens: below the vocabulary size and the eos ids
      MOE_ASSIGN_OR_RETURN(v1::ModelInfoResponse info, client->ModelInfo(absl::Seconds(30)));
      vocab = info.vocab_size();
      for (int32_t eos : info.eos_token_ids()) {
        if (eos > 0) vocab = std::min<int64_t>(vocab, eos);
      }
      if (vocab < 1) return absl::FailedPreconditionError("ModelInfo reports no vocabulary");
    }
    requests = RandomPrompts(num_prompts > 0 ? num_prompts : 100, input_len,
                             static_cast<int32_t>(output_len), vocab, static_cast<uint64_t>(seed));
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    v1::SamplingParams* s = requests[i].mutable_sampling();
    s->set_temperature(static_cast<float>(temperature));
    s->set_seed(static_cast<uint64_t>(seed) + i);
    s->set_ignore_eos(ignore_eos);
    s->set_logprobs(-1);
  }
  const absl::Duration timeout =
      timeout_s > 0 ? absl::Seconds(timeout_s) : absl::InfiniteDuration();
  std::vector<RequestRecord> records;
  const double duration = RunAll(client.get(), requests, concurrency, rate,
                                 static_cast<uint64_t>(seed), timeout, &records);
  Report(records, duration, concurrency, rate, flags.GetBool("json"));
  for (const RequestRecord& r : records) {
    if (r.ok) return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "all ", records.size(), " requests failed: ", records.empty() ? "" : records[0].error));
}

}  // namespace moe
