// ISA selection: the active table is the best supported one unless MOE_KERNELS lowers it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "common/thread_pool.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/kernels.h"
#include "tests/kernels/kernel_test_util.h"

namespace moe::kernels {
namespace {

TEST(DispatchTest, ActiveIsaIsSupportedAndHonoursEnv) {
  const auto isas = testing::SupportedIsas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.back(), "scalar");
  EXPECT_NE(GetKernelTable(ActiveIsa()), nullptr);
  const char* env = std::getenv("MOE_KERNELS");
  std::string want = isas.front();
  if (env != nullptr && GetKernelTable(env) != nullptr) {
    // Lowering only: a request above the best supported ISA is ignored.
    const auto rank = [](std::string_view s) { return s == "avx512" ? 2 : s == "avx2" ? 1 : 0; };
    if (rank(env) < rank(want)) want = env;
  }
  EXPECT_EQ(ActiveIsa(), want);
  EXPECT_EQ(ActiveKernelTable().isa, ActiveIsa());
}

TEST(DispatchTest, UnknownIsaHasNoTable) {
  EXPECT_EQ(GetKernelTable("sse9"), nullptr);
  EXPECT_NE(GetKernelTable("scalar"), nullptr);
}

TEST(DispatchTest, BandwidthProbeReturnsAPlausibleNumber) {
  ThreadPool pool(2);
  const double one = MeasureReadBandwidthGBs(nullptr, int64_t{64} << 20);
  const double two = MeasureReadBandwidthGBs(&pool, int64_t{64} << 20);
  EXPECT_GT(one, 0.5);
  EXPECT_LT(one, 10000.0);
  EXPECT_GT(two, 0.5);
}

}  // namespace
}  // namespace moe::kernels
