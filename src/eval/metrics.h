#pragma once

// Ranking metrics for one test case, computed from the 1-based ranks of its targets in the
// candidate list.
//
// Tie rule (pessimistic): the candidate list is ordered by score, highest first; among equal
// scores every non-target comes before every target, and targets among themselves keep their
// order in the case. So
//   rank(t) = 1 + #{non-target candidates c : score(c) >= score(t)}
//               + #{targets t' before t in that order}.
// A NaN score counts as -infinity. A model that scores everything equal therefore ranks every
// target behind all non-targets (HR@K = 0 whenever there are at least K non-targets): constant
// or saturated scores can never buy hits. Targets always get distinct ranks, so NDCG <= 1.
//
// Definitions, for a case with targets T (n = |T|), ranks r(t), and a cutoff K:
//   HR@K      = 1 if some r(t) <= K, else 0
//   Recall@K  = #{t : r(t) <= K} / n
//   NDCG@K    = DCG / IDCG, DCG = sum over t with r(t) <= K of 1 / log2(r(t) + 1),
//               IDCG = sum over i = 1..min(K, n) of 1 / log2(i + 1)   (binary relevance)
//   MRR       = 1 / min r(t) over the whole candidate list (no cutoff), 0 if none is ranked
// A target that is not a candidate at all (kNotRanked, e.g. excluded as a history item) counts
// as a miss but still in n.

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace freshet::eval {

inline constexpr uint64_t kNotRanked = std::numeric_limits<uint64_t>::max();

// Ranks of the targets among `scores` under the tie rule above, where candidates
// [0, num_targets) are the targets, in that order, and the rest are non-targets.
// REQUIRES: num_targets <= scores.size(); ranks.size() == num_targets.
// O(scores.size() * num_targets): the reference implementation (the evaluator's full-catalog
// path is a faster equivalent, tested against this one).
void RankTargets(std::span<const float> scores, size_t num_targets, std::span<uint64_t> ranks);

double HitRate(std::span<const uint64_t> ranks, int k);
double Recall(std::span<const uint64_t> ranks, int k);
double Ndcg(std::span<const uint64_t> ranks, int k);
double ReciprocalRank(std::span<const uint64_t> ranks);

// The per-case metrics, in report order: HR@k, NDCG@k, Recall@k for each k of `ks`, then MRR.
std::vector<std::string> CaseMetricNames(std::span<const int> ks);
// Writes one case's values in CaseMetricNames order. REQUIRES: out.size() == 3 * ks.size() + 1.
void CaseMetrics(std::span<const uint64_t> ranks, std::span<const int> ks, std::span<double> out);

// History-length buckets for the per-length breakdown: [min, max] inclusive, in order, the last
// one open-ended. An empty history (no protocol here produces one) falls into the first bucket.
struct HistoryBucket {
  size_t min_length;
  size_t max_length;       // SIZE_MAX for the last bucket
  std::string_view label;  // "1-2", "3-5", "6-10", "11-20", "21-50", "51+"
};
std::span<const HistoryBucket> HistoryBuckets();
size_t HistoryBucketIndex(size_t history_length);

}  // namespace freshet::eval
