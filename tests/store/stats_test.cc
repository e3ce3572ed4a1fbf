#include "store/stats.h"

#include <gtest/gtest.h>

#include "testing/testing.h"

namespace freshet::store {
namespace {

TEST(StatsTest, CountsTypesPairsAndRanksItemsByInteractionsNotImpressions) {
  freshet::testing::TempDir dir;
  auto store = EventStore::Open(StoreOptions(), dir.Sub("data"));
  ASSERT_TRUE(store.ok());
  std::vector<Event> events;
  auto add = [&](const char* user, const char* item, int64_t ts, EventType type) {
    Event e;
    e.user = user;
    e.item = item;
    e.ts_ms = ts;
    e.type = type;
    events.push_back(e);
  };
  // "shown" is shown a lot but nobody acts on it; "liked" is viewed and bought.
  for (int i = 0; i < 5; ++i) add("a", "shown", 1000 + i, EventType::kImpression);
  add("a", "liked", 2000, EventType::kView);
  add("b", "liked", 3000, EventType::kView);
  add("b", "liked", 4000, EventType::kBuy);
  add("b", "other", 86401000, EventType::kView);
  std::vector<std::string> keys(events.size());
  AppendStats appended;
  ASSERT_TRUE((*store)->Append(events, keys, &appended).ok());
  Item liked{"liked", "Liked thing", "", "", 1, 1, {}};
  ASSERT_TRUE((*store)->PutItems({&liked, 1}).ok());

  EventTable table;
  ASSERT_TRUE((*store)->LoadEventTable(&table).ok());
  auto stats = ComputeStats(**store, table, 2);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->events, 9u);
  EXPECT_EQ(stats->users, 2u);
  EXPECT_EQ(stats->items, 3u);
  EXPECT_EQ(stats->catalog_items, 1u);
  EXPECT_EQ(stats->active_items, 3u);
  EXPECT_EQ(stats->by_type[static_cast<size_t>(EventType::kImpression)], 5u);
  EXPECT_EQ(stats->by_type[static_cast<size_t>(EventType::kBuy)], 1u);
  // Pairs (a,shown) (a,liked) (b,liked) (b,other) over 2 users x 3 items.
  EXPECT_EQ(stats->user_item_pairs, 4u);
  EXPECT_DOUBLE_EQ(stats->density, 4.0 / 6.0);
  EXPECT_EQ(stats->first_ts_ms, 1000);
  EXPECT_EQ(stats->last_ts_ms, 86401000);
  ASSERT_EQ(stats->top_items.size(), 2u);
  EXPECT_EQ(stats->top_items[0].id, "liked");
  EXPECT_EQ(stats->top_items[0].title, "Liked thing");
  EXPECT_EQ(stats->top_items[0].interactions, 3u);
  EXPECT_EQ(stats->top_items[0].buys, 1u);
  EXPECT_EQ(stats->top_items[1].id, "other");

  std::string json = stats->ToJson();
  EXPECT_NE(json.find("\"by_type\":{\"impression\":5,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"span_days\":1,"), std::string::npos) << json;
  EXPECT_NE(stats->ToText().find("Liked thing"), std::string::npos);
}

TEST(StatsTest, AnEmptyStoreHasZeroCountsAndNoTimeSpan) {
  freshet::testing::TempDir dir;
  auto store = EventStore::Open(StoreOptions(), dir.Sub("data"));
  ASSERT_TRUE(store.ok());
  EventTable table;
  ASSERT_TRUE((*store)->LoadEventTable(&table).ok());
  auto stats = ComputeStats(**store, table, 10);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, 0u);
  EXPECT_TRUE(stats->top_items.empty());
  EXPECT_EQ(stats->ToJson().find("first_ts"), std::string::npos);
}

}  // namespace
}  // namespace freshet::store
