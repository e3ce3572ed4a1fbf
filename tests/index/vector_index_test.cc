#include "index/vector_index.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "index/exact_index.h"
#include "index/hnsw_index.h"
#include "index/index_test_util.h"

namespace freshet::index {
namespace {

void ExpectInvalidNaming(const Result<std::unique_ptr<VectorIndex>>& r, const std::string& field) {
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_EQ(r.status().message().rfind(field + ":", 0), 0u)
      << "'" << r.status().message() << "' does not start with " << field;
}

TEST(IndexBuildTest, AutoPicksExactBelowTheThresholdAndHnswFromIt) {
  const auto rows = UniformRows(100, 4, 71);
  IndexOptions options;
  options.exact_below = 100;
  auto hnsw = BuildIndex(options, 4, rows, 100);
  ASSERT_TRUE(hnsw.ok()) << hnsw.status().ToString();
  EXPECT_EQ((*hnsw)->kind(), "hnsw");
  EXPECT_EQ((*hnsw)->size(), 100u);
  EXPECT_EQ((*hnsw)->dim(), 4u);
  options.exact_below = 101;
  auto exact = BuildIndex(options, 4, rows, 100);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ((*exact)->kind(), "exact");

  options.kind = "hnsw";
  auto forced = BuildIndex(options, 4, rows, 100);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ((*forced)->kind(), "hnsw");
  options.kind = "exact";
  options.exact_below = 0;
  forced = BuildIndex(options, 4, rows, 100);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ((*forced)->kind(), "exact");
}

TEST(IndexBuildTest, ErrorsNameTheField) {
  const auto rows = UniformRows(10, 4, 72);
  IndexOptions options;
  ExpectInvalidNaming(BuildIndex(options, 0, {}, 0), "dim");
  ExpectInvalidNaming(BuildIndex(options, 4, rows, 11), "rows");
  ExpectInvalidNaming(BuildIndex(options, 3, rows, 10), "rows");
  auto bad = rows;
  bad[17] = std::numeric_limits<float>::quiet_NaN();
  ExpectInvalidNaming(BuildIndex(options, 4, bad, 10), "rows");
  options.kind = "annoy";
  ExpectInvalidNaming(BuildIndex(options, 4, rows, 10), "kind");
  options.kind = "hnsw";
  options.hnsw.M = 1;
  ExpectInvalidNaming(BuildIndex(options, 4, rows, 10), "hnsw.M");
  options.hnsw.M = 16;
  options.hnsw.ef_construction = 0;
  ExpectInvalidNaming(BuildIndex(options, 4, rows, 10), "hnsw.ef_construction");
  options.hnsw.ef_construction = 200;
  options.hnsw.ef_search = 0;
  ExpectInvalidNaming(BuildIndex(options, 4, rows, 10), "hnsw.ef_search");
  // hnsw options do not matter to an exact index.
  options.kind = "exact";
  EXPECT_TRUE(BuildIndex(options, 4, rows, 10).ok());
}

TEST(IndexRecallAtKTest, CountsSharedItemsOverTheExactResult) {
  // Items on a line: item i = (i, 1). For query (1, 0) the exact top 3 are 9, 8, 7.
  std::vector<float> rows;
  for (int i = 0; i < 10; ++i) rows.insert(rows.end(), {static_cast<float>(i), 1.0f});
  auto exact = ExactIndex::Build(2, rows, 10);
  ASSERT_TRUE(exact.ok());
  EXPECT_DOUBLE_EQ(RecallAtK(**exact, **exact, std::vector<float>{1, 0}, 1, 3), 1.0);
  // An "approximate" index missing item 8: the top 3 becomes 9, 7, 6 -> 2 of 3.
  ExactIndex missing(2);
  for (ItemId i = 0; i < 10; ++i) {
    if (i == 8) continue;
    ASSERT_TRUE(missing.Add(i, std::span<const float>(rows).subspan(i * 2, 2)).ok());
  }
  EXPECT_NEAR(RecallAtK(missing, **exact, std::vector<float>{1, 0}, 1, 3), 2.0 / 3.0, 1e-12);
  // Two queries average; the second, (-1, 0), has top 3 = 0, 1, 2, all present.
  EXPECT_NEAR(RecallAtK(missing, **exact, std::vector<float>{1, 0, -1, 0}, 2, 3), 5.0 / 6.0, 1e-12);
}

TEST(IndexFilterFnTest, DefaultIsNoFilterAndALambdaIsCalledByReference) {
  EXPECT_FALSE(FilterFn());
  EXPECT_FALSE(FilterFn(nullptr));
  int calls = 0;
  auto even = [&calls](ItemId item) {
    ++calls;
    return item % 2 == 0;
  };
  const FilterFn f(even);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f(4));
  EXPECT_FALSE(f(5));
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace freshet::index
