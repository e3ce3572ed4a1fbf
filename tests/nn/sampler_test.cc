#include "nn/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace freshet::nn {
namespace {

std::vector<float> Counts() {
  // A long tail: item i seen 100 / (i + 1) times, two items never.
  std::vector<float> c(50);
  for (size_t i = 0; i < c.size(); ++i) c[i] = 100.0f / static_cast<float>(i + 1);
  c[10] = 0;
  c[40] = 0;
  return c;
}

TEST(MixedNegativeSamplerTest, ProbabilitiesAreTheMixtureAndSumToOne) {
  const std::vector<float> c = Counts();
  double total = 0;
  for (float x : c) total += x;
  const MixedNegativeSampler s(c, 0.25);
  double sum = 0;
  for (ItemId i = 0; i < c.size(); ++i) {
    EXPECT_NEAR(s.probability(i), 0.75 / 50 + 0.25 * c[i] / total, 1e-7) << i;
    sum += s.probability(i);
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(s.probability(10), 0.75 / 50, 1e-7);  // unseen: the uniform part only
}

TEST(MixedNegativeSamplerTest, DrawsFollowTheProbabilitiesWithMatchingWeights) {
  const std::vector<float> c = Counts();
  const MixedNegativeSampler s(c, 0.5);
  Rng rng(5);
  std::vector<ItemId> ids;
  std::vector<float> w;
  const int k = 64, rounds = 4000;
  std::vector<double> seen(c.size(), 0);
  for (int r = 0; r < rounds; ++r) {
    s.Draw(k, rng, &ids, &w);
    ASSERT_EQ(ids.size(), static_cast<size_t>(k));
    for (int j = 0; j < k; ++j) {
      ASSERT_LT(ids[j], c.size());
      ASSERT_NEAR(w[j], -std::log(k * s.probability(ids[j])), 1e-5);
      seen[ids[j]] += 1;
    }
  }
  const double draws = static_cast<double>(k) * rounds;
  for (ItemId i = 0; i < c.size(); ++i) {
    const double p = s.probability(i);
    // Five binomial standard deviations.
    EXPECT_NEAR(seen[i] / draws, p, 5 * std::sqrt(p * (1 - p) / draws)) << i;
  }
}

TEST(MixedNegativeSamplerTest, WeightedSumEstimatesTheCatalogSumWithoutBias) {
  // The softmax normaliser sum_i exp(s_i), with scores that favour popular items as trained
  // models' do: the mean of the weighted sample sums must match it, for any share.
  const std::vector<float> c = Counts();
  std::vector<double> v(c.size());
  double want = 0;
  for (size_t i = 0; i < c.size(); ++i) want += v[i] = std::exp(0.05 * c[i]);
  for (double share : {0.0, 0.5, 1.0}) {
    const MixedNegativeSampler s(c, share);
    Rng rng(6);
    std::vector<ItemId> ids;
    std::vector<float> w;
    double mean = 0;
    const int rounds = 20000;
    for (int r = 0; r < rounds; ++r) {
      s.Draw(16, rng, &ids, &w);
      double est = 0;
      for (size_t j = 0; j < ids.size(); ++j) est += std::exp(double{w[j]}) * v[ids[j]];
      mean += est / rounds;
    }
    EXPECT_NEAR(mean / want, 1.0, 0.01) << share;
  }
}

TEST(MixedNegativeSamplerTest, NoCountsMeansUniform) {
  const std::vector<float> zero(8, 0.0f);
  const MixedNegativeSampler s(zero, 0.5);
  EXPECT_EQ(s.share(), 0.0);
  Rng rng(7);
  std::vector<ItemId> ids;
  std::vector<float> w;
  s.Draw(4, rng, &ids, &w);
  for (float x : w) EXPECT_FLOAT_EQ(x, std::log(8.0f / 4.0f));
}

}  // namespace
}  // namespace freshet::nn
