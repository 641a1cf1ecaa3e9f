#include "common/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "common/file.h"
#include "common/json.h"
#include "common/model_config.h"
#include "common/model_presets.h"
#include "tests/common/test_util.h"

namespace moe {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing_util::CopyFileOrDie;
using testing_util::MakeTempDir;
using testing_util::ModelDir;
using testing_util::WriteRawSafetensors;

uint16_t Bf16At(const TensorView& t, int64_t i) {
  uint16_t v;
  std::memcpy(&v, t.data + 2 * i, 2);
  return v;
}

std::string Bytes(const TensorView& t) {
  return std::string(reinterpret_cast<const char*>(t.data), t.nbytes);
}

// ------------------------------------------------------------------------------------------
// Fixtures

TEST(CheckpointFixtureTest, DenseHasExpectedTensors) {
  auto ckpt = Checkpoint::Open(ModelDir("tiny-qwen3-dense"));
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ((*ckpt)->num_files(), 1u);
  EXPECT_EQ((*ckpt)->names().size(), 35u);
  EXPECT_FALSE((*ckpt)->Has("lm_head.weight"));  // tied

  auto embed = (*ckpt)->GetWithShape("model.embed_tokens.weight", {1000, 64});
  ASSERT_TRUE(embed.ok()) << embed.status();
  EXPECT_EQ(embed->dtype, DType::kBF16);
  EXPECT_EQ(embed->numel(), 64000);
  EXPECT_EQ(embed->nbytes, 128000u);
  EXPECT_EQ(Bf16At(*embed, 0), 0x3eef);
  EXPECT_EQ(Bf16At(*embed, 3), 0x3bdc);

  auto q = (*ckpt)->GetWithShape("model.layers.0.self_attn.q_proj.weight", {128, 64});
  EXPECT_TRUE(q.ok()) << q.status();
  auto o = (*ckpt)->GetWithShape("model.layers.0.self_attn.o_proj.weight", {64, 128});
  EXPECT_TRUE(o.ok()) << o.status();

  auto norm = (*ckpt)->GetWithShape("model.norm.weight", {64});
  ASSERT_TRUE(norm.ok()) << norm.status();
  EXPECT_EQ(Bf16At(*norm, 0), 0x3f26);
  EXPECT_EQ(Bf16At(*norm, 1), 0x3f5d);
  auto down = (*ckpt)->GetWithShape("model.layers.2.mlp.down_proj.weight", {64, 160});
  ASSERT_TRUE(down.ok()) << down.status();
  EXPECT_EQ(Bf16At(*down, 0), 0x3e3f);
  EXPECT_EQ(Bf16At(*down, 3), 0xbcd2);
}

TEST(CheckpointFixtureTest, MoeHasExpectedTensors) {
  auto ckpt = Checkpoint::Open(ModelDir("tiny-qwen3-moe"));
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ((*ckpt)->names().size(), 135u);
  auto head = (*ckpt)->GetWithShape("lm_head.weight", {1000, 64});
  EXPECT_TRUE(head.ok()) << head.status();
  auto router = (*ckpt)->GetWithShape("model.layers.3.mlp.gate.weight", {8, 64});
  EXPECT_TRUE(router.ok()) << router.status();
  auto down = (*ckpt)->GetWithShape("model.layers.1.mlp.experts.3.down_proj.weight", {64, 48});
  ASSERT_TRUE(down.ok()) << down.status();
  EXPECT_EQ(Bf16At(*down, 0), 0x3d11);
  EXPECT_EQ(Bf16At(*down, 3), 0xbe0d);
  auto norm = (*ckpt)->Get("model.norm.weight");
  ASSERT_TRUE(norm.ok());
  EXPECT_EQ(Bf16At(*norm, 0), 0x3f82);
  EXPECT_EQ(Bf16At(*norm, 3), 0x3f9c);
  EXPECT_NEAR(Bf16ToF32(Bf16At(*norm, 0)), 1.015625f, 1e-7);
}

// Every fixture holds exactly the tensors ModelWeightSpecs expects for its config.
TEST(CheckpointFixtureTest, TensorsMatchConfigSpecs) {
  for (const char* name : {"tiny-qwen3-dense", "tiny-qwen3-moe", "tiny-qwen3-moe-sharded"}) {
    SCOPED_TRACE(name);
    auto config = LoadModelConfig(ModelDir(name));
    ASSERT_TRUE(config.ok()) << config.status();
    auto ckpt = Checkpoint::Open(ModelDir(name));
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    std::set<std::string> expected;
    for (const WeightSpec& w : ModelWeightSpecs(*config)) {
      expected.insert(w.name);
      auto t = (*ckpt)->GetWithShape(w.name, w.shape);
      ASSERT_TRUE(t.ok()) << t.status();
      EXPECT_EQ(t->dtype, DType::kBF16);
    }
    std::vector<std::string> names = (*ckpt)->names();
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), expected);
  }
}

TEST(CheckpointFixtureTest, ShardedIsByteIdenticalToSingle) {
  auto single = Checkpoint::Open(ModelDir("tiny-qwen3-moe"));
  auto sharded = Checkpoint::Open(ModelDir("tiny-qwen3-moe-sharded"));
  ASSERT_TRUE(single.ok()) << single.status();
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  EXPECT_EQ((*sharded)->num_files(), 2u);
  ASSERT_EQ((*single)->names(), (*sharded)->names());
  std::set<std::string> files;
  for (const std::string& name : (*single)->names()) {
    auto a = (*single)->Get(name);
    auto b = (*sharded)->Get(name);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(a->dtype, b->dtype) << name;
    EXPECT_EQ(a->shape, b->shape) << name;
    EXPECT_EQ(Bytes(*a), Bytes(*b)) << name;
    files.insert(b->file);
  }
  EXPECT_EQ(files.size(), 2u);
}

TEST(CheckpointFixtureTest, SingleFileNamesInHeaderOrder) {
  auto file = SafetensorsFile::Open(ModelDir("tiny-qwen3-moe") + "/model.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->names().size(), 135u);
  EXPECT_EQ((*file)->names()[0], "lm_head.weight");
  EXPECT_EQ((*file)->names()[1], "model.embed_tokens.weight");
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
}

// ------------------------------------------------------------------------------------------
// Lookup errors

TEST(CheckpointErrorTest, MissingTensorNamesTensor) {
  auto ckpt = Checkpoint::Open(ModelDir("tiny-qwen3-dense"));
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto t = (*ckpt)->Get("lm_head.weight");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("tiny-qwen3-dense"), HasSubstr("'lm_head.weight'")));
}

TEST(CheckpointErrorTest, GetWithShapeWrongShape) {
  auto ckpt = Checkpoint::Open(ModelDir("tiny-qwen3-dense"));
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto t = (*ckpt)->GetWithShape("model.layers.0.self_attn.q_proj.weight", {64, 64});
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("model.safetensors"), HasSubstr("'model.layers.0.self_attn.q_proj"),
                    HasSubstr("[128, 64]"), HasSubstr("expected [64, 64]")));
}

TEST(CheckpointErrorTest, NoCheckpointInDir) {
  const std::string dir = MakeTempDir();
  auto ckpt = Checkpoint::Open(dir);
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ckpt.status().message(),
              AllOf(HasSubstr(dir), HasSubstr("model.safetensors.index.json"),
                    HasSubstr("model.safetensors ")));
  auto missing = Checkpoint::Open(dir + "/does-not-exist");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

// ------------------------------------------------------------------------------------------
// Bad single files

class BadFileTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = MakeTempDir() + "/model.safetensors"; }
  absl::Status Open() { return SafetensorsFile::Open(path_).status(); }
  std::string path_;
};

TEST_F(BadFileTest, TruncatedFixture) {
  auto text = ReadFile(ModelDir("tiny-qwen3-moe") + "/model.safetensors");
  ASSERT_TRUE(text.ok());
  ASSERT_TRUE(WriteFile(path_, text->substr(0, text->size() / 2)).ok());
  absl::Status s = Open();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), AllOf(HasSubstr(path_), HasSubstr("tensor '"),
                                 HasSubstr("beyond the end of the data section")));
}

TEST_F(BadFileTest, TruncatedInsideHeader) {
  auto text = ReadFile(ModelDir("tiny-qwen3-moe") + "/model.safetensors");
  ASSERT_TRUE(text.ok());
  ASSERT_TRUE(WriteFile(path_, text->substr(0, 1000)).ok());
  absl::Status s = Open();
  EXPECT_THAT(s.message(), AllOf(HasSubstr(path_), HasSubstr("header length 14720 exceeds")));
}

TEST_F(BadFileTest, ShorterThanEightBytes) {
  ASSERT_TRUE(WriteFile(path_, "abc").ok());
  EXPECT_THAT(Open().message(), AllOf(HasSubstr(path_), HasSubstr("too short")));
  ASSERT_TRUE(WriteFile(path_, "").ok());
  EXPECT_THAT(Open().message(), HasSubstr("too short"));
}

TEST_F(BadFileTest, HeaderLengthLargerThanFile) {
  WriteRawSafetensors(path_, "{}", "", 1000);
  EXPECT_THAT(Open().message(), AllOf(HasSubstr(path_), HasSubstr("header length 1000")));
  WriteRawSafetensors(path_, "{}", "", int64_t{1} << 62);
  EXPECT_THAT(Open().message(), HasSubstr("exceeds the file size"));
}

TEST_F(BadFileTest, HeaderNotJson) {
  WriteRawSafetensors(path_, "not json at all", "");
  EXPECT_THAT(Open().message(), AllOf(HasSubstr(path_), HasSubstr("invalid JSON")));
  WriteRawSafetensors(path_, "[1, 2]", "");
  EXPECT_THAT(Open().message(), AllOf(HasSubstr(path_), HasSubstr("expected an object")));
}

TEST_F(BadFileTest, EndBeyondFile) {
  WriteRawSafetensors(path_,
                      R"({"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[8,16]}})",
                      std::string(12, '\0'));
  EXPECT_THAT(Open().message(), AllOf(HasSubstr(path_), HasSubstr("tensor 'b'"),
                                      HasSubstr("[8, 16]"), HasSubstr("(12 bytes)")));
}

TEST_F(BadFileTest, OverlappingRanges) {
  WriteRawSafetensors(path_,
                      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[4,12]}})",
                      std::string(16, '\0'));
  EXPECT_THAT(Open().message(),
              AllOf(HasSubstr(path_), HasSubstr("tensor 'b'"), HasSubstr("overlap tensor 'a'")));
}

TEST_F(BadFileTest, SizeMismatch) {
  WriteRawSafetensors(path_,
                      R"({"model.norm.weight":{"dtype":"BF16","shape":[64],)"
                      R"("data_offsets":[0,100]}})",
                      std::string(128, '\0'));
  EXPECT_THAT(Open().message(),
              HasSubstr(path_ + ": tensor 'model.norm.weight': data_offsets [0, 100] hold 100 "
                                "bytes but shape [64] of BF16 needs 128"));
}

TEST_F(BadFileTest, BeginAfterEnd) {
  WriteRawSafetensors(path_, R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})",
                      std::string(8, '\0'));
  EXPECT_THAT(Open().message(), AllOf(HasSubstr("tensor 'a'"), HasSubstr("begin > end")));
}

TEST_F(BadFileTest, UnsupportedDtype) {
  WriteRawSafetensors(path_, R"({"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})",
                      std::string(4, '\0'));
  EXPECT_THAT(Open().message(), AllOf(HasSubstr(path_), HasSubstr("tensor 'w'"),
                                      HasSubstr("unsupported dtype 'F8_E4M3'")));
}

TEST_F(BadFileTest, BadShapeAndOffsets) {
  WriteRawSafetensors(path_, R"({"w":{"dtype":"U8","shape":[-4],"data_offsets":[0,4]}})",
                      std::string(4, '\0'));
  EXPECT_THAT(Open().message(), AllOf(HasSubstr("tensor 'w'"), HasSubstr("non-negative")));
  WriteRawSafetensors(path_, R"({"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,4]}})",
                      std::string(4, '\0'));
  EXPECT_THAT(Open().message(), AllOf(HasSubstr("tensor 'w'"), HasSubstr("'shape'")));
  WriteRawSafetensors(path_, R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0]}})",
                      std::string(4, '\0'));
  EXPECT_THAT(Open().message(), AllOf(HasSubstr("tensor 'w'"), HasSubstr("'data_offsets'")));
  WriteRawSafetensors(path_, R"({"w":{"dtype":"U8","data_offsets":[0,4]}})", std::string(4, '\0'));
  EXPECT_THAT(Open().message(), AllOf(HasSubstr("tensor 'w'"), HasSubstr("missing 'shape'")));
  WriteRawSafetensors(path_, R"({"w":5})", "");
  EXPECT_THAT(Open().message(), AllOf(HasSubstr("tensor 'w'"), HasSubstr("expected an object")));
  // numel overflows: must be an error, not a wrap-around that happens to match.
  WriteRawSafetensors(path_,
                      R"({"w":{"dtype":"U8","shape":[4294967296,4294967296,4],)"
                      R"("data_offsets":[0,0]}})",
                      "");
  EXPECT_THAT(Open().message(), AllOf(HasSubstr("tensor 'w'"), HasSubstr("overflow")));
}

TEST_F(BadFileTest, BadMetadata) {
  WriteRawSafetensors(path_, R"({"__metadata__":{"format":1}})", "");
  EXPECT_THAT(Open().message(), AllOf(HasSubstr("__metadata__"), HasSubstr("'format'")));
  WriteRawSafetensors(path_, R"({"__metadata__":[]})", "");
  EXPECT_THAT(Open().message(), HasSubstr("__metadata__"));
}

TEST_F(BadFileTest, EmptyAndScalarTensorsAreFine) {
  WriteRawSafetensors(path_,
                      R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},)"
                      R"("s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})",
                      std::string(4, '\0'));
  auto f = SafetensorsFile::Open(path_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->Get("e")->numel(), 0);
  EXPECT_EQ((*f)->Get("s")->numel(), 1);
  EXPECT_EQ((*f)->Get("missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT((*f)->Get("missing").status().message(),
              AllOf(HasSubstr(path_), HasSubstr("'missing'")));
}

// ------------------------------------------------------------------------------------------
// Bad sharded checkpoints

class BadIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    const std::string src = ModelDir("tiny-qwen3-moe-sharded");
    for (const char* f : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                          "model.safetensors.index.json", "config.json"}) {
      CopyFileOrDie(src + "/" + f, dir_ + "/" + f);
    }
    auto index = ReadJsonFile(dir_ + "/model.safetensors.index.json");
    ASSERT_TRUE(index.ok());
    index_ = *index;
  }
  absl::Status WriteIndexAndOpen() {
    EXPECT_TRUE(WriteFile(dir_ + "/model.safetensors.index.json", index_.dump()).ok());
    return Checkpoint::Open(dir_).status();
  }
  std::string dir_;
  Json index_;
};

TEST_F(BadIndexTest, CopyOpens) { EXPECT_TRUE(WriteIndexAndOpen().ok()); }

TEST_F(BadIndexTest, MissingShard) {
  std::filesystem::remove(dir_ + "/model-00002-of-00002.safetensors");
  absl::Status s = WriteIndexAndOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(),
              AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("tensor '"),
                    HasSubstr("model-00002-of-00002.safetensors"), HasSubstr("does not exist")));
}

TEST_F(BadIndexTest, TensorAbsentFromShard) {
  index_["weight_map"]["lm_head.weight"] = "model-00001-of-00002.safetensors";
  absl::Status s = WriteIndexAndOpen();
  EXPECT_THAT(
      s.message(),
      AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("tensor 'lm_head.weight'"),
            HasSubstr("'model-00001-of-00002.safetensors'"), HasSubstr("does not contain it")));
}

TEST_F(BadIndexTest, IndexNamesUnknownShardFile) {
  index_["weight_map"]["model.norm.weight"] = "nowhere.safetensors";
  EXPECT_THAT(WriteIndexAndOpen().message(),
              AllOf(HasSubstr("'model.norm.weight'"), HasSubstr("nowhere.safetensors")));
}

TEST_F(BadIndexTest, BadIndexJson) {
  ASSERT_TRUE(WriteFile(dir_ + "/model.safetensors.index.json", "{ nope").ok());
  EXPECT_THAT(Checkpoint::Open(dir_).status().message(),
              AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("invalid JSON")));
  index_.erase("weight_map");
  EXPECT_THAT(WriteIndexAndOpen().message(), HasSubstr("missing field 'weight_map'"));
  index_["weight_map"] = Json{{"model.norm.weight", 3}};
  EXPECT_THAT(WriteIndexAndOpen().message(),
              AllOf(HasSubstr("'model.norm.weight'"), HasSubstr("expected a file name")));
  index_["weight_map"] = Json{{"model.norm.weight", "../model-00002-of-00002.safetensors"}};
  EXPECT_THAT(WriteIndexAndOpen().message(), HasSubstr("invalid shard name"));
}

TEST_F(BadIndexTest, CorruptShardNamesShard) {
  auto text = ReadFile(dir_ + "/model-00002-of-00002.safetensors");
  ASSERT_TRUE(text.ok());
  ASSERT_TRUE(
      WriteFile(dir_ + "/model-00002-of-00002.safetensors", text->substr(0, text->size() - 10))
          .ok());
  EXPECT_THAT(WriteIndexAndOpen().message(), HasSubstr("model-00002-of-00002.safetensors: tensor"));
}

// ------------------------------------------------------------------------------------------
// Writing

TEST(WriteSafetensorsTest, RoundTrip) {
  const std::string path = MakeTempDir() + "/out.safetensors";
  std::vector<TensorToWrite> tensors;
  tensors.push_back({"b.weight",
                     DType::kBF16,
                     {2, 3},
                     std::string("\x01\x02\x03\x04\x05\x06"
                                 "\x07\x08\x09\x0a\x0b\x0c",
                                 12)});
  tensors.push_back({"a.bias", DType::kF32, {1}, std::string("\x00\x00\x80\x3f", 4)});
  tensors.push_back({"ids", DType::kI64, {}, std::string(8, '\x07')});
  tensors.push_back({"empty", DType::kU8, {0}, ""});
  tensors.push_back({"odd", DType::kI8, {3}, "xyz"});
  ASSERT_TRUE(WriteSafetensors(path, tensors).ok());

  auto raw = ReadFile(path);
  ASSERT_TRUE(raw.ok());
  uint64_t n = 0;
  std::memcpy(&n, raw->data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(raw->substr(8, 32), R"({"__metadata__":{"format":"pt"},)");

  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->names(), (std::vector<std::string>{"b.weight", "a.bias", "ids", "empty", "odd"}));
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  for (const TensorToWrite& t : tensors) {
    auto v = (*f)->Get(t.name);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->dtype, t.dtype);
    EXPECT_EQ(v->shape, t.shape);
    EXPECT_EQ(Bytes(*v), t.bytes) << t.name;
  }
}

TEST(WriteSafetensorsTest, RewriteFixtureIsIdentical) {
  auto src = SafetensorsFile::Open(ModelDir("tiny-qwen3-moe") + "/model.safetensors");
  ASSERT_TRUE(src.ok());
  std::vector<TensorToWrite> tensors;
  for (const std::string& name : (*src)->names()) {
    TensorView v = *(*src)->Get(name);
    tensors.push_back({name, v.dtype, v.shape, Bytes(v)});
  }
  const std::string dir = MakeTempDir();
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", tensors).ok());
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  for (const TensorToWrite& t : tensors) EXPECT_EQ(Bytes(*(*ckpt)->Get(t.name)), t.bytes);
}

TEST(WriteSafetensorsTest, SizeMismatchIsError) {
  const std::string path = MakeTempDir() + "/out.safetensors";
  absl::Status s = WriteSafetensors(path, {{"w", DType::kBF16, {4}, "abc"}});
  EXPECT_THAT(s.message(), AllOf(HasSubstr("'w'"), HasSubstr("needs 8")));
  s = WriteSafetensors(path, {{"w", DType::kU8, {1}, "a"}, {"w", DType::kU8, {1}, "b"}});
  EXPECT_THAT(s.message(), HasSubstr("repeated"));
}

TEST(WriteSafetensorsTest, StreamingWriterChecksOrder) {
  const std::string path = MakeTempDir() + "/out.safetensors";
  auto w = SafetensorsWriter::Create(path, {{"a", DType::kU8, {2}}, {"b", DType::kU8, {1}}});
  ASSERT_TRUE(w.ok());
  EXPECT_THAT((*w)->Write("b", "x", 1).message(), HasSubstr("out of order"));
  EXPECT_TRUE((*w)->Write("a", "xy", 2).ok());
  EXPECT_THAT((*w)->Close().message(), HasSubstr("1 of 2"));
}

}  // namespace
}  // namespace moe
