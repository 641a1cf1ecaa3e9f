// moe-tools chat-template: renders chat requests with a tokenizer's chat_template and encodes
// the result. Input lines (JSONL): {"messages": [...], "tools": [...]?, "add_generation_prompt":
// bool?, "template_kwargs": {...}?}. Output lines: {"text": "...", "ids": [...]}.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "common/file.h"
#include "common/json.h"
#include "coordinator/chat/chat_template.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "tools/commands.h"
#include "tools/flags.h"

namespace moe::tools {
namespace {

absl::StatusOr<ChatRequest> ParseRequest(const std::string& line, const std::string& where) {
  MOE_ASSIGN_OR_RETURN(OrderedJson json, ParseOrderedJson(line, where));
  if (!json.is_object()) return absl::InvalidArgumentError(where + ": expected a JSON object");
  ChatRequest request;
  auto messages = json.find("messages");
  if (messages == json.end()) return absl::InvalidArgumentError(where + ": missing \"messages\"");
  request.messages = *messages;
  if (auto tools = json.find("tools"); tools != json.end()) request.tools = *tools;
  if (auto gen = json.find("add_generation_prompt"); gen != json.end() && !gen->is_null()) {
    if (!gen->is_boolean()) {
      return absl::InvalidArgumentError(where + ": add_generation_prompt: expected a boolean");
    }
    request.add_generation_prompt = gen->get<bool>();
  }
  if (auto kwargs = json.find("template_kwargs"); kwargs != json.end() && !kwargs->is_null()) {
    request.template_kwargs = *kwargs;
  }
  return request;
}

absl::Status Run(const Flags& flags) {
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  if (!flags.Has("tokenizer") || !flags.Has("jsonl")) {
    return absl::InvalidArgumentError("--tokenizer DIR and --jsonl FILE are required");
  }
  MOE_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                       Tokenizer::Load(flags.GetString("tokenizer")));
  std::string template_override;
  if (flags.Has("template")) {
    MOE_ASSIGN_OR_RETURN(template_override, ReadFile(flags.GetString("template")));
  }
  std::string config_name = JoinPath(flags.GetString("tokenizer"), "tokenizer_config.json");
  MOE_ASSIGN_OR_RETURN(
      std::unique_ptr<ChatFormatter> formatter,
      ChatFormatter::Create(tokenizer->config(), template_override,
                            flags.Has("template") ? flags.GetString("template") : config_name));
  std::string path = flags.GetString("jsonl");
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path);
    if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
    in = &file;
  }
  std::string line;
  for (int line_no = 1; std::getline(*in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = absl::StrCat(path, ":", line_no);
    MOE_ASSIGN_OR_RETURN(ChatRequest request, ParseRequest(line, where));
    auto text = formatter->Render(request);
    if (!text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", text.status().message()));
    }
    auto ids = tokenizer->Encode(*text);
    if (!ids.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", ids.status().message()));
    }
    OrderedJson out = OrderedJson::object();
    out["text"] = *text;
    out["ids"] = *ids;
    std::string dumped = out.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
    std::fwrite(dumped.data(), 1, dumped.size(), stdout);
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);
  return absl::OkStatus();
}

}  // namespace

int ChatTemplate(int argc, char** argv) {
  auto flags = Flags::Parse(argc, argv, 0, {"tokenizer", "jsonl", "template"}, {});
  absl::Status status = flags.ok() ? Run(*flags) : flags.status();
  if (!status.ok()) {
    std::fprintf(stderr, "chat-template: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace moe::tools
