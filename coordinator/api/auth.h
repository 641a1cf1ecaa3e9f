// API keys: the set of bearer tokens that may call the service (gRPC metadata
// "authorization" and the HTTP "Authorization" header, both "Bearer <key>").
//
// The key file holds one key per line; surrounding whitespace is trimmed, blank lines and lines
// starting with '#' are ignored, and a key may not contain whitespace.
//
// Thread-safety: immutable after Load(); CheckAuthorization may be called from any thread.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace moe {

class ApiKeys {
 public:
  // No keys: authentication is off (enabled() is false, every request is allowed).
  ApiKeys() = default;

  // Reads the key file. Errors name the file: unreadable (NOT_FOUND / the OS error), no keys
  // at all (INVALID_ARGUMENT "FILE: no API keys (one key per line)"), a key with whitespace
  // inside (INVALID_ARGUMENT naming the line).
  static absl::StatusOr<ApiKeys> Load(const std::string& path);
  // Same from the file's contents; `source` names it in errors.
  static absl::StatusOr<ApiKeys> Parse(absl::string_view text, const std::string& source);

  bool enabled() const { return !keys_.empty(); }
  int size() const { return static_cast<int>(keys_.size()); }

  // True when authentication is off, or `header_value` is "Bearer <key>" (scheme
  // case-insensitive, surrounding whitespace ignored) for one of the keys. The comparison runs
  // over every key and every byte of the presented key without an early exit, so its timing
  // does not reveal which key, or how much of one, matched.
  bool CheckAuthorization(absl::string_view header_value) const;

 private:
  std::vector<std::string> keys_;  // non-empty strings
};

}  // namespace moe
