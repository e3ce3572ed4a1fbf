// The public-dataset adapters: seq, movielens, diginetica, onlineretail.

#include <gtest/gtest.h>

#include "core/time.h"
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
using test_util::ReadResult;

class DatasetTest : public ::testing::Test {
 protected:
  ReadResult Read(Format format, const std::string& text, const ReaderOptions& options = {}) {
    path_ = dir_.Sub("data.txt");
    WriteFile(path_, text);
    return ReadEvents(format, path_, options);
  }
  TempDir dir_;
  std::string path_;
};

// --- seq ------------------------------------------------------------------------------------

TEST_F(DatasetTest, SeqEmitsOneViewPerItemWithIncreasingSyntheticTimes) {
  ReaderOptions options;
  options.source_id = "beauty";
  options.seq_start_ms = 1000000;
  options.seq_step_ms = 10;
  auto r = Read(Format::kSeq, "1 5 3 9\n2 7\n", options);
  ASSERT_EQ(r.records.size(), 4u) << Describe(r.rejects);
  const std::vector<std::string> items = {"5", "3", "9", "7"};
  const std::vector<int64_t> ts = {1000000, 1000010, 1000020, 1000000};
  const std::vector<std::string> keys = {"src:beauty:1:0", "src:beauty:1:1", "src:beauty:1:2",
                                         "src:beauty:2:0"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r.records[i].event.item, items[i]);
    EXPECT_EQ(r.records[i].event.ts_ms, ts[i]);
    EXPECT_EQ(r.records[i].event.type, EventType::kView);
    EXPECT_EQ(r.records[i].dedupe_key, keys[i]);
  }
  EXPECT_EQ(r.records[0].event.user, "1");
  EXPECT_EQ(r.records[3].event.user, "2");
  EXPECT_EQ(r.records[3].line, 2);
}

TEST_F(DatasetTest, SeqLastItemIsTheUsersLatestEvent) {
  auto r = Read(Format::kSeq, "u a b c d e f\n");
  ASSERT_EQ(r.records.size(), 6u);
  for (size_t i = 1; i < r.records.size(); ++i) {
    EXPECT_LT(r.records[i - 1].event.ts_ms, r.records[i].event.ts_ms);
  }
  EXPECT_EQ(r.records.back().event.item, "f");
  EXPECT_EQ(r.records.front().event.ts_ms, ReaderOptions{}.seq_start_ms);
}

TEST_F(DatasetTest, SeqAcceptsNonNumericIdsTabsAndExtraSpaces) {
  auto r = Read(Format::kSeq, "  alice\tB00X  B00Y \r\n\n");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.user, "alice");
  EXPECT_EQ(r.records[1].event.item, "B00Y");
}

TEST_F(DatasetTest, SeqUserWithoutItemsIsRejected) {
  auto r = Read(Format::kSeq, "1 2\n3\n4 5\n");
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].line, 2);
  EXPECT_EQ(r.rejects[0].field, "item");
  EXPECT_NE(r.rejects[0].reason.find("no items"), std::string::npos);
  EXPECT_EQ(r.records.size(), 2u);
}

// --- movielens -------------------------------------------------------------------------------

TEST_F(DatasetTest, MovieLensUDataIsTabSeparated) {
  auto r = Read(Format::kMovieLens, "196\t242\t3\t881250949\n186\t302\t3\t891717742\n");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  const Event& e = r.records[0].event;
  EXPECT_EQ(e.user, "196");
  EXPECT_EQ(e.item, "242");
  EXPECT_EQ(e.type, EventType::kRate);
  EXPECT_EQ(e.value, 3.0);
  EXPECT_EQ(e.ts_ms, 881250949000);
}

TEST_F(DatasetTest, MovieLensRatingsDatIsDoubleColonSeparated) {
  auto r = Read(Format::kMovieLens, "1::1193::5::978300760\r\n1::661::3::978302109\r\n");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.item, "1193");
  EXPECT_EQ(r.records[0].event.value, 5.0);
  EXPECT_EQ(r.records[1].event.ts_ms, 978302109000);
}

TEST_F(DatasetTest, MovieLensBadNumbersAreRejectedNamingTheField) {
  auto r = Read(Format::kMovieLens,
                "x\t1\t3\t881250949\n"
                "1\ty\t3\t881250949\n"
                "1\t1\tgood\t881250949\n"
                "1\t1\t3\tlater\n"
                "1\t1\t3\n"
                "1\t1\t12\t881250949\n"
                "1\t1\t4\t881250949\n");
  ASSERT_EQ(r.rejects.size(), 6u) << Describe(r.rejects);
  EXPECT_EQ(r.rejects[0].field, "user");
  EXPECT_EQ(r.rejects[1].field, "item");
  EXPECT_EQ(r.rejects[2].field, "value");
  EXPECT_EQ(r.rejects[3].field, "ts");
  EXPECT_EQ(r.rejects[4].field, "");
  EXPECT_NE(r.rejects[4].reason.find("has 3 fields"), std::string::npos);
  EXPECT_EQ(r.rejects[5].field, "value");  // rating outside [0, 10]
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].line, 7);
}

TEST_F(DatasetTest, MovieLensUnrecognisedLayoutIsRejected) {
  auto r = Read(Format::kMovieLens, "1,2,3,4\n");
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_NE(r.rejects[0].reason.find("u.data"), std::string::npos);
}

// --- diginetica ------------------------------------------------------------------------------

TEST_F(DatasetTest, DigineticaNaUsersBecomePerSessionAnonymousUsers) {
  auto r = Read(Format::kDiginetica,
                "session_id;user_id;item_id;timeframe;eventdate\n"
                "1;NA;81766;526309;2016-05-09\n"
                "2;5;31331;0;2016-05-10\n"
                "3;;4;1;2016-05-10\n");
  ASSERT_EQ(r.records.size(), 3u) << Describe(r.rejects);
  const Event& a = r.records[0].event;
  EXPECT_EQ(a.user, "anon-1");
  EXPECT_EQ(a.session, "1");
  EXPECT_EQ(a.item, "81766");
  EXPECT_EQ(a.type, EventType::kView);
  EXPECT_EQ(a.ts_ms, *ParseTimestamp("2016-05-09") + 526309);
  EXPECT_TRUE(a.context.empty());
  EXPECT_EQ(r.records[1].event.user, "5");
  EXPECT_EQ(r.records[1].event.ts_ms, *ParseTimestamp("2016-05-10"));
  EXPECT_EQ(r.records[2].event.user, "anon-3");
}

TEST_F(DatasetTest, DigineticaColumnsAreFoundByName) {
  auto r = Read(Format::kDiginetica,
                "eventdate;item_id;user_id;session_id;timeframe\n"
                "2016-05-09;81766;NA;1;5\n");
  ASSERT_EQ(r.records.size(), 1u) << Describe(r.rejects);
  EXPECT_EQ(r.records[0].event.item, "81766");
  EXPECT_EQ(r.records[0].event.session, "1");
}

TEST_F(DatasetTest, DigineticaMissingHeaderColumnFailsAtOpen) {
  auto r = Read(Format::kDiginetica, "session_id;user_id;item_id;eventdate\n1;NA;2;2016-01-01\n");
  ASSERT_FALSE(r.open_status.ok());
  EXPECT_TRUE(r.open_status.IsInvalidArgument());
  EXPECT_NE(r.open_status.message().find("'timeframe'"), std::string::npos)
      << r.open_status.message();
}

TEST_F(DatasetTest, DigineticaBadRowsAreRejectedNamingTheColumn) {
  auto r = Read(Format::kDiginetica,
                "session_id;user_id;item_id;timeframe;eventdate\n"
                "1;NA;2;soon;2016-05-09\n"
                "1;NA;2;5;09/05/2016\n"
                ";NA;2;5;2016-05-09\n"
                "1;NA;;5;2016-05-09\n"
                "1;NA;2;5\n");
  ASSERT_EQ(r.rejects.size(), 5u) << Describe(r.rejects);
  EXPECT_EQ(r.rejects[0].field, "timeframe");
  EXPECT_EQ(r.rejects[1].field, "eventdate");
  EXPECT_EQ(r.rejects[2].field, "session_id");
  EXPECT_EQ(r.rejects[3].field, "item_id");
  EXPECT_NE(r.rejects[4].reason.find("has 4 fields, header has 5"), std::string::npos);
}

// --- onlineretail ----------------------------------------------------------------------------

constexpr char kRetailHeader[] =
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";

TEST_F(DatasetTest, OnlineRetailRowBecomesABuyWithContextAndAnItem) {
  auto r = Read(Format::kOnlineRetail,
                std::string(kRetailHeader) +
                    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,01/12/2010 08:26,2.55,"
                    "17850,United Kingdom\n"
                    "536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,01/12/2010 08:28,2.55,"
                    "17850.0,United Kingdom\n");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  const Event& e = r.records[0].event;
  EXPECT_EQ(e.user, "17850");
  EXPECT_EQ(e.item, "85123A");
  EXPECT_EQ(e.type, EventType::kBuy);
  EXPECT_EQ(e.value, 6.0);
  EXPECT_EQ(e.session, "536365");
  EXPECT_EQ(e.ts_ms, *ParseTimestamp("2010-12-01T08:26:00Z"));
  EXPECT_EQ(Lookup(e.context, "price"), "2.55");
  EXPECT_EQ(Lookup(e.context, "country"), "United Kingdom");
  EXPECT_EQ(Lookup(e.context, "return"), "<absent>");
  EXPECT_EQ(r.records[1].event.user, "17850");  // trailing ".0" stripped
  // One item per stock code, however often it is bought.
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].id, "85123A");
  EXPECT_EQ(r.items[0].title, "WHITE HANGING HEART T-LIGHT HOLDER");
  EXPECT_EQ(r.items[0].price, 2.55);
}

TEST_F(DatasetTest, OnlineRetailLatin1BytesBecomeUtf8) {
  auto r = Read(Format::kOnlineRetail, std::string(kRetailHeader) +
                                           "536370,POST,POSTAGE \xA3"
                                           "5,3,01/12/2010 08:45,18,12583,France\n");
  ASSERT_EQ(r.records.size(), 1u) << Describe(r.rejects);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].title,
            "POSTAGE \xC2\xA3"
            "5");  // "£5" in UTF-8
}

TEST_F(DatasetTest, OnlineRetailCancellationIsAReturn) {
  auto r = Read(Format::kOnlineRetail,
                std::string(kRetailHeader) +
                    "C536379,D,Discount,-1,01/12/2010 09:41,27.5,14527,United Kingdom\n"
                    "536380,22961,JAM MAKING SET PRINTED,-2,1/12/2010 9:41,1.45,,United Kingdom\n");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  const Event& c = r.records[0].event;
  EXPECT_EQ(c.value, -1.0);
  EXPECT_EQ(c.session, "C536379");
  EXPECT_EQ(Lookup(c.context, "return"), "1");
  const Event& n = r.records[1].event;
  EXPECT_EQ(Lookup(n.context, "return"), "1");  // a negative quantity alone also counts
  EXPECT_EQ(n.user, "anon-536380");             // no customer id
  EXPECT_EQ(n.ts_ms, *ParseTimestamp("2010-12-01T09:41:00Z"));  // unpadded day, month, hour
}

TEST_F(DatasetTest, OnlineRetailQuotedDescriptionsWithCommasAndQuotes) {
  auto r = Read(Format::kOnlineRetail,
                std::string(kRetailHeader) +
                    "536367,22745,\"POPPY'S PLAYHOUSE, BEDROOM \",6,01/12/2010 08:34,2.1,13047,"
                    "United Kingdom\n"
                    "536368,22914,\"BLUE \"\"COAT\"\" RACK\",1,01/12/2010 08:34,4.95,13047,"
                    "United Kingdom\n");
  ASSERT_EQ(r.records.size(), 2u) << Describe(r.rejects);
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0].title, "POPPY'S PLAYHOUSE, BEDROOM");  // trimmed
  EXPECT_EQ(r.items[1].title, "BLUE \"COAT\" RACK");
}

TEST_F(DatasetTest, OnlineRetailBadRowsAreRejectedNamingTheColumn) {
  auto r =
      Read(Format::kOnlineRetail, std::string(kRetailHeader) +
                                      "536365,,X,6,01/12/2010 08:26,2.55,17850,United Kingdom\n"
                                      "536365,A,X,six,01/12/2010 08:26,2.55,17850,United Kingdom\n"
                                      "536365,A,X,6,2010-12-01 08:26,2.55,17850,United Kingdom\n"
                                      "536365,A,X,6,31/02/2010 08:26,2.55,17850,United Kingdom\n"
                                      "536365,A,X,6,01/12/2010 08:26,cheap,17850,United Kingdom\n"
                                      "536365,A,X,6,01/12/2010 08:26,2.55,17850\n");
  ASSERT_EQ(r.rejects.size(), 6u) << Describe(r.rejects);
  EXPECT_EQ(r.rejects[0].field, "StockCode");
  EXPECT_EQ(r.rejects[1].field, "Quantity");
  EXPECT_EQ(r.rejects[2].field, "InvoiceDate");
  EXPECT_EQ(r.rejects[3].field, "InvoiceDate");
  EXPECT_EQ(r.rejects[4].field, "UnitPrice");
  EXPECT_NE(r.rejects[5].reason.find("has 7 fields, header has 8"), std::string::npos);
  EXPECT_TRUE(r.records.empty());
  EXPECT_TRUE(r.items.empty());  // items come only from accepted rows
}

TEST_F(DatasetTest, OnlineRetailRejectRawIsUtf8) {
  auto r = Read(Format::kOnlineRetail,
                std::string(kRetailHeader) + "536370,,\xA3,3,01/12/2010 08:45,18,12583,France\n");
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_NE(r.rejects[0].raw.find("\xC2\xA3"), std::string::npos);
}

TEST_F(DatasetTest, OnlineRetailWrongHeaderFailsAtOpen) {
  auto r = Read(Format::kOnlineRetail, "Invoice,StockCode,Quantity\n1,2,3\n");
  ASSERT_FALSE(r.open_status.ok());
  EXPECT_NE(r.open_status.message().find("'InvoiceNo'"), std::string::npos)
      << r.open_status.message();
}

}  // namespace
}  // namespace freshet::io
