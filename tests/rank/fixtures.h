#pragma once

// Synthetic Criteo-shaped train / valid / test sets with a planted truth, shared by the model
// tests, and the frequency baseline the models must beat.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "rank/dataset.h"
#include "rank/metrics.h"
#include "rank/synthetic.h"

namespace freshet::rank::testing {

inline CtrDataset SyntheticSet(uint64_t rows, uint64_t seed, std::vector<float>* truth = nullptr) {
  SyntheticCtrOptions o;
  o.rows = rows;
  o.seed = seed;
  std::string text;
  GenerateSyntheticCriteo(o, &text, truth);
  auto data = ParseCtrText(text, "synthetic", CtrFormat::kCriteo);
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  return std::move(*data);
}

// The best AUC on `test` of one field's smoothed click rate measured on `train`: what counting
// alone gets without any model.
inline double FrequencyBaselineAuc(const CtrDataset& train, const CtrDataset& test) {
  double prior = 0;
  for (float y : train.labels) prior += y;
  prior /= static_cast<double>(train.size());
  double best = 0.5;
  const int f_count = train.num_fields;
  for (int f = 0; f < f_count; ++f) {
    std::unordered_map<uint64_t, std::pair<double, double>> stats;  // clicks, shows
    for (size_t i = 0; i < train.size(); ++i) {
      auto& s = stats[train.features[i * f_count + f]];
      s.first += train.labels[i];
      s.second += 1;
    }
    std::vector<float> scores(test.size());
    for (size_t i = 0; i < test.size(); ++i) {
      auto it = stats.find(test.features[i * f_count + f]);
      const double clicks = it == stats.end() ? 0 : it->second.first;
      const double shows = it == stats.end() ? 0 : it->second.second;
      scores[i] = static_cast<float>((clicks + 10 * prior) / (shows + 10));
    }
    best = std::max(best, Auc(scores, test.labels));
  }
  return best;
}

}  // namespace freshet::rank::testing
