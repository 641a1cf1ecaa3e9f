// AVX-512 PagedAttention (compiled with the AVX-512 flags; runs only when the CPU has them):
// prefill chunks here, one or two query tokens in avx512_attention_decode.cc. The cache is fp32
// or bf16 (rows widened exactly to fp32 on load; the queries rounded to bf16 for the scores).
#include "kernels/cpu/avx512_attention.h"

#include <cmath>

#include "kernels/cpu/reference.h"
#include "kernels/cpu/simd_scratch.h"

namespace moe::kernels {
namespace {

// ------------------------------------------------------------------------------------------
// Paged attention: flash-style over tiles of 32 keys. For one kv head, the query vectors of
// its group for a run of tokens (ordered token-major) share each key tile: the tile's keys are
// transposed once to [head_dim, 32]; then 8 query vectors at a time get their 32 scores by
// broadcast-FMA (no horizontal sums; each broadcast feeds two FMAs), an online-softmax update,
// and P.V into fp32 state (two 16-dim chunks at a time, again two FMAs per broadcast).

constexpr int kKeyTile = 32;
constexpr int kQTile = 8;        // query vectors per micro tile
constexpr int64_t kQBlock = 64;  // query vectors sharing one pass over the keys
// Calls with at most this many query tokens go to the decode kernel.
constexpr int64_t kDecodeMaxTokens = 2;

// The state of one AttentionBlock: Q, O: [nvp, d]; KT: [d, 32]; Pm: [nvp, 32]; mx, l,
// alpha, vpos: [nvp] (see AttentionBlock).
struct BlockState {
  int64_t d;
  const float* Q;
  float* O;
  const float* KT;
  float* Pm;
  float* mx;
  float* l;
  float* alpha;
  const int64_t* vpos;
};

// Query vectors [vt, vt + QT) against the key tile at p0 (nk keys, transposed in KT; values
// at vrow): scores, online softmax, P.V. Each vector's arithmetic is the same whatever QT is
// (QT only sets how many share the loads), so results do not depend on it.
template <class Kv, int QT>
void MicroTile(const BlockState& st, int64_t vt, int64_t p0, int64_t nk,
               const typename Kv::T* const* vrow) {
  const int64_t d = st.d;
  const float* Q = st.Q;
  float* O = st.O;
  const float* KT = st.KT;
  float* Pm = st.Pm;
  float* mx = st.mx;
  float* l = st.l;
  float* alpha = st.alpha;
  const int64_t* vpos = st.vpos;
  // Scores S[u][0:32] = Q[vt + u] . K[p0 + j].
  __m512 s0[QT], s1[QT];
  for (int u = 0; u < QT; ++u) {
    s0[u] = _mm512_setzero_ps();
    s1[u] = _mm512_setzero_ps();
  }
  const float* Qt = Q + vt * d;
  for (int64_t c = 0; c < d; ++c) {
    const __m512 k0 = _mm512_load_ps(KT + c * kKeyTile);
    const __m512 k1 = _mm512_load_ps(KT + c * kKeyTile + 16);
    for (int u = 0; u < QT; ++u) {
      const __m512 b = _mm512_set1_ps(Qt[u * d + c]);
      s0[u] = _mm512_fmadd_ps(b, k0, s0[u]);
      s1[u] = _mm512_fmadd_ps(b, k1, s1[u]);
    }
  }
  // Online softmax: causal mask, running max and sum, probabilities into Pm.
  for (int u = 0; u < QT; ++u) {
    const int64_t v = vt + u;
    const int64_t visible = Min(vpos[v] - p0 + 1, nk);  // keys j < visible are allowed
    if (visible <= 0) {
      alpha[v] = 1.0f;
      _mm512_store_ps(Pm + v * kKeyTile, _mm512_setzero_ps());
      _mm512_store_ps(Pm + v * kKeyTile + 16, _mm512_setzero_ps());
      continue;
    }
    const __mmask16 m0 = TailMask16(visible);
    const __mmask16 m1 = TailMask16(visible > 16 ? visible - 16 : 0);
    const __m512 smax = _mm512_max_ps(_mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), m0, s0[u]),
                                      _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), m1, s1[u]));
    const float tile_max = _mm512_reduce_max_ps(smax);
    const float m_new = tile_max > mx[v] ? tile_max : mx[v];
    const __m512 mn = _mm512_set1_ps(m_new);
    const __m512 e0 = _mm512_maskz_mov_ps(m0, Exp(_mm512_sub_ps(s0[u], mn)));
    const __m512 e1 = _mm512_maskz_mov_ps(m1, Exp(_mm512_sub_ps(s1[u], mn)));
    const float a = mx[v] == -INFINITY ? 0.0f : std::exp(mx[v] - m_new);
    alpha[v] = a;
    l[v] = l[v] * a + _mm512_reduce_add_ps(_mm512_add_ps(e0, e1));
    mx[v] = m_new;
    _mm512_store_ps(Pm + v * kKeyTile, e0);
    _mm512_store_ps(Pm + v * kKeyTile + 16, e1);
  }
  // O[v] = O[v] * alpha[v] + sum_j P[v][j] * V[p0 + j], 32 dims at a time.
  for (int64_t c = 0; c < d; c += 32) {
    __m512 o0[QT], o1[QT];
    for (int u = 0; u < QT; ++u) {
      const __m512 a = _mm512_set1_ps(alpha[vt + u]);
      o0[u] = _mm512_mul_ps(_mm512_load_ps(O + (vt + u) * d + c), a);
      o1[u] = _mm512_mul_ps(_mm512_load_ps(O + (vt + u) * d + c + 16), a);
    }
    for (int64_t j = 0; j < nk; ++j) {
      const __m512 v0 = Kv::Load16(vrow[j] + c, 0xffff);
      const __m512 v1 = Kv::Load16(vrow[j] + c + 16, 0xffff);
      for (int u = 0; u < QT; ++u) {
        const __m512 b = _mm512_set1_ps(Pm[(vt + u) * kKeyTile + j]);
        o0[u] = _mm512_fmadd_ps(b, v0, o0[u]);
        o1[u] = _mm512_fmadd_ps(b, v1, o1[u]);
      }
    }
    for (int u = 0; u < QT; ++u) {
      _mm512_store_ps(O + (vt + u) * d + c, o0[u]);
      _mm512_store_ps(O + (vt + u) * d + c + 16, o1[u]);
    }
  }
}

template <class Kv>
void AttentionBlock(const PagedKv& kv, const int32_t* block_table, int64_t start, const float* q,
                    int64_t num_q_heads, float scale, float* out, int64_t kh, int64_t t0,
                    int64_t t1, float* scratch) {
  using T = typename Kv::T;
  const int64_t d = kv.head_dim;
  const int64_t group = num_q_heads / kv.num_kv_heads;
  const int64_t nv = (t1 - t0) * group;  // query vectors in this block
  const int64_t nvp = RoundUp(nv, kQTile);
  float* Q = scratch;                                       // [nvp, d], pre-scaled
  float* O = Q + nvp * d;                                   // [nvp, d] unnormalised output
  float* KT = O + nvp * d;                                  // [d, 32] keys of the tile, transposed
  float* Pm = KT + d * kKeyTile;                            // [nvp, 32] probabilities of the tile
  float* mx = Pm + nvp * kKeyTile;                          // [nvp] running max
  float* l = mx + nvp;                                      // [nvp] running sum
  float* alpha = l + nvp;                                   // [nvp] rescale for this tile
  int64_t* vpos = reinterpret_cast<int64_t*>(alpha + nvp);  // [nvp] position (-1: padding)

  const BlockState st{d, Q, O, KT, Pm, mx, l, alpha, vpos};
  const __m512 sc = _mm512_set1_ps(scale);
  for (int64_t v = 0; v < nvp; ++v) {
    const int64_t i = t0 + v / group;
    const int64_t h = kh * group + v % group;
    for (int64_t c = 0; c < d; c += 16) {
      const __m512 qv =
          v < nv ? _mm512_mul_ps(Kv::Query(_mm512_loadu_ps(q + (i * num_q_heads + h) * d + c)), sc)
                 : _mm512_setzero_ps();
      _mm512_store_ps(Q + v * d + c, qv);
      _mm512_store_ps(O + v * d + c, _mm512_setzero_ps());
    }
    mx[v] = -INFINITY;
    l[v] = 0.0f;
    vpos[v] = v < nv ? start + i : -1;
  }

  const int64_t width = kv.num_kv_heads * d;
  const int64_t last = start + t1 - 1;  // last key any vector here attends to
  // Offsets of the keys of a tile: [kKeyTile] each; computed one tile ahead so that the next
  // tile's rows can be prefetched while this one is processed (the cache is read once per
  // pass and would otherwise stall on every row).
  int64_t offs[2][kKeyTile];
  auto tile_offsets = [&](int64_t p0, int64_t* o) {
    const int64_t nk = Min(kKeyTile, last + 1 - p0);
    int64_t blk = p0 / kv.block_size, slot = p0 % kv.block_size;
    for (int64_t j = 0; j < nk; ++j) {
      o[j] = (block_table[blk] * kv.block_size + slot) * width + kh * d;
      if (++slot == kv.block_size) {
        slot = 0;
        ++blk;
      }
    }
  };
  tile_offsets(0, offs[0]);
  const T* kbase = static_cast<const T*>(kv.k);
  const T* vbase = static_cast<const T*>(kv.v);
  const T* krow[kKeyTile];  // [head_dim] each
  const T* vrow[kKeyTile];
  for (int64_t p0 = 0, cur = 0; p0 <= last; p0 += kKeyTile, cur ^= 1) {
    const int64_t nk = Min(kKeyTile, last + 1 - p0);
    for (int64_t j = 0; j < nk; ++j) {
      krow[j] = kbase + offs[cur][j];
      vrow[j] = vbase + offs[cur][j];
    }
    if (p0 + kKeyTile <= last) {
      tile_offsets(p0 + kKeyTile, offs[cur ^ 1]);
      const int64_t nk_next = Min(kKeyTile, last + 1 - p0 - kKeyTile);
      for (int64_t j = 0; j < nk_next; ++j) {
        const char* kp = reinterpret_cast<const char*>(kbase + offs[cur ^ 1][j]);
        const char* vp = reinterpret_cast<const char*>(vbase + offs[cur ^ 1][j]);
        for (int64_t b = 0; b < d * static_cast<int64_t>(sizeof(T)); b += 64) {
          _mm_prefetch(kp + b, _MM_HINT_T0);
          _mm_prefetch(vp + b, _MM_HINT_T0);
        }
      }
    }
    // KT[c][j] = K[p0 + j][c], zero for j >= nk.
    for (int64_t c = 0; c < d; c += 16) {
      for (int half = 0; half < 2; ++half) {
        __m512 blk16[16];
        for (int j = 0; j < 16; ++j) {
          const int64_t key = 16 * half + j;
          blk16[j] = key < nk ? Kv::Load16(krow[key] + c, 0xffff) : _mm512_setzero_ps();
        }
        Transpose16(blk16);
        for (int j = 0; j < 16; ++j) _mm512_store_ps(KT + (c + j) * kKeyTile + 16 * half, blk16[j]);
      }
    }
    // Micro tiles as wide as the block needs (decode: one token's group of query vectors,
    // e.g. 2 for qwen3-0.6b, where 8 wide measured ~3x slower). First micro tile with a
    // vector that sees key p0 (vectors are in token order).
    const int qt = nv <= 2 ? 2 : nv <= 4 ? 4 : kQTile;
    int64_t vt0 = 0;
    while (vt0 + qt <= nv && vpos[vt0 + qt - 1] < p0) vt0 += qt;
    for (int64_t vt = vt0; vt < nv; vt += qt) {
      if (qt == 2) {
        MicroTile<Kv, 2>(st, vt, p0, nk, vrow);
      } else if (qt == 4) {
        MicroTile<Kv, 4>(st, vt, p0, nk, vrow);
      } else {
        MicroTile<Kv, kQTile>(st, vt, p0, nk, vrow);
      }
    }
  }
  for (int64_t v = 0; v < nv; ++v) {
    const int64_t i = t0 + v / group;
    const int64_t h = kh * group + v % group;
    const __m512 inv = _mm512_set1_ps(1.0f / l[v]);
    for (int64_t c = 0; c < d; c += 16) {
      _mm512_storeu_ps(out + (i * num_q_heads + h) * d + c,
                       _mm512_mul_ps(_mm512_load_ps(O + v * d + c), inv));
    }
  }
}

}  // namespace

void avx512::PagedAttentionPart(const PagedKv& kv, const int32_t* block_table, int64_t start,
                                int64_t n, const float* q, int64_t num_q_heads, float scale,
                                float* out, int64_t i0, int64_t i1, int64_t h0, int64_t h1) {
  const int64_t d = kv.head_dim;
  // Calls of one or two query tokens (decode): each token alone, no key transposes. Chosen by
  // the call's n, not the part's range, so that a token's result never depends on how a call
  // is split over threads.
  if (n <= kDecodeMaxTokens && d <= avx512::kDecodeMaxHeadDim) {
    avx512::DecodeAttention(kv, block_table, start, q, num_q_heads, scale, out, i0, i1, h0, h1);
    return;
  }
  if (d % 32 != 0 || d == 0) {
    reference::PagedAttentionPart(kv, block_table, start, n, q, num_q_heads, scale, out, i0, i1, h0,
                                  h1);
    return;
  }
  const int64_t group = num_q_heads / kv.num_kv_heads;
  const int64_t tokens = group >= kQBlock ? 1 : kQBlock / group;  // tokens per block
  const int64_t nvp = RoundUp(tokens * group, kQTile);
  static thread_local Scratch scratch;
  float* buf = scratch.Get(2 * nvp * d + d * kKeyTile + nvp * kKeyTile + 5 * nvp + 16);
  const bool bf16 = kv.dtype == DType::kBF16;
  for (int64_t kh = h0; kh < h1; ++kh) {
    for (int64_t t0 = i0; t0 < i1; t0 += tokens) {
      const int64_t t1 = Min(i1, t0 + tokens);
      if (bf16) {
        AttentionBlock<Bf16Kv>(kv, block_table, start, q, num_q_heads, scale, out, kh, t0, t1, buf);
      } else {
        AttentionBlock<F32Kv>(kv, block_table, start, q, num_q_heads, scale, out, kh, t0, t1, buf);
      }
    }
  }
}

}  // namespace moe::kernels
