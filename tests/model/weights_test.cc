// Loading a shard's weights: bad checkpoints fail at load with the file and tensor named; a
// shard reads only its tensors; random weights equal the checkpoint `moe-tools random-model`
// writes for the same seed.
#include "model/weights.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "common/file.h"
#include "common/model_config.h"
#include "common/safetensors.h"
#include "model/qwen3.h"
#include "tests/model/golden_util.h"
#include "tests/tools/run_util.h"

namespace moe {
namespace {

const std::string kMoe = std::string(MOE_TEST_DATA_DIR) + "/models/tiny-qwen3-moe";

std::string TempDir() {
  std::string tmpl = ::testing::TempDir() + "/moe_weights_XXXXXX";
  char* d = mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr);
  return tmpl;
}

// Copies tiny-qwen3-moe into a temp dir, passing each tensor through `edit` (which may rename
// it, change its dtype/shape/bytes, or drop it by clearing the name).
std::string EditedCopy(const std::function<void(TensorToWrite*)>& edit) {
  const std::string dir = TempDir();
  auto src = SafetensorsFile::Open(kMoe + "/model.safetensors");
  EXPECT_TRUE(src.ok());
  std::vector<TensorToWrite> out;
  for (const std::string& name : (*src)->names()) {
    TensorView t = *(*src)->Get(name);
    TensorToWrite w{name, t.dtype, t.shape,
                    std::string(reinterpret_cast<const char*>(t.data), t.nbytes)};
    edit(&w);
    if (!w.name.empty()) out.push_back(std::move(w));
  }
  EXPECT_TRUE(WriteSafetensors(dir + "/model.safetensors", out).ok());
  auto config = ReadFile(kMoe + "/config.json");
  EXPECT_TRUE(WriteFile(dir + "/config.json", *config).ok());
  return dir;
}

absl::Status LoadStatus(const std::string& dir) {
  auto config = LoadModelConfig(dir);
  if (!config.ok()) return config.status();
  auto ckpt = Checkpoint::Open(dir);
  if (!ckpt.ok()) return ckpt.status();
  return ModelWeights::Load(std::move(*ckpt), *config, ShardSpec::Whole(*config)).status();
}

void ExpectError(const absl::Status& s, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(s.ok());
  for (const std::string& p : parts) {
    EXPECT_NE(s.message().find(p), std::string::npos) << "'" << p << "' not in: " << s.message();
  }
}

TEST(Weights, MissingTensorIsNamed) {
  const std::string dir = EditedCopy([](TensorToWrite* t) {
    if (t->name == "model.layers.2.mlp.experts.5.up_proj.weight") t->name.clear();
  });
  ExpectError(LoadStatus(dir), {"model.layers.2.mlp.experts.5.up_proj.weight"});
}

TEST(Weights, WrongShapeIsNamed) {
  const std::string dir = EditedCopy([](TensorToWrite* t) {
    if (t->name == "model.layers.1.self_attn.q_proj.weight") t->shape = {64, 128};  // transposed
  });
  ExpectError(LoadStatus(dir), {"model.layers.1.self_attn.q_proj.weight", "128"});
}

TEST(Weights, UnsupportedDTypeIsNamed) {
  const std::string dir = EditedCopy([](TensorToWrite* t) {
    if (t->name == "model.norm.weight") t->dtype = DType::kI16;  // same byte size
  });
  ExpectError(LoadStatus(dir), {"model.norm.weight", "I16"});
}

TEST(Weights, TruncatedFileFailsAtLoad) {
  const std::string dir = EditedCopy([](TensorToWrite*) {});
  auto bytes = ReadFile(dir + "/model.safetensors");
  ASSERT_TRUE(WriteFile(dir + "/model.safetensors", bytes->substr(0, bytes->size() / 2)).ok());
  ExpectError(LoadStatus(dir), {"model.safetensors"});
}

TEST(Weights, BadConfigFailsAtLoad) {
  const std::string dir = EditedCopy([](TensorToWrite*) {});
  ASSERT_TRUE(
      WriteFile(dir + "/config.json", R"({"model_type": "qwen3_moe", "vocab_size": 1000})").ok());
  ExpectError(LoadStatus(dir), {"config.json", "hidden_size"});
}

// Re-stores every bf16 tensor of tiny-qwen3-moe as F32 (exact) or F16 (exact for normal
// values; the few below F16's normal range lose low bits).
std::string ConvertedCopy(DType to) {
  return EditedCopy([to](TensorToWrite* t) {
    const size_t n = t->bytes.size() / 2;
    std::string out(n * DTypeSize(to), '\0');
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, t->bytes.data() + 2 * i, 2);
      const float f = Bf16ToF32(h);
      if (to == DType::kF32) {
        std::memcpy(out.data() + 4 * i, &f, 4);
      } else {
        const uint16_t g = F32ToF16(f);
        std::memcpy(out.data() + 2 * i, &g, 2);
      }
    }
    t->bytes = out;
    t->dtype = to;
  });
}

// F32 and F16 checkpoints load and run through their own kernel paths. F32 holds the same
// values as bf16, so logits agree to fp32 rounding of another summation order (1e-5); F16
// agrees within the fixtures' tolerance (1e-3 + 1e-4 |x|).
TEST(Weights, F32AndF16CheckpointsLoadAndMatch) {
  auto config = LoadModelConfig(kMoe);
  ASSERT_TRUE(config.ok());
  auto run = [&](const std::string& dir) {
    auto w =
        ModelWeights::Load(std::move(*Checkpoint::Open(dir)), *config, ShardSpec::Whole(*config));
    EXPECT_TRUE(w.ok()) << w.status();
    ThreadPool pool(1);
    Qwen3Model m(w->get(), &pool);
    return testing::RunGreedy(&m, {{1, 2, 3, 4, 5}}, 4, 16, 64)[0];
  };
  auto bf16 = run(kMoe), f32 = run(ConvertedCopy(DType::kF32)),
       f16 = run(ConvertedCopy(DType::kF16));
  const int64_t n = static_cast<int64_t>(bf16.prompt_logits.size());
  ASSERT_EQ(static_cast<int64_t>(f32.prompt_logits.size()), n);
  EXPECT_EQ(testing::CompareClose(f32.prompt_logits.data(), bf16.prompt_logits.data(), n, 1e-5, 0),
            "");
  EXPECT_EQ(
      testing::CompareClose(f16.prompt_logits.data(), bf16.prompt_logits.data(), n, 1e-3, 1e-4),
      "");
  EXPECT_EQ(f32.greedy_ids, bf16.greedy_ids);
  EXPECT_EQ(f16.greedy_ids, bf16.greedy_ids);
}

TEST(Weights, ShardHoldsOnlyItsTensors) {
  auto config = LoadModelConfig(kMoe);
  ASSERT_TRUE(config.ok());
  // A shard whose layers are missing from the file still loads when it does not need them.
  const std::string dir = EditedCopy([](TensorToWrite* t) {
    if (t->name.rfind("model.layers.3.", 0) == 0 || t->name == "lm_head.weight" ||
        t->name == "model.norm.weight" || t->name.find("experts.1.") != std::string::npos) {
      t->name.clear();
    }
  });
  ShardSpec spec;
  spec.layer_begin = 0;
  spec.layer_end = 3;
  spec.expert_owned.assign(8, true);
  spec.expert_owned[1] = false;
  auto w = ModelWeights::Load(std::move(*Checkpoint::Open(dir)), *config, spec);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->layer(0).experts[1].gate.data, nullptr);
  EXPECT_NE((*w)->layer(0).experts[2].gate.data, nullptr);
  // The whole model does need them.
  ExpectError(LoadStatus(dir), {"model.layers"});
  // A shard spec that does not fit the model is refused.
  spec.layer_end = 9;
  ExpectError(ModelWeights::Load(std::move(*Checkpoint::Open(kMoe)), *config, spec).status(),
              {"layer range"});
}

TEST(Weights, RandomWeightsEqualRandomModelCheckpoint) {
  const std::string dir = TempDir();
  auto r = testing::RunCommand(absl::StrCat(
      MOE_BINARY_DIR, "/tools/moe-tools random-model --like tiny-moe --layers 2 --seed 9 --out ",
      dir));
  ASSERT_EQ(r.exit_code, 0);
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  auto from_disk =
      ModelWeights::Load(std::move(*Checkpoint::Open(dir)), *config, ShardSpec::Whole(*config));
  ASSERT_TRUE(from_disk.ok()) << from_disk.status();
  ThreadPool pool(1);
  auto random = ModelWeights::Random(*config, ShardSpec::Whole(*config), 9, &pool);
  ASSERT_TRUE(random.ok());
  Qwen3Model a(from_disk->get(), &pool), b(random->get(), &pool);
  auto la = testing::RunGreedy(&a, {{11, 22, 33}}, 3, 16, 64)[0];
  auto lb = testing::RunGreedy(&b, {{11, 22, 33}}, 3, 16, 64)[0];
  EXPECT_EQ(0, std::memcmp(la.prompt_logits.data(), lb.prompt_logits.data(),
                           la.prompt_logits.size() * sizeof(float)));
  EXPECT_EQ(la.greedy_ids, lb.greedy_ids);
}

}  // namespace
}  // namespace moe
