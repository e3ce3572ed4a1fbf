#include "nn/bf16_kernels.h"

#include <cassert>
#include <cstring>
#include <limits>

#include "nn/avx512bf16.h"

namespace freshet::nn::bf16 {
namespace {

// Columns of the hidden width one tile covers: 4 vectors of 16 floats, or 2 for a last 32.
constexpr int kWide = 4;
constexpr int kNarrow = 2;
// The hidden-gradient kernel walks the shared dimension in blocks of this many entries, so the
// block of packed rows it rereads for every 4 output rows (block x dim x 2 bytes: 64 KB at dim 64)
// stays in L2.
constexpr int kSharedBlock = 512;

FRESHET_AVX512BF16 inline __m512bh Broadcast32(const uint16_t* p) {
  int32_t word;
  std::memcpy(&word, p, sizeof word);
  return reinterpret_cast<__m512bh>(_mm512_set1_epi32(word));
}

FRESHET_AVX512BF16 inline __m512bh Load(const uint16_t* p) {
  return reinterpret_cast<__m512bh>(_mm512_loadu_si512(p));
}

// cvtne2ps puts its second argument's 16 values in the low half and its first's in the high
// half; this permutation interleaves them: element 2i from the low half, 2i + 1 from the high.
alignas(64) constexpr uint16_t kInterleave[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                                  21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                                  11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

// e^x for x <= 0, exactly 0 below -87 (and for -inf): x = n ln2 + r with |r| <= ln2 / 2 (ln2 in
// two parts, as Cephes does, so n ln2 is exact), e^r by its Taylor polynomial to degree 7
// (truncation error below 1e-8 relative), times 2^n by vscalefps.
FRESHET_AVX512BF16 inline __m512 Exp(__m512 x) {
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~underflow), _mm512_scalef_ps(p, n));
}

// acc[r][v] (4 rows, NC vectors of 16 columns) += u[r][j] n[j][c0 + 16 v + lane] over j in
// [j_begin, j_end), pairs of j per instruction.
template <int NC>
FRESHET_AVX512BF16 void RowsTimesPairsTile(const uint16_t* u, int k, const uint16_t* n_pairs,
                                           int dim, int c0, int j_begin, int j_end, float* out) {
  __m512 acc[4][NC];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) acc[r][v] = _mm512_loadu_ps(out + r * dim + c0 + 16 * v);
  }
  for (int q = j_begin / 2; q < j_end / 2; ++q) {
    __m512bh x[NC];
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v)
      x[v] = Load(n_pairs + (static_cast<int64_t>(q) * dim + c0 + 16 * v) * 2);
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m512bh a = Broadcast32(u + static_cast<int64_t>(r) * k + 2 * q);
#pragma GCC unroll 4
      for (int v = 0; v < NC; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], a, x[v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) _mm512_storeu_ps(out + r * dim + c0 + 16 * v, acc[r][v]);
  }
}

// out[j0 + jj][c0 + 16 v + lane] += sum_i u[i][j0 + jj] hs[i][...], 4 values of j, pairs of i
// per instruction.
template <int NC>
FRESHET_AVX512BF16 void PairsTransposedTile(const uint16_t* u_pairs, int m, int k,
                                            const uint16_t* hs_pairs, int dim, int j0, int c0,
                                            float* out) {
  __m512 acc[4][NC];
#pragma GCC unroll 4
  for (int jj = 0; jj < 4; ++jj) {
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) {
      acc[jj][v] = _mm512_loadu_ps(out + static_cast<int64_t>(j0 + jj) * dim + c0 + 16 * v);
    }
  }
  for (int p = 0; p < m / 2; ++p) {
    __m512bh x[NC];
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v)
      x[v] = Load(hs_pairs + (static_cast<int64_t>(p) * dim + c0 + 16 * v) * 2);
    const uint16_t* up = u_pairs + (static_cast<int64_t>(p) * k + j0) * 2;
#pragma GCC unroll 4
    for (int jj = 0; jj < 4; ++jj) {
      const __m512bh a = Broadcast32(up + 2 * jj);
#pragma GCC unroll 4
      for (int v = 0; v < NC; ++v) acc[jj][v] = _mm512_dpbf16_ps(acc[jj][v], a, x[v]);
    }
  }
#pragma GCC unroll 4
  for (int jj = 0; jj < 4; ++jj) {
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) {
      _mm512_storeu_ps(out + static_cast<int64_t>(j0 + jj) * dim + c0 + 16 * v, acc[jj][v]);
    }
  }
}

}  // namespace

bool Supported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bf16");
  }();
  return supported;
}

uint16_t FromFloat(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

FRESHET_AVX512BF16 void PackRows(const float* a, int64_t lda, int rows, int cols, uint16_t* out) {
  assert(cols % 16 == 0);
  for (int r = 0; r < rows; ++r) {
    const float* src = a + r * lda;
    uint16_t* dst = out + static_cast<int64_t>(r) * cols;
    for (int c = 0; c < cols; c += 16) {
      const __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + c));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + c), reinterpret_cast<__m256i>(b));
    }
  }
}

FRESHET_AVX512BF16 void PackRowPairs(const float* a, int64_t lda, int rows, int cols,
                                     uint16_t* out) {
  assert(rows % 2 == 0 && cols % 16 == 0);
  const __m512i index = _mm512_load_si512(kInterleave);
  for (int r = 0; r < rows; r += 2) {
    const float* even = a + r * lda;
    const float* odd = even + lda;
    uint16_t* dst = out + static_cast<int64_t>(r / 2) * cols * 2;
    for (int c = 0; c < cols; c += 16) {
      const __m512bh both =
          _mm512_cvtne2ps_pbh(_mm512_loadu_ps(odd + c), _mm512_loadu_ps(even + c));
      const __m512i pairs = _mm512_permutexvar_epi16(index, reinterpret_cast<__m512i>(both));
      _mm512_storeu_si512(dst + 2 * c, pairs);
    }
  }
}

void TransposeToColumnBlocks(const uint16_t* in, int rows, int cols, uint16_t* out) {
  assert(rows % 16 == 0 && cols % 2 == 0);
  const int pairs = cols / 2;
  for (int b = 0; b < rows / 16; ++b) {
    for (int i = 0; i < 16; ++i) {
      const uint16_t* src = in + static_cast<int64_t>(b * 16 + i) * cols;
      uint16_t* dst = out + static_cast<int64_t>(b) * pairs * 32 + 2 * i;
      for (int p = 0; p < pairs; ++p) {
        dst[p * 32] = src[2 * p];
        dst[p * 32 + 1] = src[2 * p + 1];
      }
    }
  }
}

FRESHET_AVX512BF16 void Logits(const uint16_t* h, int m, int dim, const uint16_t* n_blocks,
                               int n_rows, const float* bias, float* out, int64_t ldo,
                               float* row_max) {
  assert(m % 8 == 0 && n_rows % 32 == 0 && dim % 32 == 0);
  const int pairs = dim / 2;
  // Each row's running max is kept 16 lanes wide (row_max[16 r .. 16 r + 15]) and reduced at the
  // end: a reduction per tile would cost an eighth of the tile's multiply-adds.
  for (int r = 0; r < m; ++r) {
    _mm512_storeu_ps(row_max + 16 * r, _mm512_set1_ps(-std::numeric_limits<float>::infinity()));
  }
  for (int j0 = 0; j0 < n_rows; j0 += 32) {
    const __m512 bias0 = _mm512_loadu_ps(bias + j0);
    const __m512 bias1 = _mm512_loadu_ps(bias + j0 + 16);
    // Two blocks of 16 items: 32 logits per row, 4 KB of packed items at dim 64 that stay in L1
    // while every row passes.
    const uint16_t* b0 = n_blocks + static_cast<int64_t>(j0 / 16) * pairs * 32;
    const uint16_t* b1 = b0 + pairs * 32;
    for (int r0 = 0; r0 < m; r0 += 8) {
      __m512 acc[8][2];
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
      const uint16_t* hr = h + static_cast<int64_t>(r0) * dim;
      for (int p = 0; p < pairs; ++p) {
        const __m512bh x0 = Load(b0 + p * 32);
        const __m512bh x1 = Load(b1 + p * 32);
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r) {
          const __m512bh a = Broadcast32(hr + r * dim + 2 * p);
          acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, x0);
          acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, x1);
        }
      }
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        float* o = out + (r0 + r) * ldo + j0;
        const __m512 v0 = _mm512_add_ps(acc[r][0], bias0);
        const __m512 v1 = _mm512_add_ps(acc[r][1], bias1);
        _mm512_storeu_ps(o, v0);
        _mm512_storeu_ps(o + 16, v1);
        float* mx = row_max + 16 * (r0 + r);
        _mm512_storeu_ps(mx, _mm512_max_ps(_mm512_loadu_ps(mx), _mm512_max_ps(v0, v1)));
      }
    }
  }
  // In place: row r's lanes start at 16 r >= r, so row_max[r] overwrites lanes of a row already
  // reduced (or, for r = 0, its own lanes after they were read).
  for (int r = 0; r < m; ++r) row_max[r] = _mm512_reduce_max_ps(_mm512_loadu_ps(row_max + 16 * r));
}

FRESHET_AVX512BF16 void ExpRows(const float* logits, int64_t ldl, int m, int k, int kp,
                                const float* shift, float* sums, uint16_t* u_rows,
                                uint16_t* u_pairs) {
  assert(m % 2 == 0 && kp % 16 == 0 && k <= kp);
  const __m512i interleave = _mm512_load_si512(kInterleave);
  const __m512 minus_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int r = 0; r < m; r += 2) {
    const float* a = logits + r * ldl;
    const float* b = a + ldl;
    const __m512 shift_a = _mm512_set1_ps(shift[r]);
    const __m512 shift_b = _mm512_set1_ps(shift[r + 1]);
    __m512 sum_a = _mm512_setzero_ps();
    __m512 sum_b = _mm512_setzero_ps();
    uint16_t* row_a = u_rows + static_cast<int64_t>(r) * kp;
    uint16_t* row_b = row_a + kp;
    uint16_t* pairs = u_pairs + static_cast<int64_t>(r / 2) * kp * 2;
    for (int c = 0; c < kp; c += 16) {
      // Lanes at or past k read as -inf, so they come out 0.
      const __mmask16 valid = c + 16 <= k ? __mmask16(0xffff)
                              : c < k     ? __mmask16((1u << (k - c)) - 1)
                                          : __mmask16(0);
      const __m512 ea = Exp(_mm512_sub_ps(_mm512_mask_loadu_ps(minus_inf, valid, a + c), shift_a));
      const __m512 eb = Exp(_mm512_sub_ps(_mm512_mask_loadu_ps(minus_inf, valid, b + c), shift_b));
      sum_a = _mm512_add_ps(sum_a, ea);
      sum_b = _mm512_add_ps(sum_b, eb);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(row_a + c),
                          reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(ea)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(row_b + c),
                          reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(eb)));
      const __m512bh both = _mm512_cvtne2ps_pbh(eb, ea);
      _mm512_storeu_si512(pairs + 2 * c,
                          _mm512_permutexvar_epi16(interleave, reinterpret_cast<__m512i>(both)));
    }
    sums[r] = _mm512_reduce_add_ps(sum_a);
    sums[r + 1] = _mm512_reduce_add_ps(sum_b);
  }
}

FRESHET_AVX512BF16 void RowsTimesPairs(const uint16_t* u, int m, int k, const uint16_t* n_pairs,
                                       int dim, float* out) {
  assert(m % 4 == 0 && k % 32 == 0 && dim % 32 == 0);
  std::memset(out, 0, sizeof(float) * static_cast<size_t>(m) * dim);
  for (int j = 0; j < k; j += kSharedBlock) {
    const int j_end = j + kSharedBlock < k ? j + kSharedBlock : k;
    for (int r0 = 0; r0 < m; r0 += 4) {
      const uint16_t* ur = u + static_cast<int64_t>(r0) * k;
      float* o = out + static_cast<int64_t>(r0) * dim;
      int c0 = 0;
      for (; c0 + 16 * kWide <= dim; c0 += 16 * kWide) {
        RowsTimesPairsTile<kWide>(ur, k, n_pairs, dim, c0, j, j_end, o);
      }
      if (c0 < dim) RowsTimesPairsTile<kNarrow>(ur, k, n_pairs, dim, c0, j, j_end, o);
    }
  }
}

FRESHET_AVX512BF16 void PairsTransposedTimesPairs(const uint16_t* u_pairs, int m, int k,
                                                  const uint16_t* hs_pairs, int dim, float* out) {
  assert(m % 2 == 0 && k % 4 == 0 && dim % 32 == 0);
  for (int j0 = 0; j0 < k; j0 += 4) {
    int c0 = 0;
    for (; c0 + 16 * kWide <= dim; c0 += 16 * kWide) {
      PairsTransposedTile<kWide>(u_pairs, m, k, hs_pairs, dim, j0, c0, out);
    }
    if (c0 < dim) PairsTransposedTile<kNarrow>(u_pairs, m, k, hs_pairs, dim, j0, c0, out);
  }
}

}  // namespace freshet::nn::bf16
