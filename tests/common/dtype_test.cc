// Element types: sizes, names, parsing (kQ8 is not a safetensors dtype), bf16/f16 rounding.
#include "common/dtype.h"

#include <gtest/gtest.h>

#include <cmath>

namespace moe {
namespace {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(DTypeSize(DType::kBF16), 2);
  EXPECT_EQ(DTypeSize(DType::kF32), 4);
  EXPECT_EQ(DTypeSize(DType::kQ8), 1);
  EXPECT_STREQ(DTypeName(DType::kQ8), "Q8");
  DType t = DType::kF32;
  EXPECT_TRUE(ParseDType("BF16", &t));
  EXPECT_EQ(t, DType::kBF16);
  EXPECT_FALSE(ParseDType("Q8", &t));  // only made at load, never read from a checkpoint
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(F32ToBf16(1.0f), 0x3f80);
  EXPECT_EQ(Bf16ToF32(F32ToBf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);  // tie: to even
  EXPECT_EQ(Bf16ToF32(F32ToBf16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(NAN))));
  EXPECT_EQ(F16ToF32(F32ToF16(0.333251953125f)), 0.333251953125f);
}

}  // namespace
}  // namespace moe
