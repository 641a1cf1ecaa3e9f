// JSON (nlohmann, from Debian) plus helpers that turn parse and type errors into Status
// messages naming the file and the field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace moe {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// Parses `text`; INVALID_ARGUMENT "<source>: invalid JSON: ..." on error.
absl::StatusOr<Json> ParseJson(const std::string& text, const std::string& source);
absl::StatusOr<OrderedJson> ParseOrderedJson(const std::string& text, const std::string& source);
// Reads and parses a file.
absl::StatusOr<Json> ReadJsonFile(const std::string& path);

}  // namespace moe
