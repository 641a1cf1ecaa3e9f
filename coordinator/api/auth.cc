#include "coordinator/api/auth.h"

#include <cstdint>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace moe {
namespace {

// 1 when `presented` equals `key`, else 0, in time that depends only on presented.size().
// REQUIRES: !key.empty().
uint32_t ConstantTimeEquals(absl::string_view presented, absl::string_view key) {
  // Lengths differ -> non-zero, without branching on it.
  uint64_t diff = static_cast<uint64_t>(presented.size()) ^ static_cast<uint64_t>(key.size());
  uint32_t bytes = 0;
  for (size_t i = 0; i < presented.size(); ++i) {
    bytes |= static_cast<uint8_t>(presented[i]) ^ static_cast<uint8_t>(key[i % key.size()]);
  }
  diff |= bytes;
  // diff == 0 -> 1, else 0, without a data-dependent branch.
  uint64_t nonzero = (diff | (~diff + 1)) >> 63;  // 1 iff diff != 0
  return static_cast<uint32_t>(nonzero ^ 1);
}

}  // namespace

absl::StatusOr<ApiKeys> ApiKeys::Load(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open the API key file"));
  std::stringstream buffer;
  buffer << file.rdbuf();
  if (file.bad()) return absl::DataLossError(absl::StrCat(path, ": cannot read the API key file"));
  return Parse(buffer.str(), path);
}

absl::StatusOr<ApiKeys> ApiKeys::Parse(absl::string_view text, const std::string& source) {
  ApiKeys keys;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    for (char c : line) {
      if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ":", line_no, ": an API key may not contain whitespace"));
      }
    }
    keys.keys_.emplace_back(line);
  }
  if (keys.keys_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no API keys (one key per line; '#' starts a comment)"));
  }
  return keys;
}

bool ApiKeys::CheckAuthorization(absl::string_view header_value) const {
  if (keys_.empty()) return true;
  absl::string_view value = absl::StripAsciiWhitespace(header_value);
  constexpr absl::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme) ||
      !absl::ascii_isspace(static_cast<unsigned char>(value[kScheme.size()]))) {
    return false;
  }
  absl::string_view presented = absl::StripLeadingAsciiWhitespace(value.substr(kScheme.size()));
  if (presented.empty()) return false;
  uint32_t match = 0;
  for (const std::string& key : keys_) match |= ConstantTimeEquals(presented, key);
  return match != 0;
}

}  // namespace moe
