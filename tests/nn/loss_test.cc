#include "nn/loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "grad_check.h"
#include "naive_loss.h"

namespace freshet::nn {
namespace {

using testing::ExpectGradient;
using testing::MatrixD;
using testing::MatrixF;
using testing::RandomMatrix;
using testing::RelativeError;

std::vector<ItemId> RandomIds(size_t n, uint32_t num_items, Rng& rng, double pad_rate = 0.0) {
  std::vector<ItemId> ids(n);
  for (auto& id : ids) {
    id = rng.Uniform() < pad_rate ? kNoId : static_cast<ItemId>(rng.Below(num_items));
  }
  return ids;
}

// Checks d_hidden and d_items of `compute` (which returns the loss sum and writes the gradients
// of grad_scale * sum) against central differences of the returned sum.
template <typename Compute>
void CheckLossGradients(MatrixD& hidden, MatrixD& items, double scale, Compute compute) {
  MatrixD d_hidden(hidden.rows(), hidden.cols());
  MatrixD d_items = MatrixD::Zero(items.rows(), items.cols());
  compute(d_hidden, d_items);
  MatrixD scratch_h(hidden.rows(), hidden.cols());
  MatrixD scratch_i(items.rows(), items.cols());
  auto loss = [&] { return scale * compute(scratch_h, scratch_i).sum; };
  ExpectGradient(hidden, d_hidden, loss, "hidden");
  ExpectGradient(items, d_items, loss, "items");
}

TEST(SampledBceTest, GradientMatchesNumericalAndNaiveLoop) {
  Rng rng(31);
  const int rows = 9, dim = 5, num_items = 12, k = 3;
  MatrixD hidden = RandomMatrix(rows, dim, rng);
  MatrixD items = RandomMatrix(num_items, dim, rng);
  const std::vector<ItemId> pos = RandomIds(rows, num_items, rng, 0.3);
  std::vector<ItemId> neg = RandomIds(rows * k, num_items, rng);
  neg[4] = kNoId;  // skipped
  const double scale = 0.25;
  auto compute = [&](MatrixD& dh, MatrixD& di) {
    return SampledBinaryCrossEntropy<double>(hidden, pos, neg, items, scale, dh, di);
  };
  CheckLossGradients(hidden, items, scale, compute);

  MatrixD dh(rows, dim);
  MatrixD di = MatrixD::Zero(num_items, dim);
  const LossValue got = compute(dh, di);
  const testing::NaiveLoss want = testing::NaiveBce(hidden, pos, neg, items, scale);
  EXPECT_NEAR(got.sum, want.sum, 1e-10);
  EXPECT_EQ(got.count, want.count);
  EXPECT_LT(RelativeError(dh, want.d_hidden), 1e-12);
  EXPECT_LT(RelativeError(di, want.d_items), 1e-12);
}

TEST(SampledBceTest, StaysFiniteForHugeLogits) {
  MatrixF hidden = MatrixF::Constant(1, 2, 100.0f);
  MatrixF items(2, 2);
  items << 1, 1, -1, -1;
  const std::vector<ItemId> pos = {1}, neg = {0};  // both terribly wrong: s_pos -200, s_neg 200
  MatrixF dh(1, 2), di = MatrixF::Zero(2, 2);
  const LossValue v = SampledBinaryCrossEntropy<float>(hidden, pos, neg, items, 1.0f, dh, di);
  EXPECT_NEAR(v.sum, 400.0, 1e-3);
  EXPECT_TRUE(dh.allFinite() && di.allFinite());
}

TEST(SampledSoftmaxTest, GradientMatchesNumericalAndNaiveLoopWithAndWithoutLogQ) {
  for (bool use_log_q : {false, true}) {
    for (bool remove_hits : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "log_q " << use_log_q << " remove " << remove_hits);
      Rng rng(32);
      const int rows = 8, dim = 4, num_items = 10, k = 4;
      MatrixD hidden = RandomMatrix(rows, dim, rng);
      MatrixD items = RandomMatrix(num_items, dim, rng);
      const std::vector<ItemId> pos = RandomIds(rows, num_items, rng, 0.2);
      std::vector<ItemId> neg = RandomIds(rows * k, num_items, rng);
      for (int r = 0; r < rows; r += 3) neg[r * k + 1] = pos[r];  // accidental hits
      std::vector<double> log_q;
      if (use_log_q) {
        for (int i = 0; i < num_items; ++i) log_q.push_back(std::log((i + 1.0) / 55.0));
      }
      SampledSoftmaxOptions opt;
      opt.remove_accidental_hits = remove_hits;
      SampledSoftmaxLoss<double> loss_fn(opt);
      SampledSoftmaxLoss<double>::Workspace ws;
      const double scale = 0.5;
      auto compute = [&](MatrixD& dh, MatrixD& di) {
        return loss_fn.Compute(hidden, pos, neg, items, log_q, scale, dh, di, ws);
      };
      CheckLossGradients(hidden, items, scale, compute);
      MatrixD dh(rows, dim);
      MatrixD di = MatrixD::Zero(num_items, dim);
      const LossValue got = compute(dh, di);
      const testing::NaiveLoss want =
          testing::NaiveSampledSoftmax(hidden, pos, neg, items, log_q, remove_hits, scale);
      EXPECT_NEAR(got.sum, want.sum, 1e-10);
      EXPECT_EQ(got.count, want.count);
      EXPECT_LT(RelativeError(dh, want.d_hidden), 1e-12);
      EXPECT_LT(RelativeError(di, want.d_items), 1e-12);
    }
  }
}

TEST(FullSoftmaxTest, GradientMatchesNumericalAcrossChunks) {
  Rng rng(33);
  const int rows = 11, dim = 4, num_items = 9;
  MatrixD hidden = RandomMatrix(rows, dim, rng);
  MatrixD items = RandomMatrix(num_items, dim, rng);
  const std::vector<ItemId> targets = RandomIds(rows, num_items, rng, 0.3);
  FullSoftmaxOptions opt;
  opt.chunk_rows = 3;  // several chunks, the last one partial
  FullSoftmaxLoss<double> loss_fn(opt);
  FullSoftmaxLoss<double>::Workspace ws(loss_fn, num_items, dim);
  const double scale = 1.0 / 7;
  CheckLossGradients(hidden, items, scale, [&](MatrixD& dh, MatrixD& di) {
    return loss_fn.Compute(hidden, targets, items, scale, dh, di, ws);
  });
}

TEST(FullSoftmaxTest, FloatKernelMatchesNaiveLoopAndIgnoresPaddedRows) {
  Rng rng(34);
  const int rows = 70, dim = 16, num_items = 301;
  const MatrixD hidden = RandomMatrix(rows, dim, rng, 0.5);
  const MatrixD items = RandomMatrix(num_items, dim, rng, 0.5);
  const std::vector<ItemId> targets = RandomIds(rows, num_items, rng, 0.4);
  const double scale = 1.0 / rows;
  const testing::NaiveLoss want = testing::NaiveFullSoftmax(hidden, targets, items, scale);
  for (int chunk : {1, 16, 256}) {
    FullSoftmaxOptions opt;
    opt.chunk_rows = chunk;
    FullSoftmaxLoss<float> loss_fn(opt);
    FullSoftmaxLoss<float>::Workspace ws(loss_fn, 50, dim);  // grows to the catalog on demand
    MatrixF dh = MatrixF::Constant(rows, dim, 7.0f);         // overwritten, padded rows zeroed
    MatrixF di = MatrixF::Zero(num_items, dim);
    const LossValue got = loss_fn.Compute(hidden.cast<float>(), targets, items.cast<float>(),
                                          static_cast<float>(scale), dh, di, ws);
    EXPECT_NEAR(got.sum, want.sum, 1e-4 * want.sum) << chunk;
    EXPECT_EQ(got.count, want.count);
    EXPECT_LT(RelativeError(dh, want.d_hidden), 1e-4) << chunk;
    EXPECT_LT(RelativeError(di, want.d_items), 1e-4) << chunk;
    for (int r = 0; r < rows; ++r) {
      if (targets[r] == kNoId) {
        EXPECT_TRUE(dh.row(r).isZero());
      }
    }
  }
}

TEST(SharedNegativeSoftmaxTest, GradientMatchesNumericalAcrossChunksWithHitsAndWeight) {
  Rng rng(35);
  const int rows = 11, dim = 4, num_items = 12;
  MatrixD hidden = RandomMatrix(rows, dim, rng);
  MatrixD items = RandomMatrix(num_items, dim, rng);
  std::vector<ItemId> targets = RandomIds(rows, num_items, rng, 0.3);
  const std::vector<ItemId> negatives = {7, 2, 9, 4, 0, 9};  // 9 drawn twice
  const std::vector<double> log_weights = {0.5, -0.25, 1.0, 0.0, 0.75, 1.0};
  targets[0] = 2;  // accidental hits: these rows' targets are among the negatives
  targets[5] = 0;
  targets[6] = 9;
  FullSoftmaxOptions opt;
  opt.chunk_rows = 3;
  SharedNegativeSoftmaxLoss<double> loss_fn(opt);
  SharedNegativeSoftmaxLoss<double>::Workspace ws;
  const double scale = 1.0 / 7;
  CheckLossGradients(hidden, items, scale, [&](MatrixD& dh, MatrixD& di) {
    return loss_fn.Compute(hidden, targets, negatives, log_weights, items, scale, dh, di, ws);
  });
  // The loss itself, row by row: log(e^pos + sum over negatives j other than the target of
  // e^(h.e_j + log_weights[j])) - pos.
  double want = 0;
  int64_t count = 0;
  for (int r = 0; r < rows; ++r) {
    if (targets[r] == kNoId) continue;
    const double pos = hidden.row(r).dot(items.row(targets[r]));
    double sum = std::exp(pos);
    for (size_t j = 0; j < negatives.size(); ++j) {
      if (negatives[j] == targets[r]) continue;
      sum += std::exp(hidden.row(r).dot(items.row(negatives[j])) + log_weights[j]);
    }
    want += std::log(sum) - pos;
    ++count;
  }
  MatrixD dh(rows, dim);
  MatrixD di = MatrixD::Zero(num_items, dim);
  const LossValue got =
      loss_fn.Compute(hidden, targets, negatives, log_weights, items, scale, dh, di, ws);
  EXPECT_NEAR(got.sum, want, 1e-10);
  EXPECT_EQ(got.count, count);
}

TEST(SharedNegativeSoftmaxTest, WholeCatalogAsNegativesIsTheFullSoftmax) {
  // With every item a negative and no weight, dropping each row's target from the negatives and
  // scoring it as the positive is exactly the softmax over the catalog.
  Rng rng(36);
  const int rows = 70, dim = 16, num_items = 301;
  const MatrixF hidden = RandomMatrix(rows, dim, rng, 0.5).cast<float>();
  const MatrixF items = RandomMatrix(num_items, dim, rng, 0.5).cast<float>();
  const std::vector<ItemId> targets = RandomIds(rows, num_items, rng, 0.4);
  std::vector<ItemId> all(num_items);
  for (int i = 0; i < num_items; ++i) all[i] = static_cast<ItemId>(num_items - 1 - i);
  const float scale = 1.0f / rows;
  FullSoftmaxLoss<float> full;
  FullSoftmaxLoss<float>::Workspace full_ws(full, num_items, dim);
  MatrixF dh_full(rows, dim);
  MatrixF di_full = MatrixF::Zero(num_items, dim);
  const LossValue want = full.Compute(hidden, targets, items, scale, dh_full, di_full, full_ws);
  SharedNegativeSoftmaxLoss<float> shared;
  SharedNegativeSoftmaxLoss<float>::Workspace ws;
  MatrixF dh = MatrixF::Constant(rows, dim, 7.0f);  // overwritten, padded rows zeroed
  MatrixF di = MatrixF::Zero(num_items, dim);
  const std::vector<float> no_weights(num_items, 0.0f);
  const LossValue got =
      shared.Compute(hidden, targets, all, no_weights, items, scale, dh, di, ws);
  EXPECT_NEAR(got.sum, want.sum, 1e-4 * want.sum);
  EXPECT_EQ(got.count, want.count);
  EXPECT_LT(RelativeError(dh, dh_full), 1e-4);
  EXPECT_LT(RelativeError(di, di_full), 1e-4);
  for (int r = 0; r < rows; ++r) {
    if (targets[r] == kNoId) {
      EXPECT_TRUE(dh.row(r).isZero());
    }
  }
}

TEST(FullSoftmaxTest, LargeLogitsDoNotOverflow) {
  MatrixF hidden = MatrixF::Constant(2, 3, 60.0f);
  MatrixF items = MatrixF::Identity(3, 3) * 2.0f;  // logits up to 120: exp would overflow float
  const std::vector<ItemId> targets = {0, 2};
  FullSoftmaxLoss<float> loss_fn;
  FullSoftmaxLoss<float>::Workspace ws(loss_fn, 3, 3);
  MatrixF dh(2, 3), di = MatrixF::Zero(3, 3);
  const LossValue v = loss_fn.Compute(hidden, targets, items, 0.5f, dh, di, ws);
  EXPECT_NEAR(v.mean(), std::log(3.0), 1e-5);  // all logits equal
  EXPECT_TRUE(dh.allFinite() && di.allFinite());
}

}  // namespace
}  // namespace freshet::nn
