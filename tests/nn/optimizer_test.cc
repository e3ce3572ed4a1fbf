#include "nn/optimizer.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "grad_check.h"
#include "nn/data_parallel.h"

namespace freshet::nn {
namespace {

using testing::MatrixD;

// Two Adam steps on w = [1, -2], worked by hand:
// step 1, g = [0.5, 0.1]: m = [0.05, 0.01], v = [2.5e-4, 1e-5], m_hat = g, v_hat = g^2, so each
//   coordinate moves by lr: w = [0.9, -2.1].
// step 2, g = [-0.5, 0.3]: m = [-0.005, 0.039], v = [4.9975e-4, 9.999e-5], bc1 = 0.19,
//   bc2 = 0.001999: m_hat = [-0.0263158, 0.2052632], v_hat = [0.25, 0.0500200],
//   w = [0.9 + 0.1 * 0.0526316, -2.1 - 0.1 * 0.9177810] = [0.9052632, -2.1917781].
constexpr double kStep1[2] = {0.9, -2.1};
constexpr double kStep2[2] = {0.9052632, -2.1917781};

TEST(AdamTest, TwoStepsMatchHandComputedUpdates) {
  ParamSet<double> ps;
  Param<double>& w = ps.Add("w", 1, 2);
  w.value << 1.0, -2.0;
  AdamOptions o;
  o.learning_rate = 0.1f;
  Adam<double> adam(ps, o);
  w.grad << 0.5, 0.1;
  adam.Step();
  EXPECT_NEAR(w.value(0, 0), kStep1[0], 1e-6);
  EXPECT_NEAR(w.value(0, 1), kStep1[1], 1e-6);
  w.grad << -0.5, 0.3;
  adam.Step();
  EXPECT_NEAR(w.value(0, 0), kStep2[0], 1e-6);
  EXPECT_NEAR(w.value(0, 1), kStep2[1], 1e-6);
  EXPECT_EQ(adam.steps(), 2);
}

TEST(AdamTest, DecoupledDecayShrinksWeightsAndSkipsParamsWithoutDecay) {
  ParamSet<double> ps;
  Param<double>& w = ps.Add("w", 1, 1);
  Param<double>& b = ps.Add("b", 1, 1, /*decay=*/false);
  w.value << 1.0;
  b.value << 1.0;
  AdamOptions o;
  o.learning_rate = 0.1f;
  o.weight_decay = 0.1f;
  Adam<double> adamw(ps, o);
  adamw.Step();  // zero gradients: only the decay moves w, by lr * wd * w
  EXPECT_NEAR(w.value(0, 0), 0.99, 1e-7);
  EXPECT_EQ(b.value(0, 0), 1.0);

  // Classic L2: the decay is a gradient wd * w = 0.1, which Adam's first step turns into lr.
  ParamSet<double> ps2;
  Param<double>& w2 = ps2.Add("w", 1, 1);
  w2.value << 1.0;
  o.decoupled_weight_decay = false;
  Adam<double> adam_l2(ps2, o);
  adam_l2.Step();
  EXPECT_NEAR(w2.value(0, 0), 0.9, 1e-6);
}

TEST(AdamTest, GrownRowsStartWithFreshMomentsAndOldRowsKeepTheirs) {
  ParamSet<double> ps;
  Param<double>& w = ps.Add("w", 1, 2);
  w.value << 1.0, -2.0;
  AdamOptions o;
  o.learning_rate = 0.1f;
  Adam<double> adam(ps, o);
  w.grad << 0.5, 0.1;
  adam.Step();
  GrowRows(w, 3);
  EXPECT_EQ(w.value.rows(), 3);
  EXPECT_NEAR(w.value(0, 0), kStep1[0], 1e-6);  // untouched by growth
  EXPECT_TRUE(w.value.bottomRows(2).isZero());
  w.grad.setZero();
  w.grad.row(0) << -0.5, 0.3;
  adam.Step();
  EXPECT_NEAR(w.value(0, 0), kStep2[0], 1e-6);
  EXPECT_NEAR(w.value(0, 1), kStep2[1], 1e-6);
  EXPECT_TRUE(w.value.bottomRows(2).isZero());  // zero gradient, zero moments: no move
}

// Twin parameter sets, for tests that step one one way and the other another: the same three
// params (a matrix, a one-row bias, a larger matrix) with the same random values and gradients.
void AddTwinParams(ParamSet<float>& a, ParamSet<float>& b, Rng& rng) {
  const char* names[] = {"w", "bias", "big"};
  int next = 0;
  for (auto [rows, cols] : {std::pair{7, 5}, {1, 3}, {40, 9}}) {
    const char* name = names[next++];
    Param<float>& pa = a.Add(name, rows, cols);
    Param<float>& pb = b.Add(name, rows, cols);
    pa.value = testing::RandomMatrix(rows, cols, rng).cast<float>();
    pb.value = pa.value;
    pa.grad = testing::RandomMatrix(rows, cols, rng).cast<float>();
    pb.grad = pa.grad;
  }
}

// Steps twin parameter sets (AddTwinParams) three times, one with Adam::Step, the other with
// `step_other`, and checks that the weights agree: to the bit, or within `tolerance`.
void ExpectTwinStepsAgree(uint64_t seed,
                          const std::function<void(Adam<float>&, ParamSet<float>&)>& step_other,
                          float tolerance = 0) {
  Rng rng(seed);
  ParamSet<float> a, b;
  AddTwinParams(a, b, rng);
  AdamOptions o;
  o.weight_decay = 0.01f;
  Adam<float> whole(a, o), other(b, o);
  for (int s = 0; s < 3; ++s) {
    whole.Step();
    step_other(other, b);
  }
  EXPECT_EQ(other.steps(), 3);
  for (int i = 0; i < a.size(); ++i) {
    if (tolerance == 0) {
      EXPECT_EQ(a[i].value, b[i].value) << a[i].name;
    } else {
      EXPECT_LT((a[i].value - b[i].value).cwiseAbs().maxCoeff(), tolerance) << a[i].name;
    }
  }
}

TEST(AdamTest, PooledStepEqualsSerialStep) {
  ThreadPool pool(3);
  ExpectTwinStepsAgree(51, [&](Adam<float>& adam, ParamSet<float>&) { adam.Step(&pool); });
}

// BeginStep once, then StepPart on every part (in any order, as workers would) is one Step.
TEST(AdamTest, StepPartsEqualOneStep) {
  ExpectTwinStepsAgree(52, [](Adam<float>& adam, ParamSet<float>&) {
    adam.BeginStep();
    for (int part : {2, 0, 1}) adam.StepPart(part, 3);
  });
}

// StepRange over pieces, each with its own part of a gradient the caller computed, is one Step
// (up to rounding, as StepRangeSummed below).
TEST(AdamTest, StepRangeWithTheCallersGradientEqualsStep) {
  ExpectTwinStepsAgree(
      54,
      [](Adam<float>& adam, ParamSet<float>& params) {
        adam.BeginStep();
        for (int i = 0; i < params.size(); ++i) {
          const size_t n = static_cast<size_t>(params[i].value.size());
          const std::vector<float> g(params[i].grad.data(), params[i].grad.data() + n);
          adam.StepRange(params[i], n / 2, n, g.data() + n / 2);
          adam.StepRange(params[i], 0, n / 2, g.data());
        }
      },
      1e-6f);
}

// A fused step over any partition of the elements, with the gradient split over three buffers,
// gives the weights of reducing into the params' grads and stepping; the buffers end zeroed.
TEST(AdamTest, StepRangeSummedEqualsReduceThenStep) {
  Rng rng(53);
  ParamSet<float> a, b;
  Param<float>& pa = a.Add("w", 30, 41);
  Param<float>& pb = b.Add("w", 30, 41);
  pa.value = testing::RandomMatrix(30, 41, rng).cast<float>();
  pb.value = pa.value;
  AdamOptions o;
  o.weight_decay = 0.01f;
  Adam<float> reduced(a, o), fused(b, o);
  for (int s = 0; s < 3; ++s) {
    std::vector<Matrix<float>> parts;
    for (int w = 0; w < 3; ++w) parts.push_back(testing::RandomMatrix(30, 41, rng).cast<float>());
    pa.grad = parts[0];
    for (int w = 1; w < 3; ++w) pa.grad += parts[w];
    reduced.Step();
    pb.grad = parts[0];
    float* sums[] = {pb.grad.data(), parts[1].data(), parts[2].data()};
    fused.BeginStep();
    const size_t n = static_cast<size_t>(pb.value.size());
    // Uneven pieces, one longer than the function's internal chunk.
    for (auto [begin, end] : {std::pair<size_t, size_t>{700, n}, {0, 3}, {3, 700}}) {
      fused.StepRangeSummed(pb, begin, end, sums);
    }
    // Equal up to rounding: the compiler may contract a multiply-add differently at a piece's
    // edge (vector body or scalar tail) than in the middle.
    EXPECT_LT((pa.value - pb.value).cwiseAbs().maxCoeff(), 1e-6f) << "step " << s;
    EXPECT_TRUE(pb.grad.isZero(0.0f));
    EXPECT_TRUE(parts[2].isZero(0.0f));
  }
}

TEST(ClipGradNormTest, ScalesOnlyAboveTheLimit) {
  ParamSet<double> ps;
  Param<double>& p = ps.Add("p", 1, 2);
  Param<double>& q = ps.Add("q", 1, 1);
  p.grad << 3.0, 0.0;
  q.grad << 4.0;
  EXPECT_DOUBLE_EQ(ClipGradNorm(ps, 10.0), 5.0);
  EXPECT_EQ(p.grad(0, 0), 3.0);
  EXPECT_DOUBLE_EQ(ClipGradNorm(ps, 1.0), 5.0);
  EXPECT_NEAR(p.grad(0, 0), 0.6, 1e-12);
  EXPECT_NEAR(q.grad(0, 0), 0.8, 1e-12);
}

}  // namespace
}  // namespace freshet::nn
