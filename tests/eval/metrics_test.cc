#include "eval/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace freshet::eval {
namespace {

std::vector<uint64_t> Ranks(const std::vector<float>& scores, size_t num_targets) {
  std::vector<uint64_t> ranks(num_targets);
  RankTargets(scores, num_targets, ranks);
  return ranks;
}

TEST(MetricsTest, TargetAtRankThreeOfTen) {
  // The target (candidate 0) scores 0.7; two of the nine others score higher.
  const std::vector<float> scores = {0.7f, 0.9f, 0.1f, 0.8f, 0.2f, 0.3f, 0.0f, 0.5f, 0.4f, 0.6f};
  const auto ranks = Ranks(scores, 1);
  ASSERT_EQ(ranks, (std::vector<uint64_t>{3}));
  EXPECT_EQ(HitRate(ranks, 5), 1.0);
  EXPECT_EQ(HitRate(ranks, 2), 0.0);
  EXPECT_DOUBLE_EQ(Ndcg(ranks, 5), 0.5);  // 1 / log2(3 + 1)
  EXPECT_EQ(Ndcg(ranks, 2), 0.0);
  EXPECT_EQ(Recall(ranks, 5), 1.0);
  EXPECT_DOUBLE_EQ(ReciprocalRank(ranks), 1.0 / 3);
}

TEST(MetricsTest, TwoTargetsAtRanksOneAndFour) {
  const std::vector<uint64_t> ranks = {4, 1};
  EXPECT_EQ(HitRate(ranks, 3), 1.0);
  EXPECT_EQ(Recall(ranks, 3), 0.5);
  EXPECT_EQ(Recall(ranks, 4), 1.0);
  // Ideal DCG for two targets: 1 + 1/log2(3).
  const double ideal = 1.0 + 1.0 / std::log2(3.0);
  EXPECT_DOUBLE_EQ(Ndcg(ranks, 3), 1.0 / ideal);
  EXPECT_DOUBLE_EQ(Ndcg(ranks, 5), (1.0 + 1.0 / std::log2(5.0)) / ideal);
  // With K = 1 only one target fits: the ideal is 1, and rank 1 achieves it.
  EXPECT_DOUBLE_EQ(Ndcg(ranks, 1), 1.0);
  EXPECT_DOUBLE_EQ(ReciprocalRank(ranks), 1.0);
}

TEST(MetricsTest, BothTargetsOnTopGiveNdcgOne) {
  EXPECT_DOUBLE_EQ(Ndcg(std::vector<uint64_t>{2, 1}, 10), 1.0);
  EXPECT_DOUBLE_EQ(Ndcg(std::vector<uint64_t>{1, 3}, 10),
                   (1.0 + 0.5) / (1.0 + 1.0 / std::log2(3.0)));
}

TEST(MetricsTest, ConstantScoresRankTheTargetLast) {
  const std::vector<float> scores(101, 0.25f);
  const auto ranks = Ranks(scores, 1);
  EXPECT_EQ(ranks[0], 101u);
  EXPECT_EQ(HitRate(ranks, 10), 0.0);
  EXPECT_EQ(Ndcg(ranks, 10), 0.0);
  EXPECT_DOUBLE_EQ(ReciprocalRank(ranks), 1.0 / 101);
}

TEST(MetricsTest, TiesCountAgainstTheTargetButNotAmongTargets) {
  // Target 0 ties with one non-target and with target 1; target 1 comes after target 0.
  const std::vector<float> scores = {0.5f, 0.5f, 0.9f, 0.5f, 0.1f};
  EXPECT_EQ(Ranks(scores, 2), (std::vector<uint64_t>{3, 4}));
  // Two targets alone on top with equal scores still take ranks 1 and 2.
  EXPECT_EQ(Ranks({0.8f, 0.8f, 0.1f}, 2), (std::vector<uint64_t>{1, 2}));
}

TEST(MetricsTest, NanScoresRankBelowEverything) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Ranks({nan, 0.1f, -inf, 0.3f}, 1), (std::vector<uint64_t>{4}));
  // A NaN non-target counts as -infinity: below a finite target.
  EXPECT_EQ(Ranks({0.0f, nan, nan}, 1), (std::vector<uint64_t>{1}));
}

TEST(MetricsTest, UnrankedTargetIsAMissThatStillCounts) {
  const std::vector<uint64_t> ranks = {kNotRanked, 2};
  EXPECT_EQ(HitRate(ranks, 5), 1.0);
  EXPECT_EQ(Recall(ranks, 5), 0.5);
  EXPECT_DOUBLE_EQ(Ndcg(ranks, 5), (1.0 / std::log2(3.0)) / (1.0 + 1.0 / std::log2(3.0)));
  EXPECT_DOUBLE_EQ(ReciprocalRank(ranks), 0.5);
  const std::vector<uint64_t> none = {kNotRanked};
  EXPECT_EQ(HitRate(none, 20), 0.0);
  EXPECT_EQ(ReciprocalRank(none), 0.0);
}

TEST(MetricsTest, CaseMetricsFollowTheirNames) {
  const std::vector<int> ks = {1, 5};
  EXPECT_EQ(CaseMetricNames(ks), (std::vector<std::string>{"HR@1", "NDCG@1", "Recall@1", "HR@5",
                                                           "NDCG@5", "Recall@5", "MRR"}));
  std::vector<double> out(7);
  CaseMetrics(std::vector<uint64_t>{3}, ks, out);
  EXPECT_EQ(out[0], 0.0);
  EXPECT_EQ(out[3], 1.0);
  EXPECT_DOUBLE_EQ(out[4], 0.5);
  EXPECT_DOUBLE_EQ(out[6], 1.0 / 3);
}

TEST(MetricsTest, HistoryBucketsCoverEveryLength) {
  EXPECT_EQ(HistoryBucketIndex(0), 0u);
  EXPECT_EQ(HistoryBucketIndex(2), 0u);
  EXPECT_EQ(HistoryBucketIndex(3), 1u);
  EXPECT_EQ(HistoryBucketIndex(10), 2u);
  EXPECT_EQ(HistoryBucketIndex(11), 3u);
  EXPECT_EQ(HistoryBucketIndex(50), 4u);
  EXPECT_EQ(HistoryBucketIndex(51), 5u);
  EXPECT_EQ(HistoryBucketIndex(1u << 30), 5u);
  ASSERT_EQ(HistoryBuckets().size(), 6u);
  EXPECT_EQ(HistoryBuckets()[5].label, "51+");
}

}  // namespace
}  // namespace freshet::eval
