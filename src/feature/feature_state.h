#pragma once

// FeatureState: what serving knows about users and items between model trainings, kept current
// event by event. The one feature path: startup replays the store's event table through the same
// Apply that live events take, so what a request sees after a restart equals what it saw before,
// and the history a model reads at serving time is built by the rule training used
// (IsInteraction, immediate repeats collapsed; see model/sequences.h).
//
// Per user: the most recent interaction items (collapsed like training sequences), the items
// bought, the number of interactions and the time of the last event. Per item: a popularity
// count that decays with a half-life, for trending lists and the cold-start fallback.
//
// For the shop ranking features (rank/feature_spec.h) also: per user the counts of impressions,
// clicks (click / view), carts and buys, the time of the last buy and the current cart (a cart
// event adds the item, remove_cart and buy of the item take it out); per item decayed counts of
// impressions, clicks (click / view), carts and buys with the popularity's half-life.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/ids.h"
#include "store/event_table.h"

namespace freshet::feature {

struct FeatureOptions {
  // Interaction items kept per user, newest last. The sequence model reads the newest max_len
  // (50 by default) of them; more costs memory (4 bytes per item per user) and only serves
  // exclude=seen over a longer past.
  size_t max_recent = 200;
  // Distinct bought items kept per user (exclude=bought); the oldest go first.
  size_t max_bought = 500;
  // Half-life of the trending popularity. Shorter follows the shop's day faster; longer is
  // steadier. The decay is measured in event time, not wall time.
  double popularity_half_life_days = 7.0;
};

class FeatureState {
 public:
  explicit FeatureState(const FeatureOptions& options = {});
  FeatureState(const FeatureState&) = delete;
  FeatureState& operator=(const FeatureState&) = delete;

  // Applies every row of `table` in order (REQUIRES: sorted by time, as LoadEventTable leaves
  // it). Equivalent to Apply per row. Thread-safe as Apply.
  void Replay(const store::EventTable& table);

  // Applies one event with dense ids (item kNoId for a search). Interactions extend the user's
  // recent items (unless the item repeats the last one), buys the bought set; every event with an
  // item but impressions adds to the item's popularity; every event moves the state's clock to
  // max(clock, ts_ms). `value` is the quantity of a cart (kept in the cart line).
  // Thread-safe with every other call.
  void Apply(UserId user, ItemId item, EventType type, int64_t ts_ms, float value = 0);

  // The user's newest `max` recent items (oldest first) replace *out; empty for an unknown user.
  // Thread-safe.
  void Recent(UserId user, size_t max, std::vector<ItemId>* out) const;
  // The user's bought items (oldest first) replace *out. Thread-safe.
  void Bought(UserId user, std::vector<ItemId>* out) const;

  struct UserSummary {
    uint64_t events = 0;        // events of any type applied for the user
    uint64_t interactions = 0;  // of them interactions
    int64_t last_ts_ms = 0;     // time of the newest event; 0 when none
    uint64_t impressions = 0;
    uint64_t clicks = 0;        // click and view events
    uint64_t carts = 0;
    uint64_t buys = 0;
    int64_t last_buy_ms = 0;    // 0 when none
  };
  // False when the state has seen no event of the user. Thread-safe.
  bool Summary(UserId user, UserSummary* out) const;

  struct CartLine {
    ItemId item = kNoId;
    int64_t added_ms = 0;  // the newest cart event of the item
    float quantity = 0;
  };
  // The user's current cart, oldest add first, replaces *out. Thread-safe.
  void Cart(UserId user, std::vector<CartLine>* out) const;

  // Decayed counts of an item's events (half-life popularity_half_life_days), as of the state's
  // clock; all 0 for an unknown item. Thread-safe.
  struct ItemCounts {
    float impressions = 0;
    float clicks = 0;  // click and view
    float carts = 0;
    float buys = 0;
  };
  ItemCounts Counts(ItemId item) const;

  // Popularity of every item decayed to the state's clock, at most `k` of the best for which
  // keep(item) is true (null: all), best first (ties: lower id first). Thread-safe.
  void Trending(size_t k, const std::function<bool(ItemId)>* keep,
                std::vector<std::pair<ItemId, float>>* out) const;
  // One item's decayed popularity (0 for an unknown item). Thread-safe.
  float Popularity(ItemId item) const;

  uint64_t events_applied() const;
  int64_t clock_ms() const;  // newest event time applied

 private:
  struct User {
    std::vector<ItemId> recent;  // ring: recent[(head + i) % size] oldest to newest
    size_t head = 0;
    std::vector<ItemId> bought;
    uint64_t events = 0;
    uint64_t interactions = 0;
    int64_t last_ts_ms = 0;
    uint64_t impressions = 0, clicks = 0, carts = 0, buys = 0;
    int64_t last_buy_ms = 0;
    std::vector<CartLine> cart;  // oldest add first
  };
  struct Item {
    // The popularity decayed to `at_ms`: value(t) = count * 2^(-(t - at_ms) / half_life).
    double count = 0;
    int64_t at_ms = 0;
    // Per-type counts, decayed to `typed_at_ms` like `count`: impressions, clicks, carts, buys.
    double typed[4] = {0, 0, 0, 0};
    int64_t typed_at_ms = 0;
  };
  static constexpr size_t kStripes = 64;
  struct Stripe {
    mutable std::shared_mutex mu;
    std::unordered_map<UserId, User> users;  // guarded by mu
  };

  const Stripe& StripeOf(UserId user) const { return stripes_[user % kStripes]; }
  Stripe& StripeOf(UserId user) { return stripes_[user % kStripes]; }
  double Decay(double count, int64_t from_ms, int64_t to_ms) const;

  FeatureOptions options_;
  double half_life_ms_;
  std::unique_ptr<Stripe[]> stripes_;
  mutable std::shared_mutex items_mu_;
  std::vector<Item> items_;  // by ItemId; guarded by items_mu_
  int64_t clock_ms_ = 0;     // guarded by items_mu_
  uint64_t events_applied_ = 0;  // guarded by items_mu_
};

}  // namespace freshet::feature
