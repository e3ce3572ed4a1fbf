#include "store/stats.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "core/json_writer.h"
#include "core/time.h"

namespace freshet::store {

Result<StoreStats> ComputeStats(const EventStore& store, const EventTable& table, size_t top_k) {
  StoreStats s;
  s.events = table.size();
  s.users = table.num_users;
  s.items = table.num_items;
  s.store_bytes = store.ApproximateSizeBytes();
  FRESHET_RETURN_IF_ERROR(store.ScanItems([&](ItemId, const Item&) {
    ++s.catalog_items;
    return true;
  }));
  if (table.size() == 0) return s;

  s.first_ts_ms = table.ts_ms.front();  // the table is sorted by time
  s.last_ts_ms = table.ts_ms.back();
  std::vector<uint64_t> item_events(table.num_items, 0), item_buys(table.num_items, 0);
  std::vector<uint64_t> item_impressions(table.num_items, 0);
  std::vector<bool> user_seen(table.num_users, false);
  std::vector<uint64_t> pairs;
  pairs.reserve(table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    ++s.by_type[static_cast<size_t>(table.type[i])];
    user_seen[table.user[i]] = true;
    ItemId item = table.item[i];
    if (item == kNoId) continue;
    if (table.type[i] == EventType::kImpression) {
      ++item_impressions[item];
    } else {
      ++item_events[item];
    }
    if (table.type[i] == EventType::kBuy) ++item_buys[item];
    pairs.push_back(static_cast<uint64_t>(table.user[i]) << 32 | item);
  }
  std::sort(pairs.begin(), pairs.end());
  s.user_item_pairs = static_cast<uint64_t>(std::unique(pairs.begin(), pairs.end()) - pairs.begin());
  s.active_users = static_cast<uint32_t>(std::count(user_seen.begin(), user_seen.end(), true));
  for (ItemId i = 0; i < table.num_items; ++i) {
    if (item_events[i] + item_impressions[i] > 0) ++s.active_items;
  }
  if (s.active_users > 0 && s.active_items > 0) {
    s.density = static_cast<double>(s.user_item_pairs) /
                (static_cast<double>(s.active_users) * s.active_items);
  }

  std::vector<ItemId> order(table.num_items);
  std::iota(order.begin(), order.end(), 0u);
  size_t k = std::min(top_k, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](ItemId a, ItemId b) {
                      return item_events[a] != item_events[b] ? item_events[a] > item_events[b]
                                                              : a < b;
                    });
  for (size_t r = 0; r < k && item_events[order[r]] > 0; ++r) {
    TopItem t;
    t.id = store.ItemName(order[r]);
    t.interactions = item_events[order[r]];
    t.impressions = item_impressions[order[r]];
    t.buys = item_buys[order[r]];
    Item item;
    if (store.GetItem(order[r], &item).ok()) t.title = item.title;
    s.top_items.push_back(std::move(t));
  }
  return s;
}

std::string StoreStats::ToJson() const {
  JsonWriter w;
  w.BeginObject()
      .Key("events").Uint(events)
      .Key("users").Uint(users)
      .Key("items").Uint(items)
      .Key("catalog_items").Uint(catalog_items)
      .Key("active_users").Uint(active_users)
      .Key("active_items").Uint(active_items)
      .Key("user_item_pairs").Uint(user_item_pairs)
      .Key("density").Double(density);
  if (events > 0) {
    w.Key("first_ts").String(FormatTimestamp(first_ts_ms));
    w.Key("last_ts").String(FormatTimestamp(last_ts_ms));
    w.Key("span_days").Double(static_cast<double>(last_ts_ms - first_ts_ms) / 86400000.0);
  }
  w.Key("by_type").BeginObject();
  for (int t = 0; t < kNumEventTypes; ++t) {
    w.Key(EventTypeName(static_cast<EventType>(t))).Uint(by_type[t]);
  }
  w.EndObject();
  w.Key("top_items").BeginArray();
  for (const TopItem& t : top_items) {
    w.BeginObject().Key("item").String(t.id).Key("title").String(t.title);
    w.Key("interactions").Uint(t.interactions).Key("impressions").Uint(t.impressions);
    w.Key("buys").Uint(t.buys).EndObject();
  }
  w.EndArray();
  w.Key("store_bytes").Uint(store_bytes);
  w.EndObject();
  return w.Take();
}

std::string StoreStats::ToText() const {
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "events        %llu\nusers         %u (%u active)\nitems         %u (%u active, "
                "%llu in catalog)\npairs         %llu distinct user-item, density %.5f\n",
                static_cast<unsigned long long>(events), users, active_users, items,
                active_items, static_cast<unsigned long long>(catalog_items),
                static_cast<unsigned long long>(user_item_pairs), density);
  out += buf;
  if (events > 0) {
    std::snprintf(buf, sizeof(buf), "time span     %s .. %s (%.1f days)\n",
                  FormatTimestamp(first_ts_ms).c_str(), FormatTimestamp(last_ts_ms).c_str(),
                  static_cast<double>(last_ts_ms - first_ts_ms) / 86400000.0);
    out += buf;
  }
  out += "by type      ";
  for (int t = 0; t < kNumEventTypes; ++t) {
    if (by_type[t] == 0) continue;
    std::snprintf(buf, sizeof(buf), " %s=%llu", std::string(EventTypeName(static_cast<EventType>(t))).c_str(),
                  static_cast<unsigned long long>(by_type[t]));
    out += buf;
  }
  out += "\n";
  std::snprintf(buf, sizeof(buf), "store size    %.1f MiB\n", store_bytes / 1048576.0);
  out += buf;
  if (!top_items.empty()) {
    out += "most popular items (by interactions other than impressions):\n";
    int rank = 0;
    for (const TopItem& t : top_items) {
      std::snprintf(buf, sizeof(buf), "  %2d. %-14s %7llu interactions %5llu buys  %s\n", ++rank,
                    t.id.c_str(), static_cast<unsigned long long>(t.interactions),
                    static_cast<unsigned long long>(t.buys), t.title.substr(0, 48).c_str());
      out += buf;
    }
  }
  return out;
}

}  // namespace freshet::store
