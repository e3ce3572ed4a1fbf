#pragma once

// bfloat16 products with float accumulation for SharedNegativeSoftmaxLoss<float>, on AVX512-BF16
// (`vdpbf16ps`: 32 bf16 multiply-adds into 16 float sums per instruction, twice the lanes of an
// AVX-512 float FMA and four times those of the AVX2 FMA the rest of the release build targets).
//
// The release build targets x86-64-v3, so these kernels are compiled for AVX-512 per function
// (bf16_kernels.cc) and must only be called when Supported() says the CPU runs them; the caller
// chooses once, outside its loops, and keeps the float path as the fallback.
//
// Inputs are rounded to bf16 (8 significant bits, round to nearest even) and every product is
// summed in float. Layouts (all bf16 arrays are uint16_t bit patterns, row-major):
//   rows      [rows][cols]                    PackRows
//   row pairs [rows / 2][cols][2]: rows 2p and 2p + 1 interleaved element by element, so one
//             32-bit word holds the two values a `vdpbf16ps` lane multiplies together  PackRowPairs
//   column blocks [cols / 16][rows / 2][16][2]: TransposeToColumnBlocks of a rows layout; 16
//             columns' pairs side by side, what the logits kernel loads as one vector

#include <cstdint>

namespace freshet::nn::bf16 {

// True when the CPU runs AVX512-F, -BW, -VL and -BF16 (checked once, then cached). The functions
// below except FromFloat / ToFloat REQUIRE it.
bool Supported();

// Round to nearest even, as the hardware conversion does (no NaN inputs).
uint16_t FromFloat(float x);
float ToFloat(uint16_t b);

// out[r * cols + c] = bf16(a[r * lda + c]). REQUIRES: cols % 16 == 0.
void PackRows(const float* a, int64_t lda, int rows, int cols, uint16_t* out);

// out[((r / 2) * cols + c) * 2 + r % 2] = bf16(a[r * lda + c]). REQUIRES: rows even,
// cols % 16 == 0.
void PackRowPairs(const float* a, int64_t lda, int rows, int cols, uint16_t* out);

// From `rows` layout [rows][cols] to column blocks [rows / 16][cols / 2][16][2] (so here `rows`
// are the items whose logits are computed, `cols` the hidden width). REQUIRES: rows % 16 == 0,
// cols even.
void TransposeToColumnBlocks(const uint16_t* in, int rows, int cols, uint16_t* out);

// out[r * ldo + j] = sum_c h[r][c] n[j][c] + bias[j] for r < m, j < n_rows: h in rows layout
// [m][dim], n in column blocks (TransposeToColumnBlocks of [n_rows][dim]). Also the largest of
// each row: row_max is scratch of 16 m floats, and on return row_max[r] is max_j out[r][j].
// REQUIRES: m % 8 == 0, n_rows % 32 == 0, dim % 32 == 0.
void Logits(const uint16_t* h, int m, int dim, const uint16_t* n_blocks, int n_rows,
            const float* bias, float* out, int64_t ldo, float* row_max);

// The softmax numerators of rows r < m of `logits`: u[r][j] = exp(logits[r][j] - shift[r]) for
// j < k (shift[r] >= every entry: the row's max; +inf makes the row zero), 0 for k <= j < kp, and
// exactly 0 where logits[r][j] = -inf. Writes u in bf16 as rows [m][kp] and as row pairs
// [m / 2][kp][2], and sums[r] = sum_j u[r][j] taken before rounding. exp is accurate to a few
// float ulps. REQUIRES: m even, kp % 16 == 0, k <= kp.
void ExpRows(const float* logits, int64_t ldl, int m, int k, int kp, const float* shift,
             float* sums, uint16_t* u_rows, uint16_t* u_pairs);

// out[r * dim + c] = sum_j u[r][j] n[j][c] (overwritten): u in rows layout [m][k], n in row pairs
// [k / 2][dim][2]. REQUIRES: m % 4 == 0, k % 32 == 0, dim % 32 == 0.
void RowsTimesPairs(const uint16_t* u, int m, int k, const uint16_t* n_pairs, int dim, float* out);

// out[j * dim + c] += sum_i u[i][j] hs[i][c]: u in row pairs [m / 2][k][2], hs in row pairs
// [m / 2][dim][2]. REQUIRES: m even, k % 4 == 0, dim % 32 == 0.
void PairsTransposedTimesPairs(const uint16_t* u_pairs, int m, int k, const uint16_t* hs_pairs,
                               int dim, float* out);

}  // namespace freshet::nn::bf16
