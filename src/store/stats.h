#pragma once

// Summary statistics of a store: what `freshet stats` prints.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "store/event_store.h"
#include "store/event_table.h"

namespace freshet::store {

struct TopItem {
  std::string id;
  std::string title;  // empty without a catalog entry
  uint64_t interactions = 0;  // events other than impressions: what users did, not were shown
  uint64_t impressions = 0;
  uint64_t buys = 0;
};

struct StoreStats {
  uint64_t events = 0;
  uint32_t users = 0;  // dictionary sizes
  uint32_t items = 0;
  uint64_t catalog_items = 0;  // items with a catalog entry
  uint32_t active_users = 0;   // users / items with at least one event
  uint32_t active_items = 0;
  uint64_t user_item_pairs = 0;  // distinct (user, item) pairs
  double density = 0;            // user_item_pairs / (active_users * active_items)
  int64_t first_ts_ms = 0;
  int64_t last_ts_ms = 0;
  std::array<uint64_t, kNumEventTypes> by_type{};
  std::vector<TopItem> top_items;  // by interactions
  uint64_t store_bytes = 0;

  // {"events":…, "users":…, "items":…, "by_type":{…}, "top_items":[…], …}
  std::string ToJson() const;
  // Human-readable, several lines.
  std::string ToText() const;
};

// Computes the statistics of `table` (read from `store`), with the `top_k` items users interacted
// with most (impressions do not count: they measure the shop's choices, not the users').
Result<StoreStats> ComputeStats(const EventStore& store, const EventTable& table, size_t top_k);

}  // namespace freshet::store
