#include "serve/rerank.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace freshet::serve {
namespace {

constexpr uint32_t kNone = RerankOptions::kNoCategory;

std::vector<ItemId> Items(const std::vector<RerankCandidate>& v) {
  std::vector<ItemId> out;
  for (const RerankCandidate& c : v) out.push_back(c.item);
  return out;
}

// Candidates 0..n-1 with decreasing relevance and the given categories.
std::vector<RerankCandidate> Ranked(const std::vector<uint32_t>& categories) {
  std::vector<RerankCandidate> v;
  for (size_t i = 0; i < categories.size(); ++i) {
    v.push_back({static_cast<ItemId>(i), 10.0f - static_cast<float>(i), categories[i]});
  }
  return v;
}

TEST(RerankTest, WithoutRulesTheFirstKCandidatesComeOutInOrder) {
  const auto c = Ranked({0, 0, 0, 1, 1, 2});
  RerankOptions o;
  o.k = 4;
  std::vector<RerankCandidate> out;
  Rerank(c, o, &out);
  EXPECT_EQ(Items(out), (std::vector<ItemId>{0, 1, 2, 3}));
}

TEST(RerankTest, MaxPerCategoryCapsEveryCategoryAndKeepsTheRankedOrder) {
  const auto c = Ranked({0, 0, 0, 1, 1, 1, 2});
  RerankOptions o;
  o.k = 5;
  o.max_per_category = 2;
  std::vector<RerankCandidate> out;
  Rerank(c, o, &out);
  EXPECT_EQ(Items(out), (std::vector<ItemId>{0, 1, 3, 4, 6}));
}

TEST(RerankTest, ItemsWithoutACategoryAreNotCapped) {
  const auto c = Ranked({kNone, kNone, kNone, 5, 5});
  RerankOptions o;
  o.k = 5;
  o.max_per_category = 1;
  std::vector<RerankCandidate> out;
  Rerank(c, o, &out);
  EXPECT_EQ(Items(out), (std::vector<ItemId>{0, 1, 2, 3}));
}

TEST(RerankTest, TheCapShortensTheListWhenTooFewCategoriesAreLeft) {
  const auto c = Ranked({0, 0, 0, 0, 1, 1});
  RerankOptions o;
  o.k = 6;
  o.max_per_category = 1;
  std::vector<RerankCandidate> out;
  Rerank(c, o, &out);
  EXPECT_EQ(Items(out), (std::vector<ItemId>{0, 4}));
}

TEST(RerankTest, FullDiversityAlternatesCategories) {
  const auto c = Ranked({0, 0, 0, 1, 1, 1});
  RerankOptions o;
  o.k = 6;
  o.diversity = 1.0;
  std::vector<RerankCandidate> out;
  Rerank(c, o, &out);
  // Each pick goes to the category with the smaller share; ties to the better-ranked item.
  EXPECT_EQ(Items(out), (std::vector<ItemId>{0, 3, 1, 4, 2, 5}));
}

TEST(RerankTest, MildDiversityKeepsAClearlyBetterItemOfTheSameCategory) {
  // Item 1 is nearly as good as item 0; item 2 (another category) is far worse.
  std::vector<RerankCandidate> c = {{0, 1.0f, 0}, {1, 0.95f, 0}, {2, 0.0f, 1}};
  RerankOptions o;
  o.k = 2;
  o.diversity = 0.3;  // 0.7 * 0.95 - 0.3 * 1 = 0.365 > 0.7 * 0 - 0 = 0
  std::vector<RerankCandidate> out;
  Rerank(c, o, &out);
  EXPECT_EQ(Items(out), (std::vector<ItemId>{0, 1}));
  // A close call goes to the other category: 0.7 * 0.5 - 0.3 = 0.05 < 0.7 * 0.45 = 0.315.
  c = {{0, 1.0f, 0}, {1, 0.5f, 0}, {2, 0.45f, 1}};
  Rerank(c, o, &out);
  EXPECT_EQ(Items(out), (std::vector<ItemId>{0, 2}));
}

TEST(RerankTest, RelevanceScaleDoesNotChangeThePicks) {
  std::mt19937 rng(5);
  std::vector<RerankCandidate> a;
  for (ItemId i = 0; i < 40; ++i) {
    a.push_back({i, 1.0f - static_cast<float>(i) / 40, static_cast<uint32_t>(rng() % 4)});
  }
  std::vector<RerankCandidate> b = a;
  for (RerankCandidate& c : b) c.relevance = c.relevance * 1000 + 77;
  RerankOptions o;
  o.k = 12;
  o.diversity = 0.4;
  o.max_per_category = 4;
  std::vector<RerankCandidate> out_a, out_b;
  Rerank(a, o, &out_a);
  Rerank(b, o, &out_b);
  EXPECT_EQ(Items(out_a), Items(out_b));
}

// The greedy rule checked against a direct evaluation of its definition, on random inputs.
TEST(RerankTest, EveryPickMaximisesTheMmrValueAndHonoursTheCap) {
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    std::mt19937 rng(seed);
    const size_t n = 1 + rng() % 60;
    std::vector<RerankCandidate> c;
    for (ItemId i = 0; i < n; ++i) {
      const uint32_t cat = rng() % 7 == 0 ? kNone : static_cast<uint32_t>(rng() % 5);
      c.push_back({i, std::uniform_real_distribution<float>(0, 5)(rng), cat});
    }
    // As the ranking stage leaves them: best first.
    std::stable_sort(c.begin(), c.end(), [](const RerankCandidate& a, const RerankCandidate& b) {
      return a.relevance > b.relevance;
    });
    RerankOptions o;
    o.k = 1 + rng() % 20;
    o.max_per_category = rng() % 4;
    o.diversity = (rng() % 5) / 4.0;
    std::vector<RerankCandidate> out;
    Rerank(c, o, &out);
    SCOPED_TRACE("seed " + std::to_string(seed));
    float lo = c[0].relevance, hi = c[0].relevance;
    for (auto& x : c) lo = std::min(lo, x.relevance), hi = std::max(hi, x.relevance);
    auto scaled = [&](float r) { return hi > lo ? (double(r) - lo) / (double(hi) - lo) : 1.0; };
    std::map<uint32_t, size_t> count;
    std::set<ItemId> taken;
    for (size_t p = 0; p < out.size(); ++p) {
      // The candidates still allowed before pick p.
      double best = -1e300;
      for (const RerankCandidate& x : c) {
        if (taken.count(x.item)) continue;
        if (o.max_per_category > 0 && x.category != kNone && count[x.category] >= o.max_per_category) {
          continue;
        }
        const double share = p == 0 || x.category == kNone ? 0 : double(count[x.category]) / p;
        best = std::max(best, (1 - o.diversity) * scaled(x.relevance) - o.diversity * share);
      }
      const RerankCandidate& got = out[p];
      ASSERT_FALSE(taken.count(got.item)) << "item twice";
      if (got.category != kNone) {
        ASSERT_TRUE(o.max_per_category == 0 || count[got.category] < o.max_per_category);
      }
      const double share =
          p == 0 || got.category == kNone ? 0 : double(count[got.category]) / p;
      EXPECT_NEAR((1 - o.diversity) * scaled(got.relevance) - o.diversity * share, best, 1e-9);
      taken.insert(got.item);
      if (got.category != kNone) ++count[got.category];
    }
    // Short only when nothing allowed was left.
    if (out.size() < o.k) {
      for (const RerankCandidate& x : c) {
        if (taken.count(x.item)) continue;
        EXPECT_TRUE(x.category != kNone && o.max_per_category > 0 &&
                    count[x.category] >= o.max_per_category);
      }
    }
  }
}

TEST(RerankTest, OptionsOutOfRangeAreRejectedByName) {
  RerankOptions o;
  EXPECT_TRUE(ValidateRerankOptions(o).ok());
  o.diversity = 1.5;
  EXPECT_NE(ValidateRerankOptions(o).message().find("diversity"), std::string::npos);
  o.diversity = std::nan("");
  EXPECT_FALSE(ValidateRerankOptions(o).ok());
  o.diversity = 0;
  o.k = 0;
  EXPECT_NE(ValidateRerankOptions(o).message().find("k "), std::string::npos);
}

}  // namespace
}  // namespace freshet::serve
