#include "nn/ops.h"

#include <gtest/gtest.h>

#include <vector>

#include "grad_check.h"
#include "naive_ops.h"
#include "nn/random.h"

namespace freshet::nn {
namespace {

using testing::ExpectGradient;
using testing::ExpectParamGradients;
using testing::MatrixD;
using testing::MatrixF;
using testing::Project;
using testing::RandomMatrix;
using testing::RelativeError;

TEST(LinearTest, BackwardMatchesNumericalGradient) {
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    Rng rng(seed);
    const int rows = 2 + static_cast<int>(rng.Below(6));
    const int in = 1 + static_cast<int>(rng.Below(7));
    const int out = 1 + static_cast<int>(rng.Below(7));
    ParamSet<double> ps;
    Linear<double> fc(ps, "fc", in, out, rng);
    fc.bias().value = RandomMatrix(1, out, rng);
    MatrixD x = RandomMatrix(rows, in, rng);
    const MatrixD r = RandomMatrix(rows, out, rng);
    MatrixD y(rows, out);
    auto loss = [&] {
      fc.Forward(x, y);
      return Project(y, r);
    };
    auto grads = GradSink<double>::Shared(ps);
    MatrixD dx(rows, in);
    loss();
    fc.Backward(x, r, grads, dx);
    ExpectGradient(x, dx, loss, "x");
    ExpectParamGradients(ps, loss);
  }
}

TEST(LinearTest, ForwardMatchesNaiveLoopAndAccumulatesInputGradient) {
  Rng rng(7);
  ParamSet<float> ps;
  Linear<float> fc(ps, "fc", 13, 9, rng);
  const MatrixD xd = RandomMatrix(11, 13, rng);
  fc.bias().value = RandomMatrix(1, 9, rng).cast<float>();
  MatrixF y(11, 9);
  fc.Forward(xd.cast<float>(), y);
  const MatrixD want =
      testing::NaiveLinear(xd, fc.weight().value.cast<double>(), fc.bias().value.cast<double>());
  EXPECT_LT(RelativeError(y, want), 1e-5);

  // kAdd adds dy W^T to what dx holds.
  auto grads = GradSink<float>::Shared(ps);
  const MatrixF dy = RandomMatrix(11, 9, rng).cast<float>();
  MatrixF dx = MatrixF::Ones(11, 13);
  fc.Backward(xd.cast<float>(), dy, grads, dx, InputGrad::kAdd);
  const MatrixF want_dx = (dy * fc.weight().value.transpose()).array() + 1.0f;
  EXPECT_LT(RelativeError(dx, want_dx), 1e-5);
}

TEST(LayerNormTest, BackwardMatchesNumericalGradient) {
  for (uint64_t seed : {4, 5}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    Rng rng(seed);
    const int rows = 3 + static_cast<int>(rng.Below(5));
    const int dim = 2 + static_cast<int>(rng.Below(9));
    ParamSet<double> ps;
    LayerNorm<double> ln(ps, "ln", dim, 1e-5);
    ln.gamma().value = RandomMatrix(1, dim, rng);
    ln.beta().value = RandomMatrix(1, dim, rng);
    LayerNorm<double>::Workspace ws(ln, rows);
    MatrixD x = RandomMatrix(rows, dim, rng, 2.0);
    x.array() += 3.0;  // a large mean must not matter
    const MatrixD r = RandomMatrix(rows, dim, rng);
    MatrixD y(rows, dim);
    auto loss = [&] {
      ln.Forward(x, y, ws);
      return Project(y, r);
    };
    auto grads = GradSink<double>::Shared(ps);
    MatrixD dx(rows, dim);
    loss();
    ln.Backward(r, grads, dx, ws);
    ExpectGradient(x, dx, loss, "x");
    ExpectParamGradients(ps, loss);
  }
}

TEST(LayerNormTest, ForwardMatchesNaiveLoopInFloat) {
  Rng rng(8);
  ParamSet<float> ps;
  LayerNorm<float> ln(ps, "ln", 64, 1e-8f);
  ln.gamma().value = RandomMatrix(1, 64, rng).cast<float>();
  ln.beta().value = RandomMatrix(1, 64, rng).cast<float>();
  LayerNorm<float>::Workspace ws(ln, 20);
  MatrixD x = RandomMatrix(20, 64, rng);
  x.array() += 100.0;  // float: the two-pass variance keeps this accurate
  MatrixF y(20, 64);
  ln.Forward(x.cast<float>(), y, ws);
  const MatrixD want =
      testing::NaiveLayerNorm(x.cast<float>().cast<double>(), ln.gamma().value.cast<double>(),
                              ln.beta().value.cast<double>(), 1e-8);
  EXPECT_LT(RelativeError(y, want), 2e-4);
}

TEST(ActivationTest, BackwardMatchesNumericalGradient) {
  for (Activation act : {Activation::kRelu, Activation::kGelu}) {
    SCOPED_TRACE(static_cast<int>(act));
    Rng rng(9);
    MatrixD z = RandomMatrix(6, 7, rng, 2.0);
    // Keep ReLU inputs away from the kink, where the derivative does not exist.
    for (Eigen::Index i = 0; i < z.size(); ++i) {
      if (std::abs(z.data()[i]) < 0.01) z.data()[i] = 0.5;
    }
    const MatrixD r = RandomMatrix(6, 7, rng);
    MatrixD a(6, 7);
    auto loss = [&] {
      ActivationForward<double>(act, z, a);
      return Project(a, r);
    };
    MatrixD dz(6, 7);
    ActivationBackward<double>(act, z, r, dz);
    ExpectGradient(z, dz, loss, "z");
  }
}

TEST(ActivationTest, GeluIsTheTanhApproximationAndReluClamps) {
  Rng rng(10);
  const MatrixD zd = RandomMatrix(4, 33, rng, 3.0);
  const MatrixF z = zd.cast<float>();
  MatrixF a(4, 33);
  ActivationForward<float>(Activation::kGelu, z, a);
  MatrixD want(4, 33);
  for (Eigen::Index i = 0; i < z.size(); ++i) want.data()[i] = testing::NaiveGelu(z.data()[i]);
  EXPECT_LT(RelativeError(a, want), 1e-5);
  ActivationForward<float>(Activation::kRelu, z, a);
  for (Eigen::Index i = 0; i < z.size(); ++i) {
    EXPECT_EQ(a.data()[i], std::max(0.0f, z.data()[i]));
  }
}

TEST(DropoutTest, DropsAtTheRateScalesSurvivorsAndIsIdentityAtInference) {
  Dropout<float> drop(0.25f);
  Dropout<float>::Workspace ws(100 * 100);
  Rng rng(11);
  const MatrixF x = MatrixF::Ones(100, 100);
  MatrixF y(100, 100);
  drop.Forward(x, y, ws, rng, /*training=*/true);
  int zeros = 0;
  for (Eigen::Index i = 0; i < y.size(); ++i) {
    if (y.data()[i] == 0.0f) {
      ++zeros;
    } else {
      EXPECT_NEAR(y.data()[i], 1.0f / 0.75f, 1e-4f);
    }
  }
  EXPECT_NEAR(zeros / 10000.0, 0.25, 0.02);
  EXPECT_NEAR(y.mean(), 1.0, 0.03);  // inverted dropout keeps the expectation

  drop.Forward(x, y, ws, rng, /*training=*/false);
  EXPECT_EQ(y, x);
  MatrixF dx(100, 100);
  drop.Backward(x, dx, ws);
  EXPECT_EQ(dx, x);
}

TEST(DropoutTest, BackwardMatchesNumericalGradientWithTheSameMask) {
  Dropout<double> drop(0.4f);
  Dropout<double>::Workspace ws(5 * 6);
  Rng init(12);
  MatrixD x = RandomMatrix(5, 6, init);
  const MatrixD res = RandomMatrix(5, 6, init);
  const MatrixD r = RandomMatrix(5, 6, init);
  MatrixD y(5, 6);
  // Re-seeding per evaluation redraws the identical mask.
  auto loss = [&] {
    Rng rng(99);
    drop.Forward(x, y, ws, rng, true);
    return Project(y, r);
  };
  MatrixD dx(5, 6);
  loss();
  drop.Backward(r, dx, ws);
  ExpectGradient(x, dx, loss, "x");

  auto loss_add = [&] {
    Rng rng(99);
    drop.ForwardAdd(x, res, y, ws, rng, true);
    return Project(y, r);
  };
  loss_add();
  drop.Backward(r, dx, ws);
  ExpectGradient(x, dx, loss_add, "x via ForwardAdd");
  MatrixD want = res;
  Rng rng(99);
  MatrixD dropped(5, 6);
  drop.Forward(x, dropped, ws, rng, true);
  want += dropped;
  loss_add();
  EXPECT_LT(RelativeError(y, want), 1e-12);
}

TEST(ResidualAddTest, BackwardHandsTheGradientToBothBranches) {
  Rng rng(13);
  MatrixD a = RandomMatrix(3, 4, rng);
  MatrixD b = RandomMatrix(3, 4, rng);
  const MatrixD r = RandomMatrix(3, 4, rng);
  MatrixD y(3, 4);
  auto loss = [&] {
    ResidualAdd<double>::Forward(a, b, y);
    return Project(y, r);
  };
  MatrixD da(3, 4), db(3, 4);
  ResidualAdd<double>::Backward(r, da, db, InputGrad::kAssign);
  ExpectGradient(a, da, loss, "a");
  ExpectGradient(b, db, loss, "b");
}

TEST(SequenceEmbeddingTest, LooksUpItemsAlignsPositionsRightAndZeroesPadding) {
  Rng rng(14);
  ParamSet<float> ps;
  SequenceEmbeddingOptions o;
  o.num_items = 10;
  o.max_len = 6;
  o.dim = 4;
  SequenceEmbedding<float> emb(ps, "emb", o, rng);
  // A window of 3 (shorter than max_len): positions 3, 4, 5 are used.
  const std::vector<ItemId> ids = {kNoId, 7, 2, 1, 1, 9};
  MatrixF x(6, 4);
  emb.Forward(ids, 2, 3, x);
  EXPECT_TRUE(x.row(0).isZero());
  EXPECT_TRUE(x.row(1).isApprox(2.0f * emb.items().value.row(7) + emb.positions().value.row(4)));
  EXPECT_TRUE(x.row(2).isApprox(2.0f * emb.items().value.row(2) + emb.positions().value.row(5)));
  EXPECT_TRUE(x.row(3).isApprox(2.0f * emb.items().value.row(1) + emb.positions().value.row(3)));
}

TEST(SequenceEmbeddingTest, BackwardMatchesNumericalGradient) {
  Rng rng(15);
  ParamSet<double> ps;
  SequenceEmbeddingOptions o;
  o.num_items = 7;
  o.max_len = 5;
  o.dim = 3;
  SequenceEmbedding<double> emb(ps, "emb", o, rng);
  const std::vector<ItemId> ids = {kNoId, kNoId, 3, 3, 6, 0, 1, 2};  // a repeated item sums
  const MatrixD r = RandomMatrix(8, 3, rng);
  MatrixD x(8, 3);
  auto loss = [&] {
    emb.Forward(ids, 2, 4, x);
    return Project(x, r);
  };
  auto grads = GradSink<double>::Shared(ps);
  loss();
  emb.Backward(ids, 2, 4, r, grads);
  ExpectParamGradients(ps, loss);
}

TEST(FeedForwardTest, BackwardMatchesNumericalGradient) {
  for (Activation act : {Activation::kRelu, Activation::kGelu}) {
    SCOPED_TRACE(static_cast<int>(act));
    Rng rng(16);
    ParamSet<double> ps;
    FeedForwardOptions o;
    o.dim = 5;
    o.inner = 7;
    o.activation = act;
    o.dropout = 0.3f;
    FeedForward<double> ffn(ps, "ffn", o, rng);
    FeedForward<double>::Workspace ws(ffn, 6);
    MatrixD x = RandomMatrix(6, 5, rng);
    const MatrixD r = RandomMatrix(6, 5, rng);
    MatrixD y(6, 5);
    auto loss = [&] {
      Rng drop_rng(5);
      ffn.Forward(x, y, ws, drop_rng, true);
      return Project(y, r);
    };
    auto grads = GradSink<double>::Shared(ps);
    MatrixD dx(6, 5);
    loss();
    ffn.Backward(x, r, grads, dx, ws);
    ExpectGradient(x, dx, loss, "x");
    ExpectParamGradients(ps, loss);
  }
}

}  // namespace
}  // namespace freshet::nn
