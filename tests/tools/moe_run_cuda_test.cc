// moe-run on a GPU (label gpu; skipped without a CUDA device): `--device cuda:0` and `--device
// cuda` give the CPU run's greedy ids on the fixture models, and the fixtures' goldens.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/json.h"
#include "tests/tools/run_util.h"
#include "worker/shard_runner.h"

namespace moe {
namespace {

using testing::RunCommand;

const std::string kRun = std::string(MOE_BINARY_DIR) + "/tools/moe-run";
const std::string kModels = std::string(MOE_TEST_DATA_DIR) + "/models";

// The --print-ids line: the last line that is not moe-run's summary on stderr.
std::string IdsLine(const std::string& s) {
  std::vector<std::string> lines = absl::StrSplit(s, '\n', absl::SkipEmpty());
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (it->rfind("moe-run:", 0) != 0) return *it;
  }
  return "";
}

TEST(MoeRunCuda, GreedyIdsMatchTheCpuRun) {
  if (!ResolveDevice({Device::Kind::kCuda, 0}).ok()) GTEST_SKIP() << "no CUDA device";
  for (const char* model : {"tiny-qwen3-moe", "tiny-qwen3-dense"}) {
    auto golden = ReadJsonFile(absl::StrCat(kModels, "/", model, "/golden.json"));
    ASSERT_TRUE(golden.ok()) << golden.status();
    for (const Json& c : (*golden)["cases"]) {
      SCOPED_TRACE(absl::StrCat(model, " ", c["name"].get<std::string>()));
      const std::vector<int> prompt = c["prompt_ids"].get<std::vector<int>>();
      const std::string cmd = absl::StrCat(
          kRun, " --model ", kModels, "/", model, " --prompt-ids ", absl::StrJoin(prompt, ","),
          " --max-tokens 16 --temperature 0 --ignore-eos --print-ids --threads 1 --device ");
      auto cpu = RunCommand(cmd + "cpu");
      auto gpu = RunCommand(cmd + "cuda:0", /*merge_stderr=*/true);
      ASSERT_EQ(cpu.exit_code, 0);
      ASSERT_EQ(gpu.exit_code, 0) << gpu.out;
      EXPECT_NE(gpu.out.find("| cuda:0,"), std::string::npos) << gpu.out;
      EXPECT_EQ(IdsLine(gpu.out), IdsLine(cpu.out));
      auto any = RunCommand(cmd + "cuda");  // a device chosen by local rank
      ASSERT_EQ(any.exit_code, 0);
      EXPECT_EQ(IdsLine(any.out), IdsLine(cpu.out));
      EXPECT_EQ(IdsLine(cpu.out), absl::StrJoin(c["greedy_ids"].get<std::vector<int>>(), " "));
    }
  }
}

}  // namespace
}  // namespace moe
