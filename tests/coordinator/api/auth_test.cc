// ApiKeys: key-file parsing and "Bearer <key>" checks.
#include "coordinator/api/auth.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/match.h"

namespace moe {
namespace {

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(ApiKeysTest, DefaultIsDisabledAndAllowsEverything) {
  ApiKeys keys;
  EXPECT_FALSE(keys.enabled());
  EXPECT_TRUE(keys.CheckAuthorization(""));
  EXPECT_TRUE(keys.CheckAuthorization("Bearer anything"));
}

TEST(ApiKeysTest, ParsesKeysCommentsAndBlankLines) {
  auto keys =
      ApiKeys::Parse("# the keys\n\n  key-one  \r\nkey-two\n   # indented comment\n\n", "keys.txt");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_TRUE(keys->enabled());
  EXPECT_EQ(keys->size(), 2);
  EXPECT_TRUE(keys->CheckAuthorization("Bearer key-one"));
  EXPECT_TRUE(keys->CheckAuthorization("Bearer key-two"));
  EXPECT_FALSE(keys->CheckAuthorization("Bearer # the keys"));
  EXPECT_FALSE(keys->CheckAuthorization("Bearer #"));
}

TEST(ApiKeysTest, LoadsFromFile) {
  std::string path = WriteTemp("api_keys_ok.txt", "secret-1\nsecret-2\n");
  auto keys = ApiKeys::Load(path);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->size(), 2);
  EXPECT_TRUE(keys->CheckAuthorization("Bearer secret-2"));
}

TEST(ApiKeysTest, EmptyFileIsAnErrorNamingTheFile) {
  std::string path = WriteTemp("api_keys_empty.txt", "# only a comment\n\n");
  auto keys = ApiKeys::Load(path);
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(keys.status().message(), path)) << keys.status();
  EXPECT_TRUE(absl::StrContains(keys.status().message(), "no API keys")) << keys.status();
}

TEST(ApiKeysTest, MissingFileIsAnErrorNamingTheFile) {
  std::string path = ::testing::TempDir() + "/no_such_api_keys_file.txt";
  auto keys = ApiKeys::Load(path);
  ASSERT_FALSE(keys.ok());
  EXPECT_TRUE(absl::StrContains(keys.status().message(), path)) << keys.status();
}

TEST(ApiKeysTest, KeyWithWhitespaceIsAnErrorNamingTheLine) {
  auto keys = ApiKeys::Parse("good\nbad key\n", "keys.txt");
  ASSERT_FALSE(keys.ok());
  EXPECT_TRUE(absl::StartsWith(keys.status().message(), "keys.txt:2:")) << keys.status();
}

TEST(ApiKeysTest, BearerParsing) {
  auto keys = ApiKeys::Parse("s3cret\n", "k");
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(keys->CheckAuthorization("Bearer s3cret"));
  EXPECT_TRUE(keys->CheckAuthorization("bearer s3cret"));        // scheme is case-insensitive
  EXPECT_TRUE(keys->CheckAuthorization("  Bearer   s3cret  "));  // surrounding whitespace
  EXPECT_FALSE(keys->CheckAuthorization("s3cret"));              // no scheme
  EXPECT_FALSE(keys->CheckAuthorization("Basic s3cret"));
  EXPECT_FALSE(keys->CheckAuthorization("Bearers3cret"));
  EXPECT_FALSE(keys->CheckAuthorization("Bearer"));
  EXPECT_FALSE(keys->CheckAuthorization("Bearer "));
  EXPECT_FALSE(keys->CheckAuthorization(""));
}

TEST(ApiKeysTest, WrongKeysAreRefused) {
  auto keys = ApiKeys::Parse("abcdef\nxyz\n", "k");
  ASSERT_TRUE(keys.ok());
  EXPECT_FALSE(keys->CheckAuthorization("Bearer abcdeg"));   // last byte differs
  EXPECT_FALSE(keys->CheckAuthorization("Bearer abcde"));    // a prefix
  EXPECT_FALSE(keys->CheckAuthorization("Bearer abcdefa"));  // an extension
  EXPECT_FALSE(keys->CheckAuthorization("Bearer abcabc"));   // wraps around a shorter key
  EXPECT_FALSE(keys->CheckAuthorization("Bearer xyzxyz"));
  EXPECT_FALSE(keys->CheckAuthorization("Bearer ABCDEF"));  // keys are case-sensitive
  EXPECT_FALSE(keys->CheckAuthorization("Bearer abcdef xyz"));
  EXPECT_TRUE(keys->CheckAuthorization("Bearer xyz"));
}

}  // namespace
}  // namespace moe
