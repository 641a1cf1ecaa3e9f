// Errors in the OpenAI style (declared in openai_convert.h).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/http/openai_convert.h"

namespace moe::openai {

absl::Status ToOpenAiFields(const absl::Status& status) {
  // Proto field paths of request_builder.h -> the OpenAI body's names, longest first.
  static const std::vector<std::pair<std::string, std::string>>* const kRenames =
      new std::vector<std::pair<std::string, std::string>>{
          {"prompt.token_ids", "prompt"},
          {"prompt.text", "prompt"},
          {"sampling.", ""},
          {"tools_json", "tools"},
          {"template_kwargs_json", "chat_template_kwargs"},
      };
  if (status.ok()) return status;
  std::string message(status.message());
  for (const auto& [from, to] : *kRenames) {
    if (absl::StartsWith(message, from)) {
      message = to + message.substr(from.size());
      break;
    }
  }
  return absl::Status(status.code(), message);
}

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string ParamOf(const std::string& message) {
  const size_t colon = message.find(": ");
  if (colon == std::string::npos || colon == 0) return "";
  const std::string path = message.substr(0, colon);
  if (path.find(' ') != std::string::npos) return "";
  return path.substr(0, path.find_first_of(".["));
}

Json ErrorBody(const absl::Status& status) {
  const int http = HttpStatusFor(status);
  const char* type = "InternalServerError";
  switch (http) {
    case 400:
      type = "BadRequestError";
      break;
    case 401:
      type = "AuthenticationError";
      break;
    case 403:
      type = "PermissionDeniedError";
      break;
    case 404:
      type = "NotFoundError";
      break;
    case 429:
      type = "RateLimitError";
      break;
    case 501:
      type = "NotImplementedError";
      break;
    case 503:
      type = "ServiceUnavailableError";
      break;
    case 504:
      type = "TimeoutError";
      break;
  }
  const std::string message(status.message());
  const std::string param = ParamOf(message);
  Json error = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", http}};
  if (!param.empty()) error["param"] = param;
  return Json{{"error", std::move(error)}};
}

}  // namespace moe::openai
