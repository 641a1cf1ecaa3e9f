// AVX-512 decode attention: one query token against its sequence's cached keys, flash-style
// over tiles of 16 keys with an online softmax. Each key row of a kv head is read once for all
// the query heads of its group and never transposed:
//  - scores: dot products accumulated lane-wise (16 lanes of head_dim per FMA), for up to 16
//    (query, key) pairs at a time (one key row load feeds every query of a pass), then summed
//    horizontally all 16 together by a 4-level shuffle tree (30 shuffles per 16 pairs);
//  - P.V: each value row is loaded once per tile and broadcast-FMA'd into the fp32 outputs of
//    up to 4 query heads, 64 dims at a time.
// The cache is fp32 or bf16 (widened exactly on load); the arithmetic is fp32 throughout.
#include <cmath>
#include <vector>

#include "kernels/cpu/avx512_attention.h"
#include "kernels/cpu/reference.h"
#include "kernels/cpu/simd_scratch.h"

namespace moe::kernels {
namespace {

constexpr int kTile = 16;  // keys per tile
// Software prefetch (RowPrefetcher): at most this many tiles past the one being computed.
constexpr int64_t kPrefetchTiles = 2;
constexpr int kMaxChunks = static_cast<int>(avx512::kDecodeMaxHeadDim / 16);

// The accumulator of pair j (0..15) in Reduce16's input: Reduce16 returns in lane 4l + e the
// sum of input 4e + l.
constexpr int Slot(int j) { return 4 * (j % 4) + j / 4; }

// Horizontal sums of 16 vectors: lane 4l + e of the result = sum of the lanes of a[4e + l].
inline __m512 Reduce16(const __m512 a[16]) {
  __m512 t[8], u[4];
  for (int i = 0; i < 8; ++i) {  // t[i]: 128-bit lanes 0-1 from a[2i], 2-3 from a[2i + 1]
    t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xee));
  }
  for (int k = 0; k < 4; ++k) {  // u[k]: 128-bit lane l from a[4k + l]
    u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0x88),
                         _mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0xdd));
  }
  const __m512 w0 = _mm512_add_ps(_mm512_unpacklo_ps(u[0], u[1]), _mm512_unpackhi_ps(u[0], u[1]));
  const __m512 w1 = _mm512_add_ps(_mm512_unpacklo_ps(u[2], u[3]), _mm512_unpackhi_ps(u[2], u[3]));
  const __m512d a0 = _mm512_castps_pd(w0), a1 = _mm512_castps_pd(w1);
  return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a0, a1)),
                       _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a1)));
}

// Walks the rows a token's attention reads (K and V, positions 0 .. len-1, the bytes of heads
// [h0, h1)) line by line in order, issuing a few prefetches per call of Step() from the
// kernel's inner loops: misses stay in flight while the current tile computes. Bursts of
// prefetches at each tile (the previous scheme) overflow the core's miss buffers and most are
// dropped; a steady stream at ~1.5x the rate the tiles consume lines, never more than
// kPrefetchTiles tiles ahead, measured 1.6-1.8x faster from memory (bf16, qwen3-0.6b shapes
// at context 144 and 1024, and 32 over 4 heads at 4096; bench/results/serve-2026-11.md).
class RowPrefetcher {
 public:
  // rate256: lines of K (and as many of V) per Step(), in 1/256.
  RowPrefetcher(const char* k, const char* v, const int32_t* block_table, int64_t block_size,
                int64_t row_bytes, int64_t col0, int64_t span, int64_t len, int32_t rate256)
      : k_(k),
        v_(v),
        block_table_(block_table),
        block_size_(block_size),
        row_bytes_(row_bytes),
        col0_(col0),
        span_(span),
        len_(len),
        rate_(rate256) {
    if (len_ > 0) Row();
  }
  // Prefetch no further than position `limit` (exclusive).
  void Limit(int64_t limit) { limit_ = limit; }

  void Step() {
    credit_ += rate_;
    while (credit_ >= 256) {
      credit_ -= 256;
      if (pos_ >= limit_) {
        credit_ = 0;
        return;
      }
      _mm_prefetch(kp_ + b_, _MM_HINT_T0);
      _mm_prefetch(vp_ + b_, _MM_HINT_T0);
      b_ += 64;
      if (b_ >= span_) {
        b_ = 0;
        if (++pos_ < len_) Row();
      }
    }
  }

 private:
  // Out of line: the rare path, kept out of the inner loops' code (measured ~15% faster on
  // the 32-over-4-heads shape than inlined).
  __attribute__((noinline)) void Row() {
    const int64_t off =
        (block_table_[pos_ / block_size_] * block_size_ + pos_ % block_size_) * row_bytes_ + col0_;
    kp_ = k_ + off;
    vp_ = v_ + off;
  }

  const char* k_;
  const char* v_;
  const int32_t* block_table_;
  int64_t block_size_, row_bytes_, col0_, span_, len_;
  int32_t rate_, credit_ = 0;
  int64_t pos_ = 0, limit_ = 0, b_ = 0;  // next line: byte b_ of position pos_'s row
  const char* kp_ = nullptr;
  const char* vp_ = nullptr;
};

// Per-call state of one kv head's group of G query vectors; arrays padded for aligned access.
struct HeadState {
  int64_t d, dpad, nch;   // head_dim, head_dim rounded up to 64, 16-wide chunks of head_dim
  const __mmask16* mask;  // [nch] lanes of each chunk inside head_dim
  const float* Q;         // [G, dpad] the queries as the scores use them, zero padded
  float* O;               // [G, dpad] unnormalised outputs
  float* S;               // [G, 16] scores of the tile
  float* P;               // [G, 16] probabilities of the tile
  float* L;               // [G, 16] running sums, lane-wise
  float* mx;              // [G] running max
  float* alpha;           // [G] rescale of this tile
};

// Scores S[g0 + g][0:16] = Q[g0 + g] . K[j] for QG queries and the tile's 16 key rows (rows
// past the tile's end repeat a valid one; the softmax masks them). Passes of 16 / QG keys:
// each key chunk is loaded once for the QG queries.
template <class Kv, int QG>
void Scores(const HeadState& st, int64_t g0, const typename Kv::T* const* krow, RowPrefetcher& pf) {
  constexpr int KP = kTile / QG;  // keys per pass
  for (int r = 0; r < QG; ++r) {
    __m512 acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
    for (int64_t c = 0; c < st.nch; ++c) {
      pf.Step();
      __m512 qv[QG];
      for (int g = 0; g < QG; ++g) qv[g] = _mm512_load_ps(st.Q + (g0 + g) * st.dpad + 16 * c);
      for (int jj = 0; jj < KP; ++jj) {
        const __m512 kv = Kv::Load16(krow[r * KP + jj] + 16 * c, st.mask[c]);
        for (int g = 0; g < QG; ++g) {
          acc[Slot(g * KP + jj)] = _mm512_fmadd_ps(qv[g], kv, acc[Slot(g * KP + jj)]);
        }
      }
    }
    const __m512 sums = Reduce16(acc);  // lane g * KP + jj: query g0 + g, key r * KP + jj
    for (int g = 0; g < QG; ++g) {
      const __mmask16 lanes = static_cast<__mmask16>(((1u << KP) - 1) << (g * KP));
      _mm512_mask_storeu_ps(st.S + (g0 + g) * kTile + r * KP - g * KP, lanes, sums);
    }
  }
}

// O[g0 + g] = O[g0 + g] * alpha + sum_j P[g0 + g][j] V[j] for NG queries, 64 dims at a time.
template <class Kv, int NG>
void Values(const HeadState& st, int64_t g0, const typename Kv::T* const* vrow, int64_t nk,
            RowPrefetcher& pf) {
  for (int64_t c = 0; c < st.d; c += 64) {
    __mmask16 m[4];
    for (int u = 0; u < 4; ++u) m[u] = TailMask16(st.d - c - 16 * u > 0 ? st.d - c - 16 * u : 0);
    __m512 acc[NG][4];
    for (int g = 0; g < NG; ++g) {
      const __m512 a = _mm512_set1_ps(st.alpha[g0 + g]);
      for (int u = 0; u < 4; ++u) {
        acc[g][u] = _mm512_mul_ps(_mm512_load_ps(st.O + (g0 + g) * st.dpad + c + 16 * u), a);
      }
    }
    for (int64_t j = 0; j < nk; ++j) {
      pf.Step();
      __m512 v[4];
      for (int u = 0; u < 4; ++u) v[u] = Kv::Load16(vrow[j] + c + 16 * u, m[u]);
      for (int g = 0; g < NG; ++g) {
        const __m512 p = _mm512_set1_ps(st.P[(g0 + g) * kTile + j]);
        for (int u = 0; u < 4; ++u) acc[g][u] = _mm512_fmadd_ps(p, v[u], acc[g][u]);
      }
    }
    for (int g = 0; g < NG; ++g) {
      for (int u = 0; u < 4; ++u)
        _mm512_store_ps(st.O + (g0 + g) * st.dpad + c + 16 * u, acc[g][u]);
    }
  }
}

// The state of one kv head's G query vectors (q: [G, d], the token's) in `scratch`
// (HeadFloats floats, 64-byte aligned): queries loaded, outputs and sums zero.
inline int64_t HeadFloats(int64_t G, int64_t dpad) {
  return RoundUp(2 * G * dpad + 3 * G * kTile + 2 * G, 16);
}

template <class Kv>
HeadState InitHead(int64_t d, const __mmask16* mask, const float* q, int64_t G, float* scratch) {
  const int64_t dpad = RoundUp(d, 64);
  HeadState st{d,       dpad,    (d + 15) / 16, mask,    scratch, scratch + G * dpad,
               nullptr, nullptr, nullptr,       nullptr, nullptr};
  st.S = st.O + G * dpad;
  st.P = st.S + G * kTile;
  st.L = st.P + G * kTile;
  st.mx = st.L + G * kTile;
  st.alpha = st.mx + G;
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t c = 0; c < dpad; c += 16) {
      const __m512 x = _mm512_maskz_loadu_ps(TailMask16(d - c > 0 ? d - c : 0), q + g * d + c);
      _mm512_store_ps(scratch + g * dpad + c, Kv::Query(x));
      _mm512_store_ps(st.O + g * dpad + c, _mm512_setzero_ps());
    }
    _mm512_store_ps(st.L + g * kTile, _mm512_setzero_ps());
    st.mx[g] = -INFINITY;
  }
  return st;
}

// One tile of nk keys (rows krow, vrow; 16 entries, those past nk repeat a valid row) for the
// head's G queries: scores, online softmax, P.V.
template <class Kv>
void HeadTile(const HeadState& st, int64_t G, __m512 sc, const typename Kv::T* const* krow,
              const typename Kv::T* const* vrow, int64_t nk, RowPrefetcher& pf) {
  for (int64_t g0 = 0; g0 < G;) {
    const int64_t left = G - g0;
    if (left >= 8) {
      Scores<Kv, 8>(st, g0, krow, pf);
      g0 += 8;
    } else if (left >= 4) {
      Scores<Kv, 4>(st, g0, krow, pf);
      g0 += 4;
    } else if (left >= 2) {
      Scores<Kv, 2>(st, g0, krow, pf);
      g0 += 2;
    } else {
      Scores<Kv, 1>(st, g0, krow, pf);
      g0 += 1;
    }
  }
  const __mmask16 valid = TailMask16(nk);
  for (int64_t g = 0; g < G; ++g) {
    const __m512 s = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), valid,
                                        _mm512_mul_ps(_mm512_load_ps(st.S + g * kTile), sc));
    const float tile_max = _mm512_reduce_max_ps(s);
    const float m_new = tile_max > st.mx[g] ? tile_max : st.mx[g];
    const __m512 e = _mm512_maskz_mov_ps(valid, Exp(_mm512_sub_ps(s, _mm512_set1_ps(m_new))));
    const float a = st.mx[g] == -INFINITY ? 0.0f : std::exp(st.mx[g] - m_new);
    st.alpha[g] = a;
    st.mx[g] = m_new;
    _mm512_store_ps(st.L + g * kTile,
                    _mm512_fmadd_ps(_mm512_load_ps(st.L + g * kTile), _mm512_set1_ps(a), e));
    _mm512_store_ps(st.P + g * kTile, e);
  }
  for (int64_t g0 = 0; g0 < G;) {
    const int64_t left = G - g0;
    if (left >= 4) {
      Values<Kv, 4>(st, g0, vrow, nk, pf);
      g0 += 4;
    } else if (left >= 2) {
      Values<Kv, 2>(st, g0, vrow, nk, pf);
      g0 += 2;
    } else {
      Values<Kv, 1>(st, g0, vrow, nk, pf);
      g0 += 1;
    }
  }
}

// out: [G, d] = O / sum.
void FinishHead(const HeadState& st, int64_t G, float* out) {
  const int64_t d = st.d;
  for (int64_t g = 0; g < G; ++g) {
    const __m512 inv =
        _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(_mm512_load_ps(st.L + g * kTile)));
    for (int64_t c = 0; c < d; c += 16) {
      _mm512_mask_storeu_ps(out + g * d + c, TailMask16(d - c),
                            _mm512_mul_ps(_mm512_load_ps(st.O + g * st.dpad + c), inv));
    }
  }
}

// Token after token; for each, the tiles of 16 positions in order, and within a tile the kv
// heads [h0, h1) in order: the cache is read row by row (each position's heads lie together),
// which the hardware prefetchers follow; the next tile's rows are prefetched as well.
template <class Kv>
void Decode(const PagedKv& kv, const int32_t* block_table, int64_t start, const float* q,
            int64_t num_q_heads, float scale, float* out, int64_t i0, int64_t i1, int64_t h0,
            int64_t h1) {
  using T = typename Kv::T;
  const int64_t d = kv.head_dim, G = num_q_heads / kv.num_kv_heads, dpad = RoundUp(d, 64);
  const int64_t per_head = HeadFloats(G, dpad), heads = h1 - h0;
  static thread_local Scratch scratch;
  float* buf = scratch.Get(heads * per_head + 16);
  static thread_local std::vector<HeadState> states;
  states.resize(static_cast<size_t>(heads));
  __mmask16 mask[kMaxChunks];
  for (int64_t c = 0; c < (d + 15) / 16; ++c) mask[c] = TailMask16(d - 16 * c);
  const T* kbase = static_cast<const T*>(kv.k);
  const T* vbase = static_cast<const T*>(kv.v);
  const int64_t width = kv.num_kv_heads * d;
  const int64_t span = heads * d * static_cast<int64_t>(sizeof(T));  // bytes of a row we read
  auto row = [&](int64_t p) {                                        // offset of position p's row
    return (block_table[p / kv.block_size] * kv.block_size + p % kv.block_size) * width;
  };
  // Step() calls per full tile (HeadTile's loops), and the prefetch rate that fetches a tile's
  // lines in 2/3 of them.
  int64_t steps = 0;
  for (int64_t left = G; left > 0;) {  // Values' groups of 4, 2, 1 query heads
    left -= left >= 4 ? 4 : left >= 2 ? 2 : 1;
    steps += (d + 63) / 64 * kTile;
  }
  steps = heads * (steps + G * ((d + 15) / 16));  // + Scores: G passes over the chunks
  const auto rate256 = static_cast<int32_t>(3 * 256 * kTile * ((span + 63) / 64) / (2 * steps));
  const __m512 sc = _mm512_set1_ps(scale);
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t len = start + i + 1;
    for (int64_t h = 0; h < heads; ++h) {
      states[h] =
          InitHead<Kv>(d, mask, q + (i * num_q_heads + (h0 + h) * G) * d, G, buf + h * per_head);
    }
    RowPrefetcher pf(reinterpret_cast<const char*>(kbase), reinterpret_cast<const char*>(vbase),
                     block_table, kv.block_size, width * static_cast<int64_t>(sizeof(T)),
                     h0 * d * static_cast<int64_t>(sizeof(T)), span, len, rate256);
    int64_t off[kTile];
    for (int64_t p0 = 0; p0 < len; p0 += kTile) {
      const int64_t nk = Min(kTile, len - p0);
      for (int64_t j = 0; j < kTile; ++j) off[j] = row(p0 + (j < nk ? j : nk - 1)) + h0 * d;
      pf.Limit(Min(len, p0 + (kPrefetchTiles + 1) * kTile));
      const T* krow[kTile];
      const T* vrow[kTile];
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t j = 0; j < kTile; ++j) {
          krow[j] = kbase + off[j] + h * d;
          vrow[j] = vbase + off[j] + h * d;
        }
        HeadTile<Kv>(states[h], G, sc, krow, vrow, nk, pf);
      }
    }
    for (int64_t h = 0; h < heads; ++h) {
      FinishHead(states[h], G, out + (i * num_q_heads + (h0 + h) * G) * d);
    }
  }
}

}  // namespace

void avx512::DecodeAttention(const PagedKv& kv, const int32_t* block_table, int64_t start,
                             const float* q, int64_t num_q_heads, float scale, float* out,
                             int64_t i0, int64_t i1, int64_t h0, int64_t h1) {
  if (kv.head_dim <= 0 || kv.head_dim > kDecodeMaxHeadDim) {
    reference::PagedAttentionPart(kv, block_table, start, i1, q, num_q_heads, scale, out, i0, i1,
                                  h0, h1);
  } else if (kv.dtype == DType::kBF16) {
    Decode<Bf16Kv>(kv, block_table, start, q, num_q_heads, scale, out, i0, i1, h0, h1);
  } else {
    Decode<F32Kv>(kv, block_table, start, q, num_q_heads, scale, out, i0, i1, h0, h1);
  }
}

}  // namespace moe::kernels
