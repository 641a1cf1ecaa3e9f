// The Qwen3 reasoning split (vLLM's --reasoning-parser qwen3): whole outputs, and streams cut
// at every place (tags split across deltas included) giving the same reasoning and content.
#include "coordinator/http/reasoning.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace moe::openai {
namespace {

TEST(SplitReasoning, BothTagsSplit) {
  ReasoningSplit s = SplitReasoning("<think>\nLet me count.\n</think>\n\nThree.");
  EXPECT_TRUE(s.has_reasoning);
  EXPECT_EQ(s.reasoning, "\nLet me count.\n");
  EXPECT_EQ(s.content, "\n\nThree.");
  ReasoningSplit around = SplitReasoning("Hi <think>r</think> there");
  EXPECT_EQ(around.reasoning, "r");
  EXPECT_EQ(around.content, "Hi  there");
}

TEST(SplitReasoning, WithoutBothTagsAllIsContent) {
  for (const std::string text : {"Just an answer.", "<think>never closed", "a </think> b", ""}) {
    ReasoningSplit s = SplitReasoning(text);
    EXPECT_FALSE(s.has_reasoning) << text;
    EXPECT_EQ(s.reasoning, "") << text;
    EXPECT_EQ(s.content, text);
  }
}

TEST(SplitReasoning, EmptyReasoningAndLaterTagsKept) {
  ReasoningSplit s = SplitReasoning("<think></think>A <think> and </think> stay");
  EXPECT_TRUE(s.has_reasoning);
  EXPECT_EQ(s.reasoning, "");
  EXPECT_EQ(s.content, "A <think> and </think> stay");
}

// Streams `text` in pieces of `size` bytes.
std::pair<std::string, std::string> Stream(const std::string& text, size_t size) {
  ReasoningStream stream;
  std::string reasoning, content;
  for (size_t i = 0; i < text.size(); i += size) {
    stream.Add(text.substr(i, size), &reasoning, &content);
  }
  stream.Finish(&reasoning, &content);
  return {reasoning, content};
}

TEST(ReasoningStream, EveryCutGivesTheWholeSplit) {
  for (const std::string text :
       {"<think>\nHmm, <b>bold</b> and </thin k.\n</think>\n\nThe answer: <x>",
        "Before <thi<think>in</think> after </think> <think>"}) {
    const ReasoningSplit whole = SplitReasoning(text);
    ASSERT_TRUE(whole.has_reasoning);
    for (size_t size = 1; size <= text.size(); ++size) {
      auto [reasoning, content] = Stream(text, size);
      EXPECT_EQ(reasoning, whole.reasoning) << text << " " << size;
      EXPECT_EQ(content, whole.content) << text << " " << size;
    }
  }
}

TEST(ReasoningStream, TextBeforeTheStartTagIsContent) {
  auto [reasoning, content] = Stream("Hi <think>r</think> there", 2);
  EXPECT_EQ(reasoning, "r");
  EXPECT_EQ(content, "Hi  there");
}

TEST(ReasoningStream, UnclosedReasoningStaysReasoning) {
  auto [reasoning, content] = Stream("<think>still thinking</thi", 3);
  EXPECT_EQ(reasoning, "still thinking</thi");
  EXPECT_EQ(content, "");
}

TEST(ReasoningStream, NoTagsIsContentAndAHeldPrefixComesOutAtTheEnd) {
  ReasoningStream stream;
  std::string reasoning, content;
  stream.Add("a < b <thi", &reasoning, &content);
  EXPECT_EQ(content, "a < b ");  // "<thi" may start "<think>": held back
  stream.Add("s", &reasoning, &content);
  EXPECT_EQ(content, "a < b <this");
  stream.Add(" <", &reasoning, &content);
  stream.Finish(&reasoning, &content);
  EXPECT_EQ(content, "a < b <this <");
  EXPECT_EQ(reasoning, "");
}

}  // namespace
}  // namespace moe::openai
