// Integration: `moe-tools chat-template` renders and encodes every chat.json case exactly
// (text and ids), and reports bad input lines with a non-zero exit code.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/file.h"
#include "common/json.h"

namespace moe {
namespace {

const std::string kTool = std::string(MOE_BINARY_DIR) + "/tools/moe-tools";
const std::string kQwenDir = std::string(MOE_TEST_DATA_DIR) + "/tokenizer/qwen3";

// Runs `command`, returning its stdout and setting *exit_code.
std::string RunCommand(const std::string& command, int* exit_code) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *exit_code = -1;
    return out;
  }
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  int status = pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

TEST(ChatToolTest, RendersAndEncodesChatGoldens) {
  auto golden_text = ReadFile(kQwenDir + "/chat.json");
  ASSERT_TRUE(golden_text.ok()) << golden_text.status();
  auto golden = ParseOrderedJson(*golden_text, "chat.json");
  ASSERT_TRUE(golden.ok()) << golden.status();
  std::string jsonl;
  for (const auto& c : (*golden)["cases"]) {
    OrderedJson line = {{"messages", c["messages"]},
                        {"add_generation_prompt", c["add_generation_prompt"]},
                        {"template_kwargs", c["template_kwargs"]}};
    if (c.contains("tools")) line["tools"] = c["tools"];
    jsonl += line.dump() + "\n";
  }
  std::string input = testing::TempDir() + "/chat_tool_input.jsonl";
  ASSERT_TRUE(WriteFile(input, jsonl).ok());
  int code = 0;
  std::string out = RunCommand(
      kTool + " chat-template --tokenizer '" + kQwenDir + "' --jsonl '" + input + "'", &code);
  ASSERT_EQ(code, 0) << out;
  std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), (*golden)["cases"].size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const OrderedJson& c = (*golden)["cases"][i];
    SCOPED_TRACE(c["name"].get<std::string>());
    auto got = ParseOrderedJson(lines[i], "output line");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ((*got)["text"], c["text"]);
    EXPECT_EQ((*got)["ids"], c["ids"]);
    EXPECT_EQ(got->size(), 2u);
  }
}

TEST(ChatToolTest, TemplateOverrideAndErrors) {
  std::string dir = testing::TempDir();
  ASSERT_TRUE(WriteFile(dir + "/chat_tool_template.jinja",
                        "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}")
                  .ok());
  ASSERT_TRUE(WriteFile(dir + "/chat_tool_ok.jsonl",
                        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n")
                  .ok());
  int code = 0;
  std::string out =
      RunCommand(kTool + " chat-template --tokenizer '" + kQwenDir + "' --jsonl '" + dir +
                     "/chat_tool_ok.jsonl' --template '" + dir + "/chat_tool_template.jinja'",
                 &code);
  ASSERT_EQ(code, 0) << out;
  auto got = ParseOrderedJson(Lines(out).at(0), "output");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["text"], "<user>hi");

  ASSERT_TRUE(WriteFile(dir + "/chat_tool_bad.jsonl",
                        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n"
                        "{\"messages\": [{\"content\": \"no role\"}]}\n")
                  .ok());
  out = RunCommand(kTool + " chat-template --tokenizer '" + kQwenDir + "' --jsonl '" + dir +
                       "/chat_tool_bad.jsonl' 2>&1",
                   &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("chat_tool_bad.jsonl:2: messages[0].role: expected a string"),
            std::string::npos)
      << out;

  out = RunCommand(kTool + " chat-template --jsonl x 2>&1", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("--tokenizer"), std::string::npos) << out;
}

}  // namespace
}  // namespace moe
