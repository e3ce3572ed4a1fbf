// Searches racing Add and Remove. Run under ThreadSanitizer by `make tsan` (label `concurrent`).

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "search/text_index.h"

namespace freshet::search {
namespace {

const std::vector<std::string>& Words() {
  static const std::vector<std::string> words = {
      "red",  "blue", "green", "lamp",  "lampshade", "desk",  "chair", "table", "oak",
      "pine", "shoe", "boots", "wool",  "cotton",    "crème", "usb",   "cable", "charger",
      "pro",  "max",  "kids",  "women", "sale",      "new",   "set",   "15",    "150"};
  return words;
}

Item RandomItem(std::mt19937& rng) {
  std::uniform_int_distribution<size_t> word(0, Words().size() - 1);
  std::uniform_int_distribution<int> len(1, 5);
  Item item;
  for (int i = len(rng); i > 0; --i)
    item.title += (item.title.empty() ? "" : " ") + Words()[word(rng)];
  item.category = Words()[word(rng)];
  item.brand = Words()[word(rng)];
  return item;
}

std::string RandomQuery(std::mt19937& rng) {
  std::uniform_int_distribution<size_t> word(0, Words().size() - 1);
  std::uniform_int_distribution<int> len(1, 3);
  std::string q;
  for (int i = len(rng); i > 0; --i) q += (q.empty() ? "" : " ") + Words()[word(rng)];
  if (rng() % 2 == 0) q.resize(q.size() - 1);  // type-ahead: a partial last word
  return q;
}

TEST(TextIndexConcurrentTest, SearchesRaceAddsReplacementsAndRemoves) {
  const uint32_t seed = 20261122;
  SCOPED_TRACE("seed " + std::to_string(seed));
  constexpr ItemId kAnchors = 40;   // "anchor" items, never modified
  constexpr ItemId kInitial = 600;  // items present before the race
  constexpr int kWriterSteps = 2000;
  constexpr int kReaders = 3;

  auto created = TextIndex::Create({});
  ASSERT_TRUE(created.ok());
  TextIndex& index = **created;
  std::mt19937 setup_rng(seed);
  std::map<ItemId, Item> catalog;  // the writer's view; read by the main thread after the join
  for (ItemId id = 0; id < kInitial; ++id) {
    Item item = RandomItem(setup_rng);
    if (id < kAnchors) item.title = "anchor " + item.title;
    catalog[id] = item;
    index.Add(id, item);
  }

  std::atomic<bool> writer_done{false};
  std::atomic<int> failures{0};
  std::mutex message_mu;
  std::string first_failure;
  const auto fail = [&](const std::string& why) {
    if (failures.fetch_add(1) == 0) {
      std::lock_guard<std::mutex> lock(message_mu);
      first_failure = why;
    }
  };

  std::thread writer([&] {
    std::mt19937 rng(seed + 1);
    ItemId next = kInitial;
    for (int step = 0; step < kWriterSteps; ++step) {
      const int action = static_cast<int>(rng() % 4);
      if (action == 0) {
        const ItemId id = next++;
        catalog[id] = RandomItem(rng);
        index.Add(id, catalog[id]);
      } else {
        const ItemId id = kAnchors + static_cast<ItemId>(rng() % (next - kAnchors));
        if (action == 3) {
          catalog.erase(id);
          index.Remove(id);
        } else {
          catalog[id] = RandomItem(rng);
          index.Add(id, catalog[id]);
        }
      }
    }
    writer_done = true;
  });

  std::vector<std::thread> readers;
  std::atomic<int64_t> searches{0};
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937 rng(seed + 100 + static_cast<uint32_t>(r));
      std::vector<Hit> hits;
      std::vector<TermMatch> matches;
      for (int done = 0; !writer_done || done < 200; ++done) {
        const std::string q = RandomQuery(rng);
        if (!index.Search(q, 20, nullptr, &hits).ok()) fail("search failed: " + q);
        std::set<ItemId> seen;
        for (size_t i = 0; i < hits.size(); ++i) {
          if (!(hits[i].score > 0) || !std::isfinite(hits[i].score)) fail("bad score: " + q);
          if (!seen.insert(hits[i].item).second) fail("duplicate hit: " + q);
          if (i > 0 && !(hits[i - 1].score > hits[i].score ||
                         (hits[i - 1].score == hits[i].score && hits[i - 1].item < hits[i].item))) {
            fail("hits out of order: " + q);
          }
        }
        if (hits.size() > 20) fail("more than k hits: " + q);
        if (!hits.empty()) {
          // The item may have been replaced or removed since: OK or NotFound, never anything else.
          Status st = index.Explain(q, hits[0].item, &matches);
          if (!st.ok() && !st.IsNotFound()) fail("explain: " + st.ToString());
        }
        // The anchors are never touched: whatever the writer does, "anchor" finds exactly them.
        if (!index.Search("anchor ", 100, nullptr, &hits).ok() || hits.size() != kAnchors) {
          fail("anchor set changed: " + std::to_string(hits.size()) + " hits");
        }
        for (const Hit& h : hits) {
          if (h.item >= kAnchors) fail("non-anchor item " + std::to_string(h.item));
        }
        if (index.size() < kAnchors) fail("size below the anchors");
        ++searches;
      }
    });
  }
  writer.join();
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GE(searches.load(), kReaders * 200);

  // Once quiet, the index built under the race equals one built sequentially from the final
  // catalog, scores to the bit: no update was lost or half-applied.
  auto fresh_created = TextIndex::Create({});
  ASSERT_TRUE(fresh_created.ok());
  TextIndex& fresh = **fresh_created;
  for (const auto& [id, item] : catalog) fresh.Add(id, item);
  EXPECT_EQ(index.size(), fresh.size());
  std::mt19937 rng(seed + 2);
  for (int i = 0; i < 200; ++i) {
    const std::string q = RandomQuery(rng);
    std::vector<Hit> got;
    std::vector<Hit> want;
    ASSERT_TRUE(index.Search(q, 50, nullptr, &got).ok());
    ASSERT_TRUE(fresh.Search(q, 50, nullptr, &want).ok());
    EXPECT_EQ(got, want) << q;
  }
}

}  // namespace
}  // namespace freshet::search
