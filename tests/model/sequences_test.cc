#include "model/sequences.h"

#include <gtest/gtest.h>

namespace freshet::model {
namespace {

void Add(store::EventTable& t, UserId u, ItemId i, int64_t ts, EventType type) {
  t.seq.push_back(t.seq.size());
  t.ts_ms.push_back(ts);
  t.user.push_back(u);
  t.item.push_back(i);
  t.type.push_back(type);
  t.value.push_back(0);
}

TEST(SequencesTest, KeepsInteractionsInTimeOrderAndCollapsesImmediateRepeats) {
  store::EventTable t;
  t.num_users = 3;
  t.num_items = 5;
  Add(t, 0, 1, 10, EventType::kImpression);  // shown, not chosen: dropped
  Add(t, 0, 1, 11, EventType::kClick);
  Add(t, 0, 1, 12, EventType::kView);        // the view the click opened: collapsed
  Add(t, 1, 4, 13, EventType::kBuy);
  Add(t, 0, 2, 14, EventType::kView);
  Add(t, 0, kNoId, 15, EventType::kSearch);  // no item: dropped
  Add(t, 0, 1, 16, EventType::kCart);        // back to item 1 later: a new interaction
  Add(t, 0, 1, 17, EventType::kRemoveCart);  // not an interaction
  UserSequences s = BuildSequences(t);
  ASSERT_EQ(s.num_users(), 3u);
  EXPECT_EQ(s.num_items, 5u);
  EXPECT_EQ(std::vector<ItemId>(s.items_of(0).begin(), s.items_of(0).end()),
            (std::vector<ItemId>{1, 2, 1}));
  EXPECT_EQ(std::vector<int64_t>(s.ts_of(0).begin(), s.ts_of(0).end()),
            (std::vector<int64_t>{11, 14, 16}));
  EXPECT_EQ(s.length(1), 1u);
  EXPECT_EQ(s.items_of(1)[0], 4u);
  EXPECT_EQ(s.length(2), 0u);  // a user with no interactions has an empty sequence
}

TEST(SequencesTest, OnlyChoicesCountAsInteractions) {
  EXPECT_TRUE(IsInteraction(EventType::kView));
  EXPECT_TRUE(IsInteraction(EventType::kBuy));
  EXPECT_TRUE(IsInteraction(EventType::kRate));
  EXPECT_FALSE(IsInteraction(EventType::kImpression));
  EXPECT_FALSE(IsInteraction(EventType::kSearch));
  EXPECT_FALSE(IsInteraction(EventType::kRemoveCart));
}

}  // namespace
}  // namespace freshet::model
