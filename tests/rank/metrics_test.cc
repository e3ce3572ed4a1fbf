#include "rank/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace freshet::rank {
namespace {

TEST(CtrMetricsTest, AucOfAHandComputedCase) {
  // Pairs (pos, neg): (0.35, 0.1) yes, (0.35, 0.4) no, (0.8, *) yes twice: 3 of 4.
  std::vector<float> s = {0.1f, 0.4f, 0.35f, 0.8f}, y = {0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(Auc(s, y), 0.75);
}

TEST(CtrMetricsTest, AucCountsTiesAsHalf) {
  std::vector<float> s = {0.5f, 0.5f, 0.2f}, y = {1, 0, 0};
  // The positive beats 0.2 and ties 0.5: (1 + 0.5) / 2.
  EXPECT_DOUBLE_EQ(Auc(s, y), 0.75);
  std::vector<float> two = {0.1f, 0.2f}, one_class = {1, 1};
  EXPECT_TRUE(std::isnan(Auc(two, one_class))) << "undefined without negatives";
}

TEST(CtrMetricsTest, LogLossOfAHandComputedCase) {
  std::vector<float> p = {0.9f, 0.2f}, y = {1, 0};
  EXPECT_NEAR(LogLoss(p, y), (-std::log(0.9) - std::log(0.8)) / 2, 1e-7);
  std::vector<float> sure = {0.0f}, one = {1};
  EXPECT_NEAR(LogLoss(sure, one), -std::log(1e-7), 1e-6) << "clipped, not infinite";
}

TEST(CtrMetricsTest, GaucWeightsUsersByImpressionsAndSkipsOneClassUsers) {
  // User 1: AUC 1 over 2 impressions. User 2: AUC 0 over 3. User 3: positives only, skipped.
  std::vector<float> s = {0.9f, 0.1f, 0.2f, 0.8f, 0.5f, 0.3f, 0.6f};
  std::vector<float> y = {1, 0, 1, 0, 0, 1, 1};
  std::vector<uint64_t> u = {1, 1, 2, 2, 2, 3, 3};
  EXPECT_DOUBLE_EQ(Gauc(s, y, u), (1.0 * 2 + 0.0 * 3) / 5);
}

}  // namespace
}  // namespace freshet::rank
