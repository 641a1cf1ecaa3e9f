// moe-bench offline (a --batch list) and moe-bench moe-layer: seconds-long runs on the tiny MoE
// fixture model, checking that the reports parse and their figures are plausible.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/json.h"

namespace moe {
namespace {

const std::string kBench = std::string(MOE_BINARY_DIR) + "/bench/offline/moe-bench";
const std::string kModel = std::string(MOE_TEST_DATA_DIR) + "/models/tiny-qwen3-moe";

struct Output {
  int exit_code = -1;
  std::string out;  // stdout only
};

Output RunBench(const std::string& args) {
  Output o;
  const std::string cmd = kBench + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) o.out.append(buf, n);
  const int status = pclose(p);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

// The JSON lines of `out` that carry `key` (the summaries carry "model").
std::vector<Json> LinesWith(const std::string& out, const std::string& key) {
  std::vector<Json> lines;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    auto j = ParseJson(std::string(line), "moe-bench --json");
    EXPECT_TRUE(j.ok()) << j.status() << "\n" << out;
    if (j.ok() && j->contains(key)) lines.push_back(*j);
  }
  return lines;
}

TEST(MoeBenchTest, OfflineBatchListOnTinyModel) {
  Output r = RunBench("offline --model " + kModel +
                      " --batch 1,4 --prompt-len 8 --gen-len 4 --repeat 2 --probe-mib 64 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::vector<Json> runs = LinesWith(r.out, "run");
  EXPECT_EQ(runs.size(), 4u) << r.out;
  const std::vector<Json> sums = LinesWith(r.out, "model");
  ASSERT_EQ(sums.size(), 2u) << r.out;
  for (size_t i = 0; i < 2; ++i) {
    const Json& s = sums[i];
    EXPECT_EQ(s["batch"], i == 0 ? 1 : 4);
    EXPECT_GT(s["prefill_tok_s"]["median"].get<double>(), 0);
    EXPECT_GT(s["decode_tok_s"]["min"].get<double>(), 0);
    EXPECT_GT(s["weight_bytes_per_decode_step"].get<double>(), 0);
    EXPECT_GT(s["bandwidth_fraction"]["median"].get<double>(), 0);
    // One probe before the first run and one after each of the 4 runs; the limit is the max.
    const Json& probes = s["read_bandwidth_probes_gb_s"];
    EXPECT_EQ(probes["count"], 5);
    EXPECT_GT(probes["min"].get<double>(), 0);
    EXPECT_GE(probes["max"].get<double>(), probes["min"].get<double>());
    EXPECT_EQ(s["read_bandwidth_gb_s"].get<double>(), probes["max"].get<double>());
  }

  // Text: a list prints a table, one row per batch size.
  r = RunBench("offline --model " + kModel +
               " --batch 1,4 --prompt-len 8 --gen-len 4 --repeat 1 --probe-mib 64");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("decode tok/s [min, max]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bandwidth probes: max of 3 probes"), std::string::npos) << r.out;
  // One batch size keeps the single-batch format.
  r = RunBench("offline --model " + kModel +
               " --batch 2 --prompt-len 8 --gen-len 4 --repeat 1 --probe-mib 64");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("decode tg4 b2 tok/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("memory read bandwidth (measured now): "), std::string::npos) << r.out;

  EXPECT_EQ(RunBench("offline --model " + kModel + " --batch 1,0").exit_code, 1);
}

TEST(MoeBenchTest, MoeLayerOnTinyModel) {
  const int64_t kExperts = 8, kTopK = 2;  // tests/data/models/tiny-qwen3-moe/config.json
  for (const char* weights : {"", " --weights int8 --math exact"}) {
    SCOPED_TRACE(weights);
    Output r = RunBench("moe-layer --model " + kModel + std::string(weights) +
                        " --batch 1,4 --layers 2 --calls 8 --repeat 2 --probe-mib 64 --json");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_EQ(LinesWith(r.out, "run").size(), 4u) << r.out;
    const std::vector<Json> sums = LinesWith(r.out, "model");
    ASSERT_EQ(sums.size(), 2u) << r.out;
    for (size_t i = 0; i < 2; ++i) {
      const Json& s = sums[i];
      const int64_t T = i == 0 ? 1 : 4;
      EXPECT_EQ(s["batch"], T);
      EXPECT_EQ(s["experts"], kExperts);
      EXPECT_EQ(s["layers"], Json::array({1, 3}));
      EXPECT_GT(s["ms_per_call"]["median"].get<double>(), 0);
      EXPECT_GT(s["gb_s"]["median"].get<double>(), 0);
      EXPECT_GT(s["bandwidth_fraction"]["median"].get<double>(), 0);
      EXPECT_GT(s["read_bandwidth_gb_s"].get<double>(), 0);
      EXPECT_EQ(s["read_bandwidth_probes_gb_s"]["count"], 5);
      const int64_t lo = s["distinct_experts"]["min"].get<int64_t>();
      const int64_t hi = s["distinct_experts"]["max"].get<int64_t>();
      EXPECT_GE(lo, 1);
      EXPECT_LE(hi, kExperts);
      if (T == 1) {
        EXPECT_EQ(lo, kTopK);  // one token: exactly its top-k experts
      }
      // Router plus the distinct experts' three matrices, as the model itself counted them.
      const double router = s["router_bytes"].get<double>();
      const double expert = s["expert_bytes"].get<double>();
      EXPECT_GT(expert, 0);
      EXPECT_GE(s["bytes_per_call"].get<double>(), router + lo * expert - 1e-6);
      EXPECT_LE(s["bytes_per_call"].get<double>(), router + hi * expert + 1e-6);
      EXPECT_EQ(s["byte_count_mismatches"], 0);
    }
  }

  Output r =
      RunBench("moe-layer --model " + kModel + " --batch 1,4 --calls 8 --repeat 1 --probe-mib 64");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("distinct experts"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("WARNING"), std::string::npos) << r.out;
  // The dense fixture has no MoE layer.
  EXPECT_EQ(RunBench("moe-layer --model " + std::string(MOE_TEST_DATA_DIR) +
                     "/models/tiny-qwen3-dense --batch 1 --probe-mib 64")
                .exit_code,
            1);
}

}  // namespace
}  // namespace moe
