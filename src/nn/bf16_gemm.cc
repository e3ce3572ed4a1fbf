#include "nn/bf16_gemm.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "nn/avx512bf16.h"
#include "nn/bf16_kernels.h"

namespace freshet::nn::bf16 {
namespace {

// Register tile of Gemm and GemmTransA: up to kTileRows rows (broadcast
// operands) by up to kTileVecs vectors of 16 columns: 24 accumulators and 4
// loaded vectors of the 32 zmm registers.
constexpr int kTileRows = 6;
constexpr int kTileVecs = 4;
// [0, total) cut into the fewest tiles of at most `most` (rows or vectors), as
// even as possible, the larger first. A tile of 1 vector or 2 rows at a ragged
// edge (200 columns are 4 + 4 + 4 + 1 vectors) has 6 or 8 accumulators, too few
// independent sums to hide vdpbf16ps's latency: 4 + 3 + 3 + 3 runs the same
// instructions with every tile at 18 or more.
struct EvenTiles {
  int count, base, extra;
  EvenTiles(int total, int most)
      : count((total + most - 1) / most),
        base(count > 0 ? total / count : 0),
        extra(count > 0 ? total % count : 0) {}
  int begin(int i) const { return i * base + std::min(i, extra); }
  int size(int i) const { return base + (i < extra ? 1 : 0); }
};
// Gemm walks the shared dimension in blocks of this many pairs, so that the
// block of packed b it rereads for every tile of rows (kBlockPairs x 64 columns
// x 4 bytes = 32 KB) stays in L1.
constexpr int kBlockPairs = 128;

// cvtne2ps puts its second argument's values in the low half and its first's in
// the high half; this permutation interleaves them: element 2i from the low
// half, 2i + 1 from the high.
alignas(64) constexpr uint16_t kInterleave[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                                  21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                                  11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

FRESHET_AVX512BF16 inline __m512bh Broadcast32(const uint16_t *p) {
  int32_t word;
  std::memcpy(&word, p, sizeof word);
  return reinterpret_cast<__m512bh>(_mm512_set1_epi32(word));
}

FRESHET_AVX512BF16 inline __m512bh Load(const uint16_t *p) {
  return reinterpret_cast<__m512bh>(_mm512_loadu_si512(p));
}

// The lanes of the 16 columns from c that lie below n.
inline __mmask16 LaneMask(int c, int n) {
  return c + 16 <= n ? __mmask16(0xffff) : c < n ? __mmask16((1u << (n - c)) - 1) : __mmask16(0);
}

// Rows [0, R) and columns [c0, c0 + 16 NC) of c, from the shared pairs [q0,
// q1). `first`: the accumulators start at zero (or at c when the epilogue
// accumulates); otherwise at c, a partial sum of earlier blocks. `last`: the
// epilogue's bias and ReLU apply.
template <int R, int NC>
FRESHET_AVX512BF16 void GemmTile(const uint16_t *a, int64_t lda, const uint16_t *b, int ldb, int q0,
                                 int q1, int c0, int n, const Epilogue &e, bool first, bool last,
                                 float *c, int64_t ldc) {
  __mmask16 mask[NC];
#pragma GCC unroll 4
  for (int v = 0; v < NC; ++v) mask[v] = LaneMask(c0 + 16 * v, n);
  __m512 acc[R][NC];
  const bool load = !first || e.accumulate;
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) {
      acc[r][v] =
          load ? _mm512_maskz_loadu_ps(mask[v], c + r * ldc + c0 + 16 * v) : _mm512_setzero_ps();
    }
  }
  for (int q = q0; q < q1; ++q) {
    const uint16_t *bq = b + (static_cast<int64_t>(q) * ldb + c0) * 2;
    __m512bh x[NC];
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) x[v] = Load(bq + 32 * v);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m512bh s = Broadcast32(a + r * lda + 2 * q);
#pragma GCC unroll 4
      for (int v = 0; v < NC; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], s, x[v]);
    }
  }
  if (last && e.bias != nullptr) {
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) {
      const __m512 bias = _mm512_maskz_loadu_ps(mask[v], e.bias + c0 + 16 * v);
#pragma GCC unroll 6
      for (int r = 0; r < R; ++r) acc[r][v] = _mm512_add_ps(acc[r][v], bias);
    }
  }
  if (last && e.relu) {
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < NC; ++v) acc[r][v] = _mm512_max_ps(acc[r][v], _mm512_setzero_ps());
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) {
      _mm512_mask_storeu_ps(c + r * ldc + c0 + 16 * v, mask[v], acc[r][v]);
    }
  }
}

// c[j0 + jj][i0 + 16 v + lane] += sum_p a_pairs[p][j0 + jj] . b_pairs[p][...]
// over all pairs p.
template <int R, int NC>
FRESHET_AVX512BF16 void TransATile(const uint16_t *a, int lda, int pairs, const uint16_t *b,
                                   int ldb, int j0, int i0, int n, float *c, int64_t ldc,
                                   bool accumulate) {
  __mmask16 mask[NC];
#pragma GCC unroll 4
  for (int v = 0; v < NC; ++v) mask[v] = LaneMask(i0 + 16 * v, n);
  __m512 acc[R][NC];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (int p = 0; p < pairs; ++p) {
    const uint16_t *bp = b + (static_cast<int64_t>(p) * ldb + i0) * 2;
    const uint16_t *ap = a + (static_cast<int64_t>(p) * lda + j0) * 2;
    __m512bh x[NC];
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) x[v] = Load(bp + 32 * v);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m512bh s = Broadcast32(ap + 2 * r);
#pragma GCC unroll 4
      for (int v = 0; v < NC; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], s, x[v]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float *row = c + static_cast<int64_t>(j0 + r) * ldc + i0;
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) {
      const __m512 sum =
          accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], row + 16 * v), acc[r][v])
                     : acc[r][v];
      _mm512_mask_storeu_ps(row + 16 * v, mask[v], sum);
    }
  }
}

using GemmTileFn = void (*)(const uint16_t *, int64_t, const uint16_t *, int, int, int, int, int,
                            const Epilogue &, bool, bool, float *, int64_t);
using TransATileFn = void (*)(const uint16_t *, int, int, const uint16_t *, int, int, int, int,
                              float *, int64_t, bool);

// The tile of every (rows, vectors) shape, so that ragged edges run the same
// code.
template <int R>
struct TileTable {
  static constexpr GemmTileFn kGemm[kTileVecs] = {GemmTile<R, 1>, GemmTile<R, 2>, GemmTile<R, 3>,
                                                  GemmTile<R, 4>};
  static constexpr TransATileFn kTransA[kTileVecs] = {TransATile<R, 1>, TransATile<R, 2>,
                                                      TransATile<R, 3>, TransATile<R, 4>};
};

GemmTileFn GemmTileOf(int rows, int vecs) {
  switch (rows) {
    case 1:
      return TileTable<1>::kGemm[vecs - 1];
    case 2:
      return TileTable<2>::kGemm[vecs - 1];
    case 3:
      return TileTable<3>::kGemm[vecs - 1];
    case 4:
      return TileTable<4>::kGemm[vecs - 1];
    case 5:
      return TileTable<5>::kGemm[vecs - 1];
    default:
      return TileTable<6>::kGemm[vecs - 1];
  }
}

TransATileFn TransATileOf(int rows, int vecs) {
  switch (rows) {
    case 1:
      return TileTable<1>::kTransA[vecs - 1];
    case 2:
      return TileTable<2>::kTransA[vecs - 1];
    case 3:
      return TileTable<3>::kTransA[vecs - 1];
    case 4:
      return TileTable<4>::kTransA[vecs - 1];
    case 5:
      return TileTable<5>::kTransA[vecs - 1];
    default:
      return TileTable<6>::kTransA[vecs - 1];
  }
}

}  // namespace

FRESHET_AVX512BF16 void PackRowsPadded(const float *a, int64_t lda, int rows, int cols, int ld,
                                       uint16_t *out) {
  assert(ld % 2 == 0 && ld >= cols);
  for (int r = 0; r < rows; ++r) {
    const float *src = a + r * lda;
    uint16_t *dst = out + static_cast<int64_t>(r) * ld;
    for (int c = 0; c < ld; c += 16) {
      const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(LaneMask(c, cols), src + c));
      _mm256_mask_storeu_epi16(dst + c, LaneMask(c, ld), reinterpret_cast<__m256i>(h));
    }
  }
}

FRESHET_AVX512BF16 void PackPairs(const float *a, int64_t lda, int rows, int cols, int ld,
                                  uint16_t *out) {
  assert(ld % 16 == 0 && ld >= cols);
  const __m512i interleave = _mm512_load_si512(kInterleave);
  for (int r = 0; r < rows; r += 2) {
    const float *even = a + r * lda;
    const float *odd = even + lda;
    const bool has_odd = r + 1 < rows;
    uint16_t *dst = out + static_cast<int64_t>(r / 2) * ld * 2;
    for (int c = 0; c < ld; c += 16) {
      const __mmask16 m = LaneMask(c, cols);
      const __m512 e = _mm512_maskz_loadu_ps(m, even + c);
      const __m512 o = has_odd ? _mm512_maskz_loadu_ps(m, odd + c) : _mm512_setzero_ps();
      const __m512bh both = _mm512_cvtne2ps_pbh(o, e);
      _mm512_storeu_si512(dst + 2 * c,
                          _mm512_permutexvar_epi16(interleave, reinterpret_cast<__m512i>(both)));
    }
  }
}

FRESHET_AVX512BF16 void PackPairsTransposed(const float *a, int64_t lda, int rows, int cols, int ld,
                                            uint16_t *out) {
  assert(cols % 2 == 0 && ld % 16 == 0 && ld >= rows);
  // Word (q, r) is the float pair a[r][2q .. 2q + 1], 8 bytes: gather 8 rows'
  // pairs at a time (row offsets in units of 8 bytes need an even stride;
  // otherwise go element by element).
  if (lda % 2 == 0) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i step = _mm256_set1_epi32(static_cast<int>(lda / 2));
    for (int r0 = 0; r0 < ld; r0 += 16) {
      const __m256i idx0 = _mm256_mullo_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(r0)), step);
      const __m256i idx1 =
          _mm256_mullo_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(r0 + 8)), step);
      const __mmask8 m0 = r0 + 8 <= rows ? 0xff : r0 < rows ? (1u << (rows - r0)) - 1 : 0;
      const __mmask8 m1 = r0 + 16 <= rows ? 0xff : r0 + 8 < rows ? (1u << (rows - r0 - 8)) - 1 : 0;
      for (int q = 0; q < cols / 2; ++q) {
        const double *base = reinterpret_cast<const double *>(a + 2 * q);
        const __m512d g0 = _mm512_mask_i32gather_pd(_mm512_setzero_pd(), m0, idx0, base, 8);
        const __m512d g1 = _mm512_mask_i32gather_pd(_mm512_setzero_pd(), m1, idx1, base, 8);
        const __m512bh both = _mm512_cvtne2ps_pbh(_mm512_castpd_ps(g1), _mm512_castpd_ps(g0));
        _mm512_storeu_si512(out + (static_cast<int64_t>(q) * ld + r0) * 2,
                            reinterpret_cast<__m512i>(both));
      }
    }
    return;
  }
  for (int q = 0; q < cols / 2; ++q) {
    for (int r = 0; r < ld; ++r) {
      uint16_t *dst = out + (static_cast<int64_t>(q) * ld + r) * 2;
      dst[0] = r < rows ? FromFloat(a[r * lda + 2 * q]) : 0;
      dst[1] = r < rows ? FromFloat(a[r * lda + 2 * q + 1]) : 0;
    }
  }
}

FRESHET_AVX512BF16 void PackPairsTransposedRows(const float *a, int64_t lda, int row_begin,
                                                int row_end, int cols, int ld, uint16_t *out) {
  assert(cols % 2 == 0 && ld % 16 == 0 && 0 <= row_begin && row_begin <= row_end && row_end <= ld);
  // As PackPairsTransposed, 16 rows at a time, the last block's lanes masked off.
  if (lda % 2 == 0) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i step = _mm256_set1_epi32(static_cast<int>(lda / 2));
    for (int r0 = row_begin; r0 < row_end; r0 += 16) {
      const int n = std::min(16, row_end - r0);
      const __m256i idx0 = _mm256_mullo_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(r0)), step);
      const __m256i idx1 =
          _mm256_mullo_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(r0 + 8)), step);
      const __mmask8 m0 = n >= 8 ? 0xff : static_cast<__mmask8>((1u << n) - 1);
      const __mmask8 m1 = n >= 16 ? 0xff : n > 8 ? static_cast<__mmask8>((1u << (n - 8)) - 1) : 0;
      const __mmask16 words = n >= 16 ? 0xffff : static_cast<__mmask16>((1u << n) - 1);
      for (int q = 0; q < cols / 2; ++q) {
        const double *base = reinterpret_cast<const double *>(a + 2 * q);
        const __m512d g0 = _mm512_mask_i32gather_pd(_mm512_setzero_pd(), m0, idx0, base, 8);
        const __m512d g1 = _mm512_mask_i32gather_pd(_mm512_setzero_pd(), m1, idx1, base, 8);
        const __m512bh both = _mm512_cvtne2ps_pbh(_mm512_castpd_ps(g1), _mm512_castpd_ps(g0));
        _mm512_mask_storeu_epi32(out + (static_cast<int64_t>(q) * ld + r0) * 2, words,
                                 reinterpret_cast<__m512i>(both));
      }
    }
    return;
  }
  for (int q = 0; q < cols / 2; ++q) {
    for (int r = row_begin; r < row_end; ++r) {
      uint16_t *dst = out + (static_cast<int64_t>(q) * ld + r) * 2;
      dst[0] = FromFloat(a[r * lda + 2 * q]);
      dst[1] = FromFloat(a[r * lda + 2 * q + 1]);
    }
  }
}

FRESHET_AVX512BF16 void Gemm(const uint16_t *a, int64_t lda, int m, int k, const uint16_t *b_pairs,
                             int ldb, int n, const Epilogue &epilogue, float *c, int64_t ldc) {
  assert(k % 2 == 0 && ldb % 16 == 0 && ldb >= n && lda >= k);
  const int pairs = k / 2;
  const int vecs = (n + 15) / 16;
  if (pairs == 0) {
    // No shared dimension: the result is the epilogue of zero.
    for (int r = 0; r < m; ++r) {
      for (int j = 0; j < n; ++j) {
        float v = epilogue.accumulate ? c[r * ldc + j] : 0.0f;
        if (epilogue.bias != nullptr) v += epilogue.bias[j];
        if (epilogue.relu) v = std::max(v, 0.0f);
        c[r * ldc + j] = v;
      }
    }
    return;
  }
  for (int q0 = 0; q0 < pairs; q0 += kBlockPairs) {
    const int q1 = std::min(pairs, q0 + kBlockPairs);
    const bool first = q0 == 0;
    const bool last = q1 == pairs;
    const EvenTiles vt(vecs, kTileVecs), rt(m, kTileRows);
    for (int vi = 0; vi < vt.count; ++vi) {
      const int v0 = vt.begin(vi), nv = vt.size(vi);
      for (int ri = 0; ri < rt.count; ++ri) {
        const int r0 = rt.begin(ri), nr = rt.size(ri);
        GemmTileOf(nr, nv)(a + r0 * lda, lda, b_pairs, ldb, q0, q1, 16 * v0, n, epilogue, first,
                           last, c + r0 * ldc, ldc);
      }
    }
  }
}

FRESHET_AVX512BF16 void GemmTransA(const uint16_t *a_pairs, int lda, int m, int k,
                                   const uint16_t *b_pairs, int ldb, int n, float *c, int64_t ldc,
                                   bool accumulate) {
  assert(lda >= k && ldb % 16 == 0 && ldb >= n);
  const int pairs = (m + 1) / 2;
  const int vecs = (n + 15) / 16;
  const EvenTiles vt(vecs, kTileVecs), jt(k, kTileRows);
  for (int vi = 0; vi < vt.count; ++vi) {
    const int v0 = vt.begin(vi), nv = vt.size(vi);
    for (int ji = 0; ji < jt.count; ++ji) {
      const int j0 = jt.begin(ji), nr = jt.size(ji);
      TransATileOf(nr, nv)(a_pairs, lda, pairs, b_pairs, ldb, j0, 16 * v0, n, c, ldc,
                           accumulate);
    }
  }
}

}  // namespace freshet::nn::bf16
