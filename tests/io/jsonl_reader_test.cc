// The jsonl readers (events and items).

#include <gtest/gtest.h>

#include "io/reader.h"
#include "read_all.h"
#include "testing/testing.h"

namespace freshet::io {
namespace {

using freshet::testing::TempDir;
using freshet::testing::WriteFile;
using test_util::Describe;
using test_util::Lookup;
using test_util::ReadEvents;
using test_util::ReadItems;
using test_util::ReadResult;

class JsonlReaderTest : public ::testing::Test {
 protected:
  ReadResult Read(const std::string& text, const ReaderOptions& options = {}) {
    path_ = dir_.Sub("events.jsonl");
    WriteFile(path_, text);
    return ReadEvents(Format::kJsonl, path_, options);
  }
  TempDir dir_;
  std::string path_;
};

TEST_F(JsonlReaderTest, ReadsEveryEventField) {
  auto r = Read(
      R"({"event_id":"e1","ts":"2024-05-01T12:00:00Z","user":"alice","item":"sku1","type":"buy","value":2,"session":"s1"})"
      "\n"
      R"({"ts":1714564800,"user":"bob","type":"search","query":"red shoes"})"
      "\n");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  const Event& a = r.records[0].event;
  EXPECT_EQ(a.event_id, "e1");
  EXPECT_EQ(a.ts_ms, 1714564800000);
  EXPECT_EQ(a.user, "alice");
  EXPECT_EQ(a.item, "sku1");
  EXPECT_EQ(a.type, EventType::kBuy);
  EXPECT_EQ(a.value, 2.0);
  EXPECT_EQ(a.session, "s1");
  EXPECT_EQ(r.records[0].dedupe_key, "id:e1");
  const Event& b = r.records[1].event;
  EXPECT_EQ(b.type, EventType::kSearch);
  EXPECT_EQ(b.query, "red shoes");
  EXPECT_EQ(b.ts_ms, 1714564800000);
  EXPECT_EQ(r.records[1].line, 2);
}

TEST_F(JsonlReaderTest, NumericIdsBecomeDecimalText) {
  auto r = Read(R"({"ts":1,"user":257597,"item":18446744073709551615,"type":"view"})"
                "\n");
  ASSERT_EQ(r.records.size(), 1u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.user, "257597");
  EXPECT_EQ(r.records[0].event.item, "18446744073709551615");
}

TEST_F(JsonlReaderTest, TimestampAsMillisecondsOrDecimalSeconds) {
  auto r = Read(R"({"ts":1433221332117,"user":"u","item":"i","type":"view"})"
                "\n"
                R"({"ts":1.5,"user":"u","item":"i","type":"view"})"
                "\n");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.ts_ms, 1433221332117);
  EXPECT_EQ(r.records[1].event.ts_ms, 1500);
}

TEST_F(JsonlReaderTest, ValueMayBeANumericString) {
  auto r = Read(R"({"ts":1,"user":"u","item":"i","type":"rate","value":"4.5"})"
                "\n"
                R"({"ts":1,"user":"u","item":"i","type":"rate","value":"four"})"
                "\n");
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].event.value, 4.5);
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].field, "value");
  EXPECT_NE(r.rejects[0].reason.find("'four'"), std::string::npos);
}

TEST_F(JsonlReaderTest, ContextObjectIsFlattenedAndOtherKeysJoinIt) {
  auto r = Read(
      R"({"ts":1,"user":"u","item":"i","type":"view","context":{"device":"ios","position":3,"tags":["a","b"],"gone":null},"page":"home","ab":true})"
      "\n");
  ASSERT_EQ(r.records.size(), 1u) << Describe(r.rejects);
  const KeyValues& c = r.records[0].event.context;
  EXPECT_EQ(Lookup(c, "device"), "ios");
  EXPECT_EQ(Lookup(c, "position"), "3");
  EXPECT_EQ(Lookup(c, "tags"), R"(["a","b"])");
  EXPECT_EQ(Lookup(c, "gone"), "<absent>");
  EXPECT_EQ(Lookup(c, "page"), "home");
  EXPECT_EQ(Lookup(c, "ab"), "true");
}

TEST_F(JsonlReaderTest, SyntaxErrorIsRejectedWithSimdjsonText) {
  auto r = Read(R"({"ts":1,"user":"u","item":"i","type":"view"})"
                "\n"
                R"({"ts":1,"user":"u",)"
                "\n"
                R"({"ts":1,"user":"u","item":"i","type":"view"})"
                "\n");
  ASSERT_EQ(r.records.size(), 2u);
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].line, 2);
  EXPECT_EQ(r.rejects[0].field, "");
  EXPECT_NE(r.rejects[0].reason.find("not valid JSON"), std::string::npos) << r.rejects[0].reason;
  EXPECT_EQ(r.rejects[0].raw, R"({"ts":1,"user":"u",)");
  EXPECT_EQ(r.rejects[0].file, path_);
}

TEST_F(JsonlReaderTest, TrailingGarbageAndNonObjectsAreRejected) {
  auto r = Read(R"({"ts":1,"user":"u","item":"i","type":"view"} x)"
                "\n"
                "[1,2]\n");
  ASSERT_EQ(r.rejects.size(), 2u) << Describe(r.rejects);
  EXPECT_NE(r.rejects[1].reason.find("not a JSON object"), std::string::npos);
}

TEST_F(JsonlReaderTest, WrongTypeForAFieldIsRejectedNamingIt) {
  auto r = Read(R"({"ts":1,"user":{"id":1},"item":"i","type":"view"})"
                "\n"
                R"({"ts":[1],"user":"u","item":"i","type":"view"})"
                "\n"
                R"({"ts":1,"user":"u","item":1.5,"type":"view"})"
                "\n"
                R"({"ts":1,"user":"u","item":"i","type":7})"
                "\n"
                R"({"ts":1,"user":"u","item":"i","type":"view","value":true})"
                "\n"
                R"({"ts":1,"user":"u","item":"i","type":"view","context":"x"})"
                "\n");
  ASSERT_EQ(r.rejects.size(), 6u) << Describe(r.rejects);
  EXPECT_EQ(r.rejects[0].field, "user");
  EXPECT_NE(r.rejects[0].reason.find("an object"), std::string::npos) << r.rejects[0].reason;
  EXPECT_EQ(r.rejects[1].field, "ts");
  EXPECT_EQ(r.rejects[2].field, "item");
  EXPECT_EQ(r.rejects[3].field, "type");
  EXPECT_EQ(r.rejects[4].field, "value");
  EXPECT_EQ(r.rejects[5].field, "context");
  EXPECT_TRUE(r.records.empty());
}

TEST_F(JsonlReaderTest, MissingTsOrTypeIsRejected) {
  auto r = Read(R"({"user":"u","item":"i","type":"view"})"
                "\n"
                R"({"ts":1,"user":"u","item":"i"})"
                "\n");
  ASSERT_EQ(r.rejects.size(), 2u);
  EXPECT_EQ(r.rejects[0].field, "ts");
  EXPECT_EQ(r.rejects[1].field, "type");

  ReaderOptions options;
  options.default_type = EventType::kFav;
  auto d = Read(R"({"ts":1,"user":"u","item":"i"})"
                "\n",
                options);
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].event.type, EventType::kFav);
}

TEST_F(JsonlReaderTest, FieldMapRenamesKeys) {
  ReaderOptions options;
  options.field_map = {{"user", "visitorid"}, {"ts", "timestamp"}};
  auto r = Read(R"({"timestamp":2,"visitorid":7,"item":"i","type":"view","user":"ctx"})"
                "\n",
                options);
  ASSERT_EQ(r.records.size(), 1u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.user, "7");
  EXPECT_EQ(r.records[0].event.ts_ms, 2000);
  // "user" is no longer the user's key, so it is just context.
  EXPECT_EQ(Lookup(r.records[0].event.context, "user"), "ctx");
}

TEST_F(JsonlReaderTest, InvalidUtf8IsRejected) {
  auto r = Read("{\"ts\":1,\"user\":\"caf\xE9\",\"item\":\"i\",\"type\":\"view\"}\n");
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_NE(r.rejects[0].reason.find("UTF-8"), std::string::npos) << r.rejects[0].reason;
}

TEST_F(JsonlReaderTest, BlankLinesAndCrlfAreFine) {
  auto r = Read(
      "\r\n"
      R"({"ts":1,"user":"u","item":"i","type":"view"})"
      "\r\n   \n"
      R"({"ts":2,"user":"u","item":"i","type":"view"})");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].line, 2);
  EXPECT_EQ(r.records[1].line, 4);
}

class JsonlItemReaderTest : public ::testing::Test {
 protected:
  ReadResult Read(const std::string& text, const ReaderOptions& options = {}) {
    path_ = dir_.Sub("items.jsonl");
    WriteFile(path_, text);
    return ReadItems(Format::kJsonl, path_, options);
  }
  TempDir dir_;
  std::string path_;
};

TEST_F(JsonlItemReaderTest, ReadsItemFieldsAndAttrs) {
  auto r = Read(
      R"({"id":42,"title":"Boots","category":"shoes","brand":"Acme","price":"19.5","stock":3,"attrs":{"color":"red"},"size":41})"
      "\n"
      R"({"id":"h","title":"Hat"})"
      "\n");
  ASSERT_EQ(r.items.size(), 2u) << Describe(r.rejects);
  const Item& a = r.items[0];
  EXPECT_EQ(a.id, "42");
  EXPECT_EQ(a.title, "Boots");
  EXPECT_EQ(a.category, "shoes");
  EXPECT_EQ(a.brand, "Acme");
  EXPECT_EQ(a.price, 19.5);
  EXPECT_EQ(a.stock, 3);
  EXPECT_EQ(Lookup(a.attrs, "color"), "red");
  EXPECT_EQ(Lookup(a.attrs, "size"), "41");
  EXPECT_EQ(r.items[1].price, -1.0);
  EXPECT_EQ(r.items[1].stock, -1);
}

TEST_F(JsonlItemReaderTest, WrongTypesAndMissingIdAreRejected) {
  auto r = Read(R"({"id":"a","price":{}})"
                "\n"
                R"({"id":"b","stock":2.5})"
                "\n"
                R"({"title":"no id"})"
                "\n"
                R"({"id":"c","title":["x"]})"
                "\n"
                "not json\n");
  ASSERT_EQ(r.rejects.size(), 5u) << Describe(r.rejects);
  EXPECT_EQ(r.rejects[0].field, "price");
  EXPECT_EQ(r.rejects[1].field, "stock");
  EXPECT_EQ(r.rejects[2].field, "id");
  EXPECT_EQ(r.rejects[3].field, "title");
  EXPECT_EQ(r.rejects[4].field, "");
  EXPECT_TRUE(r.items.empty());
}

}  // namespace
}  // namespace freshet::io
