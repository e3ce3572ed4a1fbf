#include "rank/feature_map.h"

#include <gtest/gtest.h>

#include <set>

#include "rank/dataset.h"

namespace freshet::rank {
namespace {

TEST(FeatureMapTest, AdmitsOnlyIdsSeenMinCountTimes) {
  FeatureMap map(3, {.min_count = 2});
  const uint64_t a = HashFeature(0, "a"), b = HashFeature(1, "b"), c = HashFeature(2, "c");
  const uint64_t d = HashFeature(2, "d");
  for (uint64_t id : {a, a, b, c, c, c, d, d}) map.Count(id);
  EXPECT_EQ(map.AdmitCounted(), 3u);
  EXPECT_EQ(map.rows(), 6u);
  // b was seen once: it shares field 1's rare row; unseen ids use their field's row too.
  EXPECT_EQ(map.Lookup(b), 1u);
  EXPECT_EQ(map.Lookup(HashFeature(2, "never")), 2u);
  std::set<uint32_t> rows = {map.Lookup(a), map.Lookup(c), map.Lookup(d)};
  EXPECT_EQ(rows.size(), 3u) << "admitted ids never collide";
  for (uint32_t r : rows) EXPECT_GE(r, 3u);
}

TEST(FeatureMapTest, ObserveAdmitsOnTheFly) {
  FeatureMap map(2, {.min_count = 3});
  const uint64_t x = HashFeature(1, "x");
  bool fresh = false;
  EXPECT_EQ(map.Observe(x, 1, &fresh), 1u);
  EXPECT_EQ(map.Observe(x, 2, &fresh), 1u);
  EXPECT_FALSE(fresh);
  const uint32_t row = map.Observe(x, 3, &fresh);
  EXPECT_TRUE(fresh);
  EXPECT_EQ(row, 2u);
  EXPECT_EQ(map.Observe(x, 4, &fresh), row);
  EXPECT_FALSE(fresh);
  EXPECT_EQ(map.Lookup(x), row);
}

TEST(FeatureMapTest, ExpiryFreesRowsOfIdsNotSeenForMaxAgeAndReusesThem) {
  FeatureMap map(1, {.min_count = 1, .max_age = 10});
  const uint64_t old_id = HashFeature(0, "old"), live = HashFeature(0, "live");
  const uint32_t old_row = map.Observe(old_id, 1);
  map.Observe(live, 1);
  map.Observe(live, 12);
  EXPECT_EQ(map.Expire(11), 0u) << "age 10 is not more than max_age";
  EXPECT_EQ(map.Expire(12), 1u);
  EXPECT_EQ(map.Lookup(old_id), 0u) << "an expired id falls back to the rare row";
  EXPECT_NE(map.Lookup(live), 0u);
  bool fresh = false;
  EXPECT_EQ(map.Observe(HashFeature(0, "new"), 13, &fresh), old_row);
  EXPECT_TRUE(fresh) << "a reused row is reported so the caller re-initialises it";
  EXPECT_EQ(map.rows(), 3u);
}

// Ids admitted offline (or read from a file) have no step: their age counts from the first
// Expire, not from step 0, so loading a model and expiring does not empty it.
TEST(FeatureMapTest, IdsWithoutASightingAgeFromTheFirstExpire) {
  FeatureMap map(1, {.min_count = 1});
  const uint64_t id = HashFeature(0, "offline");
  map.Count(id);
  ASSERT_EQ(map.AdmitCounted(), 1u);
  map.set_max_age(10);
  EXPECT_EQ(map.Expire(1000), 0u);
  EXPECT_EQ(map.Expire(1010), 0u);
  EXPECT_EQ(map.Expire(1011), 1u);
  EXPECT_EQ(map.Lookup(id), 0u);
}

TEST(FeatureMapTest, ExportImportRoundTrip) {
  FeatureMap map(2, {.min_count = 1});
  for (int i = 0; i < 50; ++i) map.Count(HashFeature(i % 2, std::to_string(i)));
  map.AdmitCounted();
  std::vector<uint64_t> ids;
  std::vector<uint32_t> rows;
  map.Export(&ids, &rows);
  FeatureMap copy(2, {.min_count = 1});
  ASSERT_TRUE(copy.Import(ids, rows, map.rows()));
  for (int i = 0; i < 60; ++i) {
    const uint64_t id = HashFeature(i % 2, std::to_string(i));
    EXPECT_EQ(copy.Lookup(id), map.Lookup(id));
  }
  rows[0] = rows[1];
  EXPECT_FALSE(copy.Import(ids, rows, map.rows())) << "a repeated row is rejected";
}

}  // namespace
}  // namespace freshet::rank
