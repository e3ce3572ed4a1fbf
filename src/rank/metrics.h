#pragma once

// Offline metrics of click models: AUC, logloss and GAUC.

#include <cstdint>
#include <span>

namespace freshet::rank {

// Area under the ROC curve: the probability that a random positive scores above a random
// negative, ties counting one half (the Mann-Whitney U statistic over average ranks). NaN when
// there are no positives or no negatives. REQUIRES: equal sizes; labels are 0 or 1. O(n log n).
double Auc(std::span<const float> scores, std::span<const float> labels);

// Mean binary cross-entropy in nats, probabilities clipped to [eps, 1 - eps] so that a confident
// mistake costs -ln(eps), not infinity. NaN for no samples. REQUIRES: equal sizes.
double LogLoss(std::span<const float> probabilities, std::span<const float> labels,
               double eps = 1e-7);

// Group AUC (Zhou et al. 2018, DIN): the AUC of each user's samples, averaged with the user's
// number of samples as weight; users whose samples are all of one class are skipped. NaN when
// every user is skipped. REQUIRES: equal sizes.
double Gauc(std::span<const float> scores, std::span<const float> labels,
            std::span<const uint64_t> users);

}  // namespace freshet::rank
