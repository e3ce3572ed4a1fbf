#include "sim/simulator.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <queue>

#include "sim/random.h"
#include "sim/world.h"

namespace freshet::sim {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

// Behaviour that shapes sessions but is not worth an option. Set by hand so that sessions look
// plausible (a handful of pages, one or two item views) with the funnel rates in simulator.h.
constexpr double kExamineNext = 0.85;        // cascade: looks at the next slot after skipping one
constexpr double kIntentPull = 1.0;          // utility bonus of the category being browsed
constexpr double kExploreIntent = 0.1;       // session browses a category regardless of taste
constexpr double kSwitchIntent = 0.15;       // after an unclicked page, browse something else
constexpr double kLeaveAfterView = 0.15;     // session ends after an item view
constexpr double kContinueAfterSkip = 0.65;  // another page after an unclicked one
constexpr double kReviewCart = 0.4;          // a returning user with a cart looks at it first
constexpr double kRemoveUnbought = 0.4;      // unbought cart items removed rather than kept
constexpr size_t kMaxCart = 8;               // older carry-over carts are silently abandoned
constexpr double kBrandQuery = 0.3;          // search "brand category" (else "category" ...)
constexpr double kBrandOnlyQuery = 0.1;      // ... or just "brand"
constexpr double kDoubleQuantity = 0.1;      // cheap items are sometimes bought two at a time
constexpr double kCheapCents = 3000;
constexpr size_t kBestsellers = 50;
constexpr int64_t kNewArrivalWindowMs = 7 * kDayMs;
constexpr int64_t kMinSessionGapMs = 30 * 60 * 1000;  // the usual sessionisation gap
constexpr double kObservedHalfLifeHours = 72;
constexpr double kShopPrior = 1.0;  // keeps unseen items on the shelves
constexpr double kBuyWeight = 3.0;  // a buy counts this many clicks for the bestseller list
// Home page mix: bestsellers, the browsed category, new arrivals, anything.
constexpr double kHomeBestseller = 0.4;
constexpr double kHomeCategory = 0.8;
constexpr double kHomeNew = 0.9;

enum class StepKind : uint8_t { kTick, kSessionStart, kPage, kCheckout };
enum class PageKind : uint8_t { kHome, kCategory, kItem, kSearch };

// A pending state change. `seq` breaks ties in scheduling order, which keeps runs deterministic.
struct Step {
  int64_t ts;
  uint64_t seq;
  StepKind kind;
  uint32_t index;  // user for kSessionStart, session slot for kPage / kCheckout
};

// An event produced but not yet returned, in a compact form: strings are made on the way out.
struct RawEvent {
  int64_t ts;
  uint64_t seq;
  uint32_t user;
  uint32_t item;  // kNone for search
  uint32_t session;
  int32_t value;
  EventType type;
  int32_t query_category;  // -1: none
  int32_t query_brand;     // -1: none
};

template <typename T>
struct Later {
  bool operator()(const T& a, const T& b) const {
    return a.ts != b.ts ? a.ts > b.ts : a.seq > b.seq;
  }
};

struct Session {
  uint32_t user = 0;
  uint32_t id = 0;
  uint32_t intent = 0;         // category being browsed
  uint32_t last_item = kNone;  // item whose page is open
  int pages = 0;
  PageKind next_page = PageKind::kHome;
  int32_t query_category = -1;
  int32_t query_brand = -1;
  std::vector<uint32_t> carted;  // carted in this session, not yet bought or removed
};

template <typename T>
bool Contains(const std::vector<T>& v, T x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

struct Simulator::Engine {
  explicit Engine(const SimOptions& options);

  // Runs the earliest pending step; false when none is left.
  bool Advance();
  bool OutputReady() const {
    // An event is final once no pending step can produce an earlier one: steps only produce
    // events at or after their own time, and ties go to the earlier-made event.
    return !output.empty() && (agenda.empty() || output.top().ts <= agenda.top().ts);
  }

  bool Schedule(int64_t ts, StepKind kind, uint32_t index);
  void Emit(int64_t ts, EventType type, const Session& s, uint32_t item, int32_t value,
            int32_t query_category = -1, int32_t query_brand = -1);
  int64_t NextSessionStart(uint32_t user, int64_t after);

  void Tick(int64_t t);
  void RebuildShelves();
  void StartSession(uint32_t user, int64_t t);
  int64_t ReviewCart(Session& s, int64_t t);
  void ShowPage(uint32_t slot, int64_t t);
  void Checkout(uint32_t slot, int64_t t);
  int64_t Buy(const Session& s, const std::vector<uint32_t>& items, int64_t t);
  void EndSession(uint32_t slot, int64_t last_ts);

  bool InStock(uint32_t item) const {
    return !world.options.track_stock || world.catalog[item].stock > 0;
  }
  double Utility(uint32_t user, uint32_t item) const {
    return sim::TasteAffinity(world, user, item) + world.items[item].appeal;
  }
  double BuyProbability(uint32_t user, uint32_t item) const {
    // Price counts a second time at the till.
    return Sigmoid(world.options.buy_bias + 0.5 * Utility(user, item) -
                   world.users[user].price_sensitivity * OverBudget(world, user, item));
  }
  uint32_t ChooseCategory(uint32_t user);
  uint32_t SampleCategory(uint32_t category);
  uint32_t SampleBestseller();
  bool AddToPage(uint32_t item);
  void FillPage(Session& s, PageKind kind);

  World world;
  Rng rng;
  int64_t now_ms;
  std::priority_queue<Step, std::vector<Step>, Later<Step>> agenda;
  std::priority_queue<RawEvent, std::vector<RawEvent>, Later<RawEvent>> output;
  uint64_t step_seq = 0;
  uint64_t event_seq = 0;
  uint64_t next_event_id = 1;
  uint32_t next_session_id = 1;
  std::vector<Session> sessions;
  std::vector<uint32_t> free_sessions;

  // The shop's shelves, rebuilt every hour from what it has observed.
  size_t arrived = 0;                        // items [0, arrived) are listed
  size_t new_begin = 0;                      // items [new_begin, arrived) are "new arrivals"
  std::vector<uint32_t> category_available;  // prefix length of categories[c].items listed
  std::vector<std::vector<double>> category_cum;
  std::vector<uint32_t> bestsellers;
  std::vector<double> bestseller_cum;
  std::vector<uint32_t> sold_out;  // items waiting for a restock
  double observed_decay = 1.0;
  std::vector<std::string> brand_words;  // lower-case brand names for queries

  // Scratch for the page being shown.
  std::vector<uint32_t> page;
  size_t page_related = 0;  // the first page_related slots are the open item's related items
  std::vector<uint32_t> scratch;
};

Simulator::Engine::Engine(const SimOptions& options) : rng(options.seed, 2) {
  // World building and behaviour draw from separate streams of the seed.
  Rng world_rng(options.seed, 1);
  BuildWorld(options, world_rng, world);
  now_ms = options.start_ms;
  category_available.assign(world.num_categories(), 0);
  category_cum.resize(world.num_categories());
  new_begin = world.initial_items;
  observed_decay = std::exp2(-1.0 / kObservedHalfLifeHours);
  for (const Brand& b : world.brands) {
    std::string word = b.name;
    for (char& c : word) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    brand_words.push_back(std::move(word));
  }
  // The first tick goes in first so that the shelves exist before any session at start_ms.
  Schedule(options.start_ms, StepKind::kTick, 0);
  for (uint32_t u = 0; u < world.users.size(); ++u) {
    const int64_t arrival = world.users[u].arrival_ms;
    // A newcomer's arrival is their first session; users present at the start come back at
    // their own pace.
    const int64_t first = arrival > options.start_ms ? arrival : NextSessionStart(u, arrival);
    Schedule(first, StepKind::kSessionStart, u);
  }
}

bool Simulator::Engine::Schedule(int64_t ts, StepKind kind, uint32_t index) {
  if (ts >= world.end_ms) return false;
  agenda.push(Step{ts, step_seq++, kind, index});
  return true;
}

void Simulator::Engine::Emit(int64_t ts, EventType type, const Session& s, uint32_t item,
                             int32_t value, int32_t query_category, int32_t query_brand) {
  // The period is a hard cut, as in an export: sessions running past it are truncated.
  if (ts >= world.end_ms) return;
  output.push(
      RawEvent{ts, event_seq++, s.user, item, s.id, value, type, query_category, query_brand});
}

int64_t Simulator::Engine::NextSessionStart(uint32_t user, int64_t after) {
  // A Poisson process modulated by Rhythm, by thinning: draw at the peak rate, keep each draw
  // with probability Rhythm / peak.
  const double peak = MaxRhythm();
  const double mean_gap_ms = static_cast<double>(kDayMs) /
                             (world.options.session_rate * world.users[user].activity * peak);
  double t = static_cast<double>(after);
  const auto end = static_cast<double>(world.end_ms);
  while (true) {
    t += rng.Exponential(mean_gap_ms);
    if (t >= end) return world.end_ms;
    if (rng.Uniform() * peak < Rhythm(static_cast<int64_t>(t))) return static_cast<int64_t>(t);
  }
}

bool Simulator::Engine::Advance() {
  if (agenda.empty()) return false;
  const Step step = agenda.top();
  agenda.pop();
  now_ms = step.ts;
  switch (step.kind) {
    case StepKind::kTick:
      Tick(step.ts);
      break;
    case StepKind::kSessionStart:
      StartSession(step.index, step.ts);
      break;
    case StepKind::kPage:
      ShowPage(step.index, step.ts);
      break;
    case StepKind::kCheckout:
      Checkout(step.index, step.ts);
      break;
  }
  return true;
}

void Simulator::Engine::Tick(int64_t t) {
  const int64_t hour = (t - world.options.start_ms) / kHourMs;
  if (hour > 0 && hour % 24 == 0) StepTrends(world, rng);
  // Items arrive in index order, so each arrival is the next entry of its category's list.
  while (arrived < world.items.size() && world.items[arrived].arrival_ms <= t) {
    ++category_available[world.items[arrived].category];
    ++arrived;
  }
  while (new_begin < arrived && world.items[new_begin].arrival_ms + kNewArrivalWindowMs <= t) {
    ++new_begin;
  }
  for (size_t k = 0; k < sold_out.size();) {
    ItemTruth& it = world.items[sold_out[k]];
    if (it.restock_ms <= t) {
      world.catalog[sold_out[k]].stock = it.initial_stock;
      it.restock_ms = -1;
      sold_out[k] = sold_out.back();
      sold_out.pop_back();
    } else {
      ++k;
    }
  }
  for (size_t i = 0; i < arrived; ++i) world.items[i].observed *= observed_decay;
  RefreshAppeal(world, t);
  RebuildShelves();
  Schedule(t + kHourMs, StepKind::kTick, 0);
}

void Simulator::Engine::RebuildShelves() {
  auto weight = [&](uint32_t i) { return InStock(i) ? world.items[i].observed + kShopPrior : 0.0; };
  for (size_t c = 0; c < world.num_categories(); ++c) {
    const std::vector<uint32_t>& items = world.categories[c].items;
    std::vector<double>& cum = category_cum[c];
    cum.resize(category_available[c]);
    double total = 0;
    for (size_t k = 0; k < cum.size(); ++k) cum[k] = total += weight(items[k]);
  }
  scratch.clear();
  for (uint32_t i = 0; i < arrived; ++i) {
    if (InStock(i)) scratch.push_back(i);
  }
  const size_t top = std::min(kBestsellers, scratch.size());
  std::partial_sort(scratch.begin(), scratch.begin() + top, scratch.end(),
                    [&](uint32_t a, uint32_t b) {
                      const double oa = world.items[a].observed, ob = world.items[b].observed;
                      return oa != ob ? oa > ob : a < b;
                    });
  bestsellers.assign(scratch.begin(), scratch.begin() + top);
  bestseller_cum.resize(top);
  double total = 0;
  for (size_t k = 0; k < top; ++k) bestseller_cum[k] = total += weight(bestsellers[k]);
}

uint32_t Simulator::Engine::ChooseCategory(uint32_t user) {
  const size_t n = world.num_categories();
  if (rng.Uniform() < kExploreIntent) {
    double r = rng.Uniform();
    for (size_t c = 0; c + 1 < n; ++c) {
      if ((r -= world.categories[c].weight) < 0) return static_cast<uint32_t>(c);
    }
    return static_cast<uint32_t>(n - 1);
  }
  const float* pref = world.preference(user);
  double r = rng.Uniform();
  for (size_t c = 0; c + 1 < n; ++c) {
    if ((r -= pref[c]) < 0) return static_cast<uint32_t>(c);
  }
  return static_cast<uint32_t>(n - 1);
}

uint32_t Simulator::Engine::SampleCategory(uint32_t category) {
  const std::vector<double>& cum = category_cum[category];
  if (cum.empty() || cum.back() <= 0) return kNone;
  const double r = rng.Uniform() * cum.back();
  const size_t k = std::upper_bound(cum.begin(), cum.end(), r) - cum.begin();
  return k < cum.size() ? world.categories[category].items[k] : kNone;
}

uint32_t Simulator::Engine::SampleBestseller() {
  if (bestseller_cum.empty() || bestseller_cum.back() <= 0) return kNone;
  const double r = rng.Uniform() * bestseller_cum.back();
  const size_t k =
      std::upper_bound(bestseller_cum.begin(), bestseller_cum.end(), r) - bestseller_cum.begin();
  return k < bestsellers.size() ? bestsellers[k] : kNone;
}

bool Simulator::Engine::AddToPage(uint32_t item) {
  if (item == kNone || item >= arrived || !InStock(item) || Contains(page, item)) return false;
  page.push_back(item);
  return true;
}

void Simulator::Engine::FillPage(Session& s, PageKind kind) {
  const auto size = static_cast<size_t>(world.options.page_size);
  const int attempts = 4 * world.options.page_size;
  page.clear();
  page_related = 0;
  auto fill_category = [&](uint32_t c) {
    for (int a = 0; a < attempts && page.size() < size; ++a) AddToPage(SampleCategory(c));
  };
  switch (kind) {
    case PageKind::kItem: {
      const uint32_t* begin = world.related.data() + world.related_begin[s.last_item];
      const uint32_t* end = world.related.data() + world.related_begin[s.last_item + 1];
      for (const uint32_t* r = begin; r != end && page.size() < size; ++r) AddToPage(*r);
      page_related = page.size();
      fill_category(s.intent);
      break;
    }
    case PageKind::kSearch: {
      if (s.query_brand >= 0) {
        // Brand matches first, best observed first, up to half the page.
        scratch.clear();
        for (uint32_t i : world.brands[s.query_brand].items) {
          if (i >= arrived) break;
          if (InStock(i) && (s.query_category < 0 ||
                             world.items[i].category == static_cast<uint32_t>(s.query_category))) {
            scratch.push_back(i);
          }
        }
        std::sort(scratch.begin(), scratch.end(), [&](uint32_t a, uint32_t b) {
          const double oa = world.items[a].observed, ob = world.items[b].observed;
          return oa != ob ? oa > ob : a < b;
        });
        for (uint32_t i : scratch) {
          if (page.size() >= (size + 1) / 2) break;
          AddToPage(i);
        }
      }
      fill_category(s.intent);
      break;
    }
    case PageKind::kCategory:
      fill_category(s.intent);
      break;
    case PageKind::kHome:
      for (int a = 0; a < attempts && page.size() < size; ++a) {
        const double r = rng.Uniform();
        uint32_t item = kNone;
        if (r < kHomeBestseller) {
          item = SampleBestseller();
        } else if (r < kHomeCategory) {
          item = SampleCategory(s.intent);
        } else if (r < kHomeNew) {
          if (new_begin < arrived) {
            item = static_cast<uint32_t>(new_begin + rng.Below(arrived - new_begin));
          }
        } else if (arrived > 0) {
          item = static_cast<uint32_t>(rng.Below(arrived));
        }
        AddToPage(item);
      }
      break;
  }
  // A browsed category with nothing on its shelves falls back to bestsellers.
  for (int a = 0; a < attempts && page.empty(); ++a) AddToPage(SampleBestseller());
}

void Simulator::Engine::StartSession(uint32_t user, int64_t t) {
  DriftTastes(world, user, t, rng);
  uint32_t slot;
  if (free_sessions.empty()) {
    slot = static_cast<uint32_t>(sessions.size());
    sessions.emplace_back();
  } else {
    slot = free_sessions.back();
    free_sessions.pop_back();
  }
  Session& s = sessions[slot];
  s.user = user;
  s.id = next_session_id++;
  s.intent = ChooseCategory(user);
  s.last_item = kNone;
  s.pages = 0;
  s.carted.clear();
  s.query_category = -1;
  s.query_brand = -1;
  int64_t cursor = t;
  if (!world.users[user].cart.empty() && rng.Uniform() < kReviewCart) cursor = ReviewCart(s, t);
  s.next_page = PageKind::kHome;
  if (rng.Uniform() < world.options.search_rate) {
    const Category& cat = world.categories[s.intent];
    s.query_category = static_cast<int32_t>(s.intent);
    const double r = rng.Uniform();
    if (r < kBrandQuery + kBrandOnlyQuery && !cat.brands.empty()) {
      // A brand the user likes when it makes this category, else one of the category's.
      uint32_t brand = cat.brands[rng.Below(cat.brands.size())];
      for (int k = 0; k < kLikedBrands; ++k) {
        if (Contains(cat.brands, world.users[user].brands[k])) brand = world.users[user].brands[k];
      }
      s.query_brand = static_cast<int32_t>(brand);
      if (r >= kBrandQuery) s.query_category = -1;
    }
    Emit(cursor, EventType::kSearch, s, kNone, 0, s.query_category, s.query_brand);
    cursor += static_cast<int64_t>(rng.LogNormal(std::log(4000.0), 0.4));
    s.next_page = PageKind::kSearch;
  }
  if (!Schedule(cursor, StepKind::kPage, slot)) EndSession(slot, cursor);
}

int64_t Simulator::Engine::ReviewCart(Session& s, int64_t t) {
  std::vector<uint32_t>& cart = world.users[s.user].cart;
  std::vector<uint32_t> buys;
  std::vector<uint32_t> kept;
  int64_t cursor = t;
  for (uint32_t item : cart) {
    if (InStock(item) && rng.Uniform() < BuyProbability(s.user, item)) {
      buys.push_back(item);
    } else if (rng.Uniform() < 0.5) {
      cursor += 2000 + static_cast<int64_t>(rng.Below(8000));
      Emit(cursor, EventType::kRemoveCart, s, item, 1);
    } else {
      kept.push_back(item);
    }
  }
  cart = std::move(kept);
  if (!buys.empty())
    cursor = Buy(s, buys, cursor + static_cast<int64_t>(rng.LogNormal(std::log(30000.0), 0.5)));
  return cursor + static_cast<int64_t>(rng.LogNormal(std::log(5000.0), 0.5));
}

void Simulator::Engine::ShowPage(uint32_t slot, int64_t t) {
  Session& s = sessions[slot];
  const SimOptions& o = world.options;
  ++s.pages;
  FillPage(s, s.next_page);
  if (page.empty()) {
    EndSession(slot, t);
    return;
  }
  for (size_t j = 0; j < page.size(); ++j) {
    Emit(t, EventType::kImpression, s, page[j], static_cast<int32_t>(j + 1));
  }
  // Cascade model: the user reads the page top-down, clicks the first item that attracts them,
  // and may give up after each one that does not.
  size_t clicked = page.size();
  double utility = 0;
  for (size_t j = 0; j < page.size(); ++j) {
    const uint32_t item = page[j];
    utility = Utility(s.user, item);
    double context = world.items[item].category == s.intent ? kIntentPull : 0.0;
    if (j < page_related) context += o.related_pull;
    if (rng.Uniform() < Sigmoid(o.click_bias + utility + context)) {
      clicked = j;
      break;
    }
    if (rng.Uniform() >= kExamineNext) break;
  }
  if (clicked == page.size()) {
    const int64_t next = t + static_cast<int64_t>(rng.LogNormal(std::log(10000.0), 0.6));
    if (s.pages >= o.max_pages || rng.Uniform() >= kContinueAfterSkip) {
      if (!Schedule(next, StepKind::kCheckout, slot)) EndSession(slot, next);
      return;
    }
    if (rng.Uniform() < kSwitchIntent) s.intent = ChooseCategory(s.user);
    s.next_page = PageKind::kCategory;
    if (!Schedule(next, StepKind::kPage, slot)) EndSession(slot, next);
    return;
  }
  const uint32_t item = page[clicked];
  const auto position = static_cast<int32_t>(clicked + 1);
  const int64_t click_ts = t + static_cast<int64_t>(rng.LogNormal(std::log(6000.0), 0.6));
  const int64_t view_ts = click_ts + 300 + static_cast<int64_t>(rng.Below(700));
  Emit(click_ts, EventType::kClick, s, item, position);
  Emit(view_ts, EventType::kView, s, item, 0);
  world.items[item].observed += 1.0;
  int64_t cursor = view_ts;
  // Later funnel steps weigh utility by half: the click already selected for it, and carts and
  // buys also hinge on things the model does not know (need, timing).
  if (rng.Uniform() < Sigmoid(o.fav_bias + 0.5 * utility)) {
    cursor = view_ts + static_cast<int64_t>(rng.LogNormal(std::log(15000.0), 0.5));
    Emit(cursor, EventType::kFav, s, item, 0);
  }
  const double over = OverBudget(world, s.user, item);
  if (!Contains(s.carted, item) && !Contains(world.users[s.user].cart, item) &&
      rng.Uniform() <
          Sigmoid(o.cart_bias + 0.5 * utility - world.users[s.user].price_sensitivity * over)) {
    cursor =
        std::max(cursor, view_ts + static_cast<int64_t>(rng.LogNormal(std::log(40000.0), 0.6)));
    Emit(cursor, EventType::kCart, s, item, 1);
    s.carted.push_back(item);
  }
  s.last_item = item;
  s.intent = world.items[item].category;
  const int64_t next =
      std::max(cursor, view_ts + static_cast<int64_t>(rng.LogNormal(std::log(35000.0), 0.7))) +
      static_cast<int64_t>(rng.LogNormal(std::log(3000.0), 0.5));
  if (s.pages >= o.max_pages || rng.Uniform() < kLeaveAfterView) {
    if (!Schedule(next, StepKind::kCheckout, slot)) EndSession(slot, next);
    return;
  }
  s.next_page = PageKind::kItem;
  if (!Schedule(next, StepKind::kPage, slot)) EndSession(slot, next);
}

void Simulator::Engine::Checkout(uint32_t slot, int64_t t) {
  Session& s = sessions[slot];
  std::vector<uint32_t> buys;
  std::vector<uint32_t>& cart = world.users[s.user].cart;
  int64_t cursor = t;
  for (uint32_t item : s.carted) {
    if (InStock(item) && rng.Uniform() < BuyProbability(s.user, item)) {
      buys.push_back(item);
    } else if (rng.Uniform() < kRemoveUnbought) {
      cursor += 2000 + static_cast<int64_t>(rng.Below(8000));
      Emit(cursor, EventType::kRemoveCart, s, item, 1);
    } else if (cart.size() < kMaxCart) {
      cart.push_back(item);
    }
  }
  if (!buys.empty()) {
    cursor = Buy(s, buys, cursor + static_cast<int64_t>(rng.LogNormal(std::log(60000.0), 0.5)));
  }
  EndSession(slot, cursor);
}

int64_t Simulator::Engine::Buy(const Session& s, const std::vector<uint32_t>& items, int64_t t) {
  const SimOptions& o = world.options;
  for (uint32_t item : items) {
    ItemTruth& it = world.items[item];
    int64_t& stock = world.catalog[item].stock;
    int32_t quantity = it.price_cents < kCheapCents && rng.Uniform() < kDoubleQuantity ? 2 : 1;
    if (o.track_stock) {
      quantity = static_cast<int32_t>(std::min<int64_t>(quantity, stock));
      if (quantity <= 0) continue;
      stock -= quantity;
      if (stock == 0) {
        it.restock_ms = t + static_cast<int64_t>(o.restock_days) * kDayMs;
        sold_out.push_back(item);
      }
    }
    Emit(t, EventType::kBuy, s, item, quantity);
    it.observed += kBuyWeight;
    if (rng.Uniform() < o.rate_probability) {
      // Reviews come a few days after delivery and judge the item, not the wish for its
      // category: quality, brand, style and price fit, plus noise. Centred so that ratings
      // skew positive (mean about 4) as on real shops.
      const double category_term =
          world.user_category_term[s.user * world.num_categories() + it.category];
      const double fit = sim::TasteAffinity(world, s.user, item) - category_term + it.quality;
      const double raw = 3.0 + 0.8 * fit + rng.Normal(0, 1.0);
      const auto stars = static_cast<int32_t>(std::clamp(std::lround(raw), 1L, 5L));
      const int64_t when = t + kDayMs + static_cast<int64_t>(rng.Below(6 * kDayMs));
      Emit(when, EventType::kRate, s, item, stars);
    }
  }
  return t;
}

void Simulator::Engine::EndSession(uint32_t slot, int64_t last_ts) {
  const uint32_t user = sessions[slot].user;
  sessions[slot].carted.clear();
  free_sessions.push_back(slot);
  // Activity within the usual sessionisation gap would belong to this session.
  Schedule(NextSessionStart(user, last_ts + kMinSessionGapMs), StepKind::kSessionStart, user);
}

// --- Options ---------------------------------------------------------------------------------

namespace {

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

Status CheckRange(const char* name, double value, double lo, double hi) {
  // Written so that NaN fails too.
  if (value >= lo && value <= hi) return Status::OK();
  return Status::InvalidArgument("SimOptions." + std::string(name) + " must be in [" + Number(lo) +
                                 ", " + Number(hi) + "]; got " + Number(value));
}

Status CheckRange(const char* name, int64_t value, int64_t lo, int64_t hi) {
  if (value >= lo && value <= hi) return Status::OK();
  return Status::InvalidArgument("SimOptions." + std::string(name) + " must be in [" +
                                 std::to_string(lo) + ", " + std::to_string(hi) + "]; got " +
                                 std::to_string(value));
}

}  // namespace

Status ValidateOptions(const SimOptions& o) {
  // Size limits keep memory in the single gigabytes; beyond them the request is a mistake.
  FRESHET_RETURN_IF_ERROR(CheckRange("users", o.users, int64_t{1}, int64_t{10'000'000}));
  FRESHET_RETURN_IF_ERROR(CheckRange("items", o.items, int64_t{1}, int64_t{10'000'000}));
  FRESHET_RETURN_IF_ERROR(CheckRange("days", int64_t{o.days}, 1, 3650));
  FRESHET_RETURN_IF_ERROR(CheckRange("categories", int64_t{o.categories}, 1, 1000));
  FRESHET_RETURN_IF_ERROR(CheckRange("brands", int64_t{o.brands}, 1, 100'000));
  if (o.users * o.categories > 200'000'000) {
    return Status::InvalidArgument(
        "SimOptions.categories times SimOptions.users must stay below 2e8 (a per-user "
        "preference table); got " +
        std::to_string(o.users * o.categories));
  }
  // Events must stay before 2200, the limit of core's ValidateEvent.
  const int64_t latest_start = 7258118400000LL - int64_t{o.days} * kDayMs - 1;
  FRESHET_RETURN_IF_ERROR(CheckRange("start_ms", o.start_ms, int64_t{0}, latest_start));
  FRESHET_RETURN_IF_ERROR(CheckRange("initial_item_share", o.initial_item_share, 0.0, 1.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("initial_user_share", o.initial_user_share, 0.0, 1.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("taste_concentration", o.taste_concentration, 1e-3, 1e3));
  FRESHET_RETURN_IF_ERROR(CheckRange("taste_strength", o.taste_strength, 0.0, 10.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("style_strength", o.style_strength, 0.0, 10.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("brand_strength", o.brand_strength, 0.0, 10.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("price_sensitivity", o.price_sensitivity, 0.0, 10.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("taste_drift", o.taste_drift, 0.0, 5.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("quality_sigma", o.quality_sigma, 0.0, 5.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("popularity_drift", o.popularity_drift, 0.0, 5.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("novelty_boost", o.novelty_boost, 0.0, 10.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("novelty_days", o.novelty_days, 0.01, 365.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("related_items", int64_t{o.related_items}, 0, 50));
  FRESHET_RETURN_IF_ERROR(CheckRange("related_pull", o.related_pull, 0.0, 10.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("restock_days", int64_t{o.restock_days}, 0, 365));
  FRESHET_RETURN_IF_ERROR(CheckRange("session_rate", o.session_rate, 1e-6, 100.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("activity_sigma", o.activity_sigma, 0.0, 3.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("search_rate", o.search_rate, 0.0, 1.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("page_size", int64_t{o.page_size}, 1, 100));
  FRESHET_RETURN_IF_ERROR(CheckRange("max_pages", int64_t{o.max_pages}, 1, 1000));
  FRESHET_RETURN_IF_ERROR(CheckRange("click_bias", o.click_bias, -20.0, 20.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("cart_bias", o.cart_bias, -20.0, 20.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("buy_bias", o.buy_bias, -20.0, 20.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("fav_bias", o.fav_bias, -20.0, 20.0));
  FRESHET_RETURN_IF_ERROR(CheckRange("rate_probability", o.rate_probability, 0.0, 1.0));
  return Status::OK();
}

// --- Simulator -------------------------------------------------------------------------------

Simulator::Simulator(PassKey, const SimOptions& options)
    : options_(options), engine_(std::make_unique<Engine>(options)) {
  user_seen_.assign(engine_->world.users.size(), false);
  summary_.items = static_cast<int64_t>(engine_->world.catalog.size());
}

Simulator::~Simulator() = default;

Result<std::unique_ptr<Simulator>> Simulator::Create(const SimOptions& options) {
  FRESHET_RETURN_IF_ERROR(ValidateOptions(options));
  return std::make_unique<Simulator>(PassKey(), options);
}

bool Simulator::Next(Event& out) {
  Engine& e = *engine_;
  while (!e.OutputReady()) {
    // Advance fails only with nothing left to run, and then nothing is buffered either.
    if (!e.Advance()) return false;
  }
  const RawEvent raw = e.output.top();
  e.output.pop();
  FormatId('e', e.next_event_id++, kEventIdWidth, out.event_id);
  out.ts_ms = raw.ts;
  FormatId('u', raw.user, kUserIdWidth, out.user);
  if (raw.item == kNone) {
    out.item.clear();
  } else {
    FormatId('i', raw.item, kItemIdWidth, out.item);
  }
  out.type = raw.type;
  out.value = raw.value;
  FormatId('s', raw.session, kSessionIdWidth, out.session);
  out.query.clear();
  if (raw.query_brand >= 0) out.query = e.brand_words[raw.query_brand];
  if (raw.query_category >= 0) {
    if (!out.query.empty()) out.query += ' ';
    out.query += e.world.categories[raw.query_category].name;
  }
  out.context.clear();

  if (summary_.events == 0) summary_.first_ts_ms = raw.ts;
  summary_.last_ts_ms = raw.ts;
  ++summary_.events;
  ++summary_.by_type[static_cast<size_t>(raw.type)];
  if (!user_seen_[raw.user]) {
    user_seen_[raw.user] = true;
    ++summary_.users;
  }
  if (raw.session >= session_seen_.size()) session_seen_.resize(2 * raw.session + 1024, false);
  if (!session_seen_[raw.session]) {
    session_seen_[raw.session] = true;
    ++summary_.sessions;
  }
  return true;
}

int64_t Simulator::now_ms() const { return engine_->now_ms; }
const std::vector<Item>& Simulator::catalog() const { return engine_->world.catalog; }
int64_t Simulator::item_arrival_ms(size_t item) const {
  return engine_->world.items[item].arrival_ms;
}
size_t Simulator::num_users() const { return engine_->world.users.size(); }
int64_t Simulator::user_arrival_ms(size_t user) const {
  return engine_->world.users[user].arrival_ms;
}
std::string Simulator::UserId(size_t user) const {
  std::string id;
  FormatId('u', user, kUserIdWidth, id);
  return id;
}
const std::vector<std::string>& Simulator::category_names() const {
  return engine_->world.category_names;
}
size_t Simulator::item_category(size_t item) const { return engine_->world.items[item].category; }

namespace {
std::optional<size_t> ParseId(std::string_view id, char prefix, int width, size_t limit) {
  if (id.size() < 2 || id[0] != prefix) return std::nullopt;
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(id.data() + 1, id.data() + id.size(), n);
  if (ec != std::errc() || ptr != id.data() + id.size() || n >= limit) return std::nullopt;
  std::string canonical;
  FormatId(prefix, n, width, canonical);  // "u42" and "u+0042" are not ids of this world
  if (canonical != id) return std::nullopt;
  return static_cast<size_t>(n);
}
}  // namespace

std::optional<size_t> Simulator::FindUser(std::string_view id) const {
  return ParseId(id, 'u', kUserIdWidth, num_users());
}
std::optional<size_t> Simulator::FindItem(std::string_view id) const {
  return ParseId(id, 'i', kItemIdWidth, engine_->world.catalog.size());
}

std::span<const float> Simulator::CategoryPreference(size_t user) const {
  return {engine_->world.preference(user), engine_->world.num_categories()};
}
double Simulator::TasteAffinity(size_t user, size_t item) const {
  return sim::TasteAffinity(engine_->world, user, item);
}
double Simulator::Utility(size_t user, size_t item) const {
  return sim::TasteAffinity(engine_->world, user, item) + engine_->world.items[item].appeal;
}
std::span<const uint32_t> Simulator::RelatedItems(size_t item) const {
  const World& w = engine_->world;
  return {w.related.data() + w.related_begin[item],
          static_cast<size_t>(w.related_begin[item + 1] - w.related_begin[item])};
}

// --- Files -----------------------------------------------------------------------------------

namespace {

// A file written under a temporary name and renamed into place on Commit; dropped otherwise.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path)
      : path_(std::move(path)), temp_(path_.string() + ".tmp") {}
  ~AtomicFile() {
    if (file_ != nullptr) {
      std::fclose(file_);
      std::remove(temp_.c_str());
    }
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  Status Open() {
    file_ = std::fopen(temp_.c_str(), "wb");
    if (file_ == nullptr) return Error("cannot create");
    return Status::OK();
  }
  // Buffers; flushes every megabyte.
  Status Append(std::string_view bytes) {
    buffer_.append(bytes);
    return buffer_.size() >= (1u << 20) ? Flush() : Status::OK();
  }
  std::string& buffer() { return buffer_; }
  Status Flush() {
    if (!buffer_.empty() &&
        std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
      return Error("cannot write");
    }
    buffer_.clear();
    return Status::OK();
  }
  Status Commit() {
    FRESHET_RETURN_IF_ERROR(Flush());
    const int closed = std::fclose(file_);
    file_ = nullptr;
    if (closed != 0) {
      std::remove(temp_.c_str());
      return Error("cannot write");
    }
    if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
      Status st = Error("cannot rename into");
      std::remove(temp_.c_str());
      return st;
    }
    return Status::OK();
  }

 private:
  Status Error(const char* what) const {
    return Status::IOError(std::string(what) + " '" + path_.string() +
                           "': " + std::strerror(errno));
  }

  std::filesystem::path path_;
  std::string temp_;
  std::FILE* file_ = nullptr;
  std::string buffer_;
};

// RFC 4180: quote only fields holding a comma, a quote or a line break; double inner quotes.
void AppendField(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(field);
    return;
  }
  out.push_back('"');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void AppendInt(std::string& out, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

void AppendNumber(std::string& out, double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    AppendInt(out, static_cast<int64_t>(v));
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

Status WriteEvents(Simulator& sim, const std::filesystem::path& path) {
  AtomicFile file(path);
  FRESHET_RETURN_IF_ERROR(file.Open());
  FRESHET_RETURN_IF_ERROR(file.Append("event_id,ts,user,item,type,value,session,query\n"));
  Event e;
  while (sim.Next(e)) {
    std::string& out = file.buffer();
    AppendField(out, e.event_id);
    out.push_back(',');
    AppendInt(out, e.ts_ms);
    out.push_back(',');
    AppendField(out, e.user);
    out.push_back(',');
    AppendField(out, e.item);
    out.push_back(',');
    out.append(EventTypeName(e.type));
    out.push_back(',');
    AppendNumber(out, e.value);
    out.push_back(',');
    AppendField(out, e.session);
    out.push_back(',');
    AppendField(out, e.query);
    out.push_back('\n');
    FRESHET_RETURN_IF_ERROR(file.Append({}));
  }
  return file.Commit();
}

Status WriteItems(const Simulator& sim, const std::filesystem::path& path) {
  AtomicFile file(path);
  FRESHET_RETURN_IF_ERROR(file.Open());
  FRESHET_RETURN_IF_ERROR(file.Append("id,title,category,brand,price,stock,arrival_ms\n"));
  for (size_t i = 0; i < sim.catalog().size(); ++i) {
    const Item& item = sim.catalog()[i];
    std::string& out = file.buffer();
    AppendField(out, item.id);
    out.push_back(',');
    AppendField(out, item.title);
    out.push_back(',');
    AppendField(out, item.category);
    out.push_back(',');
    AppendField(out, item.brand);
    out.push_back(',');
    // Prices are whole cents (world.cc), printed exactly.
    const int64_t cents = std::llround(item.price * 100.0);
    AppendInt(out, cents / 100);
    out.push_back('.');
    out.push_back(static_cast<char>('0' + cents % 100 / 10));
    out.push_back(static_cast<char>('0' + cents % 10));
    out.push_back(',');
    AppendInt(out, item.stock);
    out.push_back(',');
    AppendInt(out, sim.item_arrival_ms(i));
    out.push_back('\n');
    FRESHET_RETURN_IF_ERROR(file.Append({}));
  }
  return file.Commit();
}

}  // namespace

Result<SimSummary> WriteShop(const SimOptions& options, const std::string& out_dir) {
  FRESHET_ASSIGN_OR_RETURN(std::unique_ptr<Simulator> sim, Simulator::Create(options));
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return Status::IOError("cannot create directory '" + out_dir + "': " + ec.message());
  const std::filesystem::path dir(out_dir);
  FRESHET_RETURN_IF_ERROR(WriteEvents(*sim, dir / "events.csv"));
  // After the events, so that stock is the stock at the end of the period.
  FRESHET_RETURN_IF_ERROR(WriteItems(*sim, dir / "items.csv"));
  SimSummary summary = sim->summary();
  summary.items = static_cast<int64_t>(sim->catalog().size());
  return summary;
}

}  // namespace freshet::sim
