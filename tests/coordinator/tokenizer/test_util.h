// Shared helpers for the tokenizer tests: the Qwen3 tokenizer loaded once, and JSON fixtures.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/file.h"
#include "common/json.h"
#include "coordinator/tokenizer/tokenizer.h"

namespace moe::tok_test {

inline std::string Qwen3Dir() { return std::string(MOE_TEST_DATA_DIR) + "/tokenizer/qwen3"; }

// The Qwen3 tokenizer, loaded on first use and shared by all tests of the binary.
inline const Tokenizer& Qwen3() {
  static const Tokenizer* tokenizer = [] {
    auto t = Tokenizer::Load(Qwen3Dir());
    if (!t.ok()) {
      ADD_FAILURE() << t.status();
      std::abort();
    }
    return t.value().release();
  }();
  return *tokenizer;
}

inline Json ReadFixture(const std::string& name) {
  auto json = ReadJsonFile(Qwen3Dir() + "/" + name);
  if (!json.ok()) {
    ADD_FAILURE() << json.status();
    return Json::object();
  }
  return *json;
}

inline std::vector<int32_t> Ids(const Json& array) { return array.get<std::vector<int32_t>>(); }

// Encodes or fails the test.
inline std::vector<int32_t> Enc(std::string_view text) {
  auto ids = Qwen3().Encode(text);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

}  // namespace moe::tok_test

namespace moe::tok_test {

// The Qwen3 Split regex as tokenizer.json writes it (after JSON unescaping).
inline constexpr char kQwen3Pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// The piece spelling of raw bytes (GPT-2 ByteLevel table), for building tiny vocabs.
inline std::string ByteLevelPiece(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    uint32_t b = static_cast<uint8_t>(c);
    bool identity = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    uint32_t cp = b;
    if (!identity) {
      cp = 0x100;
      for (uint32_t x = 0; x < b; ++x) {
        bool id = (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
        if (!id) ++cp;
      }
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

// A minimal Qwen3-shaped tokenizer.json: the 256 byte pieces with id = byte value, then one id
// per merge result (256, 257, ...) in the order given, and the given added tokens.
inline Json TinyTokenizerJson(const std::vector<std::pair<std::string, std::string>>& merges = {},
                              const std::vector<Json>& added_tokens = {}) {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteLevelPiece(std::string(1, static_cast<char>(b)))] = b;
  Json merge_list = Json::array();
  int next = 256;
  for (const auto& [l, r] : merges) {
    std::string lp = ByteLevelPiece(l), rp = ByteLevelPiece(r);
    if (!vocab.contains(lp + rp)) vocab[lp + rp] = next++;
    merge_list.push_back(Json::array({lp, rp}));
  }
  Json split = {{"type", "Split"},
                {"pattern", {{"Regex", kQwen3Pattern}}},
                {"behavior", "Isolated"},
                {"invert", false}};
  Json byte_level = {{"type", "ByteLevel"},
                     {"add_prefix_space", false},
                     {"trim_offsets", false},
                     {"use_regex", false}};
  return Json{{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", Json(added_tokens)},
              {"normalizer", {{"type", "NFC"}}},
              {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}}},
              {"post_processor", byte_level},
              {"decoder", byte_level},
              {"model",
               {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", merge_list}}}};
}

// An added-token entry for TinyTokenizerJson.
inline Json AddedTokenJson(int id, const std::string& content, bool special = true,
                           bool lstrip = false, bool rstrip = false, bool single_word = false,
                           bool normalized = false) {
  return Json{{"id", id},          {"content", content}, {"single_word", single_word},
              {"lstrip", lstrip},  {"rstrip", rstrip},   {"normalized", normalized},
              {"special", special}};
}

inline std::unique_ptr<Tokenizer> MakeTokenizer(const Json& tokenizer_json,
                                                const std::string& config_json = "") {
  auto t = Tokenizer::FromJson(tokenizer_json.dump(), config_json, "tiny/tokenizer.json");
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(t).value() : nullptr;
}

// Raw bytes as ids of a tiny tokenizer without merges.
inline std::vector<int32_t> ByteIds(std::string_view bytes) {
  std::vector<int32_t> ids;
  for (char c : bytes) ids.push_back(static_cast<uint8_t>(c));
  return ids;
}

}  // namespace moe::tok_test
