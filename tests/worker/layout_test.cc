// Layout: the split of layers and experts, and every refusal naming what to change.
#include "worker/layout.h"

#include <gtest/gtest.h>

namespace moe {
namespace {

ModelConfig Moe(int64_t layers, int64_t experts) {
  ModelConfig c;
  c.model_type = "qwen3_moe";
  c.vocab_size = 100;
  c.hidden_size = 16;
  c.intermediate_size = 32;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.num_experts = experts;
  c.num_experts_per_tok = 2;
  c.moe_intermediate_size = 8;
  return c;
}

std::string Refusal(const ModelConfig& c, const LayoutOptions& o) {
  auto l = Layout::Make(c, o);
  EXPECT_FALSE(l.ok());
  return l.ok() ? "" : std::string(l.status().message());
}

TEST(LayoutTest, EvenSplitAndExpertsModuloE) {
  auto l = Layout::Make(Moe(5, 4), {2, 2, "", ""});
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->world_size(), 5);
  EXPECT_EQ(l->stage_begin(0), 0);
  EXPECT_EQ(l->stage_begin(1), 2);
  EXPECT_EQ(l->stage_begin(2), 5);
  const ShardSpec s3 = l->Shard(3);  // stage 1, ep 1
  EXPECT_EQ(s3.layer_begin, 2);
  EXPECT_EQ(s3.layer_end, 5);
  EXPECT_EQ(s3.expert_owned, (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(l->rank_of(1, 1), 4);
  EXPECT_EQ(l->Describe(), "pp2 ep2 layers [0,2) [2,5)");
}

TEST(LayoutTest, ExplicitSplitAndMap) {
  auto l = Layout::Make(Moe(4, 4), {2, 2, "1,3", "1,1,0,1"});
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->stage_begin(1), 1);
  EXPECT_EQ(l->Shard(0).expert_owned, (std::vector<bool>{false, false, true, false}));
}

TEST(LayoutTest, RefusalsSayWhatToChange) {
  const ModelConfig c = Moe(4, 4);
  EXPECT_NE(Refusal(c, {5, 1, "", ""}).find("use --pp 4 or fewer"), std::string::npos);
  EXPECT_NE(Refusal(c, {1, 8, "", ""}).find("use --ep 4 or fewer"), std::string::npos);
  EXPECT_NE(Refusal(c, {2, 1, "1,2", ""}).find("add up to 4"), std::string::npos);
  EXPECT_NE(Refusal(c, {2, 1, "4", ""}).find("one layer count per stage"), std::string::npos);
  EXPECT_NE(Refusal(c, {2, 1, "x,3", ""}).find("not an integer"), std::string::npos);
  EXPECT_NE(Refusal(c, {1, 2, "", "0,0,0"}).find("the model has 4 experts"), std::string::npos);
  EXPECT_NE(Refusal(c, {1, 2, "", "0,0,0,0"}).find("no experts"), std::string::npos);
  EXPECT_NE(Refusal(c, {1, 2, "", "0,0,2,0"}).find("outside [0, 2)"), std::string::npos);
  ModelConfig dense = Moe(4, 0);
  dense.model_type = "qwen3";
  EXPECT_NE(Refusal(dense, {1, 2, "", ""}).find("dense"), std::string::npos);
}

TEST(LayoutTest, WorldSizeMustMatch) {
  auto l = Layout::Make(Moe(4, 4), {2, 2, "", ""});
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->CheckWorldSize(5).ok());
  absl::Status s = l->CheckWorldSize(3);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("mpirun -np 5"), std::string::npos) << s;
}

TEST(LayoutTest, ShardMemoryHalvesTheExpertsWithEp2) {
  const ModelConfig c = Moe(4, 4);
  auto one = Layout::Make(c, {1, 1, "", ""});
  auto two = Layout::Make(c, {1, 2, "", ""});
  ASSERT_TRUE(one.ok() && two.ok());
  const ShardMemory m1 = EstimateShardMemory(c, one->Shard(0), 2, 10, 4);
  const ShardMemory m2 = EstimateShardMemory(c, two->Shard(0), 2, 10, 4);
  EXPECT_EQ(m1.experts, 4);
  EXPECT_EQ(m2.experts, 2);
  const int64_t expert_bytes = 3 * c.moe_intermediate_size * c.hidden_size * 2;
  EXPECT_EQ(m1.weight_bytes - m2.weight_bytes, 4 * 2 * expert_bytes);  // 2 experts x 4 layers
  EXPECT_EQ(m1.kv_bytes, m2.kv_bytes);
}

}  // namespace
}  // namespace moe
