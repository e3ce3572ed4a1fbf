#include "nn/sampler.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace freshet::nn {

MixedNegativeSampler::MixedNegativeSampler(std::span<const float> counts, double share)
    : cumulative_(counts.size()), log_q_(counts.size()), share_(share) {
  assert(!counts.empty() && share >= 0 && share <= 1);
  double total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    assert(counts[i] >= 0);
    cumulative_[i] = total += counts[i];
  }
  if (total <= 0) share_ = 0;
  const double n = static_cast<double>(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    const double q = (1 - share_) / n + (share_ > 0 ? share_ * counts[i] / total : 0.0);
    log_q_[i] = static_cast<float>(std::log(q));
  }
}

double MixedNegativeSampler::probability(ItemId i) const { return std::exp(double{log_q_[i]}); }

void MixedNegativeSampler::Draw(int k, Rng& rng, std::vector<ItemId>* ids,
                                std::vector<float>* log_weights) const {
  ids->resize(static_cast<size_t>(k));
  log_weights->resize(static_cast<size_t>(k));
  const float log_k = std::log(static_cast<float>(k));
  const double total = cumulative_.back();
  for (int j = 0; j < k; ++j) {
    ItemId id;
    if (share_ > 0 && rng.Uniform() < share_) {
      // The first item whose cumulative count exceeds u: never one with a zero count.
      const double u = rng.Uniform() * total;
      id = static_cast<ItemId>(std::upper_bound(cumulative_.begin(), cumulative_.end(), u) -
                               cumulative_.begin());
      id = std::min<ItemId>(id, static_cast<ItemId>(cumulative_.size() - 1));
    } else {
      id = static_cast<ItemId>(rng.Below(cumulative_.size()));
    }
    (*ids)[j] = id;
    (*log_weights)[j] = -log_k - log_q_[id];
  }
}

}  // namespace freshet::nn
