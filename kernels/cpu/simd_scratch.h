// A grow-only, 64-byte aligned float buffer for per-thread scratch in the ISA translation
// units. In an unnamed namespace on purpose: each ISA file gets its own copy compiled with its
// own flags, so the linker never merges an AVX-512 copy into code that runs on AVX2 CPUs.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace moe::kernels {
namespace {

class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(data_); }

  // At least n floats, 64-byte aligned; contents unspecified.
  float* Get(int64_t n) {
    if (n > size_) {
      std::free(data_);
      const int64_t bytes = (n * static_cast<int64_t>(sizeof(float)) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(bytes)));
      if (data_ == nullptr) std::abort();
      size_ = n;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t size_ = 0;
};

}  // namespace
}  // namespace moe::kernels
