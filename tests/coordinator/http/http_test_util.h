// Test helpers for the HTTP API: JSON requests through httplib::Client and server-sent
// events parsed the way OpenAI clients read them.
#pragma once

#include <httplib.h>

#include <functional>
#include <string>
#include <vector>

#include "common/json.h"

namespace moe::testing {

struct HttpReply {
  int status = 0;  // 0: no response (connection failed or the client hung up)
  std::string body;
  std::string content_type;
  Json json;                        // the body parsed, when it is JSON (null otherwise)
  std::vector<std::string> events;  // SSE data payloads ("[DONE]" included), for streams
};

HttpReply HttpGet(httplib::Client& client, const std::string& path,
                  const std::string& api_key = "");
HttpReply HttpPost(httplib::Client& client, const std::string& path, const std::string& body,
                   const std::string& api_key = "");
inline HttpReply HttpPostJson(httplib::Client& client, const std::string& path, const Json& body,
                              const std::string& api_key = "") {
  return HttpPost(client, path, body.dump(), api_key);
}

// POSTs and reads the response as a stream of SSE events; `on_event` sees each data payload
// as it arrives and returns false to hang up.
HttpReply HttpPostStream(httplib::Client& client, const std::string& path, const Json& body,
                         const std::function<bool(const std::string&)>& on_event = nullptr,
                         const std::string& api_key = "");

// The data payloads of complete events in `text` ("data: X\n\n" -> X); comments skipped.
std::vector<std::string> SseData(const std::string& text);

// The streamed text of choice `index`: chat deltas' content or completions' text.
std::string StreamedText(const std::vector<std::string>& events, int index = 0);
// The finish_reason of choice `index` in a stream ("" if none came).
std::string StreamedFinishReason(const std::vector<std::string>& events, int index = 0);

// The official `openai` npm client check (openai_node/chat_test.mjs) against a server at
// 127.0.0.1:`port` serving `model`: "" when it passed, else why it failed. `*skip` is set
// (with the reason returned) when node or the installed package is missing.
std::string RunOpenAiNodeCheck(int port, const std::string& model, bool* skip,
                               const std::string& api_key = "");

}  // namespace moe::testing
