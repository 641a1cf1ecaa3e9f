#include "tools/device_flag.h"

#include <cctype>

#include "absl/strings/str_cat.h"
#include "tools/flags.h"

namespace moe {
namespace {

absl::Status BadDevice(const std::string& text) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--device '", text, "' is not a device: use cpu, cuda or cuda:N (N = 0, 1, ...)"));
}

}  // namespace

absl::StatusOr<Device> ParseDevice(const std::string& text) {
  Device d;
  if (text == "cpu") return d;
  d.kind = Device::Kind::kCuda;
  if (text == "cuda") return d;
  const std::string prefix = "cuda:";
  if (text.size() <= prefix.size() || text.compare(0, prefix.size(), prefix) != 0) {
    return BadDevice(text);
  }
  const std::string digits = text.substr(prefix.size());
  if (digits.size() > 4) return BadDevice(text);
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return BadDevice(text);
  }
  d.index = std::stoi(digits);
  return d;
}

absl::StatusOr<Device> DeviceFromFlags(const Flags& flags) {
  return ParseDevice(flags.GetString("device", "cpu"));
}

absl::StatusOr<Device> CheckDevice(const Device& device) {
  absl::StatusOr<Device> d = ResolveDevice(device);
  if (!d.ok()) {
    return absl::Status(d.status().code(), absl::StrCat("--device ", d.status().message()));
  }
  return d;
}

}  // namespace moe
