// The Qwen3 Split regex (README "Pre-tokenizer" notes): each quirk checked on the pieces the
// regex produces and, through Encode, on the ids (Encode(text) == concatenation of the pieces'
// encodings).
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "coordinator/tokenizer/regex.h"
#include "coordinator/tokenizer/unicode.h"
#include "tests/coordinator/tokenizer/test_util.h"

namespace moe {
namespace {

using tok_test::Enc;
using tok_test::kQwen3Pattern;
using tok_test::Qwen3;
using tokenizer_internal::Regex;

const Regex& Qwen3Regex() {
  static const Regex* regex = [] {
    auto r = Regex::Compile(kQwen3Pattern, "test");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value().release();
  }();
  return *regex;
}

std::vector<std::string> Pieces(std::string_view text) {
  std::vector<std::string_view> views;
  Qwen3Regex().SplitIsolated(text, &views);
  return std::vector<std::string>(views.begin(), views.end());
}

// Checks the split of `text` (already NFC) and that Encode agrees piece by piece.
void ExpectPieces(const std::string& text, const std::vector<std::string>& expected) {
  SCOPED_TRACE(::testing::PrintToString(text));
  EXPECT_EQ(Pieces(text), expected);
  std::vector<int32_t> joined;
  for (const std::string& piece : expected) {
    std::vector<int32_t> ids = Enc(piece);
    joined.insert(joined.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(Enc(text), joined);
}

std::string U(uint32_t cp) {
  std::string s;
  tokenizer_internal::AppendUtf8(cp, &s);
  return s;
}

TEST(Qwen3PreTokenizer, PatternIsTheOneInTokenizerJson) {
  Json root = tok_test::ReadFixture("tokenizer.json");
  const Json& split = root["pre_tokenizer"]["pretokenizers"][0];
  EXPECT_EQ(split["type"], "Split");
  EXPECT_EQ(split["behavior"], "Isolated");
  EXPECT_EQ(split["pattern"]["Regex"].get<std::string>(), kQwen3Pattern);
}

TEST(Qwen3PreTokenizer, WhiteSpaceRewrite) {
  EXPECT_EQ(Regex::RewriteWhiteSpaceClasses("[^\\s\\p{L}]\\S+"),
            "[^\\p{White_Space}\\p{L}]\\P{White_Space}+");
  EXPECT_EQ(Regex::RewriteWhiteSpaceClasses("\\\\s"), "\\\\s");  // escaped backslash
  EXPECT_EQ(Regex::RewriteWhiteSpaceClasses("\\Q\\s\\E\\s"), "\\Q\\s\\E\\p{White_Space}");
}

// \s is Unicode White_Space: U+0085, NBSP, U+1680, U+2000..U+200A, U+2028/9, U+202F, U+205F,
// U+3000 are spaces; U+FEFF, U+200B and U+180E (which PCRE2's own \s includes) are not.
TEST(Qwen3PreTokenizer, BackslashSIsUnicodeWhiteSpace) {
  auto space = Regex::Compile("^\\s$", "test");
  ASSERT_TRUE(space.ok());
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp < 0xE000) continue;
    EXPECT_EQ((*space)->FullMatch(U(cp)), tokenizer_internal::IsWhiteSpace(cp)) << std::hex << cp;
  }
  for (uint32_t cp : {0x09u, 0x0Bu, 0x0Cu, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u, 0x2005u, 0x200Au,
                      0x2028u, 0x2029u, 0x202Fu, 0x205Fu, 0x3000u}) {
    SCOPED_TRACE(cp);
    // A space run before a letter leaves its last character to the letter run.
    const std::string w = U(cp);
    ExpectPieces(absl::StrCat("x", w, w, "y"), {"x", w, absl::StrCat(w, "y")});
  }
  for (uint32_t cp : {0xFEFFu, 0x200Bu, 0x180Eu}) {
    SCOPED_TRACE(cp);
    // Not spaces: they form a punctuation-class run.
    const std::string w = U(cp);
    ExpectPieces(absl::StrCat("x", w, w, "y"), {"x", absl::StrCat(w, w), "y"});
  }
}

TEST(Qwen3PreTokenizer, SpaceRunLookahead) {
  ExpectPieces("a   b", {"a", "  ", " b"});
  ExpectPieces(std::string(100, ' '), {std::string(100, ' ')});
  ExpectPieces("a" + std::string(100, ' '), {"a", std::string(100, ' ')});
  ExpectPieces("a \t b", {"a", " \t", " b"});
  ExpectPieces("x  !!", {"x", " ", " !!"});
  ExpectPieces(" 1", {" ", "1"});
}

TEST(Qwen3PreTokenizer, NewlineGroups) {
  ExpectPieces(" \n", {" \n"});
  ExpectPieces("\n ", {"\n", " "});
  ExpectPieces("a \n\nb", {"a", " \n\n", "b"});
  ExpectPieces("a\r\n\r\nb", {"a", "\r\n\r\n", "b"});
  ExpectPieces("\nhello", {"\n", "hello"});
  ExpectPieces("end.\n\n", {"end", ".\n\n"});
}

TEST(Qwen3PreTokenizer, PunctuationRuns) {
  ExpectPieces("a !!!\n\nb", {"a", " !!!\n\n", "b"});
  ExpectPieces("f(x);", {"f", "(x", ");"});
  ExpectPieces("a 🦙🦙 b", {"a", " 🦙🦙", " b"});
}

TEST(Qwen3PreTokenizer, EveryNumberCharacterIsItsOwnPiece) {
  ExpectPieces("12345", {"1", "2", "3", "4", "5"});
  ExpectPieces("abc123", {"abc", "1", "2", "3"});
  ExpectPieces("١٢٣", {"١", "٢", "٣"});  // Arabic-Indic digits
  ExpectPieces("x²½Ⅻ", {"x", "²", "½", "Ⅻ"});
  ExpectPieces(" 42", {" ", "4", "2"});
}

TEST(Qwen3PreTokenizer, ContractionsAreCaseInsensitive) {
  ExpectPieces("I'M", {"I", "'M"});
  ExpectPieces("they'RE", {"they", "'RE"});
  ExpectPieces("we'Ll", {"we", "'Ll"});
  ExpectPieces("it's", {"it", "'s"});
  ExpectPieces("IT'S", {"IT", "'S"});
  ExpectPieces("you'VE'D", {"you", "'VE", "'D"});
  ExpectPieces("'X", {"'X"});  // not a contraction: apostrophe leads the letter run
}

TEST(Qwen3PreTokenizer, LetterRunTakesOneLeadingCharacter) {
  ExpectPieces(" hello", {" hello"});
  ExpectPieces(".hello", {".hello"});
  ExpectPieces("\xC2\xA0hello", {"\xC2\xA0hello"});  // NBSP
  ExpectPieces("\xC2\x85hello", {"\xC2\x85hello"});  // U+0085
  ExpectPieces("  hello", {" ", " hello"});
  ExpectPieces("..hello", {"..", "hello"});  // no letter after the first '.'
}

TEST(Qwen3PreTokenizer, CombiningMarksBreakLetterRuns) {
  ExpectPieces("नमस्ते", {"नमस", "्त", "े"});
  ExpectPieces("x\xCC\x81y", {"x", "\xCC\x81y"});  // U+0301 does not compose with x
  ExpectPieces("كَتَبَ", {"ك", "َت", "َب", "َ"});        // Arabic harakat
}

}  // namespace
}  // namespace moe
