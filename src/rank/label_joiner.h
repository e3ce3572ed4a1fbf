#pragma once

// The label joiner: turns behaviour into labelled ranking examples, ONE class for offline replay
// (history in event-time order) and the online learner (live events, possibly a little out of
// order). docs/models.md, "Shop ranking", has the long form.
//
// Anchors and their labels (pairs are (user, item)):
//   click  an impression; positive when the user clicks or views the item in [ts, ts + click
//          window], negative otherwise.
//   buy    an impression; positive when the user buys the item in [ts, ts + buy window].
//   cart   a cart add; positive when the user buys the item in [ts, ts + cart window] before
//          removing it (a remove_cart at the same ms as the buy loses to the buy); negative on
//          the first remove_cart, or when the window passes.
//
// Watermark: W = (largest ts seen) - allowed_lateness_ms - 1, or what AdvanceTo set. W promises
// that every event with ts <= W has arrived. An anchor is decided, and emitted, once W reaches the
// event that decides it: the first positive event (positive), the first remove_cart (cart
// negative), or ts + window (negative). So a label depends only on the set of events, not on their
// arrival order, as long as no event is later than allowed_lateness_ms: offline (sorted) and online
// (shuffled within the lateness) emit the same examples with the same labels.
//
// Late events (ts <= W when they arrive) break that promise; the rule is: a late anchor is dropped
// (counted in late_anchors); a late click / view / buy / remove_cart still counts for anchors of
// its pair that are undecided, and is otherwise ignored: emitted labels are never revised (counted
// in late_resolvers). Duplicates: an anchor equal to a pending one (same pair, kind and ts) is
// dropped and counted; a repeated resolving event changes nothing.
//
// Features are snapshotted when an anchor arrives: `Featurize` is called then, and the caller
// must call Add BEFORE it applies the event to its FeatureState, so a sample's features are the
// state before its event (point-in-time correct offline; online, the state as of arrival).
//
// Not thread-safe: one caller (the replay loop, or the learner thread).

#include <cstdint>
#include <functional>
#include <queue>
#include <unordered_map>
#include <vector>

#include "core/event.h"
#include "core/ids.h"

namespace freshet::rank {

// What a model predicts. Persisted in model files by name ("click", "cart", "buy").
enum class ShopTarget : uint8_t {
  kClick = 0,  // impression -> click or view
  kCart = 1,   // cart add -> bought (the cart converts)
  kBuy = 2,    // impression -> buy
};
inline constexpr int kNumShopTargets = 3;
const char* ShopTargetName(ShopTarget target);

// One event as the joiner reads it (dense ids, as store::EventTable rows).
struct JoinEvent {
  UserId user = 0;
  ItemId item = kNoId;
  EventType type = EventType::kView;
  int64_t ts_ms = 0;
  float value = 0;  // impression: page position (1-based); cart / buy: quantity
};

// A decided example.
struct JoinedExample {
  ShopTarget target = ShopTarget::kClick;
  UserId user = 0;
  ItemId item = kNoId;
  int64_t ts_ms = 0;       // the anchor's time
  int64_t decided_ms = 0;  // the event time that decided the label
  float label = 0;         // 1 positive, 0 negative
  uint64_t anchor = 0;     // the anchor's arrival number in this joiner (0-based)
  std::vector<uint64_t> features;  // what Featurize returned at the anchor's arrival
};

struct LabelJoinerOptions {
  // Windows per target. Longer windows catch slower conversions and delay negatives.
  int64_t click_window_ms = 30 * 60 * 1000;
  int64_t cart_window_ms = 3 * 86400 * 1000LL;
  int64_t buy_window_ms = 3 * 86400 * 1000LL;
  // How late an event may arrive (by event time, against the newest seen) and still be joined as
  // if in order. Larger: more tolerance, emission delayed by as much. 0 for sorted history.
  int64_t allowed_lateness_ms = 0;
  // Which targets make anchors (a disabled target costs nothing).
  bool enabled[kNumShopTargets] = {true, true, true};
};

struct LabelJoinerStats {
  uint64_t events = 0;
  uint64_t anchors[kNumShopTargets] = {};  // accepted
  uint64_t emitted[kNumShopTargets] = {};
  uint64_t positives[kNumShopTargets] = {};
  uint64_t late_anchors = 0;    // dropped: the anchor arrived after the watermark passed it
  uint64_t late_resolvers = 0;  // late click / view / buy / remove_cart events
  uint64_t late_ignored = 0;    // of those, ones that changed no label (already emitted)
  uint64_t duplicates = 0;      // duplicate anchors dropped
  uint64_t pending = 0;         // undecided anchors now
};

class LabelJoiner {
 public:
  // Fills *features for an anchor of `target`; called inside Add. May be null (examples carry no
  // features).
  using Featurize =
      std::function<void(const JoinEvent& anchor, ShopTarget target, std::vector<uint64_t>* out)>;
  using Emit = std::function<void(JoinedExample&& example)>;

  LabelJoiner(const LabelJoinerOptions& options, Featurize featurize);
  LabelJoiner(const LabelJoiner&) = delete;
  LabelJoiner& operator=(const LabelJoiner&) = delete;

  // Takes one event (any type; searches and events without an item only move the watermark) and
  // emits, through `emit`, every example the new watermark decides, ordered by deciding time
  // (then anchor time, then anchor number) within one call.
  void Add(const JoinEvent& event, const Emit& emit);
  // Moves the watermark to at least `watermark_ms` (online: wall clock minus the lateness when
  // no events arrive) and emits what that decides.
  void AdvanceTo(int64_t watermark_ms, const Emit& emit);

  int64_t watermark_ms() const { return watermark_; }
  const LabelJoinerOptions& options() const { return options_; }
  LabelJoinerStats stats() const;

 private:
  struct Anchor {
    ShopTarget target;
    JoinEvent event;
    uint64_t number;
    bool done = false;
    std::vector<uint64_t> features;
  };
  struct Pair {
    std::vector<uint64_t> anchors;    // pending anchor numbers
    std::vector<int64_t> engaged;     // click / view times
    std::vector<int64_t> bought;      // buy times
    std::vector<int64_t> removed;     // remove_cart times
  };
  struct Due {
    int64_t at;
    int64_t anchor_ts;
    uint64_t number;
    bool operator>(const Due& o) const {
      if (at != o.at) return at > o.at;
      if (anchor_ts != o.anchor_ts) return anchor_ts > o.anchor_ts;
      return number > o.number;
    }
  };

  int64_t Window(ShopTarget t) const;
  // The label and deciding time of `a` given the events of its pair known now.
  void Decide(const Anchor& a, const Pair& p, float* label, int64_t* at) const;
  void Drain(const Emit& emit);
  void Prune();

  LabelJoinerOptions options_;
  Featurize featurize_;
  int64_t max_ts_ = INT64_MIN;
  int64_t watermark_ = INT64_MIN;
  uint64_t next_number_ = 0;
  std::unordered_map<uint64_t, Anchor> anchors_;  // pending, by number
  std::unordered_map<uint64_t, Pair> pairs_;      // by (user << 32 | item)
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
  LabelJoinerStats stats_;
  uint64_t since_prune_ = 0;
};

}  // namespace freshet::rank
