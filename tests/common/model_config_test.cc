#include "common/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file.h"
#include "common/json.h"
#include "common/model_presets.h"
#include "tests/common/test_util.h"

namespace moe {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing_util::MakeTempDir;
using testing_util::ModelDir;

Json FixtureJson(const std::string& model) {
  auto j = ReadJsonFile(ModelDir(model) + "/config.json");
  EXPECT_TRUE(j.ok()) << j.status();
  return *j;
}

absl::StatusOr<ModelConfig> Parse(const Json& j) {
  return ParseModelConfig(j.dump(), "config.json");
}

std::string ParseError(const Json& j) {
  auto c = Parse(j);
  EXPECT_FALSE(c.ok());
  return std::string(c.status().message());
}

// ------------------------------------------------------------------------------------------
// Fixtures

TEST(ModelConfigTest, DenseFixture) {
  auto c = LoadModelConfig(ModelDir("tiny-qwen3-dense"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "qwen3");
  EXPECT_EQ(c->vocab_size, 1000);
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->intermediate_size, 160);
  EXPECT_EQ(c->num_hidden_layers, 3);
  EXPECT_EQ(c->num_attention_heads, 4);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_EQ(c->head_dim, 32);  // not hidden / heads
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
  EXPECT_EQ(c->max_position_embeddings, 4096);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_FALSE(c->is_moe());
  EXPECT_FALSE(c->IsMoeLayer(0));
  EXPECT_EQ(c->bos_token_id, 997);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{999});
  EXPECT_EQ(c->torch_dtype, "bfloat16");
}

TEST(ModelConfigTest, MoeFixtures) {
  for (const char* name : {"tiny-qwen3-moe", "tiny-qwen3-moe-sharded"}) {
    auto c = LoadModelConfig(ModelDir(name));
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->model_type, "qwen3_moe");
    EXPECT_EQ(c->num_hidden_layers, 4);
    EXPECT_EQ(c->num_experts, 8);
    EXPECT_EQ(c->num_experts_per_tok, 2);
    EXPECT_EQ(c->moe_intermediate_size, 48);
    EXPECT_EQ(c->intermediate_size, 160);
    EXPECT_TRUE(c->norm_topk_prob);
    EXPECT_FALSE(c->tie_word_embeddings);
    EXPECT_EQ(c->decoder_sparse_step, 1);
    EXPECT_TRUE(c->mlp_only_layers.empty());
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(c->IsMoeLayer(i));
  }
}

TEST(ModelConfigTest, MissingConfigFile) {
  auto c = LoadModelConfig(MakeTempDir());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr("config.json"));
}

TEST(ModelConfigTest, IsMoeLayerRule) {
  Json j = FixtureJson("tiny-qwen3-moe");
  j["decoder_sparse_step"] = 2;
  j["mlp_only_layers"] = {3};
  auto c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->IsMoeLayer(0));
  EXPECT_TRUE(c->IsMoeLayer(1));
  EXPECT_FALSE(c->IsMoeLayer(2));
  EXPECT_FALSE(c->IsMoeLayer(3));  // would be sparse, but listed in mlp_only_layers

  j["decoder_sparse_step"] = 1;
  j["mlp_only_layers"] = {0, 2};
  c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->IsMoeLayer(0));
  EXPECT_TRUE(c->IsMoeLayer(1));
  EXPECT_FALSE(c->IsMoeLayer(2));
  EXPECT_TRUE(c->IsMoeLayer(3));

  // Dense layers need intermediate_size.
  j.erase("intermediate_size");
  EXPECT_THAT(ParseError(j), AllOf(HasSubstr("layer 0"), HasSubstr("intermediate_size")));
  j["mlp_only_layers"] = Json::array();
  EXPECT_TRUE(Parse(j).ok());  // all sparse: intermediate_size unused
  j["mlp_only_layers"] = {4};
  EXPECT_THAT(ParseError(j), HasSubstr("'mlp_only_layers' holds 4"));
}

TEST(ModelConfigTest, HeadDimDefaultsOnlyWhenAbsent) {
  Json j = FixtureJson("tiny-qwen3-dense");
  j.erase("head_dim");
  auto c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 16);
  j["head_dim"] = 64;
  EXPECT_EQ(Parse(j)->head_dim, 64);
}

TEST(ModelConfigTest, EosIntOrList) {
  Json j = FixtureJson("tiny-qwen3-dense");
  j["eos_token_id"] = {999, 998};
  EXPECT_EQ(Parse(j)->eos_token_ids, (std::vector<int64_t>{999, 998}));
  j["eos_token_id"] = nullptr;
  EXPECT_TRUE(Parse(j)->eos_token_ids.empty());
  j["eos_token_id"] = "999";
  EXPECT_THAT(ParseError(j), HasSubstr("'eos_token_id'"));
  j["eos_token_id"] = {999, "x"};
  EXPECT_THAT(ParseError(j), HasSubstr("'eos_token_id'"));
}

// ------------------------------------------------------------------------------------------
// Errors

TEST(ModelConfigErrorTest, UnknownModelType) {
  Json j = FixtureJson("tiny-qwen3-dense");
  j["model_type"] = "llama";
  EXPECT_EQ(ParseError(j),
            "config.json: model_type 'llama' is not supported (expected qwen3 or qwen3_moe)");
  j.erase("model_type");
  EXPECT_EQ(ParseError(j), "config.json: missing field 'model_type' (string)");
}

TEST(ModelConfigErrorTest, MissingField) {
  for (const char* field :
       {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "max_position_embeddings"}) {
    Json j = FixtureJson("tiny-qwen3-dense");
    j.erase(field);
    EXPECT_EQ(ParseError(j), absl::StrCat("config.json: missing field '", field, "' (integer)"));
  }
  for (const char* field : {"rms_norm_eps", "rope_theta"}) {
    Json j = FixtureJson("tiny-qwen3-dense");
    j.erase(field);
    EXPECT_EQ(ParseError(j), absl::StrCat("config.json: missing field '", field, "' (number)"));
  }
  for (const char* field : {"num_experts", "num_experts_per_tok", "moe_intermediate_size"}) {
    Json j = FixtureJson("tiny-qwen3-moe");
    j.erase(field);
    EXPECT_EQ(ParseError(j), absl::StrCat("config.json: missing field '", field, "' (integer)"));
  }
  Json j = FixtureJson("tiny-qwen3-dense");
  j["hidden_size"] = nullptr;
  EXPECT_EQ(ParseError(j), "config.json: missing field 'hidden_size' (integer)");
}

TEST(ModelConfigErrorTest, WrongType) {
  Json j = FixtureJson("tiny-qwen3-dense");
  j["hidden_size"] = "64";
  EXPECT_THAT(ParseError(j),
              AllOf(HasSubstr("config.json: field 'hidden_size'"), HasSubstr("expected integer")));
  j = FixtureJson("tiny-qwen3-dense");
  j["num_hidden_layers"] = 3.5;
  EXPECT_THAT(ParseError(j), AllOf(HasSubstr("'num_hidden_layers'"), HasSubstr("integer")));
  j = FixtureJson("tiny-qwen3-dense");
  j["tie_word_embeddings"] = 1;
  EXPECT_THAT(ParseError(j), AllOf(HasSubstr("'tie_word_embeddings'"), HasSubstr("boolean")));
  j = FixtureJson("tiny-qwen3-dense");
  j["rope_theta"] = "big";
  EXPECT_THAT(ParseError(j), AllOf(HasSubstr("'rope_theta'"), HasSubstr("number")));
  j = FixtureJson("tiny-qwen3-moe");
  j["norm_topk_prob"] = "yes";
  EXPECT_THAT(ParseError(j), HasSubstr("'norm_topk_prob'"));
  j = FixtureJson("tiny-qwen3-moe");
  j["mlp_only_layers"] = 3;
  EXPECT_THAT(ParseError(j), HasSubstr("'mlp_only_layers'"));
}

TEST(ModelConfigErrorTest, RangeChecks) {
  Json j = FixtureJson("tiny-qwen3-dense");
  j["num_key_value_heads"] = 3;
  EXPECT_EQ(ParseError(j),
            "config.json: field 'num_attention_heads' (4) is not divisible by "
            "'num_key_value_heads' (3)");
  j = FixtureJson("tiny-qwen3-dense");
  j["hidden_size"] = 0;
  EXPECT_THAT(ParseError(j), HasSubstr("'hidden_size' is 0, expected a positive integer"));
  j = FixtureJson("tiny-qwen3-dense");
  j["vocab_size"] = -5;
  EXPECT_THAT(ParseError(j), HasSubstr("'vocab_size'"));
  j = FixtureJson("tiny-qwen3-dense");
  j["head_dim"] = 33;
  EXPECT_THAT(ParseError(j), AllOf(HasSubstr("'head_dim'"), HasSubstr("even")));
  j = FixtureJson("tiny-qwen3-dense");
  j["rms_norm_eps"] = 0;
  EXPECT_THAT(ParseError(j), HasSubstr("'rms_norm_eps'"));
  j = FixtureJson("tiny-qwen3-dense");
  j["eos_token_id"] = 1000;
  EXPECT_THAT(ParseError(j), HasSubstr("'eos_token_id'"));
  j = FixtureJson("tiny-qwen3-moe");
  j["num_experts_per_tok"] = 9;
  EXPECT_THAT(ParseError(j), HasSubstr("'num_experts_per_tok' (9) is larger than 'num_experts'"));
  j = FixtureJson("tiny-qwen3-moe");
  j["num_experts"] = 0;
  EXPECT_THAT(ParseError(j), HasSubstr("'num_experts'"));
  j = FixtureJson("tiny-qwen3-moe");
  j["decoder_sparse_step"] = 0;
  EXPECT_THAT(ParseError(j), HasSubstr("'decoder_sparse_step'"));
}

TEST(ModelConfigErrorTest, UnsupportedFeatures) {
  Json j = FixtureJson("tiny-qwen3-dense");
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  auto c = Parse(j);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("config.json"), HasSubstr("rope_scaling")));
  j = FixtureJson("tiny-qwen3-dense");
  j["use_sliding_window"] = true;
  EXPECT_THAT(ParseError(j), AllOf(HasSubstr("config.json"), HasSubstr("use_sliding_window")));
  j = FixtureJson("tiny-qwen3-dense");
  j["attention_bias"] = true;
  EXPECT_THAT(ParseError(j), AllOf(HasSubstr("config.json"), HasSubstr("attention_bias")));
  j = FixtureJson("tiny-qwen3-dense");
  j["hidden_act"] = "gelu";
  EXPECT_THAT(ParseError(j), HasSubstr("hidden_act 'gelu'"));
}

TEST(ModelConfigErrorTest, BadJson) {
  auto c = ParseModelConfig("{\"model_type\": \"qwen3\",", "config.json");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("config.json"), HasSubstr("invalid JSON")));
  c = ParseModelConfig("[1, 2]", "config.json");
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("config.json"), HasSubstr("object")));
  c = ParseModelConfig("", "config.json");
  EXPECT_FALSE(c.ok());
}

// ------------------------------------------------------------------------------------------
// Round trips and presets

TEST(ModelConfigTest, ToJsonRoundTripFixtures) {
  for (const char* name : {"tiny-qwen3-dense", "tiny-qwen3-moe"}) {
    auto c = LoadModelConfig(ModelDir(name));
    ASSERT_TRUE(c.ok());
    std::string text = ModelConfigToJson(*c);
    auto back = ParseModelConfig(text, "roundtrip");
    ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
    EXPECT_EQ(*back, *c) << text;
  }
}

TEST(ModelConfigTest, ToJsonIsHfStyle) {
  auto c = LoadModelConfig(ModelDir("tiny-qwen3-moe"));
  ASSERT_TRUE(c.ok());
  auto j = ParseJson(ModelConfigToJson(*c), "x");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["architectures"][0], "Qwen3MoeForCausalLM");
  EXPECT_EQ((*j)["torch_dtype"], "bfloat16");
  EXPECT_TRUE((*j)["rope_scaling"].is_null());
  c->eos_token_ids = {1, 2};
  c->bos_token_id = -1;
  auto back = ParseModelConfig(ModelConfigToJson(*c), "x");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, *c);
}

TEST(PresetTest, AllPresetsValidAndRoundTrip) {
  ASSERT_EQ(PresetNames().size(), 4u);
  for (const std::string& name : PresetNames()) {
    SCOPED_TRACE(name);
    auto c = PresetConfig(name, 0);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->vocab_size, 151936);
    EXPECT_EQ(c->torch_dtype, "bfloat16");
    auto back = ParseModelConfig(ModelConfigToJson(*c), name);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, *c);
  }
}

TEST(PresetTest, Values) {
  auto small = PresetConfig("qwen3-0.6b", 0);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->model_type, "qwen3");
  EXPECT_EQ(small->hidden_size, 1024);
  EXPECT_EQ(small->intermediate_size, 3072);
  EXPECT_EQ(small->num_hidden_layers, 28);
  EXPECT_EQ(small->num_attention_heads, 16);
  EXPECT_EQ(small->num_key_value_heads, 8);
  EXPECT_EQ(small->head_dim, 128);
  EXPECT_TRUE(small->tie_word_embeddings);
  EXPECT_EQ(small->max_position_embeddings, 40960);
  EXPECT_EQ(small->bos_token_id, 151643);
  EXPECT_EQ(small->eos_token_ids, std::vector<int64_t>{151645});

  auto a3b = PresetConfig("qwen3-30b-a3b", 4);
  ASSERT_TRUE(a3b.ok());
  EXPECT_EQ(a3b->num_hidden_layers, 4);
  EXPECT_EQ(a3b->hidden_size, 2048);
  EXPECT_EQ(a3b->num_attention_heads, 32);
  EXPECT_EQ(a3b->num_key_value_heads, 4);
  EXPECT_EQ(a3b->num_experts, 128);
  EXPECT_EQ(a3b->num_experts_per_tok, 8);
  EXPECT_EQ(a3b->moe_intermediate_size, 768);
  EXPECT_TRUE(a3b->norm_topk_prob);
  EXPECT_FALSE(a3b->tie_word_embeddings);

  auto big = PresetConfig("qwen3-235b-a22b", -1);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->num_hidden_layers, 94);
  EXPECT_EQ(big->hidden_size, 4096);
  EXPECT_EQ(big->moe_intermediate_size, 1536);

  auto tiny = PresetConfig("tiny-moe", 0);
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(tiny->hidden_size, 128);
  EXPECT_EQ(tiny->num_hidden_layers, 4);
  EXPECT_EQ(tiny->head_dim, 32);
  EXPECT_EQ(tiny->num_experts, 8);
  EXPECT_EQ(tiny->num_experts_per_tok, 2);
  EXPECT_EQ(tiny->moe_intermediate_size, 64);
}

TEST(PresetTest, UnknownNameListsKnown) {
  auto c = PresetConfig("qwen3-7b", 0);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(),
              AllOf(HasSubstr("'qwen3-7b'"), HasSubstr("qwen3-0.6b"), HasSubstr("qwen3-30b-a3b"),
                    HasSubstr("qwen3-235b-a22b"), HasSubstr("tiny-moe")));
}

TEST(PresetTest, WeightSpecs) {
  auto dense = PresetConfig("qwen3-0.6b", 2);
  ASSERT_TRUE(dense.ok());
  std::vector<WeightSpec> w = ModelWeightSpecs(*dense);
  EXPECT_EQ(w.size(), 1 + 2 * 11 + 1u);  // tied: no lm_head
  EXPECT_EQ(w[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(w[2].shape, (std::vector<int64_t>{2048, 1024}));  // q_proj: 16 heads x 128
  auto moe = PresetConfig("tiny-moe", 1);
  ASSERT_TRUE(moe.ok());
  w = ModelWeightSpecs(*moe);
  EXPECT_EQ(w.size(), 1 + (8 + 1 + 8 * 3) + 2u);
  EXPECT_EQ(w.back().name, "lm_head.weight");
  int norms = 0;
  for (const WeightSpec& s : w) norms += s.is_norm;
  EXPECT_EQ(norms, 5);
}

// ------------------------------------------------------------------------------------------
// generation_config.json

TEST(GenerationConfigTest, MissingFileIsEmpty) {
  auto g = LoadGenerationConfig(MakeTempDir());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(g->eos_token_ids.empty());
  EXPECT_FALSE(g->temperature.has_value());
  EXPECT_FALSE(g->bos_token_id.has_value());
}

TEST(GenerationConfigTest, Parses) {
  const std::string dir = MakeTempDir();
  ASSERT_TRUE(WriteFile(dir + "/generation_config.json",
                        R"({"bos_token_id": 151643, "do_sample": true,
                            "eos_token_id": [151645, 151643], "pad_token_id": 151643,
                            "temperature": 0.6, "top_k": 20, "top_p": 0.95, "min_p": null,
                            "repetition_penalty": 1.1, "transformers_version": "4.51.0"})")
                  .ok());
  auto g = LoadGenerationConfig(dir);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->eos_token_ids, (std::vector<int64_t>{151645, 151643}));
  EXPECT_EQ(g->bos_token_id, 151643);
  EXPECT_EQ(g->pad_token_id, 151643);
  EXPECT_EQ(g->do_sample, true);
  EXPECT_DOUBLE_EQ(*g->temperature, 0.6);
  EXPECT_EQ(g->top_k, 20);
  EXPECT_DOUBLE_EQ(*g->top_p, 0.95);
  EXPECT_FALSE(g->min_p.has_value());
  EXPECT_DOUBLE_EQ(*g->repetition_penalty, 1.1);

  ASSERT_TRUE(WriteFile(dir + "/generation_config.json", R"({"eos_token_id": 7})").ok());
  EXPECT_EQ(LoadGenerationConfig(dir)->eos_token_ids, std::vector<int64_t>{7});
}

TEST(GenerationConfigTest, MalformedNamesFileAndField) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/generation_config.json";
  ASSERT_TRUE(WriteFile(path, R"({"temperature": "hot"})").ok());
  auto g = LoadGenerationConfig(dir);
  EXPECT_THAT(g.status().message(), AllOf(HasSubstr(path), HasSubstr("'temperature'")));
  ASSERT_TRUE(WriteFile(path, R"({"top_p": 1.5})").ok());
  EXPECT_THAT(LoadGenerationConfig(dir).status().message(),
              AllOf(HasSubstr(path), HasSubstr("'top_p'")));
  ASSERT_TRUE(WriteFile(path, R"({"eos_token_id": [1, "a"]})").ok());
  EXPECT_THAT(LoadGenerationConfig(dir).status().message(),
              AllOf(HasSubstr(path), HasSubstr("'eos_token_id'")));
  ASSERT_TRUE(WriteFile(path, "{oops").ok());
  EXPECT_THAT(LoadGenerationConfig(dir).status().message(),
              AllOf(HasSubstr(path), HasSubstr("invalid JSON")));
}

}  // namespace
}  // namespace moe
