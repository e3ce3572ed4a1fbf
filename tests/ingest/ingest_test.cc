#include "ingest/ingest.h"

#include <gtest/gtest.h>

#include <sstream>

#include "testing/testing.h"

namespace freshet::ingest {
namespace {

using freshet::testing::ReadFile;
using freshet::testing::TempDir;
using freshet::testing::WriteFile;

struct Fixture {
  TempDir dir;
  std::unique_ptr<store::EventStore> store;
  IngestOptions options;
  std::ostringstream errors;
  IngestSummary summary;

  Fixture() {
    auto s = store::EventStore::Open(store::StoreOptions(), dir.Sub("data"));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    store = std::move(*s);
    options.progress = false;
    options.rejects_path = dir.Sub("data/rejects/run.jsonl");
  }
  Status Ingest(const std::vector<std::string>& files) {
    summary = IngestSummary();
    return IngestEvents(*store, files, options, errors, &summary);
  }
};

constexpr const char* kGoodAndBad =
    "event_id,ts,user,item,type,value\n"
    "e1,1700000000,u1,i1,view,\n"
    "e2,1700000001,u1,i2,cart,1\n"
    "e3,not-a-time,u2,i1,view,\n"      // line 4: bad ts
    "e2,1700000002,u1,i2,cart,1\n"      // duplicate of e2
    "e4,1700000003,u2,i3,teleport,\n"  // line 6: bad type
    "e5,1700000004,u2,i3,buy,2\n";

TEST(IngestTest, CountsAcceptedDuplicatesAndRejectsAndWritesTheRejectsFile) {
  Fixture f;
  WriteFile(f.dir.path() / "events.csv", kGoodAndBad);
  ASSERT_TRUE(f.Ingest({f.dir.Sub("events.csv")}).ok());
  EXPECT_EQ(f.summary.accepted, 3u);
  EXPECT_EQ(f.summary.duplicates, 1u);
  EXPECT_EQ(f.summary.rejected, 2u);
  EXPECT_EQ(f.store->counts().events, 3u);

  std::string console = f.errors.str();
  EXPECT_NE(console.find("events.csv:4: field 'ts'"), std::string::npos) << console;
  EXPECT_NE(console.find("events.csv:6: field 'type'"), std::string::npos) << console;

  std::string rejects = ReadFile(f.options.rejects_path);
  EXPECT_NE(rejects.find("\"line\":4"), std::string::npos) << rejects;
  EXPECT_NE(rejects.find("\"field\":\"ts\""), std::string::npos) << rejects;
  EXPECT_NE(rejects.find("teleport"), std::string::npos) << rejects;
  EXPECT_EQ(std::count(rejects.begin(), rejects.end(), '\n'), 2);
  EXPECT_EQ(f.summary.rejects_path, f.options.rejects_path);

  std::string json = f.summary.ToJson();
  EXPECT_NE(json.find("\"accepted\":3"), std::string::npos) << json;
  EXPECT_NE(json.find("\"rejected\":2"), std::string::npos) << json;
}

TEST(IngestTest, MaxErrorsStopsTheRunButKeepsWhatWasAccepted) {
  Fixture f;
  f.options.max_errors = 0;
  f.options.batch_size = 2;
  WriteFile(f.dir.path() / "events.csv", kGoodAndBad);
  Status s = f.Ingest({f.dir.Sub("events.csv")});
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted);
  EXPECT_NE(s.message().find("--max-errors 0"), std::string::npos) << s.message();
  EXPECT_EQ(f.summary.accepted, 2u);  // the first batch: both good lines
  EXPECT_EQ(f.store->counts().events, 2u);
}

TEST(IngestTest, ReingestingAFileWithoutIdsAddsNothing) {
  Fixture f;
  WriteFile(f.dir.path() / "events.csv",
            "ts,user,item,type\n1700000000,u1,i1,view\n1700000000,u1,i1,view\n");
  ASSERT_TRUE(f.Ingest({f.dir.Sub("events.csv")}).ok());
  // Two identical lines are two events: without an id, identity is (file, line).
  EXPECT_EQ(f.summary.accepted, 2u);
  ASSERT_TRUE(f.Ingest({f.dir.Sub("events.csv")}).ok());
  EXPECT_EQ(f.summary.accepted, 0u);
  EXPECT_EQ(f.summary.duplicates, 2u);
  EXPECT_EQ(f.store->counts().events, 2u);
}

TEST(IngestTest, AMissingFileStopsWithItsName) {
  Fixture f;
  Status s = f.Ingest({f.dir.Sub("nope.csv")});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("nope.csv"), std::string::npos) << s.message();
}

TEST(IngestTest, ItemsLoadIntoTheCatalog) {
  Fixture f;
  WriteFile(f.dir.path() / "items.csv",
            "id,title,category,brand,price,stock,color\n"
            "i1,\"Lamp, brass\",home,acme,19.5,3,gold\n"
            ",missing id,home,acme,1,1,red\n");
  Status s = IngestItems(*f.store, {f.dir.Sub("items.csv")}, f.options, f.errors, &f.summary);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(f.summary.items, 1u);
  EXPECT_EQ(f.summary.rejected, 1u);
  Item item;
  ASSERT_TRUE(f.store->GetItem(*f.store->FindItem("i1"), &item).ok());
  EXPECT_EQ(item.title, "Lamp, brass");
  EXPECT_EQ(item.price, 19.5);
  ASSERT_EQ(item.attrs.size(), 1u);
  EXPECT_EQ(item.attrs[0].second, "gold");
}

// The real public datasets (../shared/data), with the counts their README gives.
struct DatasetCase {
  const char* path;
  io::Format format;
  uint64_t events;
  uint32_t users;
  uint32_t items;
};

// Keeps ctest's test names readable instead of a byte dump of the parameter.
void PrintTo(const DatasetCase& c, std::ostream* os) { *os << c.path; }

std::string DatasetName(size_t index) {
  static const char* kNames[] = {"AmazonBeauty", "AmazonSports", "MovieLens100k",
                                 "DigineticaSample", "OnlineRetail"};
  return kNames[index];
}

class SharedDatasetTest : public ::testing::TestWithParam<DatasetCase> {};

TEST_P(SharedDatasetTest, IngestsWithTheDocumentedCounts) {
  const DatasetCase& c = GetParam();
  FRESHET_SHARED_DATA_OR_SKIP(path, c.path);
  Fixture f;
  f.options.format = c.format;
  Status s = f.Ingest({path});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(f.summary.rejected, 0u) << f.errors.str().substr(0, 2000);
  EXPECT_EQ(f.summary.accepted, c.events);
  EXPECT_EQ(f.store->counts().users, c.users);
  EXPECT_EQ(f.store->counts().items, c.items);
  store::EventTable table;
  ASSERT_TRUE(f.store->LoadEventTable(&table).ok());
  EXPECT_EQ(table.size(), c.events);
}

INSTANTIATE_TEST_SUITE_P(
    Datasets, SharedDatasetTest,
    ::testing::Values(
        DatasetCase{"amazon-beauty/Beauty.txt", io::Format::kSeq, 198502, 22363, 12101},
        DatasetCase{"amazon-sports/Sports_and_Outdoors.txt", io::Format::kSeq, 296337, 35598,
                    18357},
        DatasetCase{"ml-100k/u.data", io::Format::kMovieLens, 100000, 943, 1682},
        // Users: 1,270 known ids plus one anonymous user per session without an id.
        DatasetCase{"diginetica-sample/sample_train-item-views.csv", io::Format::kDiginetica,
                    12391, 2994, 7139},
        // Users: 922 customers plus one anonymous user per invoice without a customer.
        DatasetCase{"online-retail/OnlineRetail_first39529.csv", io::Format::kOnlineRetail, 39529,
                    1192, 2783}),
    [](const ::testing::TestParamInfo<DatasetCase>& info) { return DatasetName(info.index); });

}  // namespace
}  // namespace freshet::ingest
