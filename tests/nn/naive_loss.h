#pragma once

// Loop implementations of the losses and their gradients, in double, materialising every logit:
// the oracles for the fused and chunked kernels in nn/loss.h.

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "core/ids.h"
#include "nn/tensor.h"

namespace freshet::nn::testing {

struct NaiveLoss {
  double sum = 0;
  int64_t count = 0;
  Matrix<double> d_hidden;
  Matrix<double> d_items;
};

inline double Dot(const Matrix<double>& a, Eigen::Index i, const Matrix<double>& b,
                  Eigen::Index j) {
  double s = 0;
  for (Eigen::Index c = 0; c < a.cols(); ++c) s += a(i, c) * b(j, c);
  return s;
}

inline NaiveLoss NaiveFullSoftmax(const Matrix<double>& hidden, std::span<const ItemId> targets,
                                  const Matrix<double>& items, double scale) {
  NaiveLoss out;
  out.d_hidden = Matrix<double>::Zero(hidden.rows(), hidden.cols());
  out.d_items = Matrix<double>::Zero(items.rows(), items.cols());
  for (Eigen::Index r = 0; r < hidden.rows(); ++r) {
    if (targets[r] == kNoId) continue;
    std::vector<double> logit(items.rows());
    double z = 0;
    for (Eigen::Index i = 0; i < items.rows(); ++i) {
      logit[i] = Dot(hidden, r, items, i);
      z += std::exp(logit[i]);  // small test logits: no overflow
    }
    out.sum += std::log(z) - logit[targets[r]];
    ++out.count;
    for (Eigen::Index i = 0; i < items.rows(); ++i) {
      const double g = scale * (std::exp(logit[i]) / z - (i == targets[r] ? 1.0 : 0.0));
      out.d_hidden.row(r) += g * items.row(i);
      out.d_items.row(i) += g * hidden.row(r);
    }
  }
  return out;
}

inline NaiveLoss NaiveBce(const Matrix<double>& hidden, std::span<const ItemId> positives,
                          std::span<const ItemId> negatives, const Matrix<double>& items,
                          double scale) {
  NaiveLoss out;
  out.d_hidden = Matrix<double>::Zero(hidden.rows(), hidden.cols());
  out.d_items = Matrix<double>::Zero(items.rows(), items.cols());
  const size_t k = negatives.size() / positives.size();
  auto sigmoid = [](double x) { return 1 / (1 + std::exp(-x)); };
  for (Eigen::Index r = 0; r < hidden.rows(); ++r) {
    if (positives[r] == kNoId) continue;
    ++out.count;
    for (size_t c = 0; c <= k; ++c) {
      const ItemId id = c == 0 ? positives[r] : negatives[r * k + c - 1];
      if (id == kNoId) continue;
      const double s = Dot(hidden, r, items, id);
      const double label = c == 0 ? 1.0 : 0.0;
      out.sum += -(label * std::log(sigmoid(s)) + (1 - label) * std::log(1 - sigmoid(s)));
      const double g = scale * (sigmoid(s) - label);
      out.d_hidden.row(r) += g * items.row(id);
      out.d_items.row(id) += g * hidden.row(r);
    }
  }
  return out;
}

inline NaiveLoss NaiveSampledSoftmax(const Matrix<double>& hidden,
                                     std::span<const ItemId> positives,
                                     std::span<const ItemId> negatives, const Matrix<double>& items,
                                     std::span<const double> log_q, bool remove_hits,
                                     double scale) {
  NaiveLoss out;
  out.d_hidden = Matrix<double>::Zero(hidden.rows(), hidden.cols());
  out.d_items = Matrix<double>::Zero(items.rows(), items.cols());
  const size_t k = negatives.size() / positives.size();
  for (Eigen::Index r = 0; r < hidden.rows(); ++r) {
    if (positives[r] == kNoId) continue;
    ++out.count;
    std::vector<ItemId> ids;
    std::vector<double> logit;
    for (size_t c = 0; c <= k; ++c) {
      const ItemId id = c == 0 ? positives[r] : negatives[r * k + c - 1];
      if (id == kNoId || (c > 0 && remove_hits && id == positives[r])) continue;
      ids.push_back(id);
      logit.push_back(Dot(hidden, r, items, id) - (log_q.empty() ? 0.0 : log_q[id]));
    }
    double z = 0;
    for (double l : logit) z += std::exp(l);
    out.sum += std::log(z) - logit[0];
    for (size_t c = 0; c < ids.size(); ++c) {
      const double g = scale * (std::exp(logit[c]) / z - (c == 0 ? 1.0 : 0.0));
      out.d_hidden.row(r) += g * items.row(ids[c]);
      out.d_items.row(ids[c]) += g * hidden.row(r);
    }
  }
  return out;
}

}  // namespace freshet::nn::testing
