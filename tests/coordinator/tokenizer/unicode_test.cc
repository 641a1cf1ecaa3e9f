// UTF-8 helpers, lossy decoding, White_Space and NFC, checked against Python's unicodedata and
// UTF-8 codec (unicode_vectors.json, written by gen_unicode_vectors.py).
#include "coordinator/tokenizer/unicode.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/escaping.h"
#include "common/json.h"
#include "coordinator/tokenizer/byte_level.h"
#include "tests/coordinator/tokenizer/test_util.h"

namespace moe::tokenizer_internal {
namespace {

const Json& Vectors() {
  static const Json* vectors = [] {
    auto json = ReadJsonFile(std::string(MOE_TOKENIZER_TEST_DIR) + "/unicode_vectors.json");
    EXPECT_TRUE(json.ok()) << json.status();
    return new Json(json.ok() ? *json : Json::object());
  }();
  return *vectors;
}

std::string Utf8(uint32_t cp) {
  std::string s;
  AppendUtf8(cp, &s);
  return s;
}

std::string Nfc(std::string_view s) {
  std::string out;
  NfcNormalize(s, &out);
  return out;
}

TEST(Unicode, TablesVersionMatchesGenerator) {
  EXPECT_STREQ(UnicodeTablesVersion(), "14.0.0");
  EXPECT_EQ(Vectors()["unicode"].get<std::string>(), UnicodeTablesVersion());
}

TEST(Unicode, NfcEveryCodePointAlone) {
  std::map<uint32_t, std::string> changed;
  for (const Json& e : Vectors()["nfc_single"]) {
    changed[e[0].get<uint32_t>()] = e[1].get<std::string>();
  }
  ASSERT_GT(changed.size(), 1000u);
  int failures = 0;
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp < 0xE000) continue;
    std::string in = Utf8(cp);
    auto it = changed.find(cp);
    const std::string& expected = it == changed.end() ? in : it->second;
    std::string got = Nfc(in);
    if (got != expected && ++failures <= 10) {
      ADD_FAILURE() << "NFC(U+" << std::hex << cp << ") wrong";
    }
    if (IsNfcQuick(in) && in != expected && failures <= 10) {
      ADD_FAILURE() << "quick check says U+" << std::hex << cp << " is NFC";
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST(Unicode, NfcStrings) {
  int n = 0;
  for (const Json& e : Vectors()["nfc_strings"]) {
    const std::string in = e[0].get<std::string>();
    const std::string expected = e[1].get<std::string>();
    EXPECT_EQ(Nfc(in), expected) << absl::CEscape(in);
    EXPECT_EQ(Nfc(expected), expected) << "not idempotent: " << absl::CEscape(in);
    if (IsNfcQuick(in)) {
      EXPECT_EQ(in, expected) << absl::CEscape(in);
    }
    ++n;
  }
  EXPECT_GT(n, 1500);
}

TEST(Unicode, NfcExamples) {
  EXPECT_EQ(Nfc("e\xCC\x81"), "\xC3\xA9");                     // e + U+0301 -> é
  EXPECT_EQ(Nfc("\xE2\x84\xAA"), "K");                         // Kelvin sign -> K
  EXPECT_EQ(Nfc("\xE2\x84\xA6"), "\xCE\xA9");                  // Ohm sign -> Omega
  EXPECT_EQ(Nfc("\xEF\xAC\x81"), "\xEF\xAC\x81");              // ﬁ ligature kept (not NFKC)
  EXPECT_EQ(Nfc("\xEF\xBC\xA1"), "\xEF\xBC\xA1");              // full-width A kept
  EXPECT_EQ(Nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");  // Hangul L+V -> 가
  EXPECT_EQ(Nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // L+V+T -> 각
  // Mark reordering: ccc 230 (U+0301) then ccc 220 (U+0323) -> ụ́ composed as ụ + U+0301.
  EXPECT_EQ(Nfc("u\xCC\x81\xCC\xA3"), "\xE1\xBB\xA5\xCC\x81");
  EXPECT_EQ(Nfc(""), "");
  EXPECT_EQ(Nfc(std::string("a\0b", 3)), std::string("a\0b", 3));
  EXPECT_TRUE(IsNfcQuick("plain ASCII text"));
  EXPECT_TRUE(IsNfcQuick("d\xC3\xA9j\xC3\xA0 vu"));  // déjà vu, precomposed
  EXPECT_FALSE(IsNfcQuick("e\xCC\x81"));
}

TEST(Unicode, LossyDecodeMatchesPython) {
  int n = 0;
  for (const Json& e : Vectors()["lossy"]) {
    std::string bytes = absl::HexStringToBytes(e[0].get<std::string>());
    std::string expected = e[1].get<std::string>();
    int64_t first_error = e[2].get<int64_t>();
    std::string got;
    AppendUtf8Lossy(bytes, &got);
    EXPECT_EQ(got, expected) << e[0];
    size_t bad = FindInvalidUtf8(bytes);
    EXPECT_EQ(bad == std::string_view::npos ? -1 : static_cast<int64_t>(bad), first_error) << e[0];
    ++n;
  }
  EXPECT_GT(n, 2000);
}

TEST(Unicode, MaximalSubpartExample) {
  // Unicode Standard table 3-8: each maximal subpart becomes one U+FFFD.
  std::string got;
  AppendUtf8Lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", &got);
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(got, "a" + r + r + r + "b" + r + "c" + r + r + "d");
}

TEST(Unicode, IncompleteTail) {
  EXPECT_EQ(IncompleteUtf8TailLength(""), 0u);
  EXPECT_EQ(IncompleteUtf8TailLength("abc"), 0u);
  EXPECT_EQ(IncompleteUtf8TailLength("a\xF0\x9F"), 2u);  // start of an emoji
  EXPECT_EQ(IncompleteUtf8TailLength("a\xF0\x9F\xA6"), 3u);
  EXPECT_EQ(IncompleteUtf8TailLength("a\xF0\x9F\xA6\x99"), 0u);  // complete 🦙
  EXPECT_EQ(IncompleteUtf8TailLength("\xE4"), 1u);
  EXPECT_EQ(IncompleteUtf8TailLength("\xE0\x80"), 0u);  // ill-formed, not incomplete
  EXPECT_EQ(IncompleteUtf8TailLength("\xED\xA0"), 0u);  // surrogate range: ill-formed
  EXPECT_EQ(IncompleteUtf8TailLength("\x80"), 0u);      // lone continuation byte
  EXPECT_EQ(IncompleteUtf8TailLength("\xC3\xA9"), 0u);
  EXPECT_EQ(IncompleteUtf8TailLength("\xFF"), 0u);
}

TEST(Unicode, WhiteSpaceIsUnicodeWhiteSpace) {
  const std::set<uint32_t> expected = {0x09,   0x0A,   0x0B,   0x0C,   0x0D,   0x20,   0x85,
                                       0xA0,   0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
                                       0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028,
                                       0x2029, 0x202F, 0x205F, 0x3000};
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    EXPECT_EQ(IsWhiteSpace(cp), expected.count(cp) > 0) << std::hex << cp;
  }
}

TEST(ByteLevel, Gpt2Table) {
  EXPECT_EQ(ByteToCodePoint(' '), 0x120u);   // Ġ
  EXPECT_EQ(ByteToCodePoint('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(ByteToCodePoint('A'), static_cast<uint32_t>('A'));
  EXPECT_EQ(ByteToCodePoint(0xAD), 0x143u);  // soft hyphen byte is remapped
  EXPECT_EQ(ByteToCodePoint(0xA1), 0xA1u);
  int remapped = 0;
  std::set<uint32_t> seen;
  for (int b = 0; b < 256; ++b) {
    uint32_t cp = ByteToCodePoint(static_cast<uint8_t>(b));
    if (cp != static_cast<uint32_t>(b)) {
      EXPECT_EQ(cp, 0x100u + static_cast<uint32_t>(remapped)) << b;  // increasing byte order
      ++remapped;
    }
    EXPECT_TRUE(seen.insert(cp).second);
    EXPECT_EQ(CodePointToByte(cp), b);
  }
  EXPECT_EQ(remapped, 68);
  EXPECT_EQ(CodePointToByte(0x4E00), -1);
  std::string raw = "a b\n\xFF";
  std::string back;
  ASSERT_TRUE(PieceToBytes(BytesToPiece(raw), &back));
  EXPECT_EQ(back, raw);
  EXPECT_EQ(BytesToPiece(" world"), "\xC4\xA0world");  // "Ġworld"
}

}  // namespace
}  // namespace moe::tokenizer_internal
