// moe-run --device end to end. Without a GPU (this build machine, CI): `--device cuda:0` stops
// at start with a message that names the flag, exit 1, and a malformed device is refused.
// With a GPU (label gpu): `--device cuda:0` gives the CPU run's greedy ids on the fixture.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/tools/run_util.h"
#include "worker/shard_runner.h"

namespace moe {
namespace {

using testing::RunCommand;

const std::string kRun = std::string(MOE_BINARY_DIR) + "/tools/moe-run";
const std::string kModel = std::string(MOE_TEST_DATA_DIR) + "/models/tiny-qwen3-moe";

bool HaveGpu() { return ResolveDevice({Device::Kind::kCuda, 0}).ok(); }

std::string LastLine(const std::string& s) {
  std::vector<std::string> lines = absl::StrSplit(s, '\n', absl::SkipEmpty());
  return lines.empty() ? "" : lines.back();
}

std::string Greedy(const std::string& device) {
  return absl::StrCat(kRun, " --model ", kModel,
                      " --prompt-ids 1,2,3,4,5 --max-tokens 12 --temperature 0 --ignore-eos"
                      " --print-ids --threads 1 --device ",
                      device);
}

TEST(MoeRunDevice, MissingGpuFailsAtStartWithTheFlagNamed) {
  if (HaveGpu()) GTEST_SKIP() << "a CUDA device is present";
  auto r = RunCommand(Greedy("cuda:0"), /*merge_stderr=*/true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("moe-run: --device cuda:0: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--device cpu"), std::string::npos) << "suggests the way out: " << r.out;
  EXPECT_EQ(r.out.find("moe-run: load"), std::string::npos) << "nothing ran: " << r.out;
}

TEST(MoeRunDevice, MalformedDeviceIsRefused) {
  auto r = RunCommand(Greedy("gpu:0"), /*merge_stderr=*/true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("--device 'gpu:0' is not a device: use cpu, cuda or cuda:N"),
            std::string::npos)
      << r.out;
}

TEST(MoeRunDevice, CpuIsTheDefault) {
  auto dflt = RunCommand(absl::StrCat(
      kRun, " --model ", kModel,
      " --prompt-ids 1,2,3,4,5 --max-tokens 12 --temperature 0 --ignore-eos --print-ids"
      " --threads 1"));
  auto cpu = RunCommand(Greedy("cpu"));
  ASSERT_EQ(dflt.exit_code, 0);
  ASSERT_EQ(cpu.exit_code, 0);
  EXPECT_EQ(LastLine(dflt.out), LastLine(cpu.out));
  const std::vector<std::string> ids = absl::StrSplit(LastLine(cpu.out), ' ', absl::SkipEmpty());
  EXPECT_EQ(ids.size(), 12u);
}

}  // namespace
}  // namespace moe
