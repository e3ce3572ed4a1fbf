#pragma once

// Per-user interaction sequences: the view of the event log that next-item models, co-occurrence
// models and the evaluation protocols share.

#include <cstdint>
#include <span>
#include <vector>

#include "core/event.h"
#include "core/ids.h"
#include "store/event_table.h"

namespace freshet::model {

// Which events count as interactions: IsInteraction in core/event.h (shared with the serving
// feature state, so training and serving read the same history).

// Items each user interacted with, in processing order (ts, then arrival), in CSR layout.
struct UserSequences {
  std::vector<uint64_t> offsets{0};  // size num_users() + 1
  std::vector<ItemId> items;
  std::vector<int64_t> ts_ms;
  uint32_t num_items = 0;  // every item id is below this (the table's dictionary size)

  uint32_t num_users() const { return static_cast<uint32_t>(offsets.size() - 1); }
  std::span<const ItemId> items_of(UserId u) const {
    return {items.data() + offsets[u], items.data() + offsets[u + 1]};
  }
  std::span<const int64_t> ts_of(UserId u) const {
    return {ts_ms.data() + offsets[u], ts_ms.data() + offsets[u + 1]};
  }
  size_t length(UserId u) const { return offsets[u + 1] - offsets[u]; }
};

// Builds the sequences of every user of `table` (REQUIRES: sorted by time, as LoadEventTable
// leaves it). A repeat of the item the user interacted with just before is collapsed into one
// interaction (a click and the view it opened, a view and the cart that followed), so a sequence
// says which items the user moved through, not how many events each produced.
UserSequences BuildSequences(const store::EventTable& table);

}  // namespace freshet::model
