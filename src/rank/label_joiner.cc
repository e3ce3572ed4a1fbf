#include "rank/label_joiner.h"

#include <algorithm>
#include <limits>

namespace freshet::rank {
namespace {

uint64_t PairKey(UserId user, ItemId item) { return (uint64_t{user} << 32) | item; }

// The first time in `times` within [lo, hi], or INT64_MAX.
int64_t FirstIn(const std::vector<int64_t>& times, int64_t lo, int64_t hi) {
  int64_t best = std::numeric_limits<int64_t>::max();
  for (int64_t t : times) {
    if (t >= lo && t <= hi && t < best) best = t;
  }
  return best;
}

constexpr uint64_t kPruneEvery = 4096;

}  // namespace

const char* ShopTargetName(ShopTarget target) {
  switch (target) {
    case ShopTarget::kClick:
      return "click";
    case ShopTarget::kCart:
      return "cart";
    case ShopTarget::kBuy:
      return "buy";
  }
  return "?";
}

LabelJoiner::LabelJoiner(const LabelJoinerOptions& options, Featurize featurize)
    : options_(options), featurize_(std::move(featurize)) {}

int64_t LabelJoiner::Window(ShopTarget t) const {
  switch (t) {
    case ShopTarget::kClick:
      return options_.click_window_ms;
    case ShopTarget::kCart:
      return options_.cart_window_ms;
    case ShopTarget::kBuy:
      return options_.buy_window_ms;
  }
  return 0;
}

void LabelJoiner::Decide(const Anchor& a, const Pair& p, float* label, int64_t* at) const {
  const int64_t lo = a.event.ts_ms;
  const int64_t hi = lo + Window(a.target);
  const int64_t none = std::numeric_limits<int64_t>::max();
  int64_t positive = none;
  int64_t negative = hi;
  switch (a.target) {
    case ShopTarget::kClick:
      positive = FirstIn(p.engaged, lo, hi);
      break;
    case ShopTarget::kBuy:
      positive = FirstIn(p.bought, lo, hi);
      break;
    case ShopTarget::kCart: {
      positive = FirstIn(p.bought, lo, hi);
      const int64_t removed = FirstIn(p.removed, lo, hi);
      if (removed < positive) {  // a buy at the same ms as the remove wins
        positive = none;
        negative = removed;
      }
      break;
    }
  }
  if (positive != none) {
    *label = 1;
    *at = positive;
  } else {
    *label = 0;
    *at = negative;
  }
}

void LabelJoiner::Add(const JoinEvent& e, const Emit& emit) {
  ++stats_.events;
  const bool late = e.ts_ms <= watermark_;
  if (e.ts_ms > max_ts_) {
    max_ts_ = e.ts_ms;
    const int64_t w = max_ts_ - options_.allowed_lateness_ms - 1;
    if (w > watermark_) watermark_ = w;
  }
  if (e.item != kNoId) {
    const uint64_t key = PairKey(e.user, e.item);
    // Anchors.
    ShopTarget targets[2];
    int n = 0;
    if (e.type == EventType::kImpression) {
      if (options_.enabled[static_cast<int>(ShopTarget::kClick)]) targets[n++] = ShopTarget::kClick;
      if (options_.enabled[static_cast<int>(ShopTarget::kBuy)]) targets[n++] = ShopTarget::kBuy;
    } else if (e.type == EventType::kCart &&
               options_.enabled[static_cast<int>(ShopTarget::kCart)]) {
      targets[n++] = ShopTarget::kCart;
    }
    if (n > 0 && late) {
      ++stats_.late_anchors;
    } else {
      for (int t = 0; t < n; ++t) {
        Pair& p = pairs_[key];
        bool duplicate = false;
        for (uint64_t num : p.anchors) {
          const Anchor& other = anchors_.at(num);
          if (other.target == targets[t] && other.event.ts_ms == e.ts_ms) duplicate = true;
        }
        if (duplicate) {
          ++stats_.duplicates;
          continue;
        }
        Anchor a{targets[t], e, next_number_++, false, {}};
        if (featurize_) featurize_(e, targets[t], &a.features);
        p.anchors.push_back(a.number);
        due_.push({e.ts_ms, e.ts_ms, a.number});
        ++stats_.anchors[static_cast<int>(targets[t])];
        anchors_.emplace(a.number, std::move(a));
      }
    }
    // Resolving events.
    std::vector<int64_t>* times = nullptr;
    if (e.type == EventType::kClick || e.type == EventType::kView) {
      times = &pairs_[key].engaged;
    } else if (e.type == EventType::kBuy) {
      times = &pairs_[key].bought;
    } else if (e.type == EventType::kRemoveCart) {
      times = &pairs_[key].removed;
    }
    if (times != nullptr) {
      Pair& p = pairs_[key];
      times->push_back(e.ts_ms);
      bool changed = false;
      for (uint64_t num : p.anchors) {
        const Anchor& a = anchors_.at(num);
        if (e.ts_ms >= a.event.ts_ms && e.ts_ms <= a.event.ts_ms + Window(a.target)) {
          due_.push({e.ts_ms, a.event.ts_ms, num});
          changed = true;
        }
      }
      if (late) {
        ++stats_.late_resolvers;
        if (!changed) ++stats_.late_ignored;
      }
    }
  }
  Drain(emit);
  if (++since_prune_ >= kPruneEvery) Prune();
}

void LabelJoiner::AdvanceTo(int64_t watermark_ms, const Emit& emit) {
  if (watermark_ms > watermark_) watermark_ = watermark_ms;
  Drain(emit);
}

void LabelJoiner::Drain(const Emit& emit) {
  while (!due_.empty() && due_.top().at <= watermark_) {
    const Due d = due_.top();
    due_.pop();
    auto found = anchors_.find(d.number);
    if (found == anchors_.end()) continue;  // already emitted
    Anchor& a = found->second;
    const uint64_t key = PairKey(a.event.user, a.event.item);
    Pair& p = pairs_[key];
    float label = 0;
    int64_t at = 0;
    Decide(a, p, &label, &at);
    if (at > watermark_) {
      // Not decided yet; the due entry comes back when the watermark reaches `at`.
      due_.push({at, a.event.ts_ms, a.number});
      continue;
    }
    JoinedExample x;
    x.target = a.target;
    x.user = a.event.user;
    x.item = a.event.item;
    x.ts_ms = a.event.ts_ms;
    x.decided_ms = at;
    x.label = label;
    x.anchor = a.number;
    x.features = std::move(a.features);
    const int t = static_cast<int>(a.target);
    ++stats_.emitted[t];
    if (label > 0) ++stats_.positives[t];
    p.anchors.erase(std::find(p.anchors.begin(), p.anchors.end(), a.number));
    anchors_.erase(found);
    emit(std::move(x));
  }
}

void LabelJoiner::Prune() {
  since_prune_ = 0;
  // A resolving event older than the watermark matters only to pending anchors of its pair that
  // start at or before it; a future anchor would be late. So keep times >= the pair's oldest
  // pending anchor, and none at all (dropping the pair) when nothing is pending.
  for (auto it = pairs_.begin(); it != pairs_.end();) {
    Pair& p = it->second;
    int64_t keep_from = watermark_;
    for (uint64_t num : p.anchors) keep_from = std::min(keep_from, anchors_.at(num).event.ts_ms);
    auto trim = [&](std::vector<int64_t>& v) {
      v.erase(std::remove_if(v.begin(), v.end(), [&](int64_t t) { return t < keep_from; }),
              v.end());
    };
    trim(p.engaged);
    trim(p.bought);
    trim(p.removed);
    if (p.anchors.empty() && p.engaged.empty() && p.bought.empty() && p.removed.empty()) {
      it = pairs_.erase(it);
    } else {
      ++it;
    }
  }
}

LabelJoinerStats LabelJoiner::stats() const {
  LabelJoinerStats s = stats_;
  s.pending = anchors_.size();
  return s;
}

}  // namespace freshet::rank
