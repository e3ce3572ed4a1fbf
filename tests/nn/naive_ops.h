#pragma once

// Slow, obviously-correct loop implementations of the nn layers, in double: the oracles the fast
// Eigen kernels are checked against (STYLE.md: every fast thing has a slow oracle).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "nn/tensor.h"

namespace freshet::nn::testing {

// y[r][o] = sum_i x[r][i] w[i][o] + b[o]
inline Matrix<double> NaiveLinear(const Matrix<double>& x, const Matrix<double>& w,
                                  const Matrix<double>& b) {
  Matrix<double> y(x.rows(), w.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    for (Eigen::Index o = 0; o < w.cols(); ++o) {
      double s = b(0, o);
      for (Eigen::Index i = 0; i < x.cols(); ++i) s += x(r, i) * w(i, o);
      y(r, o) = s;
    }
  }
  return y;
}

inline Matrix<double> NaiveLayerNorm(const Matrix<double>& x, const Matrix<double>& gamma,
                                     const Matrix<double>& beta, double eps) {
  Matrix<double> y(x.rows(), x.cols());
  const auto n = static_cast<double>(x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    double mean = 0;
    for (Eigen::Index c = 0; c < x.cols(); ++c) mean += x(r, c);
    mean /= n;
    double var = 0;
    for (Eigen::Index c = 0; c < x.cols(); ++c) var += (x(r, c) - mean) * (x(r, c) - mean);
    var /= n;
    for (Eigen::Index c = 0; c < x.cols(); ++c) {
      y(r, c) = gamma(0, c) * (x(r, c) - mean) / std::sqrt(var + eps) + beta(0, c);
    }
  }
  return y;
}

inline double NaiveGelu(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

// Multi-head self-attention by its definition: for every sequence, head and query, scores against
// every key, -inf where masked (causal or padding), softmax, weighted sum of values. A query with
// no visible key outputs zero before the output projection.
inline Matrix<double> NaiveAttention(const Matrix<double>& x, const std::vector<uint8_t>& valid,
                                     int batch, int len, int heads, bool causal,
                                     const Matrix<double>& wqkv, const Matrix<double>& bqkv,
                                     const Matrix<double>& wo, const Matrix<double>& bo) {
  const auto hidden = static_cast<int>(x.cols());
  const int dh = hidden / heads;
  const Matrix<double> qkv = NaiveLinear(x, wqkv, bqkv);
  Matrix<double> ctx = Matrix<double>::Zero(x.rows(), hidden);
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < len; ++i) {
        const int qi = b * len + i;
        if (!valid[qi]) continue;
        std::vector<double> score(len, -INFINITY);
        double mx = -INFINITY;
        for (int j = 0; j < len; ++j) {
          const int kj = b * len + j;
          if (!valid[kj] || (causal && j > i)) continue;
          double s = 0;
          for (int d = 0; d < dh; ++d) s += qkv(qi, h * dh + d) * qkv(kj, hidden + h * dh + d);
          score[j] = s / std::sqrt(static_cast<double>(dh));
          mx = std::max(mx, score[j]);
        }
        double z = 0;
        for (int j = 0; j < len; ++j) z += score[j] == -INFINITY ? 0 : std::exp(score[j] - mx);
        for (int j = 0; j < len; ++j) {
          if (score[j] == -INFINITY) continue;
          const double p = std::exp(score[j] - mx) / z;
          for (int d = 0; d < dh; ++d)
            ctx(qi, h * dh + d) += p * qkv(b * len + j, 2 * hidden + h * dh + d);
        }
      }
    }
  }
  return NaiveLinear(ctx, wo, bo);
}

}  // namespace freshet::nn::testing
