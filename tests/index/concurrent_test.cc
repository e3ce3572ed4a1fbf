// The multi-threaded paths of src/index, run under ThreadSanitizer by `make tsan` (label:
// concurrent): searches from several threads while items are added and replaced, concurrent
// searches agreeing with serial ones, and the parallel HNSW build.

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "index/exact_index.h"
#include "index/hnsw_index.h"
#include "index/index_test_util.h"
#include "index/synthetic.h"
#include "index/vector_index.h"

namespace freshet::index {
namespace {

constexpr uint32_t kDim = 16;

std::unique_ptr<VectorIndex> Build(const std::string& kind, const std::vector<float>& rows,
                                   size_t threads) {
  IndexOptions options;
  options.kind = kind;
  // A small graph keeps the test quick under ThreadSanitizer, whose deadlock detector tracks
  // hnswlib's mutex per node: insertion there is ~30x slower than without it.
  options.hnsw.M = 8;
  options.hnsw.ef_construction = 32;
  // Filters passing >= 64 items (1 x ef) walk the graph, so the small tables exercise it.
  options.hnsw.filter_exact_passing_per_ef = 1;
  options.hnsw.threads = threads;
  auto index = BuildIndex(options, kDim, rows, rows.size() / kDim);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return std::move(*index);
}

class ConcurrentIndexTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConcurrentIndexTest, SearchesRunWhileAddsInsertAndReplaceItems) {
  const size_t initial = 1000;
  const size_t added = 150;
  const size_t replaced = 30;
  const auto data = MakeClusteredEmbeddings(initial, 64, kDim, 20, 81);
  auto index = Build(GetParam(), data.items, 1);
  // Three items in four pass: the HNSW search walks the graph.
  auto three_in_four = [](ItemId item) { return item % 4 != 1; };

  std::atomic<bool> writer_done{false};
  std::atomic<size_t> failures{0};
  auto reader = [&](int r) {
    std::vector<Hit> hits;
    size_t round = 0;
    // Keep searching until the writer is done, and at least a few rounds.
    while (!writer_done.load() || round < 20) {
      const size_t q = (round * 7 + r) % 64;
      const bool filtered = (round + r) % 2 == 1;
      const auto query = std::span<const float>(data.queries).subspan(q * kDim, kDim);
      index->Search(query, 10, filtered ? FilterFn(three_in_four) : FilterFn(), &hits);
      bool ok = hits.size() == 10;
      std::set<ItemId> seen;
      for (size_t i = 0; i < hits.size(); ++i) {
        ok &= hits[i].item < initial + added;
        ok &= !filtered || three_in_four(hits[i].item);
        ok &= seen.insert(hits[i].item).second;
        ok &= i == 0 || !BetterHit(hits[i], hits[i - 1]);
      }
      if (!ok) failures.fetch_add(1);
      ++round;
    }
  };
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) readers.emplace_back(reader, r);

  // The writer: every new or replaced item is 50 times a unit vector of its own direction, the
  // exact top hit along that direction, so once Add returns a search along it must find it (the
  // guarantee: an Add is visible to every search that starts after it returns).
  const auto directions = UnitRows(added + replaced, kDim, 82);
  std::vector<Hit> hits;
  size_t found = 0;
  for (size_t i = 0; i < added + replaced; ++i) {
    const auto item = static_cast<ItemId>(i < added ? initial + i : (i - added) * 13);
    std::vector<float> vec(directions.begin() + i * kDim, directions.begin() + (i + 1) * kDim);
    for (float& x : vec) x *= 50.0f;
    ASSERT_TRUE(index->Add(item, vec).ok());
    index->Search(std::span<const float>(directions).subspan(i * kDim, kDim), 1, nullptr, &hits);
    found += hits.size() == 1 && hits[0].item == item;
  }
  writer_done.store(true);
  for (auto& t : readers) t.join();

  EXPECT_EQ(failures.load(), 0u);
  EXPECT_EQ(index->size(), initial + added);
  EXPECT_GE(found, (added + replaced) * 97 / 100) << "of " << added + replaced;
}

TEST_P(ConcurrentIndexTest, ConcurrentSearchesAgreeWithSerialOnes) {
  const auto data = MakeClusteredEmbeddings(1000, 40, kDim, 20, 91);
  auto index = Build(GetParam(), data.items, 1);
  auto odd = [](ItemId item) { return item % 2 == 1; };
  auto rare = [](ItemId item) { return item % 97 == 0; };  // 11 pass: the exact scan
  const FilterFn filters[] = {FilterFn(), FilterFn(odd), FilterFn(rare)};
  std::vector<std::vector<Hit>> serial(40 * 3);
  for (size_t q = 0; q < 40; ++q) {
    for (size_t f = 0; f < 3; ++f) {
      index->Search(std::span<const float>(data.queries).subspan(q * kDim, kDim), 10, filters[f],
                    &serial[q * 3 + f]);
    }
  }
  std::atomic<size_t> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Hit> hits;
      for (size_t round = 0; round < 3; ++round) {
        for (size_t i = 0; i < serial.size(); ++i) {
          const size_t j = (i + t * 31) % serial.size();
          index->Search(std::span<const float>(data.queries).subspan(j / 3 * kDim, kDim), 10,
                        filters[j % 3], &hits);
          if (hits != serial[j]) mismatches.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Kinds, ConcurrentIndexTest, ::testing::Values("exact", "hnsw"),
                         [](const auto& info) { return info.param; });

TEST(HnswIndexParallelBuildTest, FourThreadsBuildAGraphAsGoodAsOne) {
  const auto data = MakeClusteredEmbeddings(2000, 100, kDim, 20, 101);
  auto exact = Build("exact", data.items, 1);
  auto serial = Build("hnsw", data.items, 1);
  auto parallel = Build("hnsw", data.items, 4);
  ASSERT_EQ(parallel->size(), 2000u);
  const double serial_recall = RecallAtK(*serial, *exact, data.queries, 100, 10);
  const double parallel_recall = RecallAtK(*parallel, *exact, data.queries, 100, 10);
  std::printf("recall@10: serial build %.4f, 4-thread build %.4f\n", serial_recall,
              parallel_recall);
  EXPECT_GE(parallel_recall, serial_recall - 0.03);
  // Every item is in the graph under its own id.
  std::vector<Hit> hits;
  parallel->Search(std::span<const float>(data.queries).subspan(0, kDim), 2000, nullptr, &hits);
  std::set<ItemId> items;
  for (const Hit& h : hits) items.insert(h.item);
  ASSERT_EQ(items.size(), 2000u);
  EXPECT_EQ(*items.rbegin(), 1999u);
}

}  // namespace
}  // namespace freshet::index
