// moe-bench serve: tiny runs against a real moe-serve with the tiny MoE fixture model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "bench/serve/serve_bench.h"
#include "common/json.h"
#include "tests/client/subprocess.h"
#include "tests/testing/server_process.h"

namespace moe {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::ServerProcess;

const std::string kBench = std::string(MOE_BINARY_DIR) + "/bench/offline/moe-bench";

TEST(ServeBenchTest, TinyRunAgainstServer) {
  auto server = ServerProcess::Start({"--model", MOE_TEST_DATA_DIR "/models/tiny-qwen3-moe",
                                      "--threads", "1", "--kv-blocks", "512"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string target = (*server)->grpc_target();

  CommandResult r = RunCommand({kBench, "serve", "--target", target, "--num-prompts", "4",
                                "--concurrency", "2", "--input-len", "8", "--output-len", "6"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Serving Benchmark Result"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Successful requests:                     4\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Failed requests:                         0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Total generated tokens:                  24\n"), std::string::npos)
      << r.out;
  for (const char* row : {"TTFT", "TPOT", "ITL", "E2E", "Output token throughput (tok/s):"}) {
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
  }

  // Poisson arrivals, JSON summary.
  r = RunCommand({kBench, "serve", "--target", target, "--num-prompts", "4", "--request-rate", "50",
                  "--input-len", "5", "--output-len", "3", "--json", "--seed", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = ParseJson(r.out, "moe-bench serve --json");
  ASSERT_TRUE(j.ok()) << j.status() << r.out;
  EXPECT_EQ((*j)["requests_ok"], 4);
  EXPECT_EQ((*j)["requests_failed"], 0);
  EXPECT_EQ((*j)["input_tokens"], 20);
  EXPECT_EQ((*j)["output_tokens"], 12);
  EXPECT_GT((*j)["output_throughput"].get<double>(), 0);
  EXPECT_GT((*j)["ttft_ms"]["p50"].get<double>(), 0);
  EXPECT_GE((*j)["e2e_ms"]["p99"].get<double>(), (*j)["ttft_ms"]["p99"].get<double>());

  // Prompts from a dataset file (token ids: the fixture model has no tokenizer).
  char dir[] = "/tmp/moe-bench-data-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/prompts.jsonl";
  std::ofstream(path) << "{\"prompt\": [5, 6, 7], \"max_tokens\": 2}\n{\"prompt\": [8, 9]}\n";
  r = RunCommand({kBench, "serve", "--target", target, "--dataset", path, "--ignore-eos",
                  "--output-len", "4", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  j = ParseJson(r.out, "moe-bench serve --json");
  ASSERT_TRUE(j.ok()) << j.status() << r.out;
  EXPECT_EQ((*j)["requests_ok"], 2);
  EXPECT_EQ((*j)["output_tokens"], 6);
  unlink(path.c_str());
  rmdir(dir);

  // Bad flags and an unreachable server fail.
  r = RunCommand({kBench, "serve", "--concurrency", "0"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  r = RunCommand(
      {kBench, "serve", "--target", "localhost:1", "--num-prompts", "1", "--vocab", "10"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("UNAVAILABLE"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace moe
