// Reads each real dataset in ../shared/data and checks the counts its README states. These tests
// skip, visibly, where that folder is absent.

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/time.h"
#include "io/reader.h"
#include "read_all.h"
#include "testing/testing.h"

namespace freshet::io {
namespace {

using test_util::Describe;
using test_util::Lookup;
using test_util::ReadEvents;

TEST(SharedDataTest, AmazonBeautySequences) {
  FRESHET_SHARED_DATA_OR_SKIP(path, "amazon-beauty/Beauty.txt");
  auto r = ReadEvents(Format::kSeq, path, {}, 4096);
  ASSERT_TRUE(r.open_status.ok()) << r.open_status.ToString();
  EXPECT_TRUE(r.rejects.empty()) << Describe(r.rejects);
  EXPECT_EQ(r.records.size(), 198502u);
  std::set<std::string> users, items;
  for (const Record& rec : r.records) {
    users.insert(rec.event.user);
    items.insert(rec.event.item);
  }
  EXPECT_EQ(users.size(), 22363u);
  EXPECT_EQ(items.size(), 12101u);
  EXPECT_EQ(r.records.back().line, 22363);
  // The first user's history, in order: "1 1 2 3 4 5".
  EXPECT_EQ(r.records[4].event.item, "5");
  EXPECT_GT(r.records[4].event.ts_ms, r.records[3].event.ts_ms);
}

TEST(SharedDataTest, AmazonSportsSequences) {
  FRESHET_SHARED_DATA_OR_SKIP(path, "amazon-sports/Sports_and_Outdoors.txt");
  auto r = ReadEvents(Format::kSeq, path, {}, 4096);
  ASSERT_TRUE(r.open_status.ok()) << r.open_status.ToString();
  EXPECT_TRUE(r.rejects.empty()) << Describe(r.rejects);
  EXPECT_EQ(r.records.size(), 296337u);
  std::set<std::string> users, items;
  for (const Record& rec : r.records) {
    users.insert(rec.event.user);
    items.insert(rec.event.item);
  }
  EXPECT_EQ(users.size(), 35598u);
  EXPECT_EQ(items.size(), 18357u);
}

TEST(SharedDataTest, MovieLens100k) {
  FRESHET_SHARED_DATA_OR_SKIP(path, "ml-100k/u.data");
  auto r = ReadEvents(Format::kMovieLens, path, {}, 4096);
  ASSERT_TRUE(r.open_status.ok()) << r.open_status.ToString();
  EXPECT_TRUE(r.rejects.empty()) << Describe(r.rejects);
  ASSERT_EQ(r.records.size(), 100000u);
  std::set<std::string> users, items;
  std::map<double, int> ratings;
  int64_t min_ts = INT64_MAX, max_ts = 0;
  for (const Record& rec : r.records) {
    users.insert(rec.event.user);
    items.insert(rec.event.item);
    ++ratings[rec.event.value];
    min_ts = std::min(min_ts, rec.event.ts_ms);
    max_ts = std::max(max_ts, rec.event.ts_ms);
  }
  EXPECT_EQ(users.size(), 943u);
  EXPECT_EQ(items.size(), 1682u);
  EXPECT_EQ(ratings,
            (std::map<double, int>{{1, 6110}, {2, 11370}, {3, 27145}, {4, 34174}, {5, 21201}}));
  EXPECT_EQ(min_ts, 874724710000);
  EXPECT_EQ(max_ts, 893286638000);
}

TEST(SharedDataTest, DigineticaSample) {
  FRESHET_SHARED_DATA_OR_SKIP(path, "diginetica-sample/sample_train-item-views.csv");
  auto r = ReadEvents(Format::kDiginetica, path, {}, 4096);
  ASSERT_TRUE(r.open_status.ok()) << r.open_status.ToString();
  EXPECT_TRUE(r.rejects.empty()) << Describe(r.rejects);
  ASSERT_EQ(r.records.size(), 12391u);
  std::set<std::string> sessions, items, known_users, users;
  int64_t min_ts = INT64_MAX, max_ts = 0;
  for (const Record& rec : r.records) {
    users.insert(rec.event.user);
    sessions.insert(rec.event.session);
    items.insert(rec.event.item);
    if (!rec.event.user.starts_with("anon-")) known_users.insert(rec.event.user);
    min_ts = std::min(min_ts, rec.event.ts_ms);
    max_ts = std::max(max_ts, rec.event.ts_ms);
  }
  EXPECT_EQ(sessions.size(), 2986u);
  EXPECT_EQ(items.size(), 7139u);
  EXPECT_EQ(known_users.size(), 1270u);
  // Plus one anonymous user per session that has no user id.
  EXPECT_EQ(users.size(), 2994u);
  EXPECT_GE(min_ts, *ParseTimestamp("2016-01-03"));
  EXPECT_LT(max_ts, *ParseTimestamp("2016-06-02"));
}

TEST(SharedDataTest, OnlineRetailFirstRows) {
  FRESHET_SHARED_DATA_OR_SKIP(path, "online-retail/OnlineRetail_first39529.csv");
  auto r = ReadEvents(Format::kOnlineRetail, path, {}, 4096);
  ASSERT_TRUE(r.open_status.ok()) << r.open_status.ToString();
  EXPECT_TRUE(r.rejects.empty()) << Describe(r.rejects);
  ASSERT_EQ(r.records.size(), 39529u);
  std::set<std::string> invoices, customers, countries, users;
  int anonymous = 0, cancellations = 0;
  int64_t min_ts = INT64_MAX, max_ts = 0;
  for (const Record& rec : r.records) {
    const Event& e = rec.event;
    invoices.insert(e.session);
    users.insert(e.user);
    if (e.user.starts_with("anon-")) {
      ++anonymous;
    } else {
      customers.insert(e.user);
    }
    countries.insert(Lookup(e.context, "country"));
    if (e.session.starts_with("C")) {
      ++cancellations;
      EXPECT_EQ(Lookup(e.context, "return"), "1");
    }
    min_ts = std::min(min_ts, e.ts_ms);
    max_ts = std::max(max_ts, e.ts_ms);
  }
  EXPECT_EQ(invoices.size(), 1893u);
  EXPECT_EQ(customers.size(), 922u);
  // Plus one anonymous user per invoice without a customer id.
  EXPECT_EQ(users.size(), 1192u);
  EXPECT_EQ(anonymous, 13766);
  EXPECT_EQ(cancellations, 680);
  EXPECT_EQ(countries.size(), 24u);
  EXPECT_EQ(r.items.size(), 2783u);
  EXPECT_EQ(min_ts, *ParseTimestamp("2010-12-01T08:26"));
  EXPECT_EQ(max_ts, *ParseTimestamp("2010-12-20T16:11"));
  // The file's one Latin-1 byte (a pound sign) arrives as UTF-8.
  int pounds = 0;
  for (const Item& item : r.items) {
    if (item.title.find("\xC2\xA3") != std::string::npos) ++pounds;
  }
  for (const Record& rec : r.records) {
    for (const auto& [k, v] : rec.event.context) {
      if (v.find("\xC2\xA3") != std::string::npos) ++pounds;
    }
  }
  EXPECT_GE(pounds, 1);
}

}  // namespace
}  // namespace freshet::io
