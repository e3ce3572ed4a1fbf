#include "index/exact_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "index/index_test_util.h"
#include "testing/naive_topk.h"

namespace freshet::index {
namespace {

using testing::NaiveTopK;

std::unique_ptr<ExactIndex> BuildExact(uint32_t dim, const std::vector<float>& rows) {
  auto index = ExactIndex::Build(dim, rows, rows.size() / dim);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return std::move(*index);
}

TEST(ExactIndexTest, MatchesNaiveSortOnRandomData) {
  for (uint32_t dim : {1u, 7u, 8u, 33u, 64u, 100u}) {
    const uint64_t seed = 1000 + dim;
    SCOPED_TRACE("dim " + std::to_string(dim) + " seed " + std::to_string(seed));
    const auto rows = UniformRows(1500, dim, seed);
    const auto queries = UniformRows(5, dim, seed + 1);
    auto index = BuildExact(dim, rows);
    ASSERT_EQ(index->size(), 1500u);
    std::vector<Hit> hits;
    for (size_t k : {1u, 10u, 100u}) {
      for (size_t q = 0; q < 5; ++q) {
        std::span<const float> query(queries.data() + q * dim, dim);
        index->Search(query, k, nullptr, &hits);
        ExpectMatchesOracle(hits, NaiveTopK(rows, dim, query, k), dim);
      }
    }
  }
}

TEST(ExactIndexTest, BreaksTiesByLowerItemId) {
  // Small integer components: every inner product is exact in float, and with 3 values per
  // component and 2 components most scores are shared by many items.
  const uint32_t dim = 2;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> v(-1, 1);
  std::vector<float> rows(400 * dim);
  for (float& x : rows) x = static_cast<float>(v(rng));
  auto index = BuildExact(dim, rows);
  const std::vector<float> query = {1.0f, 2.0f};
  std::vector<Hit> hits;
  for (size_t k : {1u, 5u, 37u, 400u}) {
    index->Search(query, k, nullptr, &hits);
    const auto truth = NaiveTopK(rows, dim, query, k);
    ASSERT_EQ(hits.size(), truth.size());
    for (size_t i = 0; i < hits.size(); ++i) {
      EXPECT_EQ(hits[i].item, truth[i].item) << "k " << k << " position " << i;
      EXPECT_EQ(hits[i].score, truth[i].score);
    }
  }
}

TEST(ExactIndexTest, ReturnsEveryItemWhenKExceedsSize) {
  const auto rows = UniformRows(12, 4, 3);
  auto index = BuildExact(4, rows);
  const std::vector<float> query = {0.5f, -1.0f, 0.25f, 2.0f};
  std::vector<Hit> hits;
  index->Search(query, 1000, nullptr, &hits);
  ExpectMatchesOracle(hits, NaiveTopK(rows, 4, query, 1000), 4);
  EXPECT_EQ(hits.size(), 12u);
}

TEST(ExactIndexTest, KZeroAndEmptyIndexReturnNothing) {
  const std::vector<float> query = {1.0f, 2.0f, 3.0f};
  std::vector<Hit> hits = {{1, 1.0f}};  // stale content must be cleared
  ExactIndex empty(3);
  EXPECT_EQ(empty.size(), 0u);
  empty.Search(query, 10, nullptr, &hits);
  EXPECT_TRUE(hits.empty());

  auto built = ExactIndex::Build(3, {}, 0);
  ASSERT_TRUE(built.ok());
  (*built)->Search(query, 5, nullptr, &hits);
  EXPECT_TRUE(hits.empty());

  auto index = BuildExact(3, UniformRows(10, 3, 4));
  hits = {{1, 1.0f}};
  index->Search(query, 0, nullptr, &hits);
  EXPECT_TRUE(hits.empty());
}

TEST(ExactIndexTest, FiltersPassingNoneFewOrAllMatchNaiveSort) {
  const uint32_t dim = 16;
  const auto rows = UniformRows(2000, dim, 11);
  const auto query = UniformRows(1, dim, 12);
  auto index = BuildExact(dim, rows);
  std::vector<Hit> hits;

  auto none = [](ItemId) { return false; };
  index->Search(query, 10, none, &hits);
  EXPECT_TRUE(hits.empty());

  // Fewer passing items than k: all of them come back, in order.
  auto few = [](ItemId item) { return item % 500 == 3; };
  index->Search(query, 10, few, &hits);
  ExpectMatchesOracle(hits, NaiveTopK(rows, dim, query, 10, few), dim);
  EXPECT_EQ(hits.size(), 4u);

  auto some = [](ItemId item) { return item % 3 == 0; };
  index->Search(query, 25, some, &hits);
  ExpectMatchesOracle(hits, NaiveTopK(rows, dim, query, 25, some), dim);
  for (const Hit& h : hits) EXPECT_EQ(h.item % 3, 0u);

  auto all = [](ItemId) { return true; };
  std::vector<Hit> unfiltered;
  index->Search(query, 25, all, &hits);
  index->Search(query, 25, nullptr, &unfiltered);
  EXPECT_EQ(hits, unfiltered);
}

TEST(ExactIndexTest, SearchBatchMatchesSearch) {
  const uint32_t dim = 24;
  const auto rows = UniformRows(1003, dim, 21);  // the last row block is not a multiple of 8
  const size_t num_queries = 300;                // more than one query block
  const auto queries = UniformRows(num_queries, dim, 22);
  auto index = BuildExact(dim, rows);
  auto odd = [](ItemId item) { return item % 2 == 1; };
  std::vector<std::vector<Hit>> batch;
  std::vector<Hit> single;
  for (bool filtered : {false, true}) {
    const FilterFn filter = filtered ? FilterFn(odd) : FilterFn();
    const std::function<bool(uint32_t)> keep =
        filtered ? std::function<bool(uint32_t)>(odd) : std::function<bool(uint32_t)>();
    index->SearchBatch(queries, num_queries, 10, filter, &batch);
    ASSERT_EQ(batch.size(), num_queries);
    for (size_t q = 0; q < num_queries; ++q) {
      std::span<const float> query(queries.data() + q * dim, dim);
      const auto truth = NaiveTopK(rows, dim, query, 10, keep);
      ExpectMatchesOracle(batch[q], truth, dim);
      index->Search(query, 10, filter, &single);
      ExpectMatchesOracle(single, truth, dim);
    }
  }
  index->SearchBatch(queries, num_queries, 0, nullptr, &batch);
  for (const auto& hits : batch) EXPECT_TRUE(hits.empty());
}

TEST(ExactIndexTest, AddMakesNewItemsFindableAndReplacesVectors) {
  const uint32_t dim = 8;
  auto rows = UniformRows(100, dim, 31);
  auto index = BuildExact(dim, rows);
  const std::vector<float> query = {1, 1, 1, 1, 1, 1, 1, 1};
  std::vector<Hit> hits;

  // A new item far along the query's direction becomes the top hit.
  const std::vector<float> strong = {5, 5, 5, 5, 5, 5, 5, 5};
  ASSERT_TRUE(index->Add(100, strong).ok());
  EXPECT_EQ(index->size(), 101u);
  index->Search(query, 3, nullptr, &hits);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].item, 100u);
  EXPECT_EQ(hits[0].score, 40.0f);

  // Ids need not be consecutive; a gap is simply absent.
  ASSERT_TRUE(index->Add(250, std::vector<float>(dim, 6.0f)).ok());
  EXPECT_EQ(index->size(), 102u);
  index->Search(query, 2, nullptr, &hits);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].item, 250u);
  EXPECT_EQ(hits[1].item, 100u);

  // Replacing a vector moves the item; the size does not change.
  ASSERT_TRUE(index->Add(100, std::vector<float>(dim, -5.0f)).ok());
  EXPECT_EQ(index->size(), 102u);
  index->Search(query, 200, nullptr, &hits);
  ASSERT_EQ(hits.size(), 102u);
  EXPECT_EQ(hits.back().item, 100u);
  EXPECT_EQ(hits.back().score, -40.0f);

  // Against the oracle over the same table.
  rows.resize(251 * dim, 0.0f);
  std::vector<bool> present(251, false);
  for (size_t i = 0; i < 100; ++i) present[i] = true;
  present[100] = present[250] = true;
  std::fill(rows.begin() + 100 * dim, rows.begin() + 101 * dim, -5.0f);
  std::fill(rows.begin() + 250 * dim, rows.end(), 6.0f);
  const auto other = UniformRows(1, dim, 32);
  index->Search(other, 20, nullptr, &hits);
  ExpectMatchesOracle(hits, NaiveTopK(rows, dim, other, 20, nullptr, present), dim);

  // Growing from empty.
  ExactIndex grown(dim);
  for (ItemId i = 0; i < 100; ++i) {
    ASSERT_TRUE(grown.Add(i, std::span<const float>(rows.data() + i * dim, dim)).ok());
  }
  grown.Search(other, 10, nullptr, &hits);
  ExpectMatchesOracle(
      hits, NaiveTopK(std::span<const float>(rows.data(), 100 * dim), dim, other, 10), dim);
}

TEST(ExactIndexTest, AddRejectsBadArgumentsAndChangesNothing) {
  ExactIndex index(4);
  const std::vector<float> ok = {1, 2, 3, 4};
  Status st = index.Add(0, std::vector<float>{1, 2, 3});
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("vec"), std::string::npos) << st.ToString();
  st = index.Add(0, std::vector<float>{1, std::numeric_limits<float>::quiet_NaN(), 3, 4});
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("component 1"), std::string::npos) << st.ToString();
  st = index.Add(0, std::vector<float>{1, 2, std::numeric_limits<float>::infinity(), 4});
  EXPECT_TRUE(st.IsInvalidArgument());
  st = index.Add(kNoId, ok);
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("item"), std::string::npos) << st.ToString();
  EXPECT_EQ(index.size(), 0u);
}

TEST(ExactIndexTest, BuildRejectsNonFiniteRowsNamingItemAndComponent) {
  auto rows = UniformRows(10, 3, 41);
  rows[2 * 3 + 1] = std::numeric_limits<float>::infinity();
  auto index = ExactIndex::Build(3, rows, 10);
  ASSERT_FALSE(index.ok());
  EXPECT_TRUE(index.status().IsInvalidArgument());
  EXPECT_NE(index.status().message().find("rows: item 2, component 1"), std::string::npos)
      << index.status().ToString();
}

}  // namespace
}  // namespace freshet::index
