// Behaviour on small hand-built tokenizer.json files: added-token flags (lstrip, rstrip,
// single_word, normalized, leftmost-longest) as Hugging Face tokenizers implements them, and
// BPE merge order (by rank, leftmost on ties, ignore_merges, long pieces).
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "tests/coordinator/tokenizer/test_util.h"

namespace moe {
namespace {

using tok_test::AddedTokenJson;
using tok_test::ByteIds;
using tok_test::MakeTokenizer;
using tok_test::TinyTokenizerJson;

std::vector<int32_t> Enc(const Tokenizer& t, std::string_view text) {
  auto ids = t.Encode(text);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

std::vector<int32_t> Cat(std::initializer_list<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(TinyAddedTokens, PlainTokensDoNotAbsorbSpaces) {
  auto t = MakeTokenizer(TinyTokenizerJson({}, {AddedTokenJson(300, "<X>")}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Enc(*t, "a <X> b"), Cat({ByteIds("a "), {300}, ByteIds(" b")}));
  EXPECT_EQ(t->Decode(Enc(*t, "a <X> b")), "a <X> b");
  EXPECT_EQ(t->num_ids(), 301);
  EXPECT_FALSE(t->IsValidId(299));
}

TEST(TinyAddedTokens, Lstrip) {
  auto t =
      MakeTokenizer(TinyTokenizerJson({}, {AddedTokenJson(300, "<L>", true, /*lstrip=*/true)}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Enc(*t, "a  <L>b"), Cat({ByteIds("a"), {300}, ByteIds("b")}));
  EXPECT_EQ(Enc(*t, "a\xE3\x80\x80\t<L> b"), Cat({ByteIds("a"), {300}, ByteIds(" b")}));
  EXPECT_EQ(Enc(*t, "<L>"), std::vector<int32_t>{300});
  EXPECT_EQ(t->Decode(Enc(*t, "a  <L>b")), "a<L>b");
}

TEST(TinyAddedTokens, Rstrip) {
  auto t = MakeTokenizer(
      TinyTokenizerJson({}, {AddedTokenJson(300, "<R>", true, false, /*rstrip=*/true)}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Enc(*t, "a <R>  \n b"), Cat({ByteIds("a "), {300}, ByteIds("b")}));
  EXPECT_EQ(Enc(*t, "<R><R>"), (std::vector<int32_t>{300, 300}));
}

TEST(TinyAddedTokens, LstripDoesNotReachIntoThePreviousToken) {
  auto t =
      MakeTokenizer(TinyTokenizerJson({}, {AddedTokenJson(300, "<R>", true, false, /*rstrip=*/true),
                                           AddedTokenJson(301, "<L>", true, /*lstrip=*/true)}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Enc(*t, "<R>   <L>"), (std::vector<int32_t>{300, 301}));
}

TEST(TinyAddedTokens, SingleWord) {
  auto t = MakeTokenizer(TinyTokenizerJson(
      {}, {AddedTokenJson(300, "cat", false, false, false, /*single_word=*/true)}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Enc(*t, "cat"), std::vector<int32_t>{300});
  EXPECT_EQ(Enc(*t, "a cat."), Cat({ByteIds("a "), {300}, ByteIds(".")}));
  EXPECT_EQ(Enc(*t, "concat"), ByteIds("concat"));
  EXPECT_EQ(Enc(*t, "cats"), ByteIds("cats"));
  EXPECT_EQ(Enc(*t, "_cat"), ByteIds("_cat"));  // '_' is a word character
  EXPECT_EQ(Enc(*t,
                "\xC3\xA9"
                "cat"),
            ByteIds("\xC3\xA9"
                    "cat"));  // so is é
  EXPECT_EQ(Enc(*t, "7cat"), ByteIds("7cat"));
  // A rejected match is skipped as a whole; the search resumes after it (like HF).
  EXPECT_EQ(Enc(*t, "concat cat"), Cat({ByteIds("concat "), {300}}));
}

TEST(TinyAddedTokens, NormalizedFlag) {
  // "é" precomposed: normalized=true matches decomposed input after NFC; normalized=false
  // only matches the raw text.
  auto normalized = MakeTokenizer(TinyTokenizerJson(
      {}, {AddedTokenJson(300, "\xC3\xA9", false, false, false, false, /*normalized=*/true)}));
  auto raw = MakeTokenizer(TinyTokenizerJson(
      {}, {AddedTokenJson(300, "\xC3\xA9", false, false, false, false, /*normalized=*/false)}));
  ASSERT_NE(normalized, nullptr);
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(Enc(*normalized, "e\xCC\x81"), std::vector<int32_t>{300});
  EXPECT_EQ(Enc(*normalized, "\xC3\xA9"), std::vector<int32_t>{300});
  EXPECT_EQ(Enc(*raw, "\xC3\xA9"), std::vector<int32_t>{300});
  EXPECT_EQ(Enc(*raw, "e\xCC\x81"), ByteIds("\xC3\xA9"));  // NFC'd, but not matched
  // A normalized token whose content is not NFC is matched by its NFC form.
  auto decomposed = MakeTokenizer(TinyTokenizerJson(
      {}, {AddedTokenJson(300, "e\xCC\x81", false, false, false, false, /*normalized=*/true)}));
  ASSERT_NE(decomposed, nullptr);
  EXPECT_EQ(Enc(*decomposed, "\xC3\xA9"), std::vector<int32_t>{300});
}

TEST(TinyAddedTokens, LeftmostLongest) {
  auto t = MakeTokenizer(
      TinyTokenizerJson({}, {AddedTokenJson(300, "<a>"), AddedTokenJson(301, "<a><b>"),
                             AddedTokenJson(302, "bc"), AddedTokenJson(303, "abcd")}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Enc(*t, "x<a><b>y"), Cat({ByteIds("x"), {301}, ByteIds("y")}));
  EXPECT_EQ(Enc(*t, "<a><c>"), Cat({{300}, ByteIds("<c>")}));
  EXPECT_EQ(Enc(*t, "zabcd"), Cat({ByteIds("z"), {303}}));  // leftmost start wins
  EXPECT_EQ(Enc(*t, "zbcd"), Cat({ByteIds("z"), {302}, ByteIds("d")}));
  EXPECT_EQ(Enc(*t, "abc"), Cat({ByteIds("a"), {302}}));
}

TEST(TinyAddedTokens, SpecialFlagControlsSkipping) {
  auto t = MakeTokenizer(TinyTokenizerJson(
      {}, {AddedTokenJson(300, "<s>", /*special=*/true), AddedTokenJson(301, "<t>", false)}));
  ASSERT_NE(t, nullptr);
  std::vector<int32_t> ids = Enc(*t, "<s>a<t>");
  EXPECT_EQ(t->Decode(ids), "<s>a<t>");
  EXPECT_EQ(t->Decode(ids, true), "a<t>");
  EXPECT_TRUE(t->IsSpecial(300));
  EXPECT_FALSE(t->IsSpecial(301));
  EXPECT_FALSE(t->IsSpecial(97));
}

TEST(TinyBpe, MergesApplyByRank) {
  auto ab_first = MakeTokenizer(TinyTokenizerJson({{"a", "b"}, {"b", "c"}}));
  auto bc_first = MakeTokenizer(TinyTokenizerJson({{"b", "c"}, {"a", "b"}}));
  ASSERT_NE(ab_first, nullptr);
  ASSERT_NE(bc_first, nullptr);
  EXPECT_EQ(Enc(*ab_first, "abc"), (std::vector<int32_t>{*ab_first->TokenToId("ab"), 'c'}));
  EXPECT_EQ(Enc(*bc_first, "abc"), (std::vector<int32_t>{'a', *bc_first->TokenToId("bc")}));
}

TEST(TinyBpe, LeftmostOnTies) {
  auto t = MakeTokenizer(TinyTokenizerJson({{"a", "a"}}));
  ASSERT_NE(t, nullptr);
  int32_t aa = *t->TokenToId("aa");
  EXPECT_EQ(Enc(*t, "aaa"), (std::vector<int32_t>{aa, 'a'}));
  EXPECT_EQ(Enc(*t, "aaaaa"), (std::vector<int32_t>{aa, aa, 'a'}));
}

TEST(TinyBpe, MergesApplyEvenWhenThePieceIsInTheVocab) {
  Json json = TinyTokenizerJson({{"a", "b"}});
  json["model"]["vocab"]["abc"] = 400;
  auto t = MakeTokenizer(json);
  ASSERT_NE(t, nullptr);
  int32_t ab = *t->TokenToId("ab");
  EXPECT_EQ(Enc(*t, "abc"), (std::vector<int32_t>{ab, 'c'}));  // ignore_merges=false
  json["model"]["ignore_merges"] = true;
  auto ignoring = MakeTokenizer(json);
  ASSERT_NE(ignoring, nullptr);
  EXPECT_EQ(Enc(*ignoring, "abc"), std::vector<int32_t>{400});
  EXPECT_EQ(Enc(*ignoring, "abd"), (std::vector<int32_t>{ab, 'd'}));
}

TEST(TinyBpe, LongPiecesUseTheSameOrder) {
  auto t = MakeTokenizer(TinyTokenizerJson({{"a", "b"}, {"ab", "ab"}, {"b", "a"}}));
  ASSERT_NE(t, nullptr);
  int32_t abab = *t->TokenToId("abab");
  int32_t ab = *t->TokenToId("ab");
  std::string text;
  for (int i = 0; i < 101; ++i) text += "ab";
  std::vector<int32_t> expected(50, abab);
  expected.push_back(ab);
  EXPECT_EQ(Enc(*t, text), expected);
}

// Reference BPE: the textbook loop over piece strings with the Qwen3 merge ranks. Encode must
// agree on long and short letter runs (both merge implementations).
TEST(Qwen3Bpe, AgreesWithReferenceImplementation) {
  Json root = tok_test::ReadFixture("tokenizer.json");
  std::map<std::pair<std::string, std::string>, int> ranks;
  int rank = 0;
  for (const Json& m : root["model"]["merges"]) {
    ranks.emplace(std::make_pair(m[0].get<std::string>(), m[1].get<std::string>()), rank++);
  }
  const Tokenizer& qwen3 = tok_test::Qwen3();
  const std::vector<std::string> alphabet = {"e", "t",  "a",  "o",  "i", "n", "s", "h", "r",
                                             "l", "我", "想", "在", "é", "ß", "д", "ы"};
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::string word;
    size_t len = 1 + rng() % (trial < 150 ? 20 : 120);
    for (size_t i = 0; i < len; ++i) word += alphabet[rng() % alphabet.size()];
    // Reference.
    std::vector<std::string> symbols;
    for (char c : word) symbols.push_back(tok_test::ByteLevelPiece(std::string(1, c)));
    while (symbols.size() > 1) {
      int best = -1;
      int best_rank = INT32_MAX;
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        auto it = ranks.find({symbols[i], symbols[i + 1]});
        if (it != ranks.end() && it->second < best_rank) {
          best_rank = it->second;
          best = static_cast<int>(i);
        }
      }
      if (best < 0) break;
      symbols[static_cast<size_t>(best)] += symbols[static_cast<size_t>(best) + 1];
      symbols.erase(symbols.begin() + best + 1);
    }
    std::vector<int32_t> expected;
    for (const std::string& s : symbols) expected.push_back(*qwen3.TokenToId(s));
    auto ids = qwen3.Encode(word);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*ids, expected) << word;
  }
}

}  // namespace
}  // namespace moe
