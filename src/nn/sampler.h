#pragma once

// Negative items for SharedNegativeSoftmaxLoss, drawn with replacement from a mixture of the
// uniform distribution over the catalog and the items' popularity:
//   q_i = (1 - s) / N + s * c_i / C        (c_i the item's count, C their sum, s the share)
// Popular items dominate the softmax's normaliser, so drawing them more often lowers the variance
// of its estimate for the same number of negatives; the uniform part keeps every item reachable
// (mixed negative sampling, Yang et al., WWW 2020). Each draw comes with the importance weight
// -log(K q_i) that makes the weighted sum over K draws an unbiased estimate of the catalog sum.

#include <cstdint>
#include <span>
#include <vector>

#include "core/ids.h"
#include "nn/random.h"

namespace freshet::nn {

class MixedNegativeSampler {
 public:
  // counts[i] >= 0 per item; share in [0, 1] (0: uniform). All-zero counts sample uniformly.
  // REQUIRES: counts not empty.
  MixedNegativeSampler(std::span<const float> counts, double share);

  // Replaces *ids and *log_weights with k draws and their log importance weights.
  void Draw(int k, Rng& rng, std::vector<ItemId>* ids, std::vector<float>* log_weights) const;

  // q_i, the probability that one draw picks item i.
  double probability(ItemId i) const;
  double share() const { return share_; }

 private:
  std::vector<double> cumulative_;  // cumulative_[i] = c_0 + ... + c_i
  std::vector<float> log_q_;
  double share_;
};

}  // namespace freshet::nn
