#pragma once

// The columnar, in-memory copy of the event log that every trainer reads: one vector per field,
// rows in processing order (ts, then arrival sequence; DESIGN.md "Time is event time").

#include <cstdint>
#include <vector>

#include "core/event.h"
#include "core/ids.h"

namespace freshet::store {

struct EventTable {
  std::vector<uint64_t> seq;   // store sequence number (arrival order)
  std::vector<int64_t> ts_ms;  // event time
  std::vector<UserId> user;
  std::vector<ItemId> item;    // kNoId for searches without an item
  std::vector<EventType> type;
  std::vector<float> value;

  // Dictionary sizes when the table was read: every id above is below these.
  uint32_t num_users = 0;
  uint32_t num_items = 0;

  size_t size() const { return seq.size(); }
  void Reserve(size_t n);
  void Clear();

  // Puts rows in (ts, seq) order. Cheap when they already are (the common case): one pass.
  void SortByTime();
  bool IsSortedByTime() const;
};

}  // namespace freshet::store
