#include "tests/coordinator/http/http_test_util.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file.h"

namespace moe::testing {
namespace {

httplib::Headers AuthHeaders(const std::string& api_key) {
  httplib::Headers headers;
  if (!api_key.empty()) headers.emplace("Authorization", "Bearer " + api_key);
  return headers;
}

void Fill(const httplib::Result& result, HttpReply* reply) {
  if (!result) return;
  reply->status = result->status;
  reply->body = result->body;
  reply->content_type = result->get_header_value("Content-Type");
  reply->json = Json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (reply->json.is_discarded()) reply->json = nullptr;
}

}  // namespace

HttpReply HttpGet(httplib::Client& client, const std::string& path, const std::string& api_key) {
  HttpReply reply;
  Fill(client.Get(path, AuthHeaders(api_key)), &reply);
  return reply;
}

HttpReply HttpPost(httplib::Client& client, const std::string& path, const std::string& body,
                   const std::string& api_key) {
  HttpReply reply;
  Fill(client.Post(path, AuthHeaders(api_key), body, "application/json"), &reply);
  return reply;
}

HttpReply HttpPostStream(httplib::Client& client, const std::string& path, const Json& body,
                         const std::function<bool(const std::string&)>& on_event,
                         const std::string& api_key) {
  HttpReply reply;
  std::string pending;
  httplib::Request request;
  request.method = "POST";
  request.path = path;
  request.headers = AuthHeaders(api_key);
  request.set_header("Content-Type", "application/json");
  request.body = body.dump();
  request.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    reply.body.append(data, size);
    pending.append(data, size);
    size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      std::vector<std::string> events = SseData(pending.substr(0, end + 2));
      pending.erase(0, end + 2);
      for (std::string& event : events) {
        reply.events.push_back(event);
        if (on_event && !on_event(event)) return false;
      }
    }
    return true;
  };
  httplib::Result result = client.send(request);
  if (result) {
    reply.status = result->status;
    reply.content_type = result->get_header_value("Content-Type");
    // Error replies are plain JSON, not a stream.
    if (reply.events.empty()) {
      reply.json = Json::parse(reply.body, nullptr, false);
      if (reply.json.is_discarded()) reply.json = nullptr;
    }
  }
  return reply;
}

std::vector<std::string> SseData(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view event : absl::StrSplit(text, "\n\n")) {
    for (absl::string_view line : absl::StrSplit(event, '\n')) {
      if (absl::StartsWith(line, "data: ")) out.emplace_back(line.substr(6));
    }
  }
  return out;
}

std::string StreamedText(const std::vector<std::string>& events, int index) {
  std::string text;
  for (const std::string& event : events) {
    Json chunk = Json::parse(event, nullptr, false);
    if (chunk.is_discarded() || !chunk.contains("choices")) continue;
    for (const Json& choice : chunk["choices"]) {
      if (choice.value("index", -1) != index) continue;
      if (choice.contains("delta")) {
        const Json& delta = choice["delta"];
        if (delta.contains("content") && delta["content"].is_string()) {
          text += delta["content"].get<std::string>();
        }
      } else if (choice.contains("text")) {
        text += choice["text"].get<std::string>();
      }
    }
  }
  return text;
}

std::string StreamedFinishReason(const std::vector<std::string>& events, int index) {
  std::string reason;
  for (const std::string& event : events) {
    Json chunk = Json::parse(event, nullptr, false);
    if (chunk.is_discarded() || !chunk.contains("choices")) continue;
    for (const Json& choice : chunk["choices"]) {
      if (choice.value("index", -1) == index && choice["finish_reason"].is_string()) {
        reason = choice["finish_reason"].get<std::string>();
      }
    }
  }
  return reason;
}

std::string RunOpenAiNodeCheck(int port, const std::string& model, bool* skip,
                               const std::string& api_key) {
  const std::string dir = MOE_OPENAI_NODE_DIR;
  *skip = true;
  if (std::system("command -v node >/dev/null 2>&1") != 0) return "node is not installed";
  if (!FileExists(dir + "/node_modules/openai/package.json")) {
    return "the openai npm package is not installed: run npm ci --prefix " + dir;
  }
  *skip = false;
  const std::string command = absl::StrCat("node ", dir, "/chat_test.mjs http://127.0.0.1:", port,
                                           "/v1 ", model, " ", api_key, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !absl::StrContains(output, "\"ok\":true")) {
    return absl::StrCat(command, " failed:\n", output);
  }
  return "";
}

}  // namespace moe::testing
