// moe-tools tokenize / detokenize, run as a subprocess.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "common/file.h"

namespace moe {
namespace {

const std::string kTool = std::string(MOE_BINARY_DIR) + "/tools/moe-tools";
const std::string kQwen3 = std::string(MOE_TEST_DATA_DIR) + "/tokenizer/qwen3";

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Per process: ctest runs this binary's tests as concurrent processes.
std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) /
          ("moe_tool_test_" + std::to_string(getpid()) + "_" + name))
      .string();
}

std::string Quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

Result RunTool(const std::vector<std::string>& args) {
  const std::string err_path = TempPath("stderr.txt");
  std::string command = Quote(kTool);
  for (const std::string& a : args) {
    command += ' ';
    command += Quote(a);
  }
  command += " 2>";
  command += Quote(err_path);
  Result r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.out.append(buffer, n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto err = ReadFile(err_path);
  if (err.ok()) r.err = *err;
  return r;
}

TEST(TokenizeTool, TextToIds) {
  Result r = RunTool({"tokenize", "--tokenizer", kQwen3, "--text", "Hello world"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[9707, 1879]\n");
  r = RunTool({"tokenize", "--tokenizer", kQwen3, "--text", " <|im_start|> "});
  EXPECT_EQ(r.out, "[220, 151644, 220]\n");
  r = RunTool({"tokenize", "--tokenizer", kQwen3, "--text="});
  EXPECT_EQ(r.out, "[]\n");
}

TEST(TokenizeTool, IdsToText) {
  Result r = RunTool({"detokenize", "--tokenizer", kQwen3, "--ids", "151644,9707,1879,151645"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "<|im_start|>Hello world<|im_end|>\n");
  r = RunTool(
      {"detokenize", "--tokenizer", kQwen3, "--ids", "151644, 9707,1879,151645", "--skip-special"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello world\n");
}

TEST(TokenizeTool, Jsonl) {
  const std::string in = TempPath("in.jsonl");
  ASSERT_TRUE(WriteFile(in,
                        "{\"text\": \"Hello world\"}\n\n{\"text\": \"caf\\u00e9 \\n\"}\r\n"
                        "{\"text\": \"<think>\"}\n")
                  .ok());
  Result r = RunTool({"tokenize", "--tokenizer", kQwen3, "--jsonl", in});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < r.out.size();) {
    size_t nl = r.out.find('\n', pos);
    lines.push_back(r.out.substr(pos, nl - pos));
    pos = nl + 1;
  }
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0], "{\"ids\": [9707, 1879]}");
  EXPECT_EQ(lines[2], "{\"ids\": [151667]}");

  // Round trip through detokenize --jsonl.
  const std::string ids_path = TempPath("ids.jsonl");
  ASSERT_TRUE(WriteFile(ids_path, r.out).ok());
  Result back = RunTool({"detokenize", "--tokenizer", kQwen3, "--jsonl", ids_path});
  EXPECT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(
      back.out,
      "{\"text\": \"Hello world\"}\n{\"text\": \"caf\xC3\xA9 \\n\"}\n{\"text\": \"<think>\"}\n");
}

TEST(TokenizeTool, Errors) {
  // Usage errors: exit 2.
  Result r = RunTool({"tokenize", "--text", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--tokenizer is required"), std::string::npos) << r.err;
  r = RunTool({"tokenize", "--tokenizer", kQwen3});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("exactly one of --text and --jsonl"), std::string::npos) << r.err;
  r = RunTool({"detokenize", "--tokenizer", kQwen3, "--ids", "1", "--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown flag --bogus"), std::string::npos) << r.err;

  // Runtime errors: exit 1, one line naming the problem.
  r = RunTool({"tokenize", "--tokenizer", "/nonexistent", "--text", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/tokenizer.json"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  r = RunTool({"tokenize", "--tokenizer", kQwen3, "--text", "bad \xFF"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("byte offset 4"), std::string::npos) << r.err;
  r = RunTool({"detokenize", "--tokenizer", kQwen3, "--ids", "1,x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--ids"), std::string::npos) << r.err;
  r = RunTool({"detokenize", "--tokenizer", kQwen3, "--ids", "151700"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("id 151700 has no token"), std::string::npos) << r.err;

  const std::string bad = TempPath("bad.jsonl");
  ASSERT_TRUE(WriteFile(bad, "{\"text\": \"ok\"}\n{\"txt\": 1}\n").ok());
  r = RunTool({"tokenize", "--tokenizer", kQwen3, "--jsonl", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(bad + ":2: expected an object with a \"text\" string"), std::string::npos)
      << r.err;
  ASSERT_TRUE(WriteFile(bad, "{\"ids\": [1, 2\n").ok());
  r = RunTool({"detokenize", "--tokenizer", kQwen3, "--jsonl", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(bad + ":1: invalid JSON"), std::string::npos) << r.err;
  r = RunTool({"detokenize", "--tokenizer", kQwen3, "--jsonl", TempPath("missing.jsonl")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing.jsonl"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace moe
