// moe-tools tokenize / detokenize.
//
//   tokenize   --tokenizer DIR (--text T | --jsonl FILE)
//     --text: prints the ids as one JSON array line, e.g. [9707, 1879]
//     --jsonl: reads {"text": ...} lines (FILE or - for stdin), writes {"ids": [...]} lines
//   detokenize --tokenizer DIR (--ids 1,2,3 | --jsonl FILE) [--skip-special]
//     --ids: prints the decoded text and a newline
//     --jsonl: reads {"ids": [...]} lines, writes {"text": ...} lines
//
// Blank input lines are skipped. Errors: one line on stderr, exit 1; usage errors exit 2.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "common/file.h"
#include "common/json.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "tools/commands.h"
#include "tools/flags.h"

namespace moe::tools {
namespace {

constexpr char kTokenizeUsage[] =
    "usage: moe-tools tokenize --tokenizer DIR (--text T | --jsonl FILE)";
constexpr char kDetokenizeUsage[] =
    "usage: moe-tools detokenize --tokenizer DIR (--ids 1,2,3 | --jsonl FILE) [--skip-special]";

int UsageError(const char* command, const std::string& message, const char* usage) {
  std::fprintf(stderr, "%s: %s\n%s\n", command, message.c_str(), usage);
  return 2;
}

int Fail(const char* command, const absl::Status& status) {
  std::string message(status.message());
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  std::fprintf(stderr, "%s: %s\n", command, message.c_str());
  return 1;
}

// Parses flags and checks that exactly one of `input_a` / `input_b` is given. Returns 0 on
// success, else the exit code (usage already printed).
int ParseFlags(const char* command, const char* usage, int argc, char** argv,
               const std::set<std::string>& value_flags, const std::set<std::string>& bool_flags,
               const std::string& input_a, const std::string& input_b, Flags* flags) {
  auto parsed = Flags::Parse(argc, argv, 0, value_flags, bool_flags);
  if (!parsed.ok()) return UsageError(command, std::string(parsed.status().message()), usage);
  *flags = std::move(parsed).value();
  if (!flags->positional().empty()) {
    return UsageError(command, "unexpected argument '" + flags->positional()[0] + "'", usage);
  }
  if (!flags->Has("tokenizer")) return UsageError(command, "--tokenizer is required", usage);
  if (flags->Has(input_a) == flags->Has(input_b)) {
    return UsageError(command, "give exactly one of --" + input_a + " and --" + input_b, usage);
  }
  return 0;
}

// Reads FILE (or stdin for "-") and splits it into lines without their line ends.
absl::StatusOr<std::vector<std::string>> ReadLines(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    MOE_ASSIGN_OR_RETURN(text, ReadFile(path));
  }
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string::npos ? text.size() : nl;
    std::string line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    pos = end + 1;
  }
  return lines;
}

bool IsBlank(const std::string& line) { return line.find_first_not_of(" \t") == std::string::npos; }

std::string IdsJson(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(ids[i]);
  }
  out += "]";
  return out;
}

// Checks the ids against the tokenizer; `where` prefixes the error.
absl::StatusOr<std::vector<int32_t>> ToTokenIds(const std::vector<int64_t>& values,
                                                const Tokenizer& tokenizer,
                                                const std::string& where) {
  std::vector<int32_t> ids;
  ids.reserve(values.size());
  for (int64_t v : values) {
    if (v < 0 || v >= tokenizer.num_ids() || !tokenizer.IsValidId(static_cast<int32_t>(v))) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": id ", v, " has no token (valid ids: 0..", tokenizer.num_ids() - 1, ")"));
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

absl::Status RunTokenize(const Flags& flags) {
  MOE_ASSIGN_OR_RETURN(auto tokenizer, Tokenizer::Load(flags.GetString("tokenizer")));
  if (flags.Has("text")) {
    MOE_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer->Encode(flags.GetString("text")));
    std::printf("%s\n", IdsJson(ids).c_str());
    return absl::OkStatus();
  }
  const std::string path = flags.GetString("jsonl");
  MOE_ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadLines(path));
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (IsBlank(lines[i])) continue;
    const std::string where = absl::StrCat(path, ":", i + 1);
    MOE_ASSIGN_OR_RETURN(Json record, ParseJson(lines[i], where));
    auto text = record.is_object() ? record.find("text") : record.end();
    if (!record.is_object() || text == record.end() || !text->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected an object with a \"text\" string"));
    }
    auto ids = tokenizer->Encode(text->get_ref<const std::string&>());
    if (!ids.ok())
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", ids.status().message()));
    out += "{\"ids\": " + IdsJson(*ids) + "}\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return absl::OkStatus();
}

absl::Status RunDetokenize(const Flags& flags) {
  MOE_ASSIGN_OR_RETURN(auto tokenizer, Tokenizer::Load(flags.GetString("tokenizer")));
  const bool skip_special = flags.GetBool("skip-special");
  if (flags.Has("ids")) {
    MOE_ASSIGN_OR_RETURN(std::vector<int64_t> values, flags.GetIntList("ids"));
    MOE_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ToTokenIds(values, *tokenizer, "--ids"));
    std::string text = tokenizer->Decode(ids, skip_special) + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
    return absl::OkStatus();
  }
  const std::string path = flags.GetString("jsonl");
  MOE_ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadLines(path));
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (IsBlank(lines[i])) continue;
    const std::string where = absl::StrCat(path, ":", i + 1);
    MOE_ASSIGN_OR_RETURN(Json record, ParseJson(lines[i], where));
    auto ids_json = record.is_object() ? record.find("ids") : record.end();
    if (!record.is_object() || ids_json == record.end() || !ids_json->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected an object with an \"ids\" array"));
    }
    std::vector<int64_t> values;
    for (const Json& v : *ids_json) {
      if (!v.is_number_integer()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": \"ids\" must hold integers"));
      }
      values.push_back(v.get<int64_t>());
    }
    MOE_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ToTokenIds(values, *tokenizer, where));
    // The decoded text is well-formed UTF-8 (ill-formed bytes became U+FFFD).
    out += "{\"text\": " +
           Json(tokenizer->Decode(ids, skip_special))
               .dump(-1, ' ', false, Json::error_handler_t::replace) +
           "}\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return absl::OkStatus();
}

}  // namespace

int Tokenize(int argc, char** argv) {
  Flags flags;
  int rc = ParseFlags("tokenize", kTokenizeUsage, argc, argv, {"tokenizer", "text", "jsonl"}, {},
                      "text", "jsonl", &flags);
  if (rc != 0) return rc;
  absl::Status status = RunTokenize(flags);
  return status.ok() ? 0 : Fail("tokenize", status);
}

int Detokenize(int argc, char** argv) {
  Flags flags;
  int rc = ParseFlags("detokenize", kDetokenizeUsage, argc, argv, {"tokenizer", "ids", "jsonl"},
                      {"skip-special"}, "ids", "jsonl", &flags);
  if (rc != 0) return rc;
  absl::Status status = RunDetokenize(flags);
  return status.ok() ? 0 : Fail("detokenize", status);
}

}  // namespace moe::tools
