// Element types of checkpoint tensors and bf16/f16 <-> f32 conversion.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace moe {

// kQ8 is not a checkpoint dtype: it marks weight matrices quantized to int8 at load, with one
// bf16 scale per block of 32 along a row (the layout is in kernels/kernels.h, Q8 section).
enum class DType : uint8_t { kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool, kF64, kQ8 };

// Bytes per element (kQ8: 1, the int8 value; its scales are counted apart).
int DTypeSize(DType t);
// Safetensors spelling: "F32", "BF16", ...
const char* DTypeName(DType t);
// Parses a safetensors dtype string; false when unknown (also for "Q8", not a safetensors
// dtype).
bool ParseDType(std::string_view name, DType* out);

// bf16 is the upper half of an IEEE f32: widening is exact.
inline float Bf16ToF32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even; NaN stays NaN.
inline uint16_t F32ToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);

}  // namespace moe
