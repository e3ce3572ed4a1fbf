#include "nn/bf16_gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "grad_check.h"
#include "nn/bf16_kernels.h"

namespace freshet::nn {
namespace {

using testing::MatrixF;
using testing::RandomMatrix;

// The value a float takes once rounded to bf16: what the kernels multiply.
double Rounded(float x) { return bf16::ToFloat(bf16::FromFloat(x)); }

#define REQUIRE_BF16()                                                    \
  do {                                                                    \
    if (!bf16::Supported()) GTEST_SKIP() << "no AVX512-BF16 on this CPU"; \
  } while (0)

// Ragged shapes on purpose: odd row counts, widths that are not multiples of 16
// and tiles of every size at the edges.
struct Shape {
  int m, k, n;
};
constexpr Shape kShapes[] = {{1, 2, 1}, {7, 10, 17}, {13, 46, 33}, {32, 300, 200}, {129, 624, 200}};

TEST(Bf16GemmTest, PackingsPlaceEveryValueWhereTheLayoutSays) {
  REQUIRE_BF16();
  Rng rng(71);
  const int rows = 13, cols = 22, lda = 25;
  MatrixF a = RandomMatrix(rows, lda, rng).cast<float>();
  const int ld_rows = 24, ld_pairs = 32, ld_t = 16;
  std::vector<uint16_t> packed(bf16::RowsSize(rows, ld_rows), 0xffff);
  std::vector<uint16_t> pairs(bf16::PairsSize(rows, ld_pairs), 0xffff);
  std::vector<uint16_t> t(bf16::PairsSize(cols, ld_t), 0xffff);
  bf16::PackRowsPadded(a.data(), lda, rows, cols, ld_rows, packed.data());
  bf16::PackPairs(a.data(), lda, rows, cols, ld_pairs, pairs.data());
  bf16::PackPairsTransposed(a.data(), lda, rows, cols, ld_t, t.data());
  auto value = [&](int r, int c) -> uint16_t {
    return r < rows && c < cols ? bf16::FromFloat(a(r, c)) : 0;
  };
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < ld_rows; ++c) EXPECT_EQ(packed[r * ld_rows + c], value(r, c)) << r << c;
  }
  for (int r = 0; r < rows + 1; ++r) {
    for (int c = 0; c < ld_pairs; ++c) {
      EXPECT_EQ(pairs[((r / 2) * ld_pairs + c) * 2 + r % 2], value(r, c)) << r << "," << c;
    }
  }
  for (int c = 0; c < cols; ++c) {
    for (int r = 0; r < ld_t; ++r) {
      EXPECT_EQ(t[((c / 2) * ld_t + r) * 2 + c % 2], value(r, c)) << r << "," << c;
    }
  }
}

// Workers pack the rows they updated: PackPairsTransposedRows over pieces of a matrix (even
// and odd bounds, pieces shorter and longer than 16 rows, odd and even row strides) writes exactly
// what PackPairsTransposed writes for those rows, and nothing outside them.
TEST(Bf16GemmTest, PackingTransposedRowsInPiecesEqualsPackingTheWhole) {
  REQUIRE_BF16();
  Rng rng(72);
  for (int lda : {22, 23}) {
    const int rows = 45, cols = 22, ld = 48;
    MatrixF a = RandomMatrix(rows, lda, rng).cast<float>();
    std::vector<uint16_t> whole(bf16::PairsSize(cols, ld));
    bf16::PackPairsTransposed(a.data(), lda, rows, cols, ld, whole.data());
    for (int bound : {0, 1, 2, 7, 16, 17, 33, 44, 45}) {
      // Padding words (r >= rows) zeroed once, as the trainer's buffers are.
      std::vector<uint16_t> pieces(whole.size(), 0);
      for (int r = 0; r < rows; ++r) {
        for (int q = 0; q < cols / 2; ++q) {
          pieces[(static_cast<size_t>(q) * ld + r) * 2] = 0xffff;
          pieces[(static_cast<size_t>(q) * ld + r) * 2 + 1] = 0xffff;
        }
      }
      bf16::PackPairsTransposedRows(a.data(), lda, 0, bound, cols, ld, pieces.data());
      bf16::PackPairsTransposedRows(a.data(), lda, bound, rows, cols, ld, pieces.data());
      ASSERT_EQ(pieces, whole) << "lda " << lda << ", pieces split at row " << bound;
    }
    // A piece leaves the rest alone.
    std::vector<uint16_t> one(whole.size(), 0x1234);
    bf16::PackPairsTransposedRows(a.data(), lda, 5, 9, cols, ld, one.data());
    for (int q = 0; q < cols / 2; ++q) {
      for (int r = 0; r < ld; ++r) {
        for (int h = 0; h < 2; ++h) {
          const size_t at = (static_cast<size_t>(q) * ld + r) * 2 + h;
          ASSERT_EQ(one[at], r >= 5 && r < 9 ? whole[at] : 0x1234) << q << " " << r;
        }
      }
    }
  }
}

TEST(Bf16GemmTest, GemmMatchesANaiveLoopOverTheRoundedInputs) {
  REQUIRE_BF16();
  Rng rng(72);
  for (const Shape &s : kShapes) {
    MatrixF a = RandomMatrix(s.m, s.k, rng).cast<float>();
    MatrixF b = RandomMatrix(s.k, s.n, rng).cast<float>();
    MatrixF bias = RandomMatrix(1, s.n, rng).cast<float>();
    const int lda = bf16::EvenUp(s.k), ldb = bf16::Pad16(s.n);
    std::vector<uint16_t> ap(bf16::RowsSize(s.m, lda)), bp(bf16::PairsSize(s.k, ldb));
    bf16::PackRowsPadded(a.data(), s.k, s.m, s.k, lda, ap.data());
    bf16::PackPairs(b.data(), s.n, s.k, s.n, ldb, bp.data());
    // Plain, bias + ReLU, and accumulating into a matrix with a spare column
    // that must survive.
    for (int mode = 0; mode < 3; ++mode) {
      const int ldc = s.n + 1;
      MatrixF c = MatrixF::Constant(s.m, ldc, 0.5f);
      bf16::Epilogue e;
      if (mode == 1) {
        e.bias = bias.data();
        e.relu = true;
      }
      e.accumulate = mode == 2;
      bf16::Gemm(ap.data(), lda, s.m, s.k, bp.data(), ldb, s.n, e, c.data(), ldc);
      for (int r = 0; r < s.m; ++r) {
        for (int j = 0; j < s.n; ++j) {
          double want = 0, scale = 0;
          for (int t = 0; t < s.k; ++t) {
            want += Rounded(a(r, t)) * Rounded(b(t, j));
            scale += std::abs(Rounded(a(r, t)) * Rounded(b(t, j)));
          }
          if (mode == 1) want = std::max(0.0, want + bias(0, j));
          if (mode == 2) want += 0.5;
          ASSERT_NEAR(c(r, j), want, 1e-5 * (scale + 1)) << s.m << "x" << s.k << "x" << s.n;
        }
        ASSERT_EQ(c(r, s.n), 0.5f);
      }
    }
  }
}

TEST(Bf16GemmTest, GemmWithTransposedPairsComputesTheProductWithTheTranspose) {
  REQUIRE_BF16();
  Rng rng(73);
  for (const Shape &s : kShapes) {
    // c = a w^T with w [n][k] packed as the pairs of its transpose: the
    // input-gradient product.
    MatrixF a = RandomMatrix(s.m, s.k, rng).cast<float>();
    MatrixF w = RandomMatrix(s.n, s.k, rng).cast<float>();
    const int lda = bf16::EvenUp(s.k), ldb = bf16::Pad16(s.n);
    std::vector<uint16_t> ap(bf16::RowsSize(s.m, lda)), wt(bf16::PairsSize(s.k, ldb));
    bf16::PackRowsPadded(a.data(), s.k, s.m, s.k, lda, ap.data());
    bf16::PackPairsTransposed(w.data(), s.k, s.n, s.k, ldb, wt.data());
    MatrixF c(s.m, s.n);
    bf16::Gemm(ap.data(), lda, s.m, s.k, wt.data(), ldb, s.n, {}, c.data(), s.n);
    for (int r = 0; r < s.m; ++r) {
      for (int j = 0; j < s.n; ++j) {
        double want = 0, scale = 0;
        for (int t = 0; t < s.k; ++t) {
          want += Rounded(a(r, t)) * Rounded(w(j, t));
          scale += std::abs(Rounded(a(r, t)) * Rounded(w(j, t)));
        }
        ASSERT_NEAR(c(r, j), want, 1e-5 * (scale + 1)) << s.m << "x" << s.k << "x" << s.n;
      }
    }
  }
}

TEST(Bf16GemmTest, GemmTransAAddsTheProductOfTheTranspose) {
  REQUIRE_BF16();
  Rng rng(74);
  for (const Shape &s : kShapes) {
    // c [k][n] += a^T b over m rows: the weight-gradient product.
    MatrixF a = RandomMatrix(s.m, s.k, rng).cast<float>();
    MatrixF b = RandomMatrix(s.m, s.n, rng).cast<float>();
    const int lda = bf16::Pad16(s.k), ldb = bf16::Pad16(s.n);
    std::vector<uint16_t> ap(bf16::PairsSize(s.m, lda)), bp(bf16::PairsSize(s.m, ldb));
    bf16::PackPairs(a.data(), s.k, s.m, s.k, lda, ap.data());
    bf16::PackPairs(b.data(), s.n, s.m, s.n, ldb, bp.data());
    MatrixF c = MatrixF::Constant(s.k, s.n + 1, 0.25f);
    bf16::GemmTransA(ap.data(), lda, s.m, s.k, bp.data(), ldb, s.n, c.data(), s.n + 1);
    for (int j = 0; j < s.k; ++j) {
      for (int i = 0; i < s.n; ++i) {
        double want = 0.25, scale = 0;
        for (int r = 0; r < s.m; ++r) {
          want += Rounded(a(r, j)) * Rounded(b(r, i));
          scale += std::abs(Rounded(a(r, j)) * Rounded(b(r, i)));
        }
        ASSERT_NEAR(c(j, i), want, 1e-5 * (scale + 1)) << s.m << "x" << s.k << "x" << s.n;
      }
      ASSERT_EQ(c(j, s.n), 0.25f);
    }
  }
}

}  // namespace
}  // namespace freshet::nn
