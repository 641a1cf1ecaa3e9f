// End to end: moe-tools random-model writes a checkpoint that Checkpoint / LoadModelConfig read,
// with the weights random_weights.h draws for the same seed and tensor name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/file.h"
#include "common/model_config.h"
#include "common/model_presets.h"
#include "common/random_weights.h"
#include "common/safetensors.h"
#include "tests/common/test_util.h"

namespace moe {
namespace {

using ::testing::HasSubstr;
using testing_util::MakeTempDir;

const char kTools[] = MOE_BINARY_DIR "/tools/moe-tools";

// Runs moe-tools random-model with `args`; returns the exit code, stdout+stderr in *output.
int RunRandomModel(const std::string& args, std::string* output) {
  const std::string cmd = std::string(kTools) + " random-model " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  output->clear();
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Checks every tensor of `dir` against ModelWeightSpecs and the random fill of (seed, name).
void ExpectRandomCheckpoint(const std::string& dir, const ModelConfig& config, uint64_t seed) {
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  const std::vector<WeightSpec> specs = ModelWeightSpecs(config);
  EXPECT_EQ((*ckpt)->names().size(), specs.size());
  std::vector<uint16_t> expected;
  for (const WeightSpec& w : specs) {
    auto t = (*ckpt)->GetWithShape(w.name, w.shape);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_EQ(t->dtype, DType::kBF16) << w.name;
    expected.resize(static_cast<size_t>(t->numel()));
    if (w.is_norm) {
      FillRandomNormBf16(expected.data(), t->numel(), TensorSeed(seed, w.name));
    } else {
      FillRandomBf16(expected.data(), t->numel(), TensorSeed(seed, w.name), 0.02f, nullptr);
    }
    ASSERT_EQ(t->nbytes, expected.size() * 2) << w.name;
    EXPECT_EQ(std::memcmp(t->data, expected.data(), t->nbytes), 0) << w.name;
  }
}

TEST(RandomModelTest, TinyMoeTwoLayers) {
  const std::string out = MakeTempDir() + "/model";
  std::string log;
  ASSERT_EQ(RunRandomModel("--like tiny-moe --layers 2 --out " + out, &log), 0) << log;
  EXPECT_THAT(log, HasSubstr("params"));

  auto config = LoadModelConfig(out);
  ASSERT_TRUE(config.ok()) << config.status();
  auto preset = PresetConfig("tiny-moe", 2);
  ASSERT_TRUE(preset.ok());
  EXPECT_EQ(*config, *preset);
  EXPECT_EQ(config->num_hidden_layers, 2);

  auto gen = LoadGenerationConfig(out);
  ASSERT_TRUE(gen.ok()) << gen.status();
  EXPECT_EQ(gen->eos_token_ids, (std::vector<int64_t>{151645, 151643}));
  EXPECT_EQ(gen->bos_token_id, 151643);

  EXPECT_TRUE(FileExists(out + "/model.safetensors"));
  EXPECT_FALSE(FileExists(out + "/model.safetensors.index.json"));
  auto ckpt = Checkpoint::Open(out);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_TRUE((*ckpt)->GetWithShape("model.embed_tokens.weight", {151936, 128}).ok());
  EXPECT_TRUE((*ckpt)->GetWithShape("lm_head.weight", {151936, 128}).ok());
  EXPECT_TRUE((*ckpt)->GetWithShape("model.layers.1.mlp.gate.weight", {8, 128}).ok());
  EXPECT_TRUE((*ckpt)->GetWithShape("model.layers.1.self_attn.q_proj.weight", {128, 128}).ok());
  EXPECT_TRUE((*ckpt)->GetWithShape("model.layers.0.self_attn.k_proj.weight", {64, 128}).ok());
  EXPECT_TRUE(
      (*ckpt)->GetWithShape("model.layers.1.mlp.experts.7.down_proj.weight", {128, 64}).ok());
  EXPECT_FALSE((*ckpt)->Has("model.layers.2.input_layernorm.weight"));
  ExpectRandomCheckpoint(out, *config, 0);
}

TEST(RandomModelTest, ShardedSeededWithTokenizer) {
  const std::string out = MakeTempDir() + "/model";
  const std::string tok = std::string(MOE_TEST_DATA_DIR) + "/tokenizer/qwen3";
  std::string log;
  ASSERT_EQ(RunRandomModel("--like tiny-moe --layers 1 --seed 7 --shard-bytes 20000000 "
                           "--tokenizer " +
                               tok + " --out " + out,
                           &log),
            0)
      << log;
  EXPECT_TRUE(FileExists(out + "/model.safetensors.index.json"));
  EXPECT_FALSE(FileExists(out + "/model.safetensors"));
  EXPECT_TRUE(FileExists(out + "/model-00001-of-00003.safetensors"));
  EXPECT_TRUE(FileExists(out + "/tokenizer.json"));
  EXPECT_TRUE(FileExists(out + "/tokenizer_config.json"));
  auto config = LoadModelConfig(out);
  ASSERT_TRUE(config.ok()) << config.status();
  ExpectRandomCheckpoint(out, *config, 7);

  // Rewriting unsharded into the same directory removes the old shards and index.
  ASSERT_EQ(RunRandomModel("--like tiny-moe --layers 1 --seed 7 --out " + out, &log), 0) << log;
  EXPECT_FALSE(FileExists(out + "/model.safetensors.index.json"));
  EXPECT_FALSE(FileExists(out + "/model-00001-of-00003.safetensors"));
  ExpectRandomCheckpoint(out, *config, 7);
}

TEST(RandomModelTest, DenseTiedPreset) {
  const std::string out = MakeTempDir() + "/model";
  std::string log;
  ASSERT_EQ(RunRandomModel("--like qwen3-0.6b --layers 1 --out " + out, &log), 0) << log;
  auto config = LoadModelConfig(out);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->tie_word_embeddings);
  auto ckpt = Checkpoint::Open(out);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_FALSE((*ckpt)->Has("lm_head.weight"));
  EXPECT_TRUE((*ckpt)->GetWithShape("model.layers.0.mlp.down_proj.weight", {1024, 3072}).ok());
}

TEST(RandomModelTest, BadArguments) {
  std::string log;
  EXPECT_NE(RunRandomModel("--like nope --out " + MakeTempDir(), &log), 0);
  EXPECT_THAT(log, HasSubstr("tiny-moe"));
  EXPECT_NE(RunRandomModel("--like tiny-moe", &log), 0);
  EXPECT_THAT(log, HasSubstr("--out"));
  EXPECT_NE(RunRandomModel("--out " + MakeTempDir(), &log), 0);
  EXPECT_THAT(log, HasSubstr("--like"));
  EXPECT_NE(RunRandomModel("--like tiny-moe --layers x --out " + MakeTempDir(), &log), 0);
  EXPECT_THAT(log, HasSubstr("--layers"));
  EXPECT_NE(RunRandomModel("--like tiny-moe --bogus 1 --out " + MakeTempDir(), &log), 0);
  EXPECT_THAT(log, HasSubstr("--bogus"));
}

}  // namespace
}  // namespace moe
