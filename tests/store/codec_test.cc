#include "store/codec.h"

#include <gtest/gtest.h>

namespace freshet::store {
namespace {

StoredEvent Sample() {
  StoredEvent e;
  e.type = EventType::kBuy;
  e.ts_ms = 1700000000123;
  e.user = 7;
  e.item = 42;
  e.value = 2.5;
  e.event_id = "e-1";
  e.session = "s9";
  e.query = "red shoes";
  e.context = {{"device", "ios"}, {"price", "19.99"}};
  return e;
}

TEST(CodecTest, EventRoundTrips) {
  std::string bytes;
  EncodeEvent(Sample(), &bytes);
  StoredEvent back;
  ASSERT_TRUE(DecodeEvent(bytes, &back).ok());
  EXPECT_EQ(back.type, EventType::kBuy);
  EXPECT_EQ(back.ts_ms, 1700000000123);
  EXPECT_EQ(back.user, 7u);
  EXPECT_EQ(back.item, 42u);
  EXPECT_EQ(back.value, 2.5);
  EXPECT_EQ(back.event_id, "e-1");
  EXPECT_EQ(back.session, "s9");
  EXPECT_EQ(back.query, "red shoes");
  EXPECT_EQ(back.context, Sample().context);
}

TEST(CodecTest, FixedPrefixMatchesTheDocumentedLayout) {
  std::string bytes;
  EncodeEvent(Sample(), &bytes);
  ASSERT_GE(bytes.size(), kEventFixedBytes);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), kEventFormatVersion);
  EXPECT_EQ(static_cast<uint8_t>(bytes[1]), static_cast<uint8_t>(EventType::kBuy));
  EventType type;
  int64_t ts;
  UserId user;
  ItemId item;
  double value;
  DecodeEventFixed(bytes.data(), &type, &ts, &user, &item, &value);
  EXPECT_EQ(ts, 1700000000123);
  EXPECT_EQ(item, 42u);
}

TEST(CodecTest, TruncatedOrForeignRecordsAreCorruptionNotCrashes) {
  std::string bytes;
  EncodeEvent(Sample(), &bytes);
  StoredEvent back;
  for (size_t n = 0; n < bytes.size(); ++n) {
    Status s = DecodeEvent(std::string_view(bytes).substr(0, n), &back);
    EXPECT_TRUE(s.IsCorruption()) << "length " << n;
  }
  std::string wrong_version = bytes;
  wrong_version[0] = 9;
  EXPECT_TRUE(DecodeEvent(wrong_version, &back).IsCorruption());
  std::string wrong_type = bytes;
  wrong_type[1] = 77;
  EXPECT_TRUE(DecodeEvent(wrong_type, &back).IsCorruption());
  std::string trailing = bytes + "x";
  EXPECT_TRUE(DecodeEvent(trailing, &back).IsCorruption());
}

TEST(CodecTest, ItemAndUserRoundTripAndRejectDamage) {
  Item item{"sku", "Lamp", "home", "acme", 9.5, 3, {{"color", "red"}}};
  std::string bytes;
  EncodeItem(item, &bytes);
  Item back;
  ASSERT_TRUE(DecodeItem(bytes, &back).ok());
  EXPECT_EQ(back.title, "Lamp");
  EXPECT_EQ(back.price, 9.5);
  EXPECT_EQ(back.attrs, item.attrs);
  EXPECT_TRUE(DecodeItem(bytes.substr(0, bytes.size() - 2), &back).IsCorruption());

  User user{"u1", {{"tier", "gold"}}};
  EncodeUser(user, &bytes);
  User uback;
  ASSERT_TRUE(DecodeUser(bytes, &uback).ok());
  EXPECT_EQ(uback.attrs, user.attrs);
  EXPECT_TRUE(DecodeUser("", &uback).IsCorruption());
}

TEST(CodecTest, EventKeysSortNumerically) {
  EXPECT_LT(EventKey(255), EventKey(256));
  EXPECT_LT(EventKey(1), EventKey(1ULL << 40));
  EXPECT_EQ(GetBigEndian64(EventKey(123456789).data()), 123456789u);
}

}  // namespace
}  // namespace freshet::store
