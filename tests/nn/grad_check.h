#pragma once

// Numerical gradient checks for the nn kernels. The kernels are instantiated in double for these
// tests, so central differences with a tiny step agree with the analytic gradient to ~1e-9 and
// the tolerance can be tight without flakiness.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "nn/random.h"
#include "nn/tensor.h"

namespace freshet::nn::testing {

using MatrixD = Matrix<double>;
using MatrixF = Matrix<float>;

inline MatrixD RandomMatrix(int rows, int cols, Rng& rng, double scale = 1.0) {
  MatrixD m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = scale * rng.Normal();
  return m;
}

// sum(y * r): a scalar whose gradient with respect to y is r.
inline double Project(const MatrixD& y, const MatrixD& r) { return (y.array() * r.array()).sum(); }

// Compares `analytic` (the gradient of loss() with respect to m) with central differences,
// perturbing at most max_checks elements of m (spread over the whole matrix) in place.
inline void ExpectGradient(MatrixD& m, const MatrixD& analytic, const std::function<double()>& loss,
                           const std::string& what, int max_checks = 400) {
  ASSERT_EQ(m.rows(), analytic.rows()) << what;
  ASSERT_EQ(m.cols(), analytic.cols()) << what;
  constexpr double kStep = 1e-6;
  constexpr double kRtol = 1e-5;
  constexpr double kAtol = 1e-7;
  const Eigen::Index n = m.size();
  const Eigen::Index stride = std::max<Eigen::Index>(1, n / max_checks);
  int failures = 0;
  for (Eigen::Index i = 0; i < n; i += stride) {
    double& x = m.data()[i];
    const double saved = x;
    x = saved + kStep;
    const double up = loss();
    x = saved - kStep;
    const double down = loss();
    x = saved;
    const double numeric = (up - down) / (2 * kStep);
    const double a = analytic.data()[i];
    if (std::abs(a - numeric) > kAtol + kRtol * std::max(std::abs(a), std::abs(numeric))) {
      if (++failures <= 5) {
        ADD_FAILURE() << what << "[" << i / m.cols() << "," << i % m.cols() << "]: analytic " << a
                      << " numeric " << numeric;
      }
    }
  }
  EXPECT_EQ(failures, 0) << what;
}

// ExpectGradient for every parameter of `params` against its grad.
inline void ExpectParamGradients(ParamSet<double>& params, const std::function<double()>& loss,
                                 int max_checks = 400) {
  for (int i = 0; i < params.size(); ++i) {
    Param<double>& p = params[i];
    const MatrixD analytic = p.grad;
    ExpectGradient(p.value, analytic, loss, p.name, max_checks);
  }
}

// Copies every parameter value of a double set into a float set built the same way.
inline void CopyValues(const ParamSet<double>& from, ParamSet<float>& to) {
  ASSERT_EQ(from.size(), to.size());
  for (int i = 0; i < from.size(); ++i) to[i].value = from[i].value.cast<float>();
}

// Largest |a - b| relative to the largest |b| (1 when b is all zero).
template <typename A, typename B>
double RelativeError(const A& a, const B& b) {
  const double scale = std::max(1e-30, b.template cast<double>().cwiseAbs().maxCoeff());
  return (a.template cast<double>() - b.template cast<double>()).cwiseAbs().maxCoeff() / scale;
}

}  // namespace freshet::nn::testing
