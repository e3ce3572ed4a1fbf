#include "sim/random.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "sim/world.h"

namespace freshet::sim {
namespace {

TEST(RandomTest, SplitMixMatchesItsPublishedFirstOutput) {
  // The first output of splitmix64 seeded with 0, as in the reference implementation: the
  // seeding of every stream depends on it.
  uint64_t state = 0;
  EXPECT_EQ(SplitMix64(state), 0xe220a8397b1dcdafULL);
}

constexpr uint64_t kGoldenFirst = 0x15780b2e0c2ec716ULL;
constexpr uint64_t kGoldenSecond = 0x6104d9866d113a7eULL;

TEST(RandomTest, IntegerStreamIsPinned) {
  // Golden values: a change here changes every simulated shop. Update only on purpose, together
  // with anything that records simulator output.
  Rng rng(42);
  const uint64_t first = rng.NextU64();
  const uint64_t second = rng.NextU64();
  Rng again(42);
  EXPECT_EQ(again.NextU64(), first);
  EXPECT_EQ(again.NextU64(), second);
  EXPECT_EQ(first, kGoldenFirst);
  EXPECT_EQ(second, kGoldenSecond);
}

TEST(RandomTest, StreamsOfOneSeedDiffer) {
  Rng a(42, 1), b(42, 2), c(43, 1);
  const uint64_t x = a.NextU64();
  EXPECT_NE(x, b.NextU64());
  EXPECT_NE(x, c.NextU64());
}

TEST(RandomTest, BelowStaysInRangeAndCoversIt) {
  Rng rng(1);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70'000; ++i) {
    const uint64_t v = rng.Below(7);
    ASSERT_LT(v, 7u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, 10'000, 500);
  EXPECT_EQ(rng.Below(1), 0u);
}

struct Moments {
  double mean = 0;
  double variance = 0;
};

template <typename Draw>
Moments Measure(int n, Draw draw) {
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = draw();
    sum += x;
    sum2 += x * x;
  }
  Moments m;
  m.mean = sum / n;
  m.variance = sum2 / n - m.mean * m.mean;
  return m;
}

TEST(RandomTest, DistributionsHaveTheirMoments) {
  Rng rng(3);
  const int n = 200'000;
  const Moments uniform = Measure(n, [&] { return rng.Uniform(); });
  EXPECT_NEAR(uniform.mean, 0.5, 0.005);
  EXPECT_NEAR(uniform.variance, 1.0 / 12, 0.002);
  const Moments normal = Measure(n, [&] { return rng.Normal(); });
  EXPECT_NEAR(normal.mean, 0.0, 0.01);
  EXPECT_NEAR(normal.variance, 1.0, 0.02);
  const Moments exponential = Measure(n, [&] { return rng.Exponential(2.0); });
  EXPECT_NEAR(exponential.mean, 2.0, 0.03);
  EXPECT_NEAR(exponential.variance, 4.0, 0.15);
  // Gamma(a, 1) has mean and variance a, on both sides of the shape-1 boost.
  for (double shape : {0.3, 1.0, 4.5}) {
    const Moments gamma = Measure(n, [&] { return rng.Gamma(shape); });
    EXPECT_NEAR(gamma.mean, shape, 0.02 * shape + 0.005) << shape;
    EXPECT_NEAR(gamma.variance, shape, 0.05 * shape + 0.01) << shape;
  }
}

TEST(RhythmTest, AveragesOneOverAWeekAndStaysUnderItsMaximum) {
  double sum = 0;
  int n = 0;
  for (int64_t t = 0; t < 7 * kDayMs; t += kHourMs) {
    const double r = Rhythm(1704067200000LL + t);
    EXPECT_GT(r, 0);
    EXPECT_LE(r, MaxRhythm());
    sum += r;
    ++n;
  }
  EXPECT_NEAR(sum / n, 1.0, 1e-9);
  // Evenings are busier than nights.
  EXPECT_GT(Rhythm(1704067200000LL + 20 * kHourMs), 5 * Rhythm(1704067200000LL + 3 * kHourMs));
}

TEST(FormatIdTest, PadsToTheWidthAndGrowsBeyondIt) {
  std::string id;
  FormatId('u', 42, 5, id);
  EXPECT_EQ(id, "u00042");
  FormatId('i', 1234567, 6, id);
  EXPECT_EQ(id, "i1234567");
  FormatId('e', 0, 9, id);
  EXPECT_EQ(id, "e000000000");
}

}  // namespace
}  // namespace freshet::sim
