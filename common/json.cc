#include "common/json.h"

#include "common/file.h"

namespace moe {

absl::StatusOr<Json> ParseJson(const std::string& text, const std::string& source) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON: ", e.what()));
  }
}

absl::StatusOr<OrderedJson> ParseOrderedJson(const std::string& text, const std::string& source) {
  try {
    return OrderedJson::parse(text);
  } catch (const OrderedJson::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON: ", e.what()));
  }
}

absl::StatusOr<Json> ReadJsonFile(const std::string& path) {
  MOE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseJson(text, path);
}

}  // namespace moe
