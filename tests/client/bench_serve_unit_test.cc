// moe-bench serve's building blocks: latency statistics and prompt sources.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "bench/serve/serve_bench.h"

namespace moe {
namespace {

TEST(ServeBenchStatsTest, SummarizeInterpolatesLikeNumpy) {
  LatencySummary s = Summarize({4, 1, 3, 2, 5});
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.p50, 3);
  EXPECT_DOUBLE_EQ(s.p90, 4.6);
  EXPECT_DOUBLE_EQ(s.p99, 4.96);
  s = Summarize({});
  EXPECT_EQ(s.mean, 0);
  EXPECT_EQ(s.p99, 0);
  s = Summarize({7});
  EXPECT_EQ(s.p50, 7);
  EXPECT_EQ(s.p99, 7);
}

TEST(ServeBenchStatsTest, RandomPromptsAreSeededAndBounded) {
  std::vector<v1::GenerateRequest> a = RandomPrompts(3, 10, 5, 50, 1);
  std::vector<v1::GenerateRequest> b = RandomPrompts(3, 10, 5, 50, 1);
  std::vector<v1::GenerateRequest> c = RandomPrompts(3, 10, 5, 50, 2);
  ASSERT_EQ(a.size(), 3u);
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].token_ids().ids_size(), 10);
    EXPECT_EQ(a[i].sampling().max_tokens(), 5);
    EXPECT_EQ(a[i].SerializeAsString(), b[i].SerializeAsString());
    for (int32_t id : a[i].token_ids().ids()) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, 50);
    }
  }
  EXPECT_NE(a[0].SerializeAsString(), c[0].SerializeAsString());
}

TEST(ServeBenchStatsTest, LoadDataset) {
  char dir[] = "/tmp/moe-bench-data-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/prompts.jsonl";
  std::ofstream(path) << "{\"prompt\": \"hello\"}\n\n{\"prompt\": [1, 2, 3], \"max_tokens\": 7}\n";
  auto requests = LoadDataset(path, 16);
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 2u);
  EXPECT_EQ((*requests)[0].text(), "hello");
  EXPECT_EQ((*requests)[0].sampling().max_tokens(), 16);
  EXPECT_EQ((*requests)[1].token_ids().ids_size(), 3);
  EXPECT_EQ((*requests)[1].sampling().max_tokens(), 7);

  std::ofstream(path) << "{\"text\": \"no prompt\"}\n";
  EXPECT_EQ(LoadDataset(path, 16).status().code(), absl::StatusCode::kInvalidArgument);
  std::ofstream(path) << "not json\n";
  EXPECT_EQ(LoadDataset(path, 16).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadDataset(path + ".missing", 16).status().code(), absl::StatusCode::kNotFound);
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace moe
