// Bad tokenizer files and bad input: each is a clear Status naming the file and the problem,
// never a crash or an escaped exception.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/coordinator/tokenizer/test_util.h"

namespace moe {
namespace {

using tok_test::TinyTokenizerJson;

constexpr char kSource[] = "bad/tokenizer.json";

absl::Status LoadStatus(const std::string& json, const std::string& config = "") {
  auto t = Tokenizer::FromJson(json, config, kSource);
  return t.ok() ? absl::OkStatus() : t.status();
}

// Expects an error whose message names the file and contains `what`.
void ExpectError(const absl::Status& status, const std::string& file, const std::string& what) {
  ASSERT_FALSE(status.ok()) << "expected an error mentioning: " << what;
  EXPECT_NE(status.message().find(file), std::string::npos) << status;
  EXPECT_NE(status.message().find(what), std::string::npos) << status;
}

void ExpectJsonError(const Json& json, const std::string& what) {
  ExpectError(LoadStatus(json.dump()), kSource, what);
}

TEST(TokenizerErrors, TinyTokenizerLoads) {
  EXPECT_TRUE(LoadStatus(TinyTokenizerJson().dump()).ok());
}

TEST(TokenizerErrors, MissingDirectoryOrFile) {
  auto t = Tokenizer::Load("/nonexistent/tokenizer-dir");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("/nonexistent/tokenizer-dir/tokenizer.json"),
            std::string::npos)
      << t.status();
}

TEST(TokenizerErrors, MalformedJson) {
  ExpectError(LoadStatus("{\"model\": "), kSource, "invalid JSON");
  ExpectError(LoadStatus(""), kSource, "invalid JSON");
  ExpectError(LoadStatus("[1, 2]"), kSource, "top level must be a JSON object");
  ExpectError(LoadStatus("{}"), kSource, "pre_tokenizer is missing");
}

TEST(TokenizerErrors, UnknownModelType) {
  Json json = TinyTokenizerJson();
  json["model"]["type"] = "WordPiece";
  ExpectJsonError(json, "model type 'WordPiece' is not supported");
  json["model"]["type"] = "Unigram";
  ExpectJsonError(json, "model type 'Unigram' is not supported");
  json.erase("model");
  ExpectJsonError(json, "\"model\" is missing");
}

TEST(TokenizerErrors, UnknownPreTokenizer) {
  Json json = TinyTokenizerJson();
  json["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "_"}};
  ExpectJsonError(json, "pre_tokenizer type 'Metaspace' is not supported");
  json = TinyTokenizerJson();
  json["pre_tokenizer"]["pretokenizers"][0] = {{"type", "Whitespace"}};
  ExpectJsonError(json, "pre_tokenizer.pretokenizers[0] type 'Whitespace' is not supported");
  json = TinyTokenizerJson();
  json["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  ExpectJsonError(json, "Split behavior 'Removed' is not supported");
  json = TinyTokenizerJson();
  json["pre_tokenizer"]["pretokenizers"][0]["invert"] = true;
  ExpectJsonError(json, "invert=true is not supported");
  json = TinyTokenizerJson();
  json["pre_tokenizer"]["pretokenizers"].erase(1);
  ExpectJsonError(json, "no ByteLevel step");
  json = TinyTokenizerJson();
  json["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
  ExpectJsonError(json, "add_prefix_space=true is not supported");
  json = TinyTokenizerJson();
  std::swap(json["pre_tokenizer"]["pretokenizers"][0], json["pre_tokenizer"]["pretokenizers"][1]);
  ExpectJsonError(json, "must be the last step");
  json = TinyTokenizerJson();
  json["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", 5}};
  ExpectJsonError(json, "pattern must be");
}

TEST(TokenizerErrors, BadRegex) {
  Json json = TinyTokenizerJson();
  json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(?i:'s|'t";
  ExpectJsonError(json, "Split regex: bad regex at offset");
  json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\p{NoSuchProperty}+";
  ExpectJsonError(json, "bad regex");
}

TEST(TokenizerErrors, UnknownNormalizer) {
  Json json = TinyTokenizerJson();
  json["normalizer"] = {{"type", "NFKC"}};
  ExpectJsonError(json, "normalizer type 'NFKC' is not supported");
  json["normalizer"] = {{"type", "Sequence"},
                        {"normalizers", {{{"type", "NFC"}}, {{"type", "Lowercase"}}}}};
  ExpectJsonError(json, "normalizer.normalizers[1] type 'Lowercase' is not supported");
  json["normalizer"] = nullptr;  // no normalizer is fine
  EXPECT_TRUE(LoadStatus(json.dump()).ok());
}

TEST(TokenizerErrors, UnknownDecoderOrPostProcessor) {
  Json json = TinyTokenizerJson();
  json["decoder"] = {{"type", "WordPiece"}};
  ExpectJsonError(json, "decoder type 'WordPiece' is not supported");
  json["decoder"] = nullptr;
  ExpectJsonError(json, "decoder is missing");
  json = TinyTokenizerJson();
  json["post_processor"] = {{"type", "TemplateProcessing"}};
  ExpectJsonError(json, "post_processor type 'TemplateProcessing' is not supported");
  json["post_processor"] = nullptr;  // none is fine
  EXPECT_TRUE(LoadStatus(json.dump()).ok());
}

TEST(TokenizerErrors, BadModelFields) {
  Json json = TinyTokenizerJson();
  json["model"]["vocab"] = Json::array();
  ExpectJsonError(json, "model.vocab must be an object");
  json = TinyTokenizerJson();
  json["model"]["vocab"]["x"] = "seven";
  ExpectJsonError(json, "model.vocab entry 'x' must map to an id");
  json = TinyTokenizerJson();
  json["model"]["merges"] = Json::array({Json::array({"a", "q!"})});
  ExpectJsonError(json, "model.merges[0] 'a q!': 'q!' is not in the vocab");
  json = TinyTokenizerJson();
  json["model"]["merges"] = Json::array({Json::array({"a", "b"})});  // "ab" missing
  ExpectJsonError(json, "'ab' is not in the vocab");
  json = TinyTokenizerJson();
  json["model"]["merges"] = Json::array({Json::array({"a"})});
  ExpectJsonError(json, "model.merges[0] must be");
  json["model"]["merges"] = Json::array({"a b c"});
  ExpectJsonError(json, "not two space-separated parts");
  json["model"]["merges"] = 3;
  ExpectJsonError(json, "model.merges must be an array");
  json = TinyTokenizerJson();
  json["model"]["byte_fallback"] = true;
  ExpectJsonError(json, "byte_fallback=true is not supported");
  json = TinyTokenizerJson();
  json["model"]["dropout"] = 0.1;
  ExpectJsonError(json, "dropout is not supported");
  json = TinyTokenizerJson();
  json["model"]["continuing_subword_prefix"] = "##";
  ExpectJsonError(json, "continuing_subword_prefix '##' is not supported");
  json = TinyTokenizerJson();
  json["model"]["unk_token"] = "<unk>";
  ExpectJsonError(json, "model.unk_token '<unk>' is not in the vocab");
  json = TinyTokenizerJson();
  json["model"]["fuse_unk"] = "yes";
  ExpectJsonError(json, "model.fuse_unk must be a boolean");
}

TEST(TokenizerErrors, MergesAsStringsAreAccepted) {
  Json json = TinyTokenizerJson({{"a", "b"}});
  json["model"]["merges"] = Json::array({"a b"});
  auto t = tok_test::MakeTokenizer(json);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(*t->Encode("ab"), std::vector<int32_t>{*t->TokenToId("ab")});
}

TEST(TokenizerErrors, BadAddedTokens) {
  Json json = TinyTokenizerJson();
  json["added_tokens"] = Json::object();
  ExpectJsonError(json, "added_tokens must be an array");
  json["added_tokens"] = Json::array({Json{{"id", 300}}});
  ExpectJsonError(json, "added_tokens[0].content must be a non-empty string");
  json["added_tokens"] = Json::array({Json{{"id", "x"}, {"content", "<x>"}}});
  ExpectJsonError(json, "added_tokens[0].id must be an integer");
  json["added_tokens"] =
      Json::array({tok_test::AddedTokenJson(300, "<x>"), tok_test::AddedTokenJson(300, "<y>")});
  ExpectJsonError(json, "added_tokens[1]: id 300 is used twice");
  json["added_tokens"] = Json::array({Json{{"id", 300}, {"content", "<x>"}, {"lstrip", 1}}});
  ExpectJsonError(json, "added_tokens[0].lstrip must be a boolean");
}

TEST(TokenizerErrors, BadTokenizerConfig) {
  const std::string json = TinyTokenizerJson().dump();
  ExpectError(LoadStatus(json, "{\"eos_token\": "), "bad/tokenizer_config.json", "invalid JSON");
  ExpectError(LoadStatus(json, "[]"), "bad/tokenizer_config.json", "top level must be");
  ExpectError(LoadStatus(json, "{\"eos_token\": 5}"), "bad/tokenizer_config.json",
              "\"eos_token\" must be");
  auto t = Tokenizer::FromJson(json, R"({"eos_token": {"content": "</s>"}, "bos_token": "<s>"})",
                               kSource);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->eos_token(), "</s>");
  EXPECT_EQ((*t)->bos_token(), "<s>");
  auto no_config = Tokenizer::FromJson(json, "", kSource);
  ASSERT_TRUE(no_config.ok());
  EXPECT_TRUE((*no_config)->config().is_object());
  EXPECT_TRUE((*no_config)->config().empty());
  EXPECT_EQ((*no_config)->eos_token(), std::nullopt);
}

TEST(TokenizerErrors, FilesOnDisk) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(::testing::TempDir()) / "moe_tokenizer_errors_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string tokenizer_path = (dir / "tokenizer.json").string();
  const std::string config_path = (dir / "tokenizer_config.json").string();

  ASSERT_TRUE(WriteFile(tokenizer_path, "{ not json").ok());
  auto t = Tokenizer::Load(dir.string());
  ExpectError(t.status(), tokenizer_path, "invalid JSON");

  ASSERT_TRUE(WriteFile(tokenizer_path, TinyTokenizerJson().dump()).ok());
  t = Tokenizer::Load(dir.string());
  ASSERT_TRUE(t.ok()) << t.status();  // no tokenizer_config.json: fine
  EXPECT_TRUE((*t)->config().empty());

  ASSERT_TRUE(WriteFile(config_path, "{\"chat_template\": ").ok());
  t = Tokenizer::Load(dir.string());
  ExpectError(t.status(), config_path, "invalid JSON");

  ASSERT_TRUE(WriteFile(config_path, "").ok());
  t = Tokenizer::Load(dir.string());
  ExpectError(t.status(), config_path, "empty");

  ASSERT_TRUE(WriteFile(config_path, R"({"chat_template": "{{ x }}", "eos_token": "<e>"})").ok());
  t = Tokenizer::Load(dir.string());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->config()["chat_template"], "{{ x }}");
  EXPECT_EQ((*t)->eos_token(), "<e>");
  fs::remove_all(dir);
}

TEST(TokenizerErrors, InvalidInputNeverCrashes) {
  auto t = tok_test::MakeTokenizer(TinyTokenizerJson());
  ASSERT_NE(t, nullptr);
  auto ids = t->Encode("ok\xC3");
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().message().find("byte offset 2"), std::string::npos) << ids.status();
  EXPECT_EQ(t->Decode({-1, 1 << 30, 104, 105}), "hi");
  EXPECT_EQ(t->TokenBytes(1 << 30), "");
  EXPECT_EQ(t->IdToToken(-7), "");
  StreamDecoder decoder(*t, true);
  EXPECT_EQ(decoder.Push(-1), "");
  EXPECT_EQ(decoder.Push(0xC3), "");  // first byte of a 2-byte character
  EXPECT_EQ(decoder.Push(0xA9), "\xC3\xA9");
  EXPECT_EQ(decoder.Push(0xFF), "\xEF\xBF\xBD");  // invalid byte: replaced at once
}

}  // namespace
}  // namespace moe
