#include "feature/feature_state.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace freshet::feature {

FeatureState::FeatureState(const FeatureOptions& options)
    : options_(options),
      half_life_ms_(options.popularity_half_life_days * 86400000.0),
      stripes_(new Stripe[kStripes]) {
  assert(options_.max_recent > 0 && half_life_ms_ > 0);
}

double FeatureState::Decay(double count, int64_t from_ms, int64_t to_ms) const {
  // Events may arrive out of order: an older event adds more than 1 relative to a newer
  // reference point would be wrong, so only decay forward; an older item keeps its count.
  if (to_ms <= from_ms) return count;
  return count * std::exp2(-static_cast<double>(to_ms - from_ms) / half_life_ms_);
}

void FeatureState::Replay(const store::EventTable& table) {
  for (size_t i = 0; i < table.size(); ++i) {
    Apply(table.user[i], table.item[i], table.type[i], table.ts_ms[i], table.value[i]);
  }
}

namespace {

// The per-type counter an event feeds: 0 impressions, 1 clicks, 2 carts, 3 buys; -1 none.
int TypedCounter(EventType type) {
  switch (type) {
    case EventType::kImpression:
      return 0;
    case EventType::kClick:
    case EventType::kView:
      return 1;
    case EventType::kCart:
      return 2;
    case EventType::kBuy:
      return 3;
    default:
      return -1;
  }
}

}  // namespace

void FeatureState::Apply(UserId user, ItemId item, EventType type, int64_t ts_ms, float value) {
  {
    Stripe& stripe = StripeOf(user);
    std::unique_lock lock(stripe.mu);
    User& u = stripe.users[user];
    ++u.events;
    u.last_ts_ms = std::max(u.last_ts_ms, ts_ms);
    if (item != kNoId && IsInteraction(type)) {
      ++u.interactions;
      const size_t n = u.recent.size();
      const bool repeat = n > 0 && u.recent[(u.head + n - 1) % n] == item;
      if (!repeat) {
        if (n < options_.max_recent) {
          // Not full yet: head stays 0 and the ring is a plain vector.
          u.recent.push_back(item);
        } else {
          u.recent[u.head] = item;  // overwrite the oldest
          u.head = (u.head + 1) % n;
        }
      }
    }
    if (item != kNoId && type == EventType::kBuy &&
        std::find(u.bought.begin(), u.bought.end(), item) == u.bought.end()) {
      if (u.bought.size() >= options_.max_bought) u.bought.erase(u.bought.begin());
      u.bought.push_back(item);
    }
    switch (type) {
      case EventType::kImpression:
        ++u.impressions;
        break;
      case EventType::kClick:
      case EventType::kView:
        ++u.clicks;
        break;
      case EventType::kCart:
        ++u.carts;
        break;
      case EventType::kBuy:
        ++u.buys;
        u.last_buy_ms = std::max(u.last_buy_ms, ts_ms);
        break;
      default:
        break;
    }
    if (item != kNoId &&
        (type == EventType::kCart || type == EventType::kRemoveCart || type == EventType::kBuy)) {
      auto line = std::find_if(u.cart.begin(), u.cart.end(),
                               [&](const CartLine& c) { return c.item == item; });
      if (line != u.cart.end()) u.cart.erase(line);
      if (type == EventType::kCart) u.cart.push_back({item, ts_ms, value});
    }
  }
  std::unique_lock lock(items_mu_);
  ++events_applied_;
  clock_ms_ = std::max(clock_ms_, ts_ms);
  if (item == kNoId) return;
  if (item >= items_.size()) items_.resize(static_cast<size_t>(item) + 1);
  Item& it = items_[item];
  if (const int c = TypedCounter(type); c >= 0) {
    if (ts_ms >= it.typed_at_ms) {
      for (double& v : it.typed) v = Decay(v, it.typed_at_ms, ts_ms);
      it.typed[c] += 1.0;
      it.typed_at_ms = ts_ms;
    } else {
      it.typed[c] += Decay(1.0, ts_ms, it.typed_at_ms);
    }
  }
  if (type == EventType::kImpression) return;
  // Keep the count referenced to the newest time it has seen: decay it forward to ts_ms, or
  // discount a late event back to the count's reference time.
  if (ts_ms >= it.at_ms) {
    it.count = Decay(it.count, it.at_ms, ts_ms) + 1.0;
    it.at_ms = ts_ms;
  } else {
    it.count += Decay(1.0, ts_ms, it.at_ms);
  }
}

void FeatureState::Recent(UserId user, size_t max, std::vector<ItemId>* out) const {
  out->clear();
  const Stripe& stripe = StripeOf(user);
  std::shared_lock lock(stripe.mu);
  auto found = stripe.users.find(user);
  if (found == stripe.users.end()) return;
  const User& u = found->second;
  const size_t n = u.recent.size();
  const size_t take = std::min(n, max);
  out->reserve(take);
  for (size_t i = n - take; i < n; ++i) out->push_back(u.recent[(u.head + i) % n]);
}

void FeatureState::Bought(UserId user, std::vector<ItemId>* out) const {
  out->clear();
  const Stripe& stripe = StripeOf(user);
  std::shared_lock lock(stripe.mu);
  auto found = stripe.users.find(user);
  if (found != stripe.users.end()) *out = found->second.bought;
}

bool FeatureState::Summary(UserId user, UserSummary* out) const {
  const Stripe& stripe = StripeOf(user);
  std::shared_lock lock(stripe.mu);
  auto found = stripe.users.find(user);
  if (found == stripe.users.end()) return false;
  out->events = found->second.events;
  out->interactions = found->second.interactions;
  out->last_ts_ms = found->second.last_ts_ms;
  out->impressions = found->second.impressions;
  out->clicks = found->second.clicks;
  out->carts = found->second.carts;
  out->buys = found->second.buys;
  out->last_buy_ms = found->second.last_buy_ms;
  return true;
}

void FeatureState::Cart(UserId user, std::vector<CartLine>* out) const {
  out->clear();
  const Stripe& stripe = StripeOf(user);
  std::shared_lock lock(stripe.mu);
  auto found = stripe.users.find(user);
  if (found != stripe.users.end()) *out = found->second.cart;
}

FeatureState::ItemCounts FeatureState::Counts(ItemId item) const {
  ItemCounts c;
  std::shared_lock lock(items_mu_);
  if (item >= items_.size()) return c;
  const Item& it = items_[item];
  c.impressions = static_cast<float>(Decay(it.typed[0], it.typed_at_ms, clock_ms_));
  c.clicks = static_cast<float>(Decay(it.typed[1], it.typed_at_ms, clock_ms_));
  c.carts = static_cast<float>(Decay(it.typed[2], it.typed_at_ms, clock_ms_));
  c.buys = static_cast<float>(Decay(it.typed[3], it.typed_at_ms, clock_ms_));
  return c;
}

float FeatureState::Popularity(ItemId item) const {
  std::shared_lock lock(items_mu_);
  if (item >= items_.size()) return 0.0f;
  return static_cast<float>(Decay(items_[item].count, items_[item].at_ms, clock_ms_));
}

void FeatureState::Trending(size_t k, const std::function<bool(ItemId)>* keep,
                            std::vector<std::pair<ItemId, float>>* out) const {
  out->clear();
  if (k == 0) return;
  auto better = [](const std::pair<ItemId, float>& a, const std::pair<ItemId, float>& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  // A min-heap of the best k under `better`: its top is the worst kept.
  std::vector<std::pair<ItemId, float>>& heap = *out;
  std::shared_lock lock(items_mu_);
  for (ItemId i = 0; i < items_.size(); ++i) {
    if (items_[i].count <= 0) continue;
    const float score = static_cast<float>(Decay(items_[i].count, items_[i].at_ms, clock_ms_));
    if (heap.size() == k && !better({i, score}, heap.front())) continue;
    if (keep != nullptr && !(*keep)(i)) continue;
    if (heap.size() == k) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = {i, score};
    } else {
      heap.emplace_back(i, score);
    }
    std::push_heap(heap.begin(), heap.end(), better);
  }
  lock.unlock();
  std::sort_heap(heap.begin(), heap.end(), better);
}

uint64_t FeatureState::events_applied() const {
  std::shared_lock lock(items_mu_);
  return events_applied_;
}

int64_t FeatureState::clock_ms() const {
  std::shared_lock lock(items_mu_);
  return clock_ms_;
}

}  // namespace freshet::feature
