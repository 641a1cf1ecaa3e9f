// A minimal self-contained test harness for the CUDA kernels (no GoogleTest: the GPU machine
// builds these with the CUDA toolkit and CMake alone). TEST_CASE registers a function; CHECK
// records a failure and goes on. main() exits 77 (ctest SKIP_RETURN_CODE) when there is no CUDA
// device, 1 when a check failed, 0 otherwise. Also CPU references of the ops (the math of
// kernels/cpu/reference.cc) and bf16 helpers.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"

namespace moe::cuda::testing {

struct Registry {
  std::vector<std::pair<std::string, std::function<void()>>> tests;
  int failures = 0;
  static Registry& Get() {
    static Registry r;
    return r;
  }
};

struct Register {
  Register(const char* name, std::function<void()> fn) {
    Registry::Get().tests.emplace_back(name, std::move(fn));
  }
};

#define TEST_CASE(name)                                               \
  static void name();                                                 \
  static ::moe::cuda::testing::Register register_##name(#name, name); \
  static void name()

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++::moe::cuda::testing::Registry::Get().failures;                               \
    }                                                                                 \
  } while (0)

#define CHECK_CUDA(expr)                                                   \
  do {                                                                     \
    const cudaError_t err_ = (expr);                                       \
    if (err_ != cudaSuccess) {                                             \
      std::fprintf(stderr, "  %s:%d: %s: %s\n", __FILE__, __LINE__, #expr, \
                   cudaGetErrorString(err_));                              \
      ++::moe::cuda::testing::Registry::Get().failures;                    \
      return;                                                              \
    }                                                                      \
  } while (0)

// Compares got to want elementwise: |got - want| <= atol + rtol * |want|. Prints the worst.
inline bool Near(const std::vector<float>& got, const std::vector<float>& want, float atol,
                 float rtol, const char* what) {
  if (got.size() != want.size()) {
    std::fprintf(stderr, "  %s: size %zu != %zu\n", what, got.size(), want.size());
    ++Registry::Get().failures;
    return false;
  }
  size_t bad = 0, worst = 0;
  float worst_excess = 0.0f;
  for (size_t i = 0; i < got.size(); ++i) {
    const float tol = atol + rtol * std::fabs(want[i]);
    const float err = std::fabs(got[i] - want[i]);
    if (!(err <= tol)) {
      ++bad;
      if (!(err - tol <= worst_excess)) {
        worst_excess = err - tol;
        worst = i;
      }
    }
  }
  if (bad > 0) {
    std::fprintf(stderr, "  %s: %zu of %zu out of tolerance; worst [%zu] got %g want %g\n", what,
                 bad, got.size(), worst, got[worst], want[worst]);
    ++Registry::Get().failures;
  }
  return bad == 0;
}

// True when a CUDA device is usable.
inline bool HaveDevice() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// Runs every test; `needs_device` false lets host-only tests run anywhere.
inline int RunAll(bool needs_device) {
  if (needs_device && !HaveDevice()) {
    std::printf("SKIP: no CUDA device\n");
    return 77;
  }
  Registry& r = Registry::Get();
  for (auto& [name, fn] : r.tests) {
    const int before = r.failures;
    fn();
    if (needs_device) {
      const cudaError_t e = cudaDeviceSynchronize();
      if (e != cudaSuccess) {
        std::fprintf(stderr, "  %s: %s\n", name.c_str(), cudaGetErrorString(e));
        ++r.failures;
      }
    }
    std::printf("%s %s\n", r.failures == before ? "PASS" : "FAIL", name.c_str());
  }
  std::printf("%s (%zu tests)\n", r.failures == 0 ? "ALL PASSED" : "FAILED", r.tests.size());
  return r.failures == 0 ? 0 : 1;
}

// ---- bf16 on the host (round to nearest even, as common/dtype.h) ----

inline uint16_t ToBf16Bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
inline float FromBf16Bits(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
// Rounds every value to bf16 (what the device sees), returning the bits.
inline std::vector<uint16_t> RoundBf16(std::vector<float>* v) {
  std::vector<uint16_t> bits(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    bits[i] = ToBf16Bits((*v)[i]);
    (*v)[i] = FromBf16Bits(bits[i]);
  }
  return bits;
}

inline std::vector<float> RandomVector(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// ---- device buffers ----

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (cudaMalloc(&ptr_, sizeof(T) * (n == 0 ? 1 : n)) != cudaSuccess) ptr_ = nullptr;
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    if (ptr_ != nullptr && !host.empty()) {
      cudaMemcpy(ptr_, host.data(), sizeof(T) * n_, cudaMemcpyHostToDevice);
    }
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  std::vector<T> ToHost() const {
    std::vector<T> out(n_);
    if (n_ > 0) cudaMemcpy(out.data(), ptr_, sizeof(T) * n_, cudaMemcpyDeviceToHost);
    return out;
  }

 private:
  T* ptr_ = nullptr;
  size_t n_;
};

inline const bf16* AsBf16(const uint16_t* p) { return reinterpret_cast<const bf16*>(p); }
inline bf16* AsBf16(uint16_t* p) { return reinterpret_cast<bf16*>(p); }
inline std::vector<float> Widen(const std::vector<uint16_t>& bits) {
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) out[i] = FromBf16Bits(bits[i]);
  return out;
}

// ---- CPU references (kernels/cpu/reference.cc math) ----

// y[t, r] = sum_c x[t, c] * w[r, c].
inline void RefLinear(const float* x, int64_t T, const float* w, int64_t rows, int64_t cols,
                      float* y) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      float acc = 0.0f;
      for (int64_t c = 0; c < cols; ++c) acc += x[t * cols + c] * w[r * cols + c];
      y[t * rows + r] = acc;
    }
}

inline void RefRmsNorm(const float* x, const float* w, int64_t rows, int64_t n, float eps,
                       float* y) {
  for (int64_t t = 0; t < rows; ++t) {
    float ss = 0.0f;
    for (int64_t i = 0; i < n; ++i) ss += x[t * n + i] * x[t * n + i];
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
    for (int64_t i = 0; i < n; ++i) y[t * n + i] = x[t * n + i] * inv * w[i];
  }
}

inline void RefRope(float* x, int64_t T, int64_t heads, int64_t D, const int32_t* pos,
                    const float* inv_freq) {
  const int64_t half = D / 2;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(pos[t]) * inv_freq[i];
      const float c = std::cos(angle), s = std::sin(angle);
      for (int64_t h = 0; h < heads; ++h) {
        float* xh = x + (t * heads + h) * D;
        const float a = xh[i], b = xh[i + half];
        xh[i] = a * c - b * s;
        xh[i + half] = b * c + a * s;
      }
    }
}

inline std::vector<float> InvFreq(int64_t D, double theta) {
  std::vector<float> f(static_cast<size_t>(D / 2));
  for (int64_t i = 0; i < D / 2; ++i) {
    f[i] = static_cast<float>(1.0 / std::pow(theta, static_cast<double>(2 * i) / D));
  }
  return f;
}

}  // namespace moe::cuda::testing
