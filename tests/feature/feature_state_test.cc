#include "feature/feature_state.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace freshet::feature {
namespace {

constexpr int64_t kDay = 86400000;

TEST(FeatureStateTest, RecentItemsFollowTheTrainingRule) {
  FeatureState s;
  s.Apply(1, 10, EventType::kView, 1000);
  s.Apply(1, 10, EventType::kClick, 2000);       // repeat of the last item: collapsed
  s.Apply(1, 11, EventType::kImpression, 3000);  // not an interaction
  s.Apply(1, kNoId, EventType::kSearch, 3500);   // no item
  s.Apply(1, 12, EventType::kCart, 4000);
  s.Apply(1, 10, EventType::kBuy, 5000);  // not a repeat of the LAST item: kept
  std::vector<ItemId> recent;
  s.Recent(1, 10, &recent);
  EXPECT_EQ(recent, (std::vector<ItemId>{10, 12, 10}));
  s.Recent(1, 2, &recent);
  EXPECT_EQ(recent, (std::vector<ItemId>{12, 10}));
  FeatureState::UserSummary sum;
  ASSERT_TRUE(s.Summary(1, &sum));
  EXPECT_EQ(sum.events, 6u);
  EXPECT_EQ(sum.interactions, 4u);
  EXPECT_EQ(sum.last_ts_ms, 5000);
  EXPECT_FALSE(s.Summary(2, &sum));
  s.Recent(2, 10, &recent);
  EXPECT_TRUE(recent.empty());
}

TEST(FeatureStateTest, RingKeepsTheNewestItemsInOrder) {
  FeatureOptions o;
  o.max_recent = 4;
  FeatureState s(o);
  for (ItemId i = 0; i < 11; ++i) s.Apply(7, i, EventType::kView, 1000 * i);
  std::vector<ItemId> recent;
  s.Recent(7, 100, &recent);
  EXPECT_EQ(recent, (std::vector<ItemId>{7, 8, 9, 10}));
  s.Recent(7, 3, &recent);
  EXPECT_EQ(recent, (std::vector<ItemId>{8, 9, 10}));
}

TEST(FeatureStateTest, BoughtItemsAreDistinctAndCapped) {
  FeatureOptions o;
  o.max_bought = 2;
  FeatureState s(o);
  s.Apply(3, 5, EventType::kBuy, 1);
  s.Apply(3, 5, EventType::kBuy, 2);
  s.Apply(3, 6, EventType::kCart, 3);
  s.Apply(3, 7, EventType::kBuy, 4);
  s.Apply(3, 8, EventType::kBuy, 5);
  std::vector<ItemId> bought;
  s.Bought(3, &bought);
  EXPECT_EQ(bought, (std::vector<ItemId>{7, 8}));
}

TEST(FeatureStateTest, TrendingDecaysWithEventTimeAndToleratesLateEvents) {
  FeatureOptions o;
  o.popularity_half_life_days = 1.0;
  FeatureState s(o);
  // Item 1: four events ten days ago. Item 2: two events now. Item 3: one event now.
  for (int i = 0; i < 4; ++i) s.Apply(i, 1, EventType::kView, 0);
  s.Apply(0, 2, EventType::kView, 10 * kDay);
  s.Apply(1, 2, EventType::kView, 10 * kDay);
  s.Apply(2, 3, EventType::kView, 10 * kDay);
  std::vector<std::pair<ItemId, float>> top;
  s.Trending(10, nullptr, &top);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 2u);
  EXPECT_FLOAT_EQ(top[0].second, 2.0f);
  EXPECT_EQ(top[1].first, 3u);
  EXPECT_EQ(top[2].first, 1u);
  EXPECT_NEAR(top[2].second, 4.0 * std::exp2(-10.0), 1e-6);
  // A late event (one day before the clock) counts half.
  s.Apply(5, 3, EventType::kView, 9 * kDay);
  EXPECT_NEAR(s.Popularity(3), 1.5, 1e-6);
  // Filters and k.
  const std::function<bool(ItemId)> odd = [](ItemId i) { return i % 2 == 1; };
  s.Trending(1, &odd, &top);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].first, 3u);
  EXPECT_EQ(s.clock_ms(), 10 * kDay);
  EXPECT_EQ(s.events_applied(), 8u);
}

TEST(FeatureStateTest, ReplayEqualsApplyingEachEvent) {
  store::EventTable t;
  const std::vector<std::tuple<UserId, ItemId, EventType, int64_t>> rows = {
      {0, 1, EventType::kView, 10}, {1, 2, EventType::kBuy, 20},  {0, 1, EventType::kCart, 30},
      {0, 3, EventType::kView, 40}, {1, kNoId, EventType::kSearch, 50}, {1, 3, EventType::kView, 60}};
  FeatureState applied;
  for (auto [u, i, type, ts] : rows) {
    t.seq.push_back(t.seq.size());
    t.ts_ms.push_back(ts);
    t.user.push_back(u);
    t.item.push_back(i);
    t.type.push_back(type);
    t.value.push_back(0);
    applied.Apply(u, i, type, ts);
  }
  FeatureState replayed;
  replayed.Replay(t);
  for (UserId u : {0u, 1u}) {
    std::vector<ItemId> a, b;
    applied.Recent(u, 10, &a);
    replayed.Recent(u, 10, &b);
    EXPECT_EQ(a, b);
    applied.Bought(u, &a);
    replayed.Bought(u, &b);
    EXPECT_EQ(a, b);
  }
  std::vector<std::pair<ItemId, float>> a, b;
  applied.Trending(10, nullptr, &a);
  replayed.Trending(10, nullptr, &b);
  EXPECT_EQ(a, b);
}

TEST(FeatureStateTest, CartFollowsCartRemoveAndBuy) {
  FeatureState s;
  s.Apply(1, 10, EventType::kCart, 1000, 2);
  s.Apply(1, 11, EventType::kCart, 2000, 1);
  s.Apply(1, 12, EventType::kCart, 3000, 1);
  s.Apply(1, 11, EventType::kRemoveCart, 4000, 1);
  s.Apply(1, 12, EventType::kBuy, 5000, 1);
  s.Apply(1, 10, EventType::kCart, 6000, 3);  // carted again: moves to the end, newest time
  s.Apply(1, 13, EventType::kCart, 7000, 1);
  std::vector<FeatureState::CartLine> cart;
  s.Cart(1, &cart);
  ASSERT_EQ(cart.size(), 2u);
  EXPECT_EQ(cart[0].item, 10u);
  EXPECT_EQ(cart[0].added_ms, 6000);
  EXPECT_EQ(cart[0].quantity, 3.0f);
  EXPECT_EQ(cart[1].item, 13u);
  s.Cart(2, &cart);
  EXPECT_TRUE(cart.empty());
  FeatureState::UserSummary u;
  ASSERT_TRUE(s.Summary(1, &u));
  EXPECT_EQ(u.carts, 5u);
  EXPECT_EQ(u.buys, 1u);
  EXPECT_EQ(u.last_buy_ms, 5000);
}

TEST(FeatureStateTest, ItemCountsDecayAndImpressionsStayOutOfPopularity) {
  FeatureOptions o;
  o.popularity_half_life_days = 1.0;
  FeatureState s(o);
  const int64_t day = 86400000;
  s.Apply(1, 5, EventType::kImpression, 0);
  s.Apply(1, 5, EventType::kImpression, 0);
  s.Apply(1, 5, EventType::kClick, 0);
  s.Apply(1, 5, EventType::kView, 0);
  s.Apply(1, 5, EventType::kCart, 0, 1);
  s.Apply(2, 6, EventType::kImpression, 0);
  FeatureState::ItemCounts c = s.Counts(5);
  EXPECT_FLOAT_EQ(c.impressions, 2.0f);
  EXPECT_FLOAT_EQ(c.clicks, 2.0f);
  EXPECT_FLOAT_EQ(c.carts, 1.0f);
  EXPECT_FLOAT_EQ(c.buys, 0.0f);
  EXPECT_FLOAT_EQ(s.Popularity(5), 3.0f);  // click, view, cart: impressions do not count
  EXPECT_FLOAT_EQ(s.Popularity(6), 0.0f);
  std::vector<std::pair<ItemId, float>> trending;
  s.Trending(10, nullptr, &trending);
  ASSERT_EQ(trending.size(), 1u);  // an item with impressions only is not trending
  s.Apply(3, 7, EventType::kBuy, day, 1);  // the clock moves a half-life on
  c = s.Counts(5);
  EXPECT_NEAR(c.impressions, 1.0f, 1e-5);
  EXPECT_NEAR(c.clicks, 1.0f, 1e-5);
  EXPECT_FLOAT_EQ(s.Counts(7).buys, 1.0f);
  EXPECT_FLOAT_EQ(s.Counts(999).clicks, 0.0f);
}

}  // namespace
}  // namespace freshet::feature
