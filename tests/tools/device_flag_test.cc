// `--device` parsing (tools/device_flag.h): the accepted forms, and refusals that name the flag
// and list the forms; the start-up check of a device.
#include "tools/device_flag.h"

#include <gtest/gtest.h>

#include <string>

#include "tools/flags.h"

namespace moe {
namespace {

TEST(ParseDevice, AcceptsCpuCudaAndCudaN) {
  auto cpu = ParseDevice("cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_FALSE(cpu->is_cuda());
  auto cuda = ParseDevice("cuda");
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  EXPECT_TRUE(cuda->is_cuda());
  EXPECT_EQ(cuda->index, -1);
  auto c0 = ParseDevice("cuda:0");
  ASSERT_TRUE(c0.ok()) << c0.status();
  EXPECT_EQ(*c0, (Device{Device::Kind::kCuda, 0}));
  auto c12 = ParseDevice("cuda:12");
  ASSERT_TRUE(c12.ok()) << c12.status();
  EXPECT_EQ(c12->index, 12);
  // Round trip.
  for (const char* text : {"cpu", "cuda", "cuda:0", "cuda:7"}) {
    auto d = ParseDevice(text);
    ASSERT_TRUE(d.ok()) << text;
    EXPECT_EQ(d->ToString(), text);
  }
}

TEST(ParseDevice, RefusalsNameTheFlagAndTheForms) {
  for (const char* text : {"", "gpu", "CPU", "cuda:", "cuda:-1", "cuda:x", "cuda:0:1", "cuda0",
                           "cuda: 1", "cuda:1 ", "cuda:99999", "tpu:0"}) {
    auto d = ParseDevice(text);
    ASSERT_FALSE(d.ok()) << "'" << text << "'";
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(d.status().message());
    EXPECT_NE(msg.find("--device '" + std::string(text) + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cpu, cuda or cuda:N"), std::string::npos) << msg;
  }
}

absl::StatusOr<Flags> ParseArgs(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return Flags::Parse(static_cast<int>(argv.size()), argv.data(), 0, {"device"}, {});
}

TEST(DeviceFromFlags, DefaultsToCpu) {
  auto none = ParseArgs({});
  ASSERT_TRUE(none.ok()) << none.status();
  auto d = DeviceFromFlags(*none);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->is_cuda());
  auto given = ParseArgs({"--device=cuda:2"});
  ASSERT_TRUE(given.ok()) << given.status();
  d = DeviceFromFlags(*given);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, (Device{Device::Kind::kCuda, 2}));
  auto bad = ParseArgs({"--device", "gpu0"});
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_FALSE(DeviceFromFlags(*bad).ok());
}

TEST(CheckDevice, CpuPassesAndAMissingGpuSaysWhy) {
  auto cpu = CheckDevice(Device());
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_FALSE(cpu->is_cuda());
  auto far = CheckDevice({Device::Kind::kCuda, 9999});
  ASSERT_FALSE(far.ok());
  EXPECT_EQ(far.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(far.status().message());
  EXPECT_EQ(msg.rfind("--device cuda:9999: ", 0), 0u) << msg;
  // Without CUDA (in the build or on the machine), `cuda` is refused the same way.
  auto any = CheckDevice({Device::Kind::kCuda, -1});
  if (!CudaBuilt()) {
    ASSERT_FALSE(any.ok());
    EXPECT_NE(any.status().message().find("built without CUDA"), absl::string_view::npos);
  }
  if (any.ok()) {
    EXPECT_GE(any->index, 0);
  }
}

}  // namespace
}  // namespace moe
