// moe-run end to end: the CLI reproduces the fixtures' greedy continuations, chats with the
// demo model through its chat template and stops at <|im_end|>, and fails cleanly on bad input.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/json.h"
#include "tests/tools/run_util.h"

namespace moe {
namespace {

using testing::RunCommand;

const std::string kRun = std::string(MOE_BINARY_DIR) + "/tools/moe-run";
const std::string kModels = std::string(MOE_TEST_DATA_DIR) + "/models";

std::string LastLine(const std::string& s) {
  std::vector<std::string> lines = absl::StrSplit(s, '\n', absl::SkipEmpty());
  return lines.empty() ? "" : lines.back();
}

TEST(MoeRun, GreedyIdsMatchGoldenForEveryFixture) {
  for (const char* model : {"tiny-qwen3-dense", "tiny-qwen3-moe", "tiny-qwen3-moe-sharded"}) {
    auto golden = ReadJsonFile(absl::StrCat(kModels, "/", model, "/golden.json"));
    ASSERT_TRUE(golden.ok()) << golden.status();
    for (const Json& c : (*golden)["cases"]) {
      std::vector<int> prompt = c["prompt_ids"].get<std::vector<int>>();
      std::vector<int> want = c["greedy_ids"].get<std::vector<int>>();
      auto r = RunCommand(absl::StrCat(
          kRun, " --model ", kModels, "/", model, " --prompt-ids ", absl::StrJoin(prompt, ","),
          " --max-tokens 16 --temperature 0 --ignore-eos --print-ids", " --threads 1"));
      ASSERT_EQ(r.exit_code, 0) << model << " " << c["name"];
      EXPECT_EQ(LastLine(r.out), absl::StrJoin(want, " ")) << model << " " << c["name"];
    }
  }
}

TEST(MoeRun, JsonLinesCarryLogprobs) {
  auto r = RunCommand(absl::StrCat(kRun, " --model ", kModels,
                                   "/tiny-qwen3-moe --prompt-ids 5,6,7 --max-tokens 3 "
                                   "--temperature 0 --ignore-eos --json --logprobs 3"));
  ASSERT_EQ(r.exit_code, 0);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  for (const std::string& line : lines) {
    auto j = ParseJson(line, "line");
    ASSERT_TRUE(j.ok()) << line;
    ASSERT_EQ((*j)["top"].size(), 3u);
    // Greedy: the chosen token is the most likely one, and logprobs are <= 0.
    EXPECT_EQ((*j)["id"], (*j)["top"][0]["id"]);
    EXPECT_LE((*j)["logprob"].get<double>(), 0.0);
    EXPECT_NEAR((*j)["logprob"].get<double>(), (*j)["top"][0]["logprob"].get<double>(), 1e-6);
  }
}

TEST(MoeRun, DemoChatStreamsTextAndStopsAtImEnd) {
  // Sampled (generation_config.json: temperature 0.8, top-p 0.95, top-k 40), seeded.
  auto r = RunCommand(absl::StrCat(kRun, " --model ", MOE_DEMO_MODEL_DIR,
                                   " --chat --no-think --prompt 'ROMEO:\nWhat light through yonder "
                                   "window breaks?' --max-tokens 200 --seed 7 --print-ids"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::vector<std::string> ids = absl::StrSplit(LastLine(r.out), ' ');
  ASSERT_FALSE(ids.empty());
  EXPECT_LT(ids.size(), 200u) << "expected a stop at <|im_end|> before the token limit";
  EXPECT_EQ(ids.back(), "151645");  // <|im_end|> ends the reply
  // The text is readable: mostly letters and spaces, no special tokens printed.
  std::string text = r.out.substr(0, r.out.rfind('\n', r.out.size() - 2));
  EXPECT_EQ(text.find("<|im_end|>"), std::string::npos);
  int letters = 0;
  for (char ch : text) letters += isalpha(static_cast<unsigned char>(ch)) || ch == ' ';
  EXPECT_GT(letters, static_cast<int>(text.size() * 7 / 10)) << text;
  // Same seed, same text.
  auto again =
      RunCommand(absl::StrCat(kRun, " --model ", MOE_DEMO_MODEL_DIR,
                              " --chat --no-think --prompt 'ROMEO:\nWhat light through "
                              "yonder window breaks?' --max-tokens 200 --seed 7 --print-ids"));
  EXPECT_EQ(again.out, r.out);
}

// Single-quotes `s` for the shell.
std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

// text -> tokenizer -> model -> ids -> text, against the demo model's goldens (plain prompts and
// the chat prompt rendered by the chat template).
TEST(MoeRun, DemoGoldenGreedyThroughTheTokenizer) {
  auto golden = ReadJsonFile(std::string(MOE_DEMO_MODEL_DIR) + "/golden.json");
  ASSERT_TRUE(golden.ok());
  for (const Json& c : (*golden)["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    std::string prompt_flags = " --prompt " + ShellQuote(c["prompt_text"].get<std::string>());
    if (c["name"] == "chat_prompt") {
      prompt_flags =
          " --chat --no-think --prompt " + ShellQuote("Boatswain:\nWhat, must our mouths be cold?");
    }
    auto r = RunCommand(absl::StrCat(kRun, " --model ", MOE_DEMO_MODEL_DIR, prompt_flags,
                                     " --max-tokens 16 --temperature 0 --ignore-eos --print-ids"));
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_EQ(LastLine(r.out), absl::StrJoin(c["greedy_ids"].get<std::vector<int>>(), " "));
    // The streamed text is the golden continuation.
    const std::string want = c["greedy_text"].get<std::string>();
    EXPECT_EQ(r.out.substr(0, want.size()), want);
  }
}

TEST(MoeRun, BadInputsFailWithAClearMessage) {
  struct Case {
    std::string args, expect;
  };
  const Case cases[] = {
      {" --model /nonexistent --prompt-ids 1,2", "/nonexistent/config.json"},
      {" --model " + kModels + "/tiny-qwen3-moe --prompt hello", "no tokenizer.json"},
      {" --model " + kModels + "/tiny-qwen3-moe --prompt-ids 1,x", "--prompt-ids"},
      {" --model " + kModels + "/tiny-qwen3-moe --prompt-ids 1,5000", "5000"},
      {" --model " + kModels + "/tiny-qwen3-moe --prompt-ids 1 --temperature -1", "temperature"},
      {" --model " + kModels + "/tiny-qwen3-moe --prompt-ids 1 --top-p 2", "top_p"},
      {" --model " + kModels + "/tiny-qwen3-moe --prompt-ids 1 --bogus", "--bogus"},
      {" --model " + kModels + "/tiny-qwen3-moe", "--prompt"},
  };
  for (const Case& c : cases) {
    auto r = RunCommand(kRun + c.args, /*merge_stderr=*/true);
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.args << "\n" << r.out;
  }
}

TEST(MoeRun, RandomWeightsNeedOnlyTheConfig) {
  auto r = RunCommand(absl::StrCat(kRun, " --model ", kModels,
                                   "/tiny-qwen3-dense --random-weights --prompt-ids 1,2,3 "
                                   "--max-tokens 4 --temperature 0 --ignore-eos --print-ids"));
  ASSERT_EQ(r.exit_code, 0);
  std::vector<std::string> ids = absl::StrSplit(LastLine(r.out), ' ');
  EXPECT_EQ(ids.size(), 4u);
}

}  // namespace
}  // namespace moe
