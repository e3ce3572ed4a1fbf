#include "rank/metrics.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace freshet::rank {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// AUC of the samples idx[0..n) by average ranks; sorts idx.
double AucOf(std::span<const float> scores, std::span<const float> labels,
             std::vector<uint32_t>& idx) {
  std::sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) { return scores[a] < scores[b]; });
  double pos = 0, neg = 0, rank_sum = 0;
  size_t i = 0;
  while (i < idx.size()) {
    size_t j = i;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) ++j;
    // Ranks i + 1 .. j share their average.
    const double avg_rank = 0.5 * static_cast<double>(i + 1 + j);
    for (size_t k = i; k < j; ++k) {
      if (labels[idx[k]] > 0.5f) {
        pos += 1;
        rank_sum += avg_rank;
      } else {
        neg += 1;
      }
    }
    i = j;
  }
  if (pos == 0 || neg == 0) return kNaN;
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

}  // namespace

double Auc(std::span<const float> scores, std::span<const float> labels) {
  assert(scores.size() == labels.size());
  std::vector<uint32_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0u);
  return AucOf(scores, labels, idx);
}

double LogLoss(std::span<const float> p, std::span<const float> labels, double eps) {
  assert(p.size() == labels.size());
  if (p.empty()) return kNaN;
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double q = std::clamp(static_cast<double>(p[i]), eps, 1.0 - eps);
    sum -= labels[i] > 0.5f ? std::log(q) : std::log(1.0 - q);
  }
  return sum / static_cast<double>(p.size());
}

double Gauc(std::span<const float> scores, std::span<const float> labels,
            std::span<const uint64_t> users) {
  assert(scores.size() == labels.size() && scores.size() == users.size());
  std::vector<uint32_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return users[a] < users[b]; });
  double weighted = 0, weight = 0;
  std::vector<uint32_t> group;
  size_t i = 0;
  while (i < order.size()) {
    size_t j = i;
    while (j < order.size() && users[order[j]] == users[order[i]]) ++j;
    group.assign(order.begin() + static_cast<std::ptrdiff_t>(i),
                 order.begin() + static_cast<std::ptrdiff_t>(j));
    const double auc = AucOf(scores, labels, group);
    if (!std::isnan(auc)) {
      weighted += auc * static_cast<double>(j - i);
      weight += static_cast<double>(j - i);
    }
    i = j;
  }
  return weight > 0 ? weighted / weight : kNaN;
}

}  // namespace freshet::rank
