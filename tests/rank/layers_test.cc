#include "rank/layers.h"

#include <gtest/gtest.h>

#include "nn/grad_check.h"

namespace freshet::rank {
namespace {

using nn::testing::ExpectGradient;
using nn::testing::ExpectParamGradients;
using nn::testing::MatrixD;
using nn::testing::Project;
using nn::testing::RandomMatrix;

TEST(FmInteractionTest, ForwardMatchesNaivePairwiseSum) {
  nn::Rng rng(1);
  const int rows = 5, fields = 7, dim = 4;
  MatrixD x = RandomMatrix(rows, fields * dim, rng);
  MatrixD y(rows, 1);
  FmInteraction<double>::Forward(x, fields, dim, y);
  for (int r = 0; r < rows; ++r) {
    double naive = 0;
    for (int f = 0; f < fields; ++f) {
      for (int g = f + 1; g < fields; ++g) {
        naive += x.row(r).segment(f * dim, dim).dot(x.row(r).segment(g * dim, dim));
      }
    }
    EXPECT_NEAR(y(r, 0), naive, 1e-12);
  }
}

TEST(FmInteractionTest, BackwardMatchesNumericalGradient) {
  nn::Rng rng(2);
  const int rows = 6, fields = 5, dim = 3;
  MatrixD x = RandomMatrix(rows, fields * dim, rng);
  const MatrixD r = RandomMatrix(rows, 1, rng);
  MatrixD y(rows, 1);
  auto loss = [&] {
    FmInteraction<double>::Forward(x, fields, dim, y);
    return Project(y, r);
  };
  MatrixD dx = MatrixD::Constant(rows, fields * dim, 0.5);
  FmInteraction<double>::Backward(x, fields, dim, r, dx, nn::InputGrad::kAssign);
  ExpectGradient(x, dx, loss, "fm dx");
  // kAdd adds to what is there.
  MatrixD dx_add = MatrixD::Constant(rows, fields * dim, 0.5);
  FmInteraction<double>::Backward(x, fields, dim, r, dx_add, nn::InputGrad::kAdd);
  EXPECT_LT((dx_add.array() - 0.5 - dx.array()).abs().maxCoeff(), 1e-12);
}

TEST(CrossLayerTest, BackwardMatchesNumericalGradient) {
  nn::Rng rng(3);
  const int rows = 4, dim = 6;
  nn::ParamSet<double> params;
  CrossLayer<double> layer(params, "cross", dim, rng);
  params[1].value = RandomMatrix(1, dim, rng, 0.5);  // a non-zero bias exercises its gradient
  MatrixD x0 = RandomMatrix(rows, dim, rng), xl = RandomMatrix(rows, dim, rng);
  const MatrixD r = RandomMatrix(rows, dim, rng);
  CrossLayer<double>::Workspace ws(dim, rows);
  MatrixD y(rows, dim);
  auto loss = [&] {
    layer.Forward(x0, xl, y, ws);
    return Project(y, r);
  };
  loss();
  params.ZeroGrad();
  auto sink = nn::GradSink<double>::Shared(params);
  MatrixD dx0 = MatrixD::Zero(rows, dim), dxl(rows, dim);
  layer.Backward(x0, xl, r, sink, dx0, dxl, ws);
  ExpectParamGradients(params, loss);
  ExpectGradient(x0, dx0, loss, "cross dx0");
  ExpectGradient(xl, dxl, loss, "cross dxl");
}

TEST(CrossLayerTest, StackOfTwoMatchesNumericalGradientOfX0) {
  // x1 = c1(x0, x0), x2 = c2(x0, x1): x0 reaches the output through every layer, the way DCN-v2
  // uses the stack; its gradient is the sum of all the paths.
  nn::Rng rng(4);
  const int rows = 3, dim = 5;
  nn::ParamSet<double> params;
  CrossLayer<double> c1(params, "c1", dim, rng), c2(params, "c2", dim, rng);
  MatrixD x0 = RandomMatrix(rows, dim, rng);
  const MatrixD r = RandomMatrix(rows, dim, rng);
  CrossLayer<double>::Workspace w1(dim, rows), w2(dim, rows);
  MatrixD x1(rows, dim), x2(rows, dim);
  auto loss = [&] {
    c1.Forward(x0, x0, x1, w1);
    c2.Forward(x0, x1, x2, w2);
    return Project(x2, r);
  };
  loss();
  params.ZeroGrad();
  auto sink = nn::GradSink<double>::Shared(params);
  MatrixD dx0 = MatrixD::Zero(rows, dim), dx1(rows, dim), dxl0(rows, dim);
  c2.Backward(x0, x1, r, sink, dx0, dx1, w2);
  c1.Backward(x0, x0, dx1, sink, dx0, dxl0, w1);
  dx0 += dxl0;
  ExpectParamGradients(params, loss);
  ExpectGradient(x0, dx0, loss, "stack dx0");
}

}  // namespace
}  // namespace freshet::rank
