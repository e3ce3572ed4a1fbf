#include "eval/metrics.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>

namespace freshet::eval {
namespace {

float Sanitize(float s) { return std::isnan(s) ? -std::numeric_limits<float>::infinity() : s; }

double Discount(uint64_t rank) { return 1.0 / std::log2(static_cast<double>(rank) + 1.0); }

constexpr std::array<HistoryBucket, 6> kBuckets = {{
    {0, 2, "1-2"},
    {3, 5, "3-5"},
    {6, 10, "6-10"},
    {11, 20, "11-20"},
    {21, 50, "21-50"},
    {51, std::numeric_limits<size_t>::max(), "51+"},
}};

}  // namespace

void RankTargets(std::span<const float> scores, size_t num_targets, std::span<uint64_t> ranks) {
  assert(num_targets <= scores.size() && ranks.size() == num_targets);
  for (size_t t = 0; t < num_targets; ++t) {
    const float st = Sanitize(scores[t]);
    uint64_t ahead = 0;
    for (size_t c = num_targets; c < scores.size(); ++c) ahead += Sanitize(scores[c]) >= st;
    for (size_t o = 0; o < num_targets; ++o) {
      const float so = Sanitize(scores[o]);
      ahead += so > st || (so == st && o < t);
    }
    ranks[t] = ahead + 1;
  }
}

double HitRate(std::span<const uint64_t> ranks, int k) {
  for (uint64_t r : ranks) {
    if (r <= static_cast<uint64_t>(k)) return 1.0;
  }
  return 0.0;
}

double Recall(std::span<const uint64_t> ranks, int k) {
  if (ranks.empty()) return 0.0;
  size_t hits = 0;
  for (uint64_t r : ranks) hits += r <= static_cast<uint64_t>(k);
  return static_cast<double>(hits) / static_cast<double>(ranks.size());
}

double Ndcg(std::span<const uint64_t> ranks, int k) {
  double dcg = 0;
  for (uint64_t r : ranks) {
    if (r <= static_cast<uint64_t>(k)) dcg += Discount(r);
  }
  double ideal = 0;
  const size_t n = std::min(ranks.size(), static_cast<size_t>(k));
  for (size_t i = 1; i <= n; ++i) ideal += Discount(i);
  return ideal > 0 ? dcg / ideal : 0.0;
}

double ReciprocalRank(std::span<const uint64_t> ranks) {
  uint64_t best = kNotRanked;
  for (uint64_t r : ranks) best = std::min(best, r);
  return best == kNotRanked ? 0.0 : 1.0 / static_cast<double>(best);
}

std::vector<std::string> CaseMetricNames(std::span<const int> ks) {
  std::vector<std::string> names;
  for (int k : ks) {
    const std::string at = "@" + std::to_string(k);
    names.push_back("HR" + at);
    names.push_back("NDCG" + at);
    names.push_back("Recall" + at);
  }
  names.push_back("MRR");
  return names;
}

void CaseMetrics(std::span<const uint64_t> ranks, std::span<const int> ks, std::span<double> out) {
  assert(out.size() == 3 * ks.size() + 1);
  size_t i = 0;
  for (int k : ks) {
    out[i++] = HitRate(ranks, k);
    out[i++] = Ndcg(ranks, k);
    out[i++] = Recall(ranks, k);
  }
  out[i] = ReciprocalRank(ranks);
}

std::span<const HistoryBucket> HistoryBuckets() { return kBuckets; }

size_t HistoryBucketIndex(size_t history_length) {
  size_t i = 0;
  while (history_length > kBuckets[i].max_length) ++i;
  return i;
}

}  // namespace freshet::eval
