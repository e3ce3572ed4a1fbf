#include "core/event.h"

#include <gtest/gtest.h>

#include <cmath>

namespace freshet {
namespace {

Event Valid() {
  Event e;
  e.user = "u1";
  e.item = "i1";
  e.ts_ms = 1700000000000;
  return e;
}

TEST(EventTypeTest, NamesRoundTripAndAliasesParse) {
  for (int i = 0; i < kNumEventTypes; ++i) {
    auto t = static_cast<EventType>(i);
    EXPECT_EQ(ParseEventType(EventTypeName(t)), t);
  }
  EXPECT_EQ(ParseEventType("PV"), EventType::kView);
  EXPECT_EQ(ParseEventType("addtocart"), EventType::kCart);
  EXPECT_EQ(ParseEventType("transaction"), EventType::kBuy);
  EXPECT_EQ(ParseEventType("Purchase"), EventType::kBuy);
  EXPECT_EQ(ParseEventType("rating"), EventType::kRate);
  EXPECT_FALSE(ParseEventType("teleport").has_value());
  EXPECT_FALSE(ParseEventType("").has_value());
}

TEST(EventTypeTest, PersistedValuesNeverChange) {
  // Stored as bytes in the event log (docs/formats.md): renumbering corrupts every store.
  EXPECT_EQ(static_cast<int>(EventType::kImpression), 0);
  EXPECT_EQ(static_cast<int>(EventType::kView), 1);
  EXPECT_EQ(static_cast<int>(EventType::kBuy), 6);
  EXPECT_EQ(static_cast<int>(EventType::kSearch), 8);
}

TEST(ValidateEventTest, AcceptsAWellFormedEvent) { EXPECT_FALSE(ValidateEvent(Valid())); }

TEST(ValidateEventTest, NamesTheFieldAtFault) {
  Event e = Valid();
  e.user.clear();
  EXPECT_EQ(ValidateEvent(e)->field, "user");

  e = Valid();
  e.item.clear();
  EXPECT_EQ(ValidateEvent(e)->field, "item");
  e.type = EventType::kSearch;  // a search needs no item
  EXPECT_FALSE(ValidateEvent(e));

  e = Valid();
  e.ts_ms = -5;
  EXPECT_EQ(ValidateEvent(e)->field, "ts");
  e.ts_ms = 1700000000000LL * 1000;  // microseconds passed as milliseconds
  EXPECT_EQ(ValidateEvent(e)->field, "ts");

  e = Valid();
  e.value = std::nan("");
  EXPECT_EQ(ValidateEvent(e)->field, "value");

  e = Valid();
  e.type = EventType::kRate;
  e.value = 11;
  EXPECT_EQ(ValidateEvent(e)->field, "value");

  e = Valid();
  e.item = std::string("a\nb");
  EXPECT_EQ(ValidateEvent(e)->field, "item");
  e.item = std::string(kMaxIdBytes + 1, 'x');
  auto err = ValidateEvent(e);
  ASSERT_TRUE(err);
  EXPECT_NE(err->reason.find("limit"), std::string::npos);
}

TEST(ValidateItemTest, RequiresAnId) {
  Item item;
  EXPECT_EQ(ValidateItem(item)->field, "id");
  item.id = "sku-1";
  EXPECT_FALSE(ValidateItem(item));
}

}  // namespace
}  // namespace freshet
