#pragma once

// The event, catalog item and user records every module exchanges (DESIGN.md, "Contracts").
// These are the external forms, with string ids as the shop knows them; the store maps ids to
// dense uint32 (core/ids.h) so that models index arrays.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace freshet {

// Persisted in the store as one byte: NEVER RENUMBER, only append (docs/formats.md).
enum class EventType : uint8_t {
  kImpression = 0,
  kView = 1,
  kClick = 2,
  kCart = 3,
  kRemoveCart = 4,
  kFav = 5,
  kBuy = 6,
  kRate = 7,
  kSearch = 8,
};
inline constexpr int kNumEventTypes = 9;

// Canonical lower-case name: "impression", "view", ..., "remove_cart", ..., "search".
std::string_view EventTypeName(EventType type);

// Parses a canonical name, case-insensitively, plus the aliases well-known public logs use
// ("pv", "addtocart", "add_to_cart", "transaction", "purchase", "rating", "favorite", ...).
// Returns nullopt for anything else.
std::optional<EventType> ParseEventType(std::string_view text);

using KeyValues = std::vector<std::pair<std::string, std::string>>;

struct Event {
  std::string event_id;  // Optional; when set, a second event with the same id is a duplicate.
  int64_t ts_ms = 0;     // Event time, milliseconds since the Unix epoch (UTC).
  std::string user;      // Required.
  std::string item;      // Required except for `search` events.
  EventType type = EventType::kView;
  double value = 0.0;    // Rating for `rate`, quantity for `buy` / `cart`, otherwise free; finite.
  std::string session;   // Optional.
  std::string query;     // Optional; the search text of a `search` event.
  KeyValues context;     // Optional free key=value pairs (device, page, position, ...).
};

// The first problem found in a record: which field and why, phrased for the person who wrote the
// file ("field 'ts': '2021-13-01' is not a valid ISO-8601 date").
struct FieldError {
  std::string field;
  std::string reason;
};

// Returns nullopt when `event` satisfies the contract above, else the first violation.
// Checks: user present, item present unless type is search, ts within [1970, 2200), value finite,
// rating within [0, 10], ids free of control characters and at most kMaxIdBytes long.
std::optional<FieldError> ValidateEvent(const Event& event);

// Events that count as a user interacting with an item: view, click, cart, fav, buy, rate.
// Impressions (shown, not chosen), remove_cart and search do not. Training sequences and the
// serving feature state both use this rule.
bool IsInteraction(EventType type);
inline constexpr size_t kMaxIdBytes = 512;

// A catalog entry. Unknown numeric fields are NaN / -1.
struct Item {
  std::string id;
  std::string title;
  std::string category;
  std::string brand;
  double price = -1.0;   // < 0: unknown
  int64_t stock = -1;    // < 0: unknown (treated as in stock)
  KeyValues attrs;       // free attributes
};
std::optional<FieldError> ValidateItem(const Item& item);

struct User {
  std::string id;
  KeyValues attrs;
};

}  // namespace freshet
