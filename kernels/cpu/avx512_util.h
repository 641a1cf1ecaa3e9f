// Helpers shared by the AVX-512 translation units (avx512_*.cc). Include only from files
// compiled with the AVX-512 flags. Everything is in an unnamed namespace: each file gets its
// own copy, so no AVX-512 code can be merged by the linker into code that runs on other CPUs.
#pragma once

// GCC 12 flags _mm512_undefined_ps() inside its own headers as uninitialized use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

#include "kernels/cpu/kernel_table.h"
#include "kernels/kernels.h"

namespace moe::kernels {

// The AVX-512 kernels with more than one file's worth of code (defined in avx512_*.cc).
namespace avx512 {
void Linear(const float* x, int64_t T, const Matrix& w, float* y, ThreadPool* pool);
void PagedAttentionPart(const PagedKv& kv, const int32_t* block_table, int64_t start, int64_t n,
                        const float* q, int64_t num_q_heads, float scale, float* out, int64_t i0,
                        int64_t i1, int64_t h0, int64_t h1);
}  // namespace avx512

namespace {

inline int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t Max(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t RoundUp(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

template <class F>
void ForRanges(ThreadPool* pool, int64_t n, int64_t grain, F& f) {
  ParallelRanges(
      pool, n, grain, [](void* c, int64_t b, int64_t e) { (*static_cast<F*>(c))(b, e); }, &f);
}

// The rows of n <= kMaxLinearMany matrices in groups of `group_rows`, numbered across the
// matrices (matrix i holds groups [first[i], first[i + 1])), so that one fork-join covers all
// of them; a group never spans two matrices.
class RowGroups {
 public:
  RowGroups(const Matrix* ws, int n, int64_t group_rows) : ws_(ws), n_(n), group_rows_(group_rows) {
    for (int i = 0; i < n; ++i) {
      first_[i + 1] = first_[i] + (ws[i].rows + group_rows - 1) / group_rows;
      elements_ += ws[i].rows * ws[i].cols;
    }
  }
  int64_t groups() const { return first_[n_]; }
  int64_t elements() const { return elements_; }  // rows x cols over the matrices
  // f(i, r0, r1) for the rows [r0, r1) of each matrix i that groups [g0, g1) cover.
  template <class F>
  void ForEach(int64_t g0, int64_t g1, F&& f) const {
    for (int i = 0; i < n_; ++i) {
      const int64_t a = Max(g0, first_[i]) - first_[i], b = Min(g1, first_[i + 1]) - first_[i];
      if (a < b) f(i, a * group_rows_, Min(ws_[i].rows, b * group_rows_));
    }
  }

 private:
  const Matrix* ws_;
  int n_;
  int64_t group_rows_;
  int64_t first_[kMaxLinearMany + 1] = {0};
  int64_t elements_ = 0;
};

// The first n (<= 16) lanes.
inline __mmask16 TailMask16(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
}

// Transposes the 16x16 block v[row][col] in place to v[col][row].
inline void Transpose16(__m512 v[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
    const __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
    v[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    v[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    v[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    v[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // v[4g + j] now holds, in 128-bit lane l, column 4l + j of rows 4g..4g+3.
  for (int j = 0; j < 4; ++j) {
    t[j] = _mm512_shuffle_f32x4(v[j], v[4 + j], 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(v[j], v[4 + j], 0xdd);
    t[8 + j] = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0xdd);
  }
  for (int j = 0; j < 8; ++j) {
    v[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    v[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
  }
}

// exp(x) for x in [-87, 88] (clamped outside), relative error ~1e-7 (Cephes expf).
inline __m512 Exp(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

}  // namespace
}  // namespace moe::kernels
