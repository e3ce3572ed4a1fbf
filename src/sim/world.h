#pragma once

// The hidden state of the simulated shop: categories, brands, items and users with their latent
// tastes, and the utility that links them. Internal to the sim module (simulator.h is the public
// face); the event loop that acts on it lives in simulator.cc.

#include <cstdint>
#include <string>
#include <vector>

#include "core/event.h"
#include "sim/random.h"
#include "sim/simulator.h"

namespace freshet::sim {

inline constexpr int64_t kHourMs = 3'600'000;
inline constexpr int64_t kDayMs = 24 * kHourMs;
// Width of the latent style vectors. Small on purpose: enough for matrix factorisation to have
// something to find, cheap to evaluate per impression.
inline constexpr int kStyleDims = 8;
// Liked brands per user, followed by one disliked brand.
inline constexpr int kLikedBrands = 2;
inline constexpr int kUserBrands = kLikedBrands + 1;
// Floor of the category term: a category a user never wants still gets clicked once in a while
// by accident, as in real logs, instead of never.
inline constexpr double kMinCategoryTerm = -8.0;

struct Category {
  std::string name;  // lower case, also the search query words ("phone cases")
  std::string noun;  // for titles ("Phone Case")
  double log_median_price;
  double log_price_sigma;
  double weight;                 // share of items and of users' mean preference; sums to 1
  int complement;                // paired category, or itself when it has no pair
  std::vector<uint32_t> brands;  // brands that make this category's items
  std::vector<uint32_t> items;   // all of its items, in index (= arrival) order
};

struct Brand {
  std::string name;
  double strength;              // relative share of its categories' items
  double equity;                // quality added to every item of the brand
  double price_level;           // log-price offset of its items
  std::vector<uint32_t> items;  // in index order
};

// Per-item truth. Fixed fields are set once; trend / appeal / stock / observed move.
struct ItemTruth {
  uint32_t category = 0;
  uint32_t brand = 0;
  int64_t price_cents = 0;
  double price_z = 0;  // (log price - category log median) / category sigma
  double quality = 0;  // fixed appeal, brand equity included
  double trend = 0;    // popularity walk, moves daily
  double appeal = 0;   // quality + trend + novelty, refreshed hourly
  int64_t arrival_ms = 0;
  bool arrives_later = false;  // later arrivals get the novelty boost
  int64_t initial_stock = 0;
  int64_t restock_ms = -1;  // when bought out: the time it comes back
  double observed = 0;      // what the shop sees: decayed clicks + buys
};

struct UserTruth {
  int64_t arrival_ms = 0;
  int64_t taste_ms = 0;  // when the category preference last drifted
  double activity = 1;   // multiplies session_rate
  double budget = 0;     // in price_z units
  double price_sensitivity = 1;
  uint32_t brands[kUserBrands] = {};
  double brand_affinity[kUserBrands] = {};
  std::vector<uint32_t> cart;  // carted in an earlier session, neither bought nor removed
};

struct World {
  SimOptions options;
  int64_t end_ms = 0;
  std::vector<Category> categories;
  std::vector<std::string> category_names;  // categories[c].name, for the public accessor
  std::vector<Brand> brands;
  std::vector<Item> catalog;  // the external records; stock kept live
  std::vector<ItemTruth> items;
  std::vector<float> item_style;  // items x kStyleDims
  std::vector<uint32_t> related;  // flat; item i's are related[related_begin[i], [i + 1])
  std::vector<uint32_t> related_begin;
  size_t initial_items = 0;  // items [0, initial_items) exist at start_ms
  std::vector<UserTruth> users;
  // Per user x category: log of the unnormalised preference (the drifting quantity), the
  // normalised preference, and its utility term taste_strength * log(categories * preference).
  std::vector<float> user_log_weight;
  std::vector<float> user_preference;
  std::vector<float> user_category_term;
  std::vector<float> user_style;  // users x kStyleDims

  size_t num_categories() const { return categories.size(); }
  const float* preference(size_t user) const { return &user_preference[user * categories.size()]; }
};

// Builds the world for validated `options`, drawing only from `rng`.
void BuildWorld(const SimOptions& options, Rng& rng, World& world);

// The user-specific part of the utility (see Simulator::TasteAffinity).
double TasteAffinity(const World& world, size_t user, size_t item);

// Price above the user's budget, in standard deviations of the category's prices; 0 within budget.
inline double OverBudget(const World& world, size_t user, size_t item) {
  const double over = world.items[item].price_z - world.users[user].budget;
  return over > 0 ? over : 0.0;
}

// Relative session intensity at `ts_ms`: a diurnal curve (UTC hours; quiet at night, peaks at
// lunch and in the evening) times a weekly one (weekends busier). Averages 1 over a week.
double Rhythm(int64_t ts_ms);
// The largest value Rhythm takes, for thinning a Poisson process.
double MaxRhythm();

// Moves the user's category preference by the random walk for the time since it last moved.
void DriftTastes(World& world, size_t user, int64_t now_ms, Rng& rng);

// One day of popularity trends: mean reversion, noise and the occasional hype shock.
void StepTrends(World& world, Rng& rng);

// Recomputes every item's appeal (quality + trend + novelty) at `now_ms`.
void RefreshAppeal(World& world, int64_t now_ms);

// "u00042", "i000123", "s000001", "e000000001": prefix then the number zero-padded to `width`.
void FormatId(char prefix, uint64_t number, int width, std::string& out);
inline constexpr int kUserIdWidth = 5;
inline constexpr int kItemIdWidth = 6;
inline constexpr int kSessionIdWidth = 6;
inline constexpr int kEventIdWidth = 9;

}  // namespace freshet::sim
