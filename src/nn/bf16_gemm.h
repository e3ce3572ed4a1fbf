#pragma once

// General bfloat16 matrix products with float accumulation on AVX512-BF16
// (`vdpbf16ps`), for the dense layers of the CTR models (rank/fieldnet.cc: the
// MLP's forward, input-gradient and weight-gradient products). Shapes need no
// multiple-of-32 padding (unlike the softmax kernels of bf16_kernels.h): widths
// are padded inside the packed layouts and the float outputs are written with
// masked stores, so an Eigen [rows, 200] matrix is an output as it is.
//
// Like bf16_kernels.h, every function except the size helpers is compiled for
// AVX-512 per function and REQUIRES bf16::Supported(); callers choose once,
// outside their loops, and keep the float path.
//
// Inputs are rounded to bf16 (round to nearest even); every product is summed
// in float. Layouts (bf16 arrays are uint16_t bit patterns):
//   rows  [rows][ld]: row r's k values, then zeros up to ld (ld even, >= k).
//   PackRows pairs [ceil(rows / 2)][ld][2]: rows 2p and 2p + 1 interleaved
//   element by element, so one
//         32-bit word holds the two values a `vdpbf16ps` lane multiplies;
//         columns padded with zeros up to ld (a multiple of 16) and an odd last
//         row paired with a zero row.  PackPairs
//   transposed pairs: the pairs layout of the transpose of a [rows][cols]
//   matrix, i.e.
//         [cols / 2][ld][2] with word (q, r) = (a[r][2q], a[r][2q + 1]).
//         PackPairsTransposed

#include <cstddef>
#include <cstdint>

namespace freshet::nn::bf16 {

// The padded widths the layouts use.
inline int EvenUp(int n) { return (n + 1) & ~1; }
inline int Pad16(int n) { return (n + 15) & ~15; }
// Elements (uint16_t) of each layout.
inline size_t RowsSize(int rows, int ld) { return static_cast<size_t>(rows) * ld; }
inline size_t PairsSize(int rows, int ld) { return static_cast<size_t>((rows + 1) / 2) * ld * 2; }

// out (rows layout, stride ld) = bf16(a[r * lda + c]) for c < cols, 0 for cols
// <= c < ld. REQUIRES: ld even, ld >= cols.
void PackRowsPadded(const float *a, int64_t lda, int rows, int cols, int ld, uint16_t *out);

// out (pairs layout, stride ld) from a [rows][cols] with row stride lda.
// REQUIRES: ld % 16 == 0, ld >= cols.
void PackPairs(const float *a, int64_t lda, int rows, int cols, int ld, uint16_t *out);

// out (transposed pairs, stride ld) from a [rows][cols] with row stride lda:
// word (q, r) holds (a[r][2q], a[r][2q + 1]); words r >= rows are zero.
// REQUIRES: cols even, ld % 16 == 0, ld >= rows.
void PackPairsTransposed(const float *a, int64_t lda, int rows, int cols, int ld, uint16_t *out);

// PackPairsTransposed of rows [row_begin, row_end) of a only: writes words (q, r) for those r and
// nothing else (the padding words r >= rows are left as they are: zero them once). For workers
// that each pack the rows of a matrix they just updated. REQUIRES: cols even, ld % 16 == 0,
// 0 <= row_begin <= row_end <= ld.
void PackPairsTransposedRows(const float *a, int64_t lda, int row_begin, int row_end, int cols,
                             int ld, uint16_t *out);

// What Gemm does with its result before storing it.
struct Epilogue {
  const float *bias = nullptr;  // c[r][j] += bias[j] (n entries), or nothing when null
  bool relu = false;            // then max(0, .)
  bool accumulate = false;      // c += result (bias and relu then apply to the sum: keep them off)
};

// c[r * ldc + j] = sum_t a[r][t] b[t][j] (then the epilogue) for r < m, j < n:
// a in rows layout (stride lda >= k, even), b in pairs layout over its k rows
// (stride ldb). Columns j >= n of c are not touched. REQUIRES: k even, ldb % 16
// == 0, ldb >= n, c does not alias a or b.
void Gemm(const uint16_t *a, int64_t lda, int m, int k, const uint16_t *b_pairs, int ldb, int n,
          const Epilogue &epilogue, float *c, int64_t ldc);

// c[j * ldc + i] += sum_r a[r][j] b[r][i] for j < k, i < n (c += a^T b), both a
// [m][k] and b [m][n] in pairs layout over their m rows (strides lda, ldb; an
// odd m's last pair has a zero row); with `accumulate` false, c = a^T b (c is
// not read). Columns j0.. of a: pass a_pairs + 2 * j0. REQUIRES: lda >= k,
// ldb % 16 == 0, ldb >= n.
void GemmTransA(const uint16_t *a_pairs, int lda, int m, int k, const uint16_t *b_pairs, int ldb,
                int n, float *c, int64_t ldc, bool accumulate = true);

}  // namespace freshet::nn::bf16
