#include "nn/bf16_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "grad_check.h"
#include "nn/loss.h"

namespace freshet::nn {
namespace {

using testing::MatrixF;
using testing::RandomMatrix;
using testing::RelativeError;

// The value a float takes once rounded to bf16: what the kernels multiply.
double Rounded(float x) { return bf16::ToFloat(bf16::FromFloat(x)); }

// Skips the test where the CPU cannot run the kernels (the float path then serves, and the
// other tests cover it).
#define REQUIRE_BF16()                                                    \
  do {                                                                    \
    if (!bf16::Supported()) GTEST_SKIP() << "no AVX512-BF16 on this CPU"; \
  } while (0)

TEST(Bf16Test, RoundsToNearestEven) {
  EXPECT_EQ(bf16::FromFloat(1.0f), 0x3f80);
  EXPECT_EQ(bf16::ToFloat(0x3f80), 1.0f);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa, 1.
  EXPECT_EQ(bf16::ToFloat(bf16::FromFloat(1.0f + 0x1p-8f)), 1.0f);
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: ties go to 1 + 2^-6.
  EXPECT_EQ(bf16::ToFloat(bf16::FromFloat(1.0f + 3 * 0x1p-8f)), 1.0f + 0x1p-6f);
  EXPECT_EQ(bf16::ToFloat(bf16::FromFloat(-2.5f)), -2.5f);
  EXPECT_EQ(bf16::FromFloat(0.0f), 0);
}

TEST(Bf16Test, PackingsPlaceEveryValueWhereTheLayoutSays) {
  REQUIRE_BF16();
  Rng rng(61);
  const int rows = 32, cols = 48, lda = 50;
  MatrixF a = RandomMatrix(rows, lda, rng).cast<float>();
  std::vector<uint16_t> packed_rows(rows * cols), pairs(rows * cols), blocks(rows * cols);
  bf16::PackRows(a.data(), lda, rows, cols, packed_rows.data());
  bf16::PackRowPairs(a.data(), lda, rows, cols, pairs.data());
  bf16::TransposeToColumnBlocks(packed_rows.data(), rows, cols, blocks.data());
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const uint16_t want = bf16::FromFloat(a(r, c));  // the hardware rounds the same way
      EXPECT_EQ(packed_rows[r * cols + c], want) << r << "," << c;
      EXPECT_EQ(pairs[((r / 2) * cols + c) * 2 + r % 2], want) << r << "," << c;
      EXPECT_EQ(blocks[((r / 16) * (cols / 2) + c / 2) * 32 + (r % 16) * 2 + c % 2], want)
          << r << "," << c;
    }
  }
}

TEST(Bf16Test, ProductsMatchNaiveLoopsOverTheRoundedInputs) {
  REQUIRE_BF16();
  Rng rng(62);
  for (const int dim : {32, 64, 96}) {  // 96: a wide and a narrow column tile
    const int m = 24, k = 96;
    MatrixF h = RandomMatrix(m, dim, rng).cast<float>();
    MatrixF n = RandomMatrix(k, dim, rng).cast<float>();
    MatrixF u = RandomMatrix(m, k, rng).cast<float>();
    std::vector<uint16_t> h_rows(m * dim), n_rows(k * dim), n_blocks(k * dim), n_pairs(k * dim);
    std::vector<uint16_t> u_rows(m * k), u_pairs(m * k), h_pairs(m * dim);
    bf16::PackRows(h.data(), dim, m, dim, h_rows.data());
    bf16::PackRows(n.data(), dim, k, dim, n_rows.data());
    bf16::TransposeToColumnBlocks(n_rows.data(), k, dim, n_blocks.data());
    bf16::PackRowPairs(n.data(), dim, k, dim, n_pairs.data());
    bf16::PackRows(u.data(), k, m, k, u_rows.data());
    bf16::PackRowPairs(u.data(), k, m, k, u_pairs.data());
    bf16::PackRowPairs(h.data(), dim, m, dim, h_pairs.data());

    std::vector<float> bias(k), row_max(16 * m);
    for (auto& b : bias) b = static_cast<float>(rng.Normal());
    MatrixF logits(m, k), dh(m, dim);
    MatrixF dn = MatrixF::Constant(k, dim, 0.5f);  // added to
    bf16::Logits(h_rows.data(), m, dim, n_blocks.data(), k, bias.data(), logits.data(), k,
                 row_max.data());
    bf16::RowsTimesPairs(u_rows.data(), m, k, n_pairs.data(), dim, dh.data());
    bf16::PairsTransposedTimesPairs(u_pairs.data(), m, k, h_pairs.data(), dim, dn.data());

    // Float sums of exact bf16 products: a few float roundings of the sum, no more.
    const double tol = 1e-5;
    for (int r = 0; r < m; ++r) {
      for (int j = 0; j < k; ++j) {
        double want = bias[j];
        for (int c = 0; c < dim; ++c) want += Rounded(h(r, c)) * Rounded(n(j, c));
        EXPECT_NEAR(logits(r, j), want, tol * dim) << dim << ": " << r << "," << j;
      }
      EXPECT_EQ(row_max[r], logits.row(r).maxCoeff()) << dim << ": " << r;
      for (int c = 0; c < dim; ++c) {
        double want = 0;
        for (int j = 0; j < k; ++j) want += Rounded(u(r, j)) * Rounded(n(j, c));
        EXPECT_NEAR(dh(r, c), want, tol * k) << dim << ": " << r << "," << c;
      }
    }
    for (int j = 0; j < k; ++j) {
      for (int c = 0; c < dim; ++c) {
        double want = 0.5;
        for (int r = 0; r < m; ++r) want += Rounded(u(r, j)) * Rounded(h(r, c));
        EXPECT_NEAR(dn(j, c), want, tol * m) << dim << ": " << j << "," << c;
      }
    }
  }
}

TEST(Bf16Test, ExpRowsMatchesStdExpAndZeroesMaskedEntries) {
  REQUIRE_BF16();
  Rng rng(65);
  const int m = 6, k = 83, kp = 96, ld = 100;
  MatrixF logits = (RandomMatrix(m, ld, rng) * 30.0).cast<float>();
  logits(1, 5) = -std::numeric_limits<float>::infinity();    // an accidental hit
  logits(2, 7) = logits.row(2).head(k).maxCoeff() - 200.0f;  // far below: underflows to 0
  std::vector<float> shift(m);
  for (int r = 0; r < m; ++r) shift[r] = logits.row(r).head(k).maxCoeff();
  shift[m - 1] = std::numeric_limits<float>::infinity();  // a padded row
  std::vector<float> sums(m);
  std::vector<uint16_t> rows(m * kp, 0xffff), pairs(m * kp, 0xffff);
  bf16::ExpRows(logits.data(), ld, m, k, kp, shift.data(), sums.data(), rows.data(), pairs.data());
  for (int r = 0; r < m; ++r) {
    double sum = 0;
    for (int j = 0; j < kp; ++j) {
      const double want = r == m - 1 || j >= k ? 0.0 : std::exp(double{logits(r, j)} - shift[r]);
      sum += want;
      const float got = bf16::ToFloat(rows[r * kp + j]);
      EXPECT_NEAR(got, want, 4e-3 * want + 1e-30) << r << "," << j;  // bf16: 2^-8 relative
      EXPECT_EQ(pairs[((r / 2) * kp + j) * 2 + r % 2], rows[r * kp + j]) << r << "," << j;
    }
    EXPECT_NEAR(sums[r], sum, 1e-6 * sum) << r;
  }
  EXPECT_EQ(rows[1 * kp + 5], 0);
  EXPECT_EQ(rows[2 * kp + 7], 0);
}

struct SharedLossRun {
  LossValue loss;
  MatrixF d_hidden, d_items;
};

SharedLossRun RunSharedLoss(bool bf16_products, int chunk_rows, const MatrixF& hidden,
                            const std::vector<ItemId>& targets,
                            const std::vector<ItemId>& negatives,
                            const std::vector<float>& log_weights, const MatrixF& items) {
  FullSoftmaxOptions options;
  options.chunk_rows = chunk_rows;
  options.bf16_products = bf16_products;
  SharedNegativeSoftmaxLoss<float> loss(options);
  SharedNegativeSoftmaxLoss<float>::Workspace ws;
  SharedLossRun run;
  run.d_hidden = MatrixF::Constant(hidden.rows(), hidden.cols(), 7.0f);  // overwritten
  run.d_items = MatrixF::Zero(items.rows(), items.cols());
  const float scale = 1.0f / static_cast<float>(hidden.rows());
  // Twice with one workspace: the second call must not depend on what the first left there.
  for (int i = 0; i < 2; ++i) {
    run.d_items.setZero();
    run.loss = loss.Compute(hidden, targets, negatives, log_weights, items, scale, run.d_hidden,
                            run.d_items, ws);
  }
  return run;
}

TEST(SharedNegativeSoftmaxTest, Bf16ProductsMatchFloatWithinBf16Rounding) {
  REQUIRE_BF16();
  Rng rng(63);
  // A SASRec-like setting: dim 64, K not a multiple of 32, rows not a multiple of 8 per chunk,
  // padded rows, accidental hits, popularity-like weights.
  const int rows = 301, dim = 64, num_items = 2000, k = 1000;
  const MatrixF hidden = RandomMatrix(rows, dim, rng, 0.5).cast<float>();
  const MatrixF items = RandomMatrix(num_items, dim, rng, 0.5).cast<float>();
  std::vector<ItemId> targets(rows);
  for (auto& t : targets) {
    t = rng.Uniform() < 0.3 ? kNoId : static_cast<ItemId>(rng.Below(num_items));
  }
  std::vector<ItemId> negatives(k);
  std::vector<float> log_weights(k);
  for (int j = 0; j < k; ++j) {
    negatives[j] = static_cast<ItemId>(rng.Below(num_items));
    log_weights[j] = static_cast<float>(-std::log(k * 0.0005) + rng.Uniform() - 0.5);
  }
  targets[3] = negatives[10];
  targets[4] = negatives[999];
  for (const int chunk : {8, 50, 128}) {
    const SharedLossRun want =
        RunSharedLoss(false, chunk, hidden, targets, negatives, log_weights, items);
    const SharedLossRun got =
        RunSharedLoss(true, chunk, hidden, targets, negatives, log_weights, items);
    EXPECT_EQ(got.loss.count, want.loss.count);
    // Inputs rounded to 8 significant bits move each logit by ~2^-8 |h| |e| at most, and the
    // softmax averages the errors out: the loss within 1e-3 of itself, gradients within 1e-2 of
    // their largest entry.
    EXPECT_NEAR(got.loss.sum, want.loss.sum, 1e-3 * want.loss.sum) << chunk;
    EXPECT_LT(RelativeError(got.d_hidden, want.d_hidden), 1e-2) << chunk;
    EXPECT_LT(RelativeError(got.d_items, want.d_items), 1e-2) << chunk;
    for (int r = 0; r < rows; ++r) {
      if (targets[r] == kNoId) {
        EXPECT_TRUE(got.d_hidden.row(r).isZero()) << r;
      }
    }
    // The bf16 kernels did run: rounding leaves its trace.
    EXPECT_NE(got.d_items, want.d_items) << chunk;
  }
}

TEST(SharedNegativeSoftmaxTest, Bf16ProductsFallBackToFloatWhenWidthIsNotAMultipleOf32) {
  Rng rng(64);
  const int rows = 40, dim = 20, num_items = 300, k = 100;
  const MatrixF hidden = RandomMatrix(rows, dim, rng, 0.5).cast<float>();
  const MatrixF items = RandomMatrix(num_items, dim, rng, 0.5).cast<float>();
  std::vector<ItemId> targets(rows), negatives(k);
  for (auto& t : targets) t = static_cast<ItemId>(rng.Below(num_items));
  for (auto& n : negatives) n = static_cast<ItemId>(rng.Below(num_items));
  const std::vector<float> log_weights(k, 1.0f);
  const SharedLossRun want =
      RunSharedLoss(false, 16, hidden, targets, negatives, log_weights, items);
  const SharedLossRun got = RunSharedLoss(true, 16, hidden, targets, negatives, log_weights, items);
  EXPECT_EQ(got.loss.sum, want.loss.sum);
  EXPECT_EQ(got.d_hidden, want.d_hidden);
  EXPECT_EQ(got.d_items, want.d_items);
}

}  // namespace
}  // namespace freshet::nn
