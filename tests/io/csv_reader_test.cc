// The generic csv readers (events and items).

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

class CsvReaderTest : public ::testing::Test {
 protected:
  ReadResult Read(const std::string& text, const ReaderOptions& options = {}) {
    path_ = dir_.Sub("events.csv");
    WriteFile(path_, text);
    return ReadEvents(Format::kCsv, path_, options);
  }
  TempDir dir_;
  std::string path_;
};

TEST_F(CsvReaderTest, ReadsEveryEventField) {
  auto r = Read(
      "event_id,ts,user,item,type,value,session,query\n"
      "e1,2024-05-01T12:00:00Z,alice,sku1,buy,2,s1,\n"
      ",1714564800,bob,,search,,s2,red shoes\n");
  ASSERT_TRUE(r.open_status.ok()) << r.open_status.ToString();
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  const Event& a = r.records[0].event;
  EXPECT_EQ(a.event_id, "e1");
  EXPECT_EQ(a.ts_ms, 1714564800000);
  EXPECT_EQ(a.user, "alice");
  EXPECT_EQ(a.item, "sku1");
  EXPECT_EQ(a.type, EventType::kBuy);
  EXPECT_EQ(a.value, 2.0);
  EXPECT_EQ(a.session, "s1");
  EXPECT_TRUE(a.context.empty());
  EXPECT_EQ(r.records[0].dedupe_key, "id:e1");
  EXPECT_EQ(r.records[0].line, 2);
  const Event& b = r.records[1].event;
  EXPECT_EQ(b.type, EventType::kSearch);
  EXPECT_EQ(b.item, "");
  EXPECT_EQ(b.value, 0.0);
  EXPECT_EQ(b.query, "red shoes");
  EXPECT_EQ(b.ts_ms, 1714564800000);
}

TEST_F(CsvReaderTest, DedupeKeyWithoutEventIdNamesSourceAndLine) {
  ReaderOptions options;
  options.source_id = "/data/x.csv";
  auto r = Read("ts,user,item,type\n1,u,i,view\n2,u,i,view\n", options);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].dedupe_key, "src:/data/x.csv:2");
  EXPECT_EQ(r.records[1].dedupe_key, "src:/data/x.csv:3");
}

TEST_F(CsvReaderTest, OtherColumnsBecomeContextAndEmptyValuesAreSkipped) {
  auto r = Read("ts,user,item,type,device,page\n1,u,i,view,mobile,\n2,u,i,view,,home\n");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.context, (KeyValues{{"device", "mobile"}}));
  EXPECT_EQ(r.records[1].event.context, (KeyValues{{"page", "home"}}));
}

TEST_F(CsvReaderTest, QuotedFieldsWithDelimitersEscapesAndNewlines) {
  auto r = Read(
      "ts,user,item,type,note\n"
      "1,\"u,1\",\"i\"\"x\",view,\"two\nlines\"\n"
      "2,u2,i2,view,plain\n");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.user, "u,1");
  EXPECT_EQ(r.records[0].event.item, "i\"x");
  EXPECT_EQ(Lookup(r.records[0].event.context, "note"), "two\nlines");
  EXPECT_EQ(r.records[0].line, 2);
  // The quoted newline made record 1 span lines 2-3, so the next one is on line 4.
  EXPECT_EQ(r.records[1].line, 4);
}

TEST_F(CsvReaderTest, CrlfLineEndings) {
  auto r = Read("ts,user,item,type,note\r\n1,u,i,view,x\r\n2,u,i,cart,\"q\"\r\n");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.type, EventType::kView);
  EXPECT_EQ(Lookup(r.records[0].event.context, "note"), "x");
  EXPECT_EQ(r.records[1].event.type, EventType::kCart);
  EXPECT_EQ(Lookup(r.records[1].event.context, "note"), "q");
}

TEST_F(CsvReaderTest, ByteOrderMarkIsSkipped) {
  auto r = Read("\xEF\xBB\xBFts,user,item,type\n1,u,i,view\n");
  ASSERT_TRUE(r.open_status.ok()) << r.open_status.ToString();
  ASSERT_EQ(r.records.size(), 1u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.ts_ms, 1000);
}

TEST_F(CsvReaderTest, BlankLinesAreSkippedButCounted) {
  auto r = Read("ts,user,item,type\n\n1,u,i,view\n   \n\r\n2,u,i,view");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].line, 3);
  EXPECT_EQ(r.records[1].line, 6);  // and a last line without a newline counts
  EXPECT_TRUE(r.rejects.empty());
}

TEST_F(CsvReaderTest, FieldMapRenamesColumns) {
  ReaderOptions options;
  options.field_map = {
      {"ts", "timestamp"}, {"user", "visitorid"}, {"item", "itemid"}, {"type", "event"}};
  auto r = Read(
      "timestamp,visitorid,event,itemid,transactionid\n"
      "1433221332117,257597,addtocart,355908,\n",
      options);
  ASSERT_TRUE(r.open_status.ok()) << r.open_status.ToString();
  ASSERT_EQ(r.records.size(), 1u) << Describe(r.rejects);
  const Event& e = r.records[0].event;
  EXPECT_EQ(e.ts_ms, 1433221332117);
  EXPECT_EQ(e.user, "257597");
  EXPECT_EQ(e.item, "355908");
  EXPECT_EQ(e.type, EventType::kCart);
  EXPECT_TRUE(e.context.empty());
}

TEST_F(CsvReaderTest, FieldMapWithUnknownFieldFailsAtOpen) {
  ReaderOptions options;
  options.field_map = {{"usr", "visitorid"}};
  auto r = Read("ts,user,item,type\n", options);
  ASSERT_FALSE(r.open_status.ok());
  EXPECT_TRUE(r.open_status.IsInvalidArgument());
  EXPECT_NE(r.open_status.message().find("'usr'"), std::string::npos) << r.open_status.message();
}

TEST_F(CsvReaderTest, MissingUserColumnFailsAtOpenNamingItAndTheHeader) {
  auto r = Read("ts,customer,item,type\n1,u,i,view\n");
  ASSERT_FALSE(r.open_status.ok());
  EXPECT_TRUE(r.open_status.IsInvalidArgument());
  const std::string& m = r.open_status.message();
  EXPECT_NE(m.find("'user'"), std::string::npos) << m;
  EXPECT_NE(m.find("ts, customer, item, type"), std::string::npos) << m;
  EXPECT_NE(m.find(path_), std::string::npos) << m;
}

TEST_F(CsvReaderTest, MissingMappedColumnNamesBothColumnAndField) {
  ReaderOptions options;
  options.field_map = {{"user", "visitorid"}};
  auto r = Read("ts,user,item,type\n", options);
  ASSERT_FALSE(r.open_status.ok());
  EXPECT_NE(r.open_status.message().find("'visitorid'"), std::string::npos);
  EXPECT_NE(r.open_status.message().find("'user'"), std::string::npos);
}

TEST_F(CsvReaderTest, MissingItemOrTsColumnFailsAtOpen) {
  auto no_item = Read("ts,user,type\n");
  ASSERT_FALSE(no_item.open_status.ok());
  EXPECT_NE(no_item.open_status.message().find("'item'"), std::string::npos);
  auto no_ts = Read("user,item,type\n");
  ASSERT_FALSE(no_ts.open_status.ok());
  EXPECT_NE(no_ts.open_status.message().find("'ts'"), std::string::npos);
}

TEST_F(CsvReaderTest, MissingTypeColumnNeedsADefaultType) {
  auto r = Read("ts,user,item\n1,u,i\n");
  ASSERT_FALSE(r.open_status.ok());
  EXPECT_TRUE(r.open_status.IsInvalidArgument());
  EXPECT_NE(r.open_status.message().find("'type'"), std::string::npos);

  ReaderOptions options;
  options.default_type = EventType::kClick;
  auto ok = Read("ts,user,item\n1,u,i\n", options);
  ASSERT_TRUE(ok.open_status.ok()) << ok.open_status.ToString();
  ASSERT_EQ(ok.records.size(), 1u);
  EXPECT_EQ(ok.records[0].event.type, EventType::kClick);
}

TEST_F(CsvReaderTest, SearchOnlyFileMayLackItems) {
  ReaderOptions options;
  options.default_type = EventType::kSearch;
  auto r = Read("ts,user,query\n1,u,boots\n", options);
  ASSERT_TRUE(r.open_status.ok()) << r.open_status.ToString();
  ASSERT_EQ(r.records.size(), 1u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.query, "boots");
}

TEST_F(CsvReaderTest, EmptyTypeCellUsesTheDefault) {
  ReaderOptions options;
  options.default_type = EventType::kView;
  auto r = Read("ts,user,item,type\n1,u,i,\n2,u,i,buy\n", options);
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.type, EventType::kView);
  EXPECT_EQ(r.records[1].event.type, EventType::kBuy);
}

TEST_F(CsvReaderTest, BadTimestampIsRejectedNamingTs) {
  auto r = Read("ts,user,item,type\n2021-13-01,u,i,view\n,u,i,view\n1,u,i,view\n");
  ASSERT_EQ(r.records.size(), 1u);
  ASSERT_EQ(r.rejects.size(), 2u);
  const Reject& bad = r.rejects[0];
  EXPECT_EQ(bad.file, path_);
  EXPECT_EQ(bad.line, 2);
  EXPECT_EQ(bad.field, "ts");
  EXPECT_NE(bad.reason.find("2021-13-01"), std::string::npos) << bad.reason;
  EXPECT_EQ(bad.raw, "2021-13-01,u,i,view");
  EXPECT_EQ(r.rejects[1].field, "ts");
  EXPECT_EQ(r.rejects[1].line, 3);
}

TEST_F(CsvReaderTest, RejectReasonNamesTheMappedColumn) {
  ReaderOptions options;
  options.field_map = {{"ts", "when"}};
  auto r = Read("when,user,item,type\nyesterday,u,i,view\n", options);
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].field, "ts");
  EXPECT_NE(r.rejects[0].reason.find("column 'when'"), std::string::npos) << r.rejects[0].reason;
}

TEST_F(CsvReaderTest, TimestampOutsideTheValidRangeIsRejectedByValidation) {
  // 1e13 ms is year 2286: ParseTimestamp accepts it, ValidateEvent does not.
  auto r = Read("ts,user,item,type\n10000000000000,u,i,view\n");
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].field, "ts");
  EXPECT_NE(r.rejects[0].reason.find("2200"), std::string::npos) << r.rejects[0].reason;
}

TEST_F(CsvReaderTest, UnknownTypeIsRejectedListingTheKnownTypes) {
  auto r = Read("ts,user,item,type\n1,u,i,teleport\n1,u,i,AddToCart\n");
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].field, "type");
  EXPECT_NE(r.rejects[0].reason.find("'teleport'"), std::string::npos);
  EXPECT_NE(r.rejects[0].reason.find("remove_cart"), std::string::npos);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].event.type, EventType::kCart);
}

TEST_F(CsvReaderTest, BadValueIsRejected) {
  auto r = Read("ts,user,item,type,value\n1,u,i,buy,two\n1,u,i,rate,11\n1,u,i,buy, 3 \n");
  ASSERT_EQ(r.rejects.size(), 2u) << Describe(r.rejects);
  EXPECT_EQ(r.rejects[0].field, "value");
  EXPECT_NE(r.rejects[0].reason.find("'two'"), std::string::npos);
  EXPECT_EQ(r.rejects[1].field, "value");  // a rating above 10, caught by ValidateEvent
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].event.value, 3.0);
}

TEST_F(CsvReaderTest, MissingUserIsRejected) {
  auto r = Read("ts,user,item,type\n1,,i,view\n");
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].field, "user");
  EXPECT_NE(r.rejects[0].reason.find("missing"), std::string::npos);
}

TEST_F(CsvReaderTest, WrongFieldCountIsRejected) {
  auto r = Read("ts,user,item,type\n1,u,i\n1,u,i,view,extra\n1,u,i,view\n");
  ASSERT_EQ(r.rejects.size(), 2u);
  EXPECT_EQ(r.rejects[0].reason, "has 3 fields, header has 4");
  EXPECT_EQ(r.rejects[0].field, "");
  EXPECT_EQ(r.rejects[0].line, 2);
  EXPECT_EQ(r.rejects[1].reason, "has 5 fields, header has 4");
  EXPECT_EQ(r.records.size(), 1u);
}

TEST_F(CsvReaderTest, InvalidUtf8IsRejectedNamingTheField) {
  auto r = Read(
      "ts,user,item,type,device\n"
      "1,u,caf\xE9,view,x\n"
      "1,u,i,view,\xFF\n"
      "1,u,caf\xC3\xA9,view,x\n");
  ASSERT_EQ(r.rejects.size(), 2u);
  EXPECT_EQ(r.rejects[0].field, "item");
  EXPECT_NE(r.rejects[0].reason.find("UTF-8"), std::string::npos);
  EXPECT_EQ(r.rejects[1].field, "device");
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].event.item, "caf\xC3\xA9");
}

TEST_F(CsvReaderTest, MalformedQuotingIsRejectedAndReadingResumes) {
  auto r = Read(
      "ts,user,item,type\n"
      "1,\"u\"x,i,view\n"
      "2,\"never closed,i,view\n"
      "3,u,i,view\n");
  ASSERT_EQ(r.rejects.size(), 2u) << Describe(r.rejects);
  EXPECT_EQ(r.rejects[0].line, 2);
  EXPECT_EQ(r.rejects[0].field, "user");
  EXPECT_NE(r.rejects[0].reason.find("closing quote"), std::string::npos);
  EXPECT_EQ(r.rejects[1].line, 3);
  EXPECT_NE(r.rejects[1].reason.find("closing quote never comes"), std::string::npos);
  // The open quote on line 3 does not swallow line 4.
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].line, 4);
  EXPECT_EQ(r.records[0].event.ts_ms, 3000);
}

TEST_F(CsvReaderTest, RawIsCutTo512Bytes) {
  std::string long_user(2000, 'u');
  auto r = Read("ts,user,item,type\nbad," + long_user + ",i,view\n");
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].raw.size(), 512u);
}

TEST_F(CsvReaderTest, OtherDelimiter) {
  ReaderOptions options;
  options.csv_delimiter = '\t';
  auto r = Read("ts\tuser\titem\ttype\n1\tu\ti,j\tview\n", options);
  ASSERT_EQ(r.records.size(), 1u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.item, "i,j");
}

TEST_F(CsvReaderTest, DuplicateFieldColumnFailsAtOpen) {
  auto r = Read("ts,user,item,type,user\n");
  ASSERT_FALSE(r.open_status.ok());
  EXPECT_NE(r.open_status.message().find("twice"), std::string::npos);
}

TEST_F(CsvReaderTest, HeaderOnlyFileHasNoRecords) {
  auto r = Read("ts,user,item,type\n");
  ASSERT_TRUE(r.open_status.ok());
  EXPECT_TRUE(r.records.empty());
  EXPECT_TRUE(r.rejects.empty());
}

class CsvItemReaderTest : public ::testing::Test {
 protected:
  ReadResult Read(const std::string& text, const ReaderOptions& options = {}) {
    path_ = dir_.Sub("items.csv");
    WriteFile(path_, text);
    return ReadItems(Format::kCsv, path_, options);
  }
  TempDir dir_;
  std::string path_;
};

TEST_F(CsvItemReaderTest, ReadsItemFieldsAndAttrs) {
  auto r = Read(
      "id,title,category,brand,price,stock,color\n"
      "sku1,\"Boots, red\",shoes,Acme,19.5,3,red\n"
      "sku2,Hat,,,,,\n");
  ASSERT_TRUE(r.open_status.ok()) << r.open_status.ToString();
  ASSERT_EQ(r.items.size(), 2u) << Describe(r.rejects);
  const Item& a = r.items[0];
  EXPECT_EQ(a.id, "sku1");
  EXPECT_EQ(a.title, "Boots, red");
  EXPECT_EQ(a.category, "shoes");
  EXPECT_EQ(a.brand, "Acme");
  EXPECT_EQ(a.price, 19.5);
  EXPECT_EQ(a.stock, 3);
  EXPECT_EQ(a.attrs, (KeyValues{{"color", "red"}}));
  const Item& b = r.items[1];
  EXPECT_EQ(b.price, -1.0);
  EXPECT_EQ(b.stock, -1);
  EXPECT_TRUE(b.attrs.empty());
}

TEST_F(CsvItemReaderTest, FieldMapAndMissingIdColumn) {
  ReaderOptions options;
  options.field_map = {{"id", "movie_id"}, {"title", "name"}};
  auto r = Read("movie_id,name\n1,Toy Story\n", options);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].id, "1");
  EXPECT_EQ(r.items[0].title, "Toy Story");

  auto missing = Read("name,price\nx,1\n");
  ASSERT_FALSE(missing.open_status.ok());
  EXPECT_NE(missing.open_status.message().find("'id'"), std::string::npos);
}

TEST_F(CsvItemReaderTest, BadNumbersAndEmptyIdsAreRejected) {
  auto r = Read("id,price,stock\na,cheap,1\nb,1,2.5\n,1,1\nc,2,4\n");
  ASSERT_EQ(r.rejects.size(), 3u) << Describe(r.rejects);
  EXPECT_EQ(r.rejects[0].field, "price");
  EXPECT_EQ(r.rejects[0].line, 2);
  EXPECT_EQ(r.rejects[1].field, "stock");
  EXPECT_EQ(r.rejects[2].field, "id");
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].stock, 4);
}

}  // namespace
}  // namespace freshet::io
