#pragma once

// The shop simulator: a seeded synthetic online shop whose customers have hidden tastes. It is the
// demo's default data, the tests' data, the load generator's source and the testbed for online
// learning, so it must (a) be deterministic for a seed, (b) stream without holding its history,
// and (c) carry structure every model family can find and a ground truth to check that they did.
//
// The world (src/sim/README.md has the long form):
//  - Categories come in complementary pairs (phones / phone cases, ...). Each has a log-normal
//    price distribution; brands belong to a pair and carry an equity and a price level.
//  - Items have a category, brand, price, a fixed quality, a latent style vector, stock, an arrival
//    time (most exist at the start, the rest arrive during business hours of later days), a
//    popularity trend that follows a mean-reverting daily random walk with occasional hype shocks,
//    and a novelty boost that decays after arrival. Each item has a few directed "related" items:
//    mostly substitutes in its category, some complements from the paired category.
//  - Users arrive (most at the start, the rest spread over the period) with a Dirichlet
//    preference over categories concentrated on a few, two liked brands and one disliked, a latent
//    style vector, a budget and a price sensitivity, and a log-normal (heavy-tailed) activity.
//    Category preferences drift slowly as a random walk in log space.
//  - Sessions start as a Poisson process per user with a diurnal and weekly rhythm. A session
//    browses with an intent category (drawn from the user's preferences, sometimes at random):
//    an optional search, then pages of `page_size` items that the shop fills with bestsellers,
//    items of the browsed category, new arrivals and random items; an item's page shows its
//    related items first. Every shown item is an impression. The user scans a page top-down
//    (cascade model) and clicks with a probability that grows with utility =
//    category preference + brand affinity + style match - price over budget + quality + trend +
//    novelty (+ a pull for the browsed category and for related items). A click opens the item
//    (click, view); a view may fav or cart it; carts are bought at checkout, removed, or kept for
//    a later session; some buys are rated days later, higher for better matches.
//  - The shop's bestsellers come from observed clicks and buys with a 3-day half-life, so exposure
//    feeds back into popularity as in a real shop. Bought-out items vanish until restocked.
//
// Threading: a Simulator is not thread-safe; use one per thread. Different instances share
// nothing.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace freshet::sim {

struct SimOptions {
  // --- Size and time -----------------------------------------------------------------------------
  // Users over the whole period, counting those who arrive later. Cost is linear; at most 10M.
  int64_t users = 2000;
  // Catalog size over the whole period, counting later arrivals. At most 10M. The shop refreshes
  // its shelves hourly at a cost linear in items, which dominates for huge catalogs.
  int64_t items = 1000;
  // Length of the simulated period. Events fall in [start_ms, start_ms + days * 86400000).
  int days = 30;
  // Same options and seed give byte-identical output.
  uint64_t seed = 42;
  // First instant of the period, epoch milliseconds UTC. 1704067200000 is 2024-01-01T00:00:00Z.
  // Days and hours of the diurnal / weekly rhythm are taken in UTC.
  int64_t start_ms = 1704067200000;
  // Number of categories (pairs of complements: 0-1, 2-3, ...). The first 24 have real names and
  // price levels; more get generic ones. Fewer categories make taste easier to learn.
  int categories = 20;
  // Number of brands, spread over the category pairs. More brands dilute brand affinity.
  int brands = 60;
  // Share of items in the catalog at start_ms; the rest arrive on later days (cold-start items).
  double initial_item_share = 0.7;
  // Share of users present at start_ms; the rest arrive over the period (cold-start users).
  double initial_user_share = 0.6;

  // --- Tastes ------------------------------------------------------------------------------------
  // Dirichlet concentration per category of a user's category preference. Small values (0.1-0.5)
  // make each user care about a few categories, which is what makes personalisation pay; large
  // values (> 5) make everybody alike, and popularity becomes as good as any model.
  double taste_concentration = 0.3;
  // Weight of the category preference in the utility. The strongest single signal by design.
  double taste_strength = 1.0;
  // Standard deviation of the user-item style match (latent vectors). Signal that only
  // collaborative models (matrix factorisation, sequence models) can pick up within a category.
  double style_strength = 0.8;
  // Typical size of a user's affinity to their liked / disliked brands.
  double brand_strength = 0.8;
  // Mean utility lost per standard deviation of price above the user's budget. Higher values make
  // price matter more, above all at cart and buy time (where it counts twice).
  double price_sensitivity = 1.0;
  // Standard deviation per sqrt(day) of the random walk of log category preferences. 0 freezes
  // tastes; 0.3 changes them within a month, which rewards recency and online learning.
  double taste_drift = 0.05;

  // --- Items -------------------------------------------------------------------------------------
  // Standard deviation of an item's fixed quality (appeal shared by all users).
  double quality_sigma = 0.5;
  // Daily standard deviation of each item's popularity trend (a mean-reverting walk with
  // occasional hype shocks). 0 keeps the best items best forever; higher values reward recency.
  double popularity_drift = 0.3;
  // Utility boost of a brand-new item, decaying with time constant `novelty_days`.
  double novelty_boost = 1.0;
  double novelty_days = 5.0;
  // Directed related items per item (substitutes, and one in four complements). The item page
  // shows them first, which gives item-to-item and sequential structure; 0 removes it.
  int related_items = 4;
  // Extra utility of a related item shown on the page of the item just viewed: how strongly users
  // follow item-to-item links. The strength of sequential / co-occurrence signal.
  double related_pull = 1.5;
  // When true, buys draw stock down; an item bought out disappears from pages until it is
  // restocked after `restock_days`. items.csv reports the stock at the end of the period.
  bool track_stock = true;
  int restock_days = 4;

  // --- Activity and sessions --------------------------------------------------------------------
  // Mean sessions per user per day. Event volume is linear in it: the defaults give about 15k
  // sessions and 620k events (91% impressions, 23k views, 900 buys) over 30 days.
  double session_rate = 0.3;
  // Log-normal sigma of per-user activity (its mean is 1). 1.0 means a few users are ten times
  // as active as the median one and most are light, as in real shops.
  double activity_sigma = 1.0;
  // Probability that a session starts with a search (query: words of a category or brand name).
  double search_rate = 0.15;
  // Items per page; each one shown is an impression event.
  int page_size = 10;
  // A session ends after this many pages at the latest.
  int max_pages = 30;

  // --- Funnel ------------------------------------------------------------------------------------
  // Log-odds offsets of each step at zero utility; the step's probability is
  // sigmoid(bias + utility terms). Clicks select for utility, so the later steps see items the
  // user already likes and need lower offsets. With the defaults the observed rates are about:
  // impression -> click 4%, view -> cart 9%, cart -> buy 40%, view -> fav 3%.
  double click_bias = -5.7;
  double cart_bias = -4.0;
  double buy_bias = -3.0;
  double fav_bias = -5.5;
  // Probability that a buy is rated, 1-7 days later.
  double rate_probability = 0.2;
};

// Returns OK when every option is in range, else InvalidArgument naming the first bad option and
// its allowed range.
Status ValidateOptions(const SimOptions& options);

// What a run produced.
struct SimSummary {
  int64_t events = 0;
  // Events per type, indexed by EventType.
  std::array<int64_t, kNumEventTypes> by_type{};
  // Distinct users with at least one event.
  int64_t users = 0;
  // Catalog size, later arrivals included (the rows of items.csv).
  int64_t items = 0;
  // Distinct sessions with at least one event.
  int64_t sessions = 0;
  // Time of the first and the last event; both 0 when there are none.
  int64_t first_ts_ms = 0;
  int64_t last_ts_ms = 0;

  int64_t count(EventType type) const { return by_type[static_cast<size_t>(type)]; }
};

// A streaming shop. Events come out one at a time in non-decreasing ts order (ties in the order
// they were generated); memory stays bounded by the world's size and the sessions in progress,
// not by the history.
//
// Event fields: event_id "e000000001", "e000000002", ... in output order; user "u00042" (the
// index, users numbered in order of arrival); item "i000123" (the catalog index, items numbered
// in order of arrival); session "s000001", ... in order of session start; value: slot position
// 1..page_size for impression and click, quantity for cart / remove_cart / buy, 1..5 for rate,
// 0 otherwise; query only on search events, whose item is empty.
class Simulator {
 public:
  // Builds the world for `options`. Returns InvalidArgument as ValidateOptions does.
  static Result<std::unique_ptr<Simulator>> Create(const SimOptions& options);

 private:
  struct PassKey {};  // lets Create use std::make_unique while nobody else can construct

 public:
  // Use Create; this assumes valid options.
  Simulator(PassKey, const SimOptions& options);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Writes the next event into `out` (reusing its strings' storage) and returns true, or returns
  // false once the period is over; it then keeps returning false.
  bool Next(Event& out);

  const SimOptions& options() const { return options_; }
  // Counts over the events returned so far.
  const SimSummary& summary() const { return summary_; }
  // The simulation clock: the time of the latest step the simulator ran. Steps run ahead of the
  // events they produce by at most a few minutes, so this is within minutes of the last event.
  int64_t now_ms() const;

  // Every item of the period, later arrivals included, indexed by item index; id "i%06d",
  // attrs {"arrival_ms", <epoch ms>}. `stock` is live: the stock as of now_ms(). No item appears
  // in an event before its arrival. The reference stays valid for the simulator's lifetime.
  const std::vector<Item>& catalog() const;
  int64_t item_arrival_ms(size_t item) const;
  size_t num_users() const;
  int64_t user_arrival_ms(size_t user) const;  // first possible event time of the user
  std::string UserId(size_t user) const;       // "u%05d"
  const std::vector<std::string>& category_names() const;
  size_t item_category(size_t item) const;  // index into category_names()
  // Index of an id in this world ("u00042" -> 42), nullopt when not one of its ids.
  std::optional<size_t> FindUser(std::string_view id) const;
  std::optional<size_t> FindItem(std::string_view id) const;

  // --- Ground truth, for tests and online-learning experiments. Tastes drift between a user's
  // sessions (the walk is applied when a session starts) and item trends move daily, so these
  // report the state as of now_ms(): a user's tastes as of their latest session start.
  // REQUIRES for all: user < num_users(), item < catalog().size().

  // The user's category preference, summing to 1, indexed like category_names().
  std::span<const float> CategoryPreference(size_t user) const;
  // The user-specific part of the utility: category preference + brand affinity + style match -
  // price over budget. What a perfectly personalised model would rank by, popularity aside.
  double TasteAffinity(size_t user, size_t item) const;
  // The utility that drives clicks outside any session context: TasteAffinity + quality +
  // popularity trend + novelty (the item part as of the latest hourly refresh). Higher means
  // more likely clicked, carted and bought.
  double Utility(size_t user, size_t item) const;
  // The directed related items (substitutes then complements) the item's page shows first.
  std::span<const uint32_t> RelatedItems(size_t item) const;

 private:
  struct Engine;  // the world and the event loop; simulator.cc

  SimOptions options_;
  std::unique_ptr<Engine> engine_;
  SimSummary summary_;
  std::vector<bool> user_seen_;     // for summary_.users
  std::vector<bool> session_seen_;  // for summary_.sessions
};

// Runs a Simulator over the whole period and writes
//   out_dir/events.csv  header event_id,ts,user,item,type,value,session,query
//                       ts in epoch ms, type by EventTypeName, fields CSV-quoted only when needed;
//   out_dir/items.csv   header id,title,category,brand,price,stock,arrival_ms
//                       every item of the period, stock as at the end, arrival in epoch ms.
// Each file is written under a temporary name and renamed into place, so a reader never sees a
// half-written file. Creates out_dir if needed. Returns the summary; InvalidArgument for bad
// options; IOError naming the path when a file cannot be written (the old files are untouched).
Result<SimSummary> WriteShop(const SimOptions& options, const std::string& out_dir);

}  // namespace freshet::sim
