#include "rank/label_joiner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <tuple>
#include <vector>

#include "shop_fixtures.h"

namespace freshet::rank {
namespace {

constexpr int64_t kMin = 60 * 1000;

JoinEvent Ev(UserId u, ItemId i, EventType t, int64_t ts, float value = 0) {
  return {u, i, t, ts, value};
}

struct Collected {
  std::vector<JoinedExample> examples;
  LabelJoiner::Emit emit() {
    return [this](JoinedExample&& x) { examples.push_back(std::move(x)); };
  }
};

LabelJoinerOptions ClickOnly(int64_t lateness = 0) {
  LabelJoinerOptions o;
  o.click_window_ms = 30 * kMin;
  o.allowed_lateness_ms = lateness;
  o.enabled[static_cast<int>(ShopTarget::kCart)] = false;
  o.enabled[static_cast<int>(ShopTarget::kBuy)] = false;
  return o;
}

TEST(LabelJoinerTest, ClickWithinTheWindowIsPositiveOnceTheWatermarkPassesIt) {
  LabelJoiner j(ClickOnly(), nullptr);
  Collected c;
  j.Add(Ev(1, 10, EventType::kImpression, 0, 1), c.emit());
  j.Add(Ev(1, 11, EventType::kImpression, 0, 2), c.emit());
  EXPECT_TRUE(c.examples.empty());
  j.Add(Ev(1, 10, EventType::kClick, 5 * kMin), c.emit());
  // The watermark is 5 min - 1 ms: the click itself is not behind it yet.
  EXPECT_TRUE(c.examples.empty());
  j.Add(Ev(2, 99, EventType::kView, 5 * kMin + 1), c.emit());
  ASSERT_EQ(c.examples.size(), 1u);
  EXPECT_EQ(c.examples[0].item, 10u);
  EXPECT_EQ(c.examples[0].label, 1.0f);
  EXPECT_EQ(c.examples[0].decided_ms, 5 * kMin);
  // Item 11's impression turns negative only after its window ends.
  j.Add(Ev(2, 99, EventType::kView, 30 * kMin), c.emit());
  EXPECT_EQ(c.examples.size(), 1u);
  j.Add(Ev(2, 99, EventType::kView, 30 * kMin + 1), c.emit());
  ASSERT_EQ(c.examples.size(), 2u);
  EXPECT_EQ(c.examples[1].item, 11u);
  EXPECT_EQ(c.examples[1].label, 0.0f);
  EXPECT_EQ(j.stats().pending, 0u);
}

TEST(LabelJoinerTest, ClickAfterTheWindowDoesNotCount) {
  LabelJoiner j(ClickOnly(), nullptr);
  Collected c;
  j.Add(Ev(1, 10, EventType::kImpression, 0), c.emit());
  j.Add(Ev(1, 10, EventType::kClick, 31 * kMin), c.emit());
  j.AdvanceTo(100 * kMin, c.emit());
  ASSERT_EQ(c.examples.size(), 1u);
  EXPECT_EQ(c.examples[0].label, 0.0f);
  EXPECT_EQ(c.examples[0].decided_ms, 30 * kMin);
}

TEST(LabelJoinerTest, CartIsPositiveOnBuyAndNegativeOnRemove) {
  LabelJoinerOptions o;
  o.cart_window_ms = 100 * kMin;
  o.enabled[static_cast<int>(ShopTarget::kClick)] = false;
  o.enabled[static_cast<int>(ShopTarget::kBuy)] = false;
  LabelJoiner j(o, nullptr);
  Collected c;
  j.Add(Ev(1, 10, EventType::kCart, 0, 1), c.emit());
  j.Add(Ev(1, 11, EventType::kCart, 0, 1), c.emit());
  j.Add(Ev(1, 12, EventType::kCart, 0, 1), c.emit());
  j.Add(Ev(1, 13, EventType::kCart, 0, 1), c.emit());
  j.Add(Ev(1, 10, EventType::kBuy, 10 * kMin), c.emit());
  j.Add(Ev(1, 11, EventType::kRemoveCart, 10 * kMin), c.emit());
  j.Add(Ev(1, 12, EventType::kRemoveCart, 20 * kMin), c.emit());  // removed, then bought: no
  j.Add(Ev(1, 12, EventType::kBuy, 25 * kMin), c.emit());
  j.Add(Ev(1, 13, EventType::kBuy, 30 * kMin), c.emit());
  j.Add(Ev(1, 13, EventType::kRemoveCart, 30 * kMin), c.emit());  // same ms: the buy wins
  j.AdvanceTo(1000 * kMin, c.emit());
  ASSERT_EQ(c.examples.size(), 4u);
  std::sort(c.examples.begin(), c.examples.end(),
            [](const auto& a, const auto& b) { return a.item < b.item; });
  EXPECT_EQ(c.examples[0].label, 1.0f);
  EXPECT_EQ(c.examples[1].label, 0.0f);
  EXPECT_EQ(c.examples[1].decided_ms, 10 * kMin);
  EXPECT_EQ(c.examples[2].label, 0.0f);
  EXPECT_EQ(c.examples[2].decided_ms, 20 * kMin);
  EXPECT_EQ(c.examples[3].label, 1.0f);
  for (const auto& x : c.examples) EXPECT_EQ(x.target, ShopTarget::kCart);
}

TEST(LabelJoinerTest, OutOfOrderWithinTheLatenessGivesTheSameLabels) {
  LabelJoiner j(ClickOnly(10 * kMin), nullptr);
  Collected c;
  // The click arrives before its impression (5 min out of order).
  j.Add(Ev(1, 10, EventType::kClick, 5 * kMin), c.emit());
  j.Add(Ev(1, 10, EventType::kImpression, 0), c.emit());
  j.AdvanceTo(1000 * kMin, c.emit());
  ASSERT_EQ(c.examples.size(), 1u);
  EXPECT_EQ(c.examples[0].label, 1.0f);
  EXPECT_EQ(j.stats().late_anchors, 0u);
}

TEST(LabelJoinerTest, LateEventsFollowTheDocumentedRule) {
  LabelJoiner j(ClickOnly(0), nullptr);
  Collected c;
  j.Add(Ev(1, 10, EventType::kImpression, 0), c.emit());
  j.Add(Ev(9, 9, EventType::kView, 40 * kMin), c.emit());  // watermark passes 30 min
  ASSERT_EQ(c.examples.size(), 1u);
  EXPECT_EQ(c.examples[0].label, 0.0f);
  // A click of the emitted impression arrives late: the label is not revised, it is counted.
  j.Add(Ev(1, 10, EventType::kClick, 10 * kMin), c.emit());
  // A late impression is dropped and counted.
  j.Add(Ev(1, 11, EventType::kImpression, 20 * kMin), c.emit());
  j.AdvanceTo(1000 * kMin, c.emit());
  EXPECT_EQ(c.examples.size(), 1u);
  const LabelJoinerStats s = j.stats();
  EXPECT_EQ(s.late_resolvers, 1u);
  EXPECT_EQ(s.late_ignored, 1u);
  EXPECT_EQ(s.late_anchors, 1u);
  EXPECT_EQ(s.pending, 0u);
}

TEST(LabelJoinerTest, DuplicateAnchorsAreDroppedAndCounted) {
  LabelJoiner j(ClickOnly(), nullptr);
  Collected c;
  j.Add(Ev(1, 10, EventType::kImpression, 100), c.emit());
  j.Add(Ev(1, 10, EventType::kImpression, 100), c.emit());
  j.Add(Ev(1, 10, EventType::kClick, 200), c.emit());
  j.Add(Ev(1, 10, EventType::kClick, 200), c.emit());
  j.AdvanceTo(1000 * kMin, c.emit());
  ASSERT_EQ(c.examples.size(), 1u);
  EXPECT_EQ(c.examples[0].label, 1.0f);
  EXPECT_EQ(j.stats().duplicates, 1u);
}

TEST(LabelJoinerTest, FeaturesAreTakenWhenTheAnchorArrives) {
  int calls = 0;
  LabelJoiner j(ClickOnly(), [&](const JoinEvent& a, ShopTarget t, std::vector<uint64_t>* out) {
    EXPECT_EQ(t, ShopTarget::kClick);
    out->assign({a.item, static_cast<uint64_t>(++calls)});
  });
  Collected c;
  j.Add(Ev(1, 10, EventType::kImpression, 0), c.emit());
  j.Add(Ev(1, 10, EventType::kClick, kMin), c.emit());
  j.AdvanceTo(1000 * kMin, c.emit());
  ASSERT_EQ(c.examples.size(), 1u);
  EXPECT_EQ(c.examples[0].features, (std::vector<uint64_t>{10, 1}));
  EXPECT_EQ(calls, 1);
}

// Offline (sorted history) and online (the same events shuffled within the allowed lateness, the
// watermark advanced at the end) decide the same examples with the same labels.
TEST(LabelJoinerTest, OfflineAndOnlineGiveIdenticalLabelsOnSimulatedTraffic) {
  const auto shop = testing::MakeShop(150, 80, 4, 11);
  const auto& t = shop.table;
  ASSERT_GT(t.size(), 1000u);
  using Key = std::tuple<int, UserId, ItemId, int64_t, float, int64_t>;
  auto run = [&](const std::vector<size_t>& order, int64_t lateness, LabelJoinerStats* stats) {
    LabelJoinerOptions o;
    o.allowed_lateness_ms = lateness;
    LabelJoiner j(o, nullptr);
    std::vector<Key> out;
    auto emit = [&](JoinedExample&& x) {
      out.emplace_back(static_cast<int>(x.target), x.user, x.item, x.ts_ms, x.label,
                       x.decided_ms);
    };
    for (size_t i : order) j.Add({t.user[i], t.item[i], t.type[i], t.ts_ms[i], t.value[i]}, emit);
    j.AdvanceTo(t.ts_ms.back() + 10 * 86400 * 1000LL, emit);
    *stats = j.stats();
    std::sort(out.begin(), out.end());
    return out;
  };
  std::vector<size_t> sorted(t.size());
  for (size_t i = 0; i < sorted.size(); ++i) sorted[i] = i;
  // Shuffle: every event is delayed by a random amount up to `lateness`, then sorted by arrival.
  const int64_t lateness = 20 * kMin;
  std::mt19937_64 rng(5);
  std::vector<std::pair<int64_t, size_t>> arrival;
  for (size_t i = 0; i < t.size(); ++i) {
    arrival.emplace_back(t.ts_ms[i] + static_cast<int64_t>(rng() % lateness), i);
  }
  std::sort(arrival.begin(), arrival.end());
  std::vector<size_t> shuffled;
  for (auto& [at, i] : arrival) shuffled.push_back(i);
  ASSERT_NE(shuffled, sorted);
  LabelJoinerStats offline_stats, online_stats;
  const auto offline = run(sorted, 0, &offline_stats);
  const auto online = run(shuffled, lateness, &online_stats);
  EXPECT_EQ(online_stats.late_anchors + online_stats.late_resolvers, 0u);
  ASSERT_GT(offline.size(), 500u);
  EXPECT_GT(offline_stats.positives[0], 10u);
  EXPECT_GT(offline_stats.emitted[1], 5u);
  EXPECT_EQ(offline, online);
}

}  // namespace
}  // namespace freshet::rank
