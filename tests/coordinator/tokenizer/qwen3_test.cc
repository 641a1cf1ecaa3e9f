// Qwen3 behaviours from the fixture README beyond the goldens: added tokens, NFC (not NFKC),
// id range, config, streaming details, invalid input and thread safety.
#include <gtest/gtest.h>

#include <thread>

#include "tests/coordinator/tokenizer/test_util.h"

namespace moe {
namespace {

using tok_test::Enc;
using tok_test::Qwen3;

constexpr int32_t kEndOfText = 151643;
constexpr int32_t kImStart = 151644;
constexpr int32_t kImEnd = 151645;

int32_t Id(std::string_view content) {
  auto id = Qwen3().TokenToId(content);
  EXPECT_TRUE(id.has_value()) << content;
  return id.value_or(-1);
}

std::vector<int32_t> Cat(std::initializer_list<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

bool HasAddedToken(const std::vector<int32_t>& ids) {
  for (int32_t id : ids) {
    if (id >= kEndOfText) return true;
  }
  return false;
}

TEST(Qwen3AddedTokens, IdsAndFlags) {
  EXPECT_EQ(Id("<|endoftext|>"), kEndOfText);
  EXPECT_EQ(Id("<|im_start|>"), kImStart);
  EXPECT_EQ(Id("<|im_end|>"), kImEnd);
  for (int32_t id = 151643; id <= 151656; ++id) EXPECT_TRUE(Qwen3().IsSpecial(id)) << id;
  for (int32_t id = 151657; id <= 151668; ++id) EXPECT_FALSE(Qwen3().IsSpecial(id)) << id;
  EXPECT_EQ(Id("<think>"), 151667);
  EXPECT_EQ(Id("</think>"), 151668);
  EXPECT_FALSE(Qwen3().IsSpecial(Id("Hello")));
}

TEST(Qwen3AddedTokens, MatchedWhateverTheSpecialFlag) {
  for (const char* content :
       {"<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "<|fim_prefix|>",
        "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
        "<|im_start|>", "<|vision_pad|>"}) {
    EXPECT_EQ(Enc(content), std::vector<int32_t>{Id(content)}) << content;
    EXPECT_EQ(Enc(std::string("x") + content + "y"), Cat({Enc("x"), {Id(content)}, Enc("y")}))
        << content;
  }
}

TEST(Qwen3AddedTokens, SurroundingSpacesAreNotAbsorbed) {
  EXPECT_EQ(Enc(" <|im_start|> "), (std::vector<int32_t>{220, kImStart, 220}));
  EXPECT_EQ(Enc("a <|im_end|>\nb"), Cat({Enc("a "), {kImEnd}, Enc("\nb")}));
}

TEST(Qwen3AddedTokens, LookAlikesAreOrdinaryText) {
  for (const char* text :
       {"<|IM_START|>", "<|im_start|", "|im_start|>", "<thinking>", "< think>", "<|im_start |>",
        "<|im start|>", "<THINK>", "<|im_\xE2\x80\x8Bstart|>", "&lt;|im_start|&gt;"}) {
    EXPECT_FALSE(HasAddedToken(Enc(text))) << text;
  }
}

TEST(Qwen3AddedTokens, DoubledAngleBrackets) {
  EXPECT_EQ(Enc("<<|im_end|>>"), Cat({Enc("<"), {kImEnd}, Enc(">")}));
  EXPECT_EQ(Enc("<|im_start|><|im_end|>"), (std::vector<int32_t>{kImStart, kImEnd}));
}

TEST(Qwen3AddedTokens, MatchedBeforeNormalization) {
  // U+0338 after '>' would compose to U+226F under NFC and break the token if the text were
  // normalized first.
  EXPECT_EQ(Enc("<|im_start|>\xCC\xB8"), Cat({{kImStart}, Enc("\xCC\xB8")}));
  EXPECT_EQ(Qwen3().Decode(Enc("<|im_start|>\xCC\xB8")), "<|im_start|>\xCC\xB8");
}

TEST(Qwen3AddedTokens, SkipSpecialTokensOnDecode) {
  std::vector<int32_t> ids = Cat({{kImStart},
                                  Enc("assistant\n"),
                                  {Id("<think>")},
                                  Enc("hm"),
                                  {Id("</think>")},
                                  Enc("ok"),
                                  {kImEnd},
                                  {kEndOfText}});
  EXPECT_EQ(Qwen3().Decode(ids),
            "<|im_start|>assistant\n<think>hm</think>ok<|im_end|><|endoftext|>");
  EXPECT_EQ(Qwen3().Decode(ids, /*skip_special_tokens=*/true), "assistant\n<think>hm</think>ok");
}

TEST(Qwen3Normalizer, NfcNotNfkc) {
  EXPECT_EQ(Enc("\xE2\x84\xAA"), Enc("K"));         // Kelvin sign -> K
  EXPECT_EQ(Enc("\xE2\x84\xA6"), Enc("\xCE\xA9"));  // Ohm sign -> Omega
  EXPECT_EQ(Enc("e\xCC\x81"), Enc("\xC3\xA9"));     // decomposed é
  EXPECT_NE(Enc("\xEF\xAC\x81"), Enc("fi"));        // ﬁ stays ﬁ
  EXPECT_EQ(Qwen3().Decode(Enc("\xEF\xAC\x81")), "\xEF\xAC\x81");
  EXPECT_EQ(Qwen3().Decode(Enc("\xEF\xBC\xA1\xEF\xBC\x91")), "\xEF\xBC\xA1\xEF\xBC\x91");  // Ａ１
  EXPECT_EQ(Qwen3().Decode(Enc("x\xC2\xB2")), "x\xC2\xB2");  // superscript two kept
}

TEST(Qwen3Ids, RangeAndBytes) {
  EXPECT_EQ(Qwen3().num_ids(), 151669);
  EXPECT_TRUE(Qwen3().IsValidId(0));
  EXPECT_TRUE(Qwen3().IsValidId(151642));
  EXPECT_TRUE(Qwen3().IsValidId(151668));
  EXPECT_FALSE(Qwen3().IsValidId(151669));
  EXPECT_FALSE(Qwen3().IsValidId(151935));
  EXPECT_FALSE(Qwen3().IsValidId(-1));
  EXPECT_EQ(Qwen3().TokenBytes(151700), "");
  EXPECT_EQ(Qwen3().TokenBytes(-5), "");
  EXPECT_FALSE(Qwen3().IsSpecial(151700));
  EXPECT_EQ(Qwen3().TokenBytes(220), " ");
  EXPECT_EQ(Qwen3().TokenBytes(198), "\n");
  EXPECT_EQ(Qwen3().TokenBytes(kImEnd), "<|im_end|>");
  EXPECT_EQ(Qwen3().IdToToken(220), "\xC4\xA0");  // "Ġ"
  EXPECT_EQ(Qwen3().TokenToId("\xC4\xA0world"), 1879);
  EXPECT_EQ(Qwen3().TokenToId(" world"), std::nullopt);  // raw bytes are not a piece
  EXPECT_EQ(Qwen3().TokenToId("no-such-piece-xyz"), std::nullopt);
  // Ids without a token decode to nothing.
  EXPECT_EQ(Qwen3().Decode({9707, 151700, 1879, -3}), "Hello world");
  // Every byte has a piece, so any byte string survives a round trip.
  std::string all_bytes_text;
  for (int b = 1; b < 128; ++b) all_bytes_text += static_cast<char>(b);
  EXPECT_EQ(Qwen3().Decode(Enc(all_bytes_text)), all_bytes_text);
}

TEST(Qwen3Config, TokenizerConfig) {
  EXPECT_EQ(Qwen3().eos_token(), "<|im_end|>");
  EXPECT_EQ(Qwen3().bos_token(), std::nullopt);
  ASSERT_TRUE(Qwen3().config().is_object());
  ASSERT_TRUE(Qwen3().config().contains("chat_template"));
  EXPECT_TRUE(Qwen3().config()["chat_template"].is_string());
  EXPECT_EQ(Qwen3().config()["pad_token"], "<|endoftext|>");
  EXPECT_EQ(Qwen3().config().begin().key(), "add_bos_token");  // file order kept
}

TEST(Qwen3Encode, EmptyAndNul) {
  EXPECT_EQ(Enc(""), std::vector<int32_t>{});
  std::string nul("a\0b", 3);
  EXPECT_EQ(Qwen3().Decode(Enc(nul)), nul);
}

TEST(Qwen3Encode, InvalidUtf8IsAnErrorNamingTheOffset) {
  struct Case {
    std::string text;
    size_t offset;
  };
  for (const Case& c : std::vector<Case>{{"ab\xFF"
                                          "cd",
                                          2},
                                         {"\xC0\x80", 0},          // overlong NUL
                                         {"ok \xED\xA0\x80", 3},   // surrogate U+D800
                                         {"abc\xE4\xB8", 3},       // truncated at the end
                                         {"\xF4\x90\x80\x80", 0},  // above U+10FFFF
                                         {"x\x80", 1}}) {
    auto ids = Qwen3().Encode(c.text);
    ASSERT_FALSE(ids.ok());
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(ids.status().message().find("not valid UTF-8"), std::string::npos);
    EXPECT_NE(ids.status().message().find("byte offset " + std::to_string(c.offset)),
              std::string::npos)
        << ids.status();
  }
  auto batch = Qwen3().EncodeBatch({"fine", "bad \xFF"});
  ASSERT_FALSE(batch.ok());
  EXPECT_NE(batch.status().message().find("text 1"), std::string::npos);
}

TEST(Qwen3Encode, LongInputs) {
  // Long runs exercise the heap-based merge path and the regex on long matches.
  std::string spaces(100000, ' ');
  EXPECT_EQ(Qwen3().Decode(Enc(spaces)), spaces);
  std::string letters;
  for (int i = 0; i < 20000; ++i) letters += static_cast<char>('a' + (i * 7) % 26);
  EXPECT_EQ(Qwen3().Decode(Enc(letters)), letters);
  std::string cjk;
  for (int i = 0; i < 5000; ++i) cjk += "我想在";
  EXPECT_EQ(Qwen3().Decode(Enc(cjk)), cjk);
  std::string mixed = spaces + "x" + spaces + "\n\n" + letters;
  EXPECT_EQ(Qwen3().Decode(Enc(mixed)), mixed);
}

TEST(Qwen3Encode, ThreadSafe) {
  std::vector<std::string> texts;
  for (int i = 0; i < 8; ++i) {
    texts.push_back("Thread " + std::to_string(i) +
                    " says: the quick brown fox jumps over the lazy dog, 1234 times! 我想在 " +
                    std::string(static_cast<size_t>(i * 3), ' ') + "<|im_end|>");
  }
  std::vector<std::vector<int32_t>> expected;
  for (const auto& t : texts) expected.push_back(Enc(t));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(texts.size(), 0);
  for (size_t i = 0; i < texts.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 300; ++rep) {
        auto ids = Qwen3().Encode(texts[(i + static_cast<size_t>(rep)) % texts.size()]);
        if (!ids.ok() || *ids != expected[(i + static_cast<size_t>(rep)) % texts.size()]) {
          ++mismatches[i];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(Qwen3Stream, SkipSpecialAndUnknownIds) {
  StreamDecoder keep(Qwen3(), /*skip_special_tokens=*/false);
  StreamDecoder skip(Qwen3(), /*skip_special_tokens=*/true);
  std::vector<int32_t> ids = Cat({{kImStart}, Enc("hi"), {151700}, {Id("<think>")}, {kImEnd}});
  std::string kept, skipped;
  for (int32_t id : ids) {
    kept += keep.Push(id);
    skipped += skip.Push(id);
  }
  kept += keep.Finish();
  skipped += skip.Finish();
  EXPECT_EQ(kept, Qwen3().Decode(ids));
  EXPECT_EQ(kept, "<|im_start|>hi<think><|im_end|>");
  EXPECT_EQ(skipped, Qwen3().Decode(ids, true));
  EXPECT_EQ(skipped, "hi<think>");
}

TEST(Qwen3Stream, FinishFlushesIncompleteTailLossily) {
  StreamDecoder decoder(Qwen3(), false);
  EXPECT_EQ(decoder.Push(562), "ok");
  EXPECT_EQ(decoder.Push(11162), "");  // " " + first bytes of an emoji: held back
  EXPECT_EQ(decoder.Finish(), " \xEF\xBF\xBD");
  EXPECT_EQ(decoder.Finish(), "");
  // Usable again after Finish.
  EXPECT_EQ(decoder.Push(562), "ok");
}

TEST(Qwen3Stream, MatchesOneShotDecodeOnEveryPrefix) {
  std::string text =
      "Mixed: héllo 🦙 नमस्ते 我想 👨‍👩‍👧 <|im_end|> done";
  std::vector<int32_t> ids = Enc(text);
  StreamDecoder decoder(Qwen3(), false);
  std::string emitted;
  for (size_t i = 0; i < ids.size(); ++i) {
    emitted += decoder.Push(ids[i]);
    std::string prefix = Qwen3().Decode(std::vector<int32_t>(ids.begin(), ids.begin() + i + 1));
    // What was emitted is always a prefix of the one-shot decode of the prefix ids.
    EXPECT_EQ(prefix.compare(0, emitted.size(), emitted), 0) << i;
  }
  EXPECT_EQ(emitted + decoder.Finish(), text);
}

}  // namespace
}  // namespace moe
