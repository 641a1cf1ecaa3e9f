// The fixtures produced by an independent tokenizer implementation (see
// tests/data/tokenizer/README.md): every case must match exactly.
#include <gtest/gtest.h>

#include "tests/coordinator/tokenizer/test_util.h"

namespace moe {
namespace {

using tok_test::Enc;
using tok_test::Ids;
using tok_test::Qwen3;
using tok_test::ReadFixture;

TEST(TokenizerGolden, CasesEncodeAndDecode) {
  Json fixture = ReadFixture("cases.json");
  const Json& cases = fixture["cases"];
  ASSERT_EQ(cases.size(), 191u);
  int with_skip = 0;
  for (const Json& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::string text = c["text"].get<std::string>();
    const std::vector<int32_t> ids = Ids(c["ids"]);
    EXPECT_EQ(Enc(text), ids);
    EXPECT_EQ(Qwen3().Decode(ids), c["decoded"].get<std::string>());
    if (c.contains("decoded_skip_special")) {
      ++with_skip;
      EXPECT_EQ(Qwen3().Decode(ids, /*skip_special_tokens=*/true),
                c["decoded_skip_special"].get<std::string>());
    } else {
      EXPECT_EQ(Qwen3().Decode(ids, /*skip_special_tokens=*/true), c["decoded"].get<std::string>());
    }
    // The piece of each id.
    const Json& tokens = c["tokens"];
    ASSERT_EQ(tokens.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(Qwen3().IdToToken(ids[i]), tokens[i].get<std::string>());
      EXPECT_EQ(Qwen3().TokenToId(tokens[i].get<std::string>()), ids[i]);
    }
  }
  EXPECT_GT(with_skip, 0);
}

TEST(TokenizerGolden, ChatTextsEncode) {
  Json fixture = ReadFixture("chat.json");
  const Json& cases = fixture["cases"];
  ASSERT_EQ(cases.size(), 13u);
  for (const Json& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::string text = c["text"].get<std::string>();
    EXPECT_EQ(Enc(text), Ids(c["ids"]));
    EXPECT_EQ(Qwen3().Decode(Ids(c["ids"])), text);
  }
}

TEST(TokenizerGolden, StreamDecode) {
  Json fixture = ReadFixture("stream_decode.json");
  const Json& sequences = fixture["sequences"];
  ASSERT_EQ(sequences.size(), 7u);
  for (const Json& seq : sequences) {
    SCOPED_TRACE(seq["name"].get<std::string>());
    const std::vector<int32_t> ids = Ids(seq["ids"]);
    // Expected delta after each token; "" after incomplete prefixes.
    std::vector<std::string> expected(ids.size() + 1);
    std::vector<bool> complete(ids.size() + 1, false);
    for (const Json& step : seq["steps"]) {
      size_t n = step["n"].get<size_t>();
      expected[n] = step["delta"].get<std::string>();
      complete[n] = true;
      EXPECT_EQ(Qwen3().Decode(std::vector<int32_t>(ids.begin(), ids.begin() + n)),
                step["text"].get<std::string>());
    }
    for (const Json& inc : seq["incomplete_prefixes"]) {
      size_t n = inc["n"].get<size_t>();
      EXPECT_FALSE(complete[n]);
      EXPECT_EQ(Qwen3().Decode(std::vector<int32_t>(ids.begin(), ids.begin() + n)),
                inc["lossy_text"].get<std::string>());
    }
    StreamDecoder decoder(Qwen3(), /*skip_special_tokens=*/false);
    std::string all;
    for (size_t i = 0; i < ids.size(); ++i) {
      std::string delta = decoder.Push(ids[i]);
      EXPECT_EQ(delta, expected[i + 1]) << "after token " << i + 1;
      all += delta;
    }
    std::string tail = decoder.Finish();
    if (seq["final_complete"].get<bool>()) {
      EXPECT_EQ(all, seq["full_text"].get<std::string>());
      EXPECT_EQ(tail, "");
    }
    EXPECT_EQ(all + tail, seq["full_text"].get<std::string>());
    EXPECT_EQ(all + tail, Qwen3().Decode(ids));
  }
}

}  // namespace
}  // namespace moe
