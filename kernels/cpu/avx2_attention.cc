// AVX2 PagedAttention (compiled with the AVX2 flags; runs only when the CPU has them).
#include <cmath>

#include "kernels/cpu/avx2_util.h"
#include "kernels/cpu/reference.h"
#include "kernels/cpu/simd_scratch.h"

namespace moe::kernels {
namespace {

// ------------------------------------------------------------------------------------------
// Paged attention: the flash-style kernel of avx512.cc with 8-wide vectors: key tiles of 16
// (two ymm of scores), 4 query vectors per micro tile.

constexpr int kKeyTile = 16;
constexpr int kQTile = 4;
constexpr int64_t kQBlock = 64;

void AttentionBlock(const PagedKv& kv, const int32_t* block_table, int64_t start, const float* q,
                    int64_t num_q_heads, float scale, float* out, int64_t kh, int64_t t0,
                    int64_t t1, float* scratch) {
  const int64_t d = kv.head_dim;
  const int64_t group = num_q_heads / kv.num_kv_heads;
  const int64_t nv = (t1 - t0) * group;  // query vectors in this block
  const int64_t nvp = RoundUp(nv, kQTile);
  float* Q = scratch;                                       // [nvp, d], pre-scaled
  float* O = Q + nvp * d;                                   // [nvp, d] unnormalised output
  float* KT = O + nvp * d;                                  // [d, 16] keys of the tile, transposed
  float* Pm = KT + d * kKeyTile;                            // [nvp, 16] probabilities of the tile
  float* mx = Pm + nvp * kKeyTile;                          // [nvp] running max
  float* l = mx + nvp;                                      // [nvp] running sum
  float* alpha = l + nvp;                                   // [nvp] rescale for this tile
  int64_t* vpos = reinterpret_cast<int64_t*>(alpha + nvp);  // [nvp] position (-1: padding)

  const __m256 sc = _mm256_set1_ps(scale);
  for (int64_t v = 0; v < nvp; ++v) {
    const int64_t i = t0 + v / group;
    const int64_t h = kh * group + v % group;
    for (int64_t c = 0; c < d; c += 8) {
      const __m256 qv = v < nv
                            ? _mm256_mul_ps(_mm256_loadu_ps(q + (i * num_q_heads + h) * d + c), sc)
                            : _mm256_setzero_ps();
      _mm256_store_ps(Q + v * d + c, qv);
      _mm256_store_ps(O + v * d + c, _mm256_setzero_ps());
    }
    mx[v] = -INFINITY;
    l[v] = 0.0f;
    vpos[v] = v < nv ? start + i : -1;
  }

  const int64_t width = kv.num_kv_heads * d;
  const int64_t last = start + t1 - 1;  // last key any vector here attends to
  const float* krow[kKeyTile];          // [head_dim] each
  const float* vrow[kKeyTile];
  const __m256 lane_lo = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256 lane_hi = _mm256_setr_ps(8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t p0 = 0; p0 <= last; p0 += kKeyTile) {
    const int64_t nk = Min(kKeyTile, last + 1 - p0);
    int64_t blk = p0 / kv.block_size, slot = p0 % kv.block_size;
    for (int64_t j = 0; j < nk; ++j) {
      const int64_t off = (block_table[blk] * kv.block_size + slot) * width + kh * d;
      krow[j] = static_cast<const float*>(kv.k) + off;
      vrow[j] = static_cast<const float*>(kv.v) + off;
      if (++slot == kv.block_size) {
        slot = 0;
        ++blk;
      }
    }
    // KT[c][j] = K[p0 + j][c], zero for j >= nk.
    for (int64_t c = 0; c < d; c += 8) {
      for (int half = 0; half < 2; ++half) {
        __m256 b8[8];
        for (int j = 0; j < 8; ++j) {
          const int64_t key = 8 * half + j;
          b8[j] = key < nk ? _mm256_loadu_ps(krow[key] + c) : _mm256_setzero_ps();
        }
        Transpose8(b8);
        for (int j = 0; j < 8; ++j) _mm256_store_ps(KT + (c + j) * kKeyTile + 8 * half, b8[j]);
      }
    }
    int64_t vt0 = 0;
    while (vt0 + kQTile <= nv && vpos[vt0 + kQTile - 1] < p0) vt0 += kQTile;
    for (int64_t vt = vt0; vt < nv; vt += kQTile) {
      __m256 s0[kQTile], s1[kQTile];
#pragma GCC unroll 8
      for (int u = 0; u < kQTile; ++u) {
        s0[u] = _mm256_setzero_ps();
        s1[u] = _mm256_setzero_ps();
      }
      const float* Qt = Q + vt * d;
      for (int64_t c = 0; c < d; ++c) {
        const __m256 k0 = _mm256_load_ps(KT + c * kKeyTile);
        const __m256 k1 = _mm256_load_ps(KT + c * kKeyTile + 8);
#pragma GCC unroll 8
        for (int u = 0; u < kQTile; ++u) {
          const __m256 b = _mm256_broadcast_ss(Qt + u * d + c);
          s0[u] = _mm256_fmadd_ps(b, k0, s0[u]);
          s1[u] = _mm256_fmadd_ps(b, k1, s1[u]);
        }
      }
      for (int u = 0; u < kQTile; ++u) {
        const int64_t v = vt + u;
        const int64_t visible = Min(vpos[v] - p0 + 1, nk);  // keys j < visible are allowed
        if (visible <= 0) {
          alpha[v] = 1.0f;
          _mm256_store_ps(Pm + v * kKeyTile, _mm256_setzero_ps());
          _mm256_store_ps(Pm + v * kKeyTile + 8, _mm256_setzero_ps());
          continue;
        }
        const __m256 vis = _mm256_set1_ps(static_cast<float>(visible));
        const __m256 m0 = _mm256_cmp_ps(lane_lo, vis, _CMP_LT_OQ);
        const __m256 m1 = _mm256_cmp_ps(lane_hi, vis, _CMP_LT_OQ);
        const __m256 ninf = _mm256_set1_ps(-INFINITY);
        const float tile_max = HMax(
            _mm256_max_ps(_mm256_blendv_ps(ninf, s0[u], m0), _mm256_blendv_ps(ninf, s1[u], m1)));
        const float m_new = tile_max > mx[v] ? tile_max : mx[v];
        const __m256 mn = _mm256_set1_ps(m_new);
        const __m256 e0 = _mm256_and_ps(m0, Exp(_mm256_sub_ps(s0[u], mn)));
        const __m256 e1 = _mm256_and_ps(m1, Exp(_mm256_sub_ps(s1[u], mn)));
        const float a = mx[v] == -INFINITY ? 0.0f : std::exp(mx[v] - m_new);
        alpha[v] = a;
        l[v] = l[v] * a + HSum(_mm256_add_ps(e0, e1));
        mx[v] = m_new;
        _mm256_store_ps(Pm + v * kKeyTile, e0);
        _mm256_store_ps(Pm + v * kKeyTile + 8, e1);
      }
      for (int64_t c = 0; c < d; c += 16) {
        __m256 o0[kQTile], o1[kQTile];
#pragma GCC unroll 8
        for (int u = 0; u < kQTile; ++u) {
          const __m256 a = _mm256_set1_ps(alpha[vt + u]);
          o0[u] = _mm256_mul_ps(_mm256_load_ps(O + (vt + u) * d + c), a);
          o1[u] = _mm256_mul_ps(_mm256_load_ps(O + (vt + u) * d + c + 8), a);
        }
        for (int64_t j = 0; j < nk; ++j) {
          const __m256 v0 = _mm256_loadu_ps(vrow[j] + c);
          const __m256 v1 = _mm256_loadu_ps(vrow[j] + c + 8);
#pragma GCC unroll 8
          for (int u = 0; u < kQTile; ++u) {
            const __m256 b = _mm256_broadcast_ss(Pm + (vt + u) * kKeyTile + j);
            o0[u] = _mm256_fmadd_ps(b, v0, o0[u]);
            o1[u] = _mm256_fmadd_ps(b, v1, o1[u]);
          }
        }
#pragma GCC unroll 8
        for (int u = 0; u < kQTile; ++u) {
          _mm256_store_ps(O + (vt + u) * d + c, o0[u]);
          _mm256_store_ps(O + (vt + u) * d + c + 8, o1[u]);
        }
      }
    }
  }
  for (int64_t v = 0; v < nv; ++v) {
    const int64_t i = t0 + v / group;
    const int64_t h = kh * group + v % group;
    const __m256 inv = _mm256_set1_ps(1.0f / l[v]);
    for (int64_t c = 0; c < d; c += 8) {
      _mm256_storeu_ps(out + (i * num_q_heads + h) * d + c,
                       _mm256_mul_ps(_mm256_load_ps(O + v * d + c), inv));
    }
  }
}

}  // namespace

void avx2::PagedAttentionPart(const PagedKv& kv, const int32_t* block_table, int64_t start,
                              int64_t n, const float* q, int64_t num_q_heads, float scale,
                              float* out, int64_t i0, int64_t i1, int64_t h0, int64_t h1) {
  const int64_t d = kv.head_dim;
  if (d % 16 != 0 || d == 0 ||
      kv.dtype != DType::kF32) {  // bf16 KV: reference (AVX2 never holds one in practice)
    reference::PagedAttentionPart(kv, block_table, start, n, q, num_q_heads, scale, out, i0, i1, h0,
                                  h1);
    return;
  }
  const int64_t group = num_q_heads / kv.num_kv_heads;
  const int64_t tokens = group >= kQBlock ? 1 : kQBlock / group;  // tokens per block
  const int64_t nvp = RoundUp(tokens * group, kQTile);
  static thread_local Scratch scratch;
  float* buf = scratch.Get(2 * nvp * d + d * kKeyTile + nvp * kKeyTile + 5 * nvp + 16);
  for (int64_t kh = h0; kh < h1; ++kh) {
    for (int64_t t0 = i0; t0 < i1; t0 += tokens) {
      AttentionBlock(kv, block_table, start, q, num_q_heads, scale, out, kh, t0,
                     Min(i1, t0 + tokens), buf);
    }
  }
}

}  // namespace moe::kernels
