#include "sim/world.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <numeric>

namespace freshet::sim {
namespace {

// Named categories in complementary pairs (2k, 2k + 1): the pairing is what makes "bought a phone,
// now looks at cases" sequences. Median prices are rough real-world levels so that price
// sensitivity has something to bite on.
struct CategorySeed {
  const char* name;
  const char* noun;
  double median_price;
};
constexpr CategorySeed kCategorySeeds[] = {
    {"phones", "Phone", 350},
    {"phone cases", "Phone Case", 18},
    {"laptops", "Laptop", 900},
    {"laptop bags", "Laptop Bag", 45},
    {"cameras", "Camera", 550},
    {"memory cards", "Memory Card", 22},
    {"coffee machines", "Coffee Machine", 160},
    {"coffee beans", "Coffee Beans", 14},
    {"running shoes", "Running Shoes", 110},
    {"sports socks", "Sports Socks", 12},
    {"tents", "Tent", 220},
    {"sleeping bags", "Sleeping Bag", 90},
    {"dresses", "Dress", 70},
    {"handbags", "Handbag", 95},
    {"board games", "Board Game", 35},
    {"puzzles", "Puzzle", 20},
    {"skincare", "Face Cream", 28},
    {"makeup", "Lipstick", 22},
    {"headphones", "Headphones", 120},
    {"speakers", "Speaker", 85},
    {"cookware", "Frying Pan", 55},
    {"kitchen knives", "Chef Knife", 65},
    {"books", "Novel", 18},
    {"reading lights", "Reading Light", 25},
};
constexpr int kNamedCategories = static_cast<int>(std::size(kCategorySeeds));

// Brand names from two syllable tables: (b % 16, (b / 16 + b) % 16) is one-to-one for b < 256,
// and larger indexes get a number appended, so names are unique without a lookup.
constexpr const char* kBrandHeads[16] = {"Nor", "Vel", "Aur", "Kel", "Bry", "Zan", "Lum", "Tor",
                                         "Ori", "Sil", "Mar", "Fen", "Qua", "Dal", "Ept", "Hal"};
constexpr const char* kBrandTails[16] = {"vik", "ora",  "ex",  "ton", "ia",  "ara", "en", "ix",
                                         "ano", "wood", "ell", "um",  "ova", "is",  "ar", "eon"};

std::string BrandName(uint64_t b) {
  std::string name = kBrandHeads[b % 16];
  name += kBrandTails[(b / 16 + b) % 16];
  if (b >= 256) name += std::to_string(b / 256 + 1);
  return name;
}

// Index drawn with probability proportional to the increments of the cumulative weights `cum`.
// REQUIRES: cum non-empty, cum.back() > 0.
size_t SampleCumulative(const std::vector<double>& cum, Rng& rng) {
  const double r = rng.Uniform() * cum.back();
  auto it = std::upper_bound(cum.begin(), cum.end(), r);
  return std::min(static_cast<size_t>(it - cum.begin()), cum.size() - 1);
}

std::vector<double> Cumulative(const std::vector<double>& weights) {
  std::vector<double> cum(weights.size());
  std::partial_sum(weights.begin(), weights.end(), cum.begin());
  return cum;
}

// Draws up to `count` distinct entries of `pool` (other than `exclude`) and keeps the `keep`
// best by `score`. Sampling a few candidates instead of scanning the whole category keeps the
// related-item graph linear in the catalog size.
template <typename Score>
void PickBest(const std::vector<uint32_t>& pool, uint32_t exclude, int count, int keep, Rng& rng,
              Score score, std::vector<uint32_t>& out) {
  if (keep <= 0 || pool.empty()) return;
  std::vector<std::pair<double, uint32_t>> candidates;
  for (int attempt = 0; attempt < count; ++attempt) {
    const uint32_t j = pool[rng.Below(pool.size())];
    if (j == exclude) continue;
    bool seen = false;
    for (const auto& c : candidates) seen = seen || c.second == j;
    if (!seen) candidates.emplace_back(score(j), j);
  }
  // Ties broken by index so the order never depends on the sort implementation.
  std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (size_t k = 0; k < candidates.size() && static_cast<int>(k) < keep; ++k) {
    out.push_back(candidates[k].second);
  }
}

// Arrival hours of later items: business hours of a day after the first (or of the only day).
int64_t ItemArrival(const SimOptions& o, Rng& rng) {
  const int64_t day = o.days > 1 ? 1 + static_cast<int64_t>(rng.Below(o.days - 1)) : 0;
  const int64_t hour = 8 + static_cast<int64_t>(rng.Below(10));
  return o.start_ms + day * kDayMs + hour * kHourMs;
}

// Arrival of a later user: uniform over the period thinned by the daily rhythm, so newcomers
// arrive when everybody else shops.
int64_t UserArrival(const SimOptions& o, Rng& rng) {
  const int64_t span = static_cast<int64_t>(o.days) * kDayMs;
  while (true) {
    const int64_t t = o.start_ms + 1 + static_cast<int64_t>(rng.Below(span - 1));
    if (rng.Uniform() * MaxRhythm() < Rhythm(t)) return t;
  }
}

void Renormalize(World& w, size_t user) {
  const size_t n = w.num_categories();
  float* lw = &w.user_log_weight[user * n];
  float* pref = &w.user_preference[user * n];
  float* term = &w.user_category_term[user * n];
  const float top = *std::max_element(lw, lw + n);
  double total = 0;
  for (size_t c = 0; c < n; ++c) total += std::exp(static_cast<double>(lw[c] - top));
  for (size_t c = 0; c < n; ++c) {
    const double p = std::exp(static_cast<double>(lw[c] - top)) / total;
    pref[c] = static_cast<float>(p);
    const double log_lift = p > 0 ? std::log(static_cast<double>(n) * p) : kMinCategoryTerm;
    term[c] = static_cast<float>(w.options.taste_strength * std::max(log_lift, kMinCategoryTerm));
  }
}

void BuildCategories(const SimOptions& o, Rng& rng, World& w) {
  const int n = o.categories;
  w.categories.resize(n);
  // Category sizes follow a mild power law in a seed-dependent order: some categories are big
  // and widely liked, which gives popularity a fair baseline.
  std::vector<int> rank(n);
  std::iota(rank.begin(), rank.end(), 0);
  for (int i = n - 1; i > 0; --i) std::swap(rank[i], rank[rng.Below(i + 1)]);
  double total = 0;
  for (int c = 0; c < n; ++c) total += std::pow(rank[c] + 1.0, -0.6);
  for (int c = 0; c < n; ++c) {
    Category& cat = w.categories[c];
    if (c < kNamedCategories) {
      cat.name = kCategorySeeds[c].name;
      cat.noun = kCategorySeeds[c].noun;
      cat.log_median_price = std::log(kCategorySeeds[c].median_price);
    } else {
      cat.name = "category " + std::to_string(c + 1);
      cat.noun = "Product";
      cat.log_median_price = rng.Normal(std::log(50.0), 0.8);
    }
    cat.log_price_sigma = 0.45;
    cat.weight = std::pow(rank[c] + 1.0, -0.6) / total;
    cat.complement = (c ^ 1) < n ? (c ^ 1) : c;
    w.category_names.push_back(cat.name);
  }
}

void BuildBrands(const SimOptions& o, Rng& rng, World& w) {
  const int pairs = (o.categories + 1) / 2;
  w.brands.resize(o.brands);
  for (int b = 0; b < o.brands; ++b) {
    Brand& brand = w.brands[b];
    brand.name = BrandName(b);
    // Brands are spread round-robin over the category pairs; within a pair the first ones are
    // the big names.
    const int pair = b % pairs;
    brand.strength = std::pow(1.0 + b / pairs, -0.8);
    brand.equity = rng.Normal(0, 0.3);
    brand.price_level = rng.Normal(0, 0.25);
    for (int c : {2 * pair, 2 * pair + 1}) {
      if (c < o.categories) w.categories[c].brands.push_back(b);
    }
  }
}

void BuildItems(const SimOptions& o, Rng& rng, World& w) {
  const auto n = static_cast<size_t>(o.items);
  w.initial_items = std::min(n, static_cast<size_t>(std::llround(o.items * o.initial_item_share)));
  std::vector<int64_t> arrivals(n, o.start_ms);
  for (size_t i = w.initial_items; i < n; ++i) arrivals[i] = ItemArrival(o, rng);
  // Item indexes follow arrival order, so "arrived by t" is a prefix of the catalog and of
  // every category's item list.
  std::sort(arrivals.begin() + w.initial_items, arrivals.end());

  std::vector<double> category_weights;
  for (const Category& c : w.categories) category_weights.push_back(c.weight);
  const std::vector<double> category_cum = Cumulative(category_weights);
  std::vector<std::vector<double>> brand_cum(w.categories.size());
  for (size_t c = 0; c < w.categories.size(); ++c) {
    std::vector<double> weights;
    for (uint32_t b : w.categories[c].brands) weights.push_back(w.brands[b].strength);
    brand_cum[c] = Cumulative(weights);
  }
  const double trend_sigma = o.popularity_drift / std::sqrt(1.0 - 0.9 * 0.9);

  w.items.resize(n);
  w.catalog.resize(n);
  w.item_style.resize(n * kStyleDims);
  std::string model;
  for (size_t i = 0; i < n; ++i) {
    ItemTruth& it = w.items[i];
    it.category = static_cast<uint32_t>(SampleCumulative(category_cum, rng));
    const Category& cat = w.categories[it.category];
    it.brand = cat.brands.empty() ? static_cast<uint32_t>(rng.Below(w.brands.size()))
                                  : cat.brands[SampleCumulative(brand_cum[it.category], rng)];
    const Brand& brand = w.brands[it.brand];
    const double log_price =
        cat.log_median_price + brand.price_level + rng.Normal(0, cat.log_price_sigma);
    // Prices are whole cents so that items.csv holds exactly the price the users reacted to.
    it.price_cents = std::max<int64_t>(50, std::llround(std::exp(log_price) * 100.0));
    it.price_z = (std::log(it.price_cents / 100.0) - cat.log_median_price) / cat.log_price_sigma;
    it.quality = rng.Normal(brand.equity, o.quality_sigma);
    it.trend = rng.Normal(0, trend_sigma);
    it.arrival_ms = arrivals[i];
    it.arrives_later = i >= w.initial_items;
    // Small enough that bestsellers sell out now and then (the serving filter has work to do).
    it.initial_stock = 3 + std::llround(rng.LogNormal(std::log(12.0), 0.8));
    for (int d = 0; d < kStyleDims; ++d) w.item_style[i * kStyleDims + d] = rng.Normal();

    Item& item = w.catalog[i];
    FormatId('i', i, kItemIdWidth, item.id);
    model.assign(1, static_cast<char>('A' + rng.Below(26)));
    model += std::to_string(100 + rng.Below(900));
    item.title = brand.name + " " + cat.noun + " " + model;
    item.category = cat.name;
    item.brand = brand.name;
    item.price = it.price_cents / 100.0;
    item.stock = it.initial_stock;
    item.attrs = {{"arrival_ms", std::to_string(it.arrival_ms)}};
    w.categories[it.category].items.push_back(static_cast<uint32_t>(i));
    w.brands[it.brand].items.push_back(static_cast<uint32_t>(i));
  }
  RefreshAppeal(w, o.start_ms);
}

void BuildRelated(const SimOptions& o, Rng& rng, World& w) {
  const int k = o.related_items;
  // One in four related items is a complement (at least one when there are two or more), the
  // rest substitutes: a shop's "similar items" plus "goes well with".
  const int complements = k >= 2 ? std::max(1, k / 4) : 0;
  w.related_begin.assign(1, 0);
  for (size_t i = 0; i < w.items.size(); ++i) {
    const ItemTruth& it = w.items[i];
    const Category& cat = w.categories[it.category];
    const int comp = cat.complement != static_cast<int>(it.category) ? complements : 0;
    const float* style = &w.item_style[i * kStyleDims];
    PickBest(
        cat.items, static_cast<uint32_t>(i), 3 * (k - comp), k - comp, rng,
        [&](uint32_t j) {
          double dot = 0;
          const float* other = &w.item_style[j * kStyleDims];
          for (int d = 0; d < kStyleDims; ++d) dot += style[d] * other[d];
          return dot / kStyleDims + 0.5 * w.items[j].quality;
        },
        w.related);
    const double noise_scale = 0.3;
    PickBest(
        w.categories[cat.complement].items, static_cast<uint32_t>(i), 3 * comp, comp, rng,
        [&](uint32_t j) {
          return (w.items[j].brand == it.brand ? 1.0 : 0.0) + w.items[j].quality +
                 noise_scale * rng.Normal();
        },
        w.related);
    w.related_begin.push_back(static_cast<uint32_t>(w.related.size()));
  }
}

void BuildUsers(const SimOptions& o, Rng& rng, World& w) {
  const auto n = static_cast<size_t>(o.users);
  const size_t c_count = w.num_categories();
  const size_t initial =
      std::min(n, static_cast<size_t>(std::llround(o.users * o.initial_user_share)));
  std::vector<int64_t> arrivals(n, o.start_ms);
  for (size_t u = initial; u < n; ++u) arrivals[u] = UserArrival(o, rng);
  std::sort(arrivals.begin() + initial, arrivals.end());

  std::vector<std::vector<double>> brand_cum(c_count);
  for (size_t c = 0; c < c_count; ++c) {
    std::vector<double> weights;
    for (uint32_t b : w.categories[c].brands) weights.push_back(w.brands[b].strength);
    brand_cum[c] = Cumulative(weights);
  }
  w.users.resize(n);
  w.user_log_weight.resize(n * c_count);
  w.user_preference.resize(n * c_count);
  w.user_category_term.resize(n * c_count);
  w.user_style.resize(n * kStyleDims);
  const double style_sigma = o.style_strength / std::sqrt(static_cast<double>(kStyleDims));
  const double activity_mu = -0.5 * o.activity_sigma * o.activity_sigma;  // mean 1
  for (size_t u = 0; u < n; ++u) {
    UserTruth& user = w.users[u];
    user.arrival_ms = arrivals[u];
    user.taste_ms = arrivals[u];
    // Capped so that one user cannot dominate a small world.
    user.activity = std::min(50.0, rng.LogNormal(activity_mu, o.activity_sigma));
    user.budget = rng.Normal(0, 0.8);
    user.price_sensitivity = o.price_sensitivity * rng.LogNormal(-0.125, 0.5);
    for (int d = 0; d < kStyleDims; ++d)
      w.user_style[u * kStyleDims + d] = rng.Normal(0, style_sigma);
    // Dirichlet(taste_concentration * categories * weight): the mean preference is the category's
    // weight, the concentration sets how peaked each user is.
    float* lw = &w.user_log_weight[u * c_count];
    for (size_t c = 0; c < c_count; ++c) {
      const double alpha = std::max(1e-3, o.taste_concentration * c_count * w.categories[c].weight);
      lw[c] = static_cast<float>(std::log(std::max(rng.Gamma(alpha), 1e-300)));
    }
    Renormalize(w, u);
    // Liked brands come from categories the user likes; the disliked one from anywhere.
    std::vector<double> pref_cum(c_count);
    std::partial_sum(w.preference(u), w.preference(u) + c_count, pref_cum.begin());
    for (int k = 0; k < kUserBrands; ++k) {
      const double size = o.brand_strength * (0.5 + 0.5 * std::fabs(rng.Normal()));
      if (k < kLikedBrands) {
        const size_t c = SampleCumulative(pref_cum, rng);
        user.brands[k] = w.categories[c].brands.empty()
                             ? static_cast<uint32_t>(rng.Below(w.brands.size()))
                             : w.categories[c].brands[SampleCumulative(brand_cum[c], rng)];
        user.brand_affinity[k] = size;
      } else {
        user.brands[k] = static_cast<uint32_t>(rng.Below(w.brands.size()));
        user.brand_affinity[k] = -size;
      }
    }
  }
}

// Relative sessions per UTC hour: quiet at night, a lunch bump, an evening peak. Scaled by
// 24 / sum so that the hourly factor averages 1.
constexpr std::array<double, 24> kHourly = {0.30, 0.18, 0.12, 0.10, 0.10, 0.15, 0.30, 0.55,
                                            0.80, 0.95, 1.05, 1.10, 1.20, 1.15, 1.05, 1.00,
                                            1.00, 1.10, 1.30, 1.55, 1.70, 1.60, 1.20, 0.65};
constexpr double kHourlySum = [] {
  double s = 0;
  for (double v : kHourly) s += v;
  return s;
}();
// Weekends are busier; 5 x 0.95 + 2 x 1.125 = 7 keeps the weekly mean at 1.
constexpr double kWeekday = 0.95;
constexpr double kWeekend = 1.125;

}  // namespace

double Rhythm(int64_t ts_ms) {
  const int64_t day = ts_ms / kDayMs;  // REQUIRES ts_ms >= 0: options validation keeps it so
  const auto hour = static_cast<size_t>((ts_ms % kDayMs) / kHourMs);
  const int64_t weekday = (day + 3) % 7;  // 1970-01-01 was a Thursday; 0 = Monday
  const double weekly = weekday >= 5 ? kWeekend : kWeekday;
  return kHourly[hour] * 24.0 / kHourlySum * weekly;
}

double MaxRhythm() {
  return *std::max_element(kHourly.begin(), kHourly.end()) * 24.0 / kHourlySum * kWeekend;
}

void BuildWorld(const SimOptions& options, Rng& rng, World& world) {
  world.options = options;
  world.end_ms = options.start_ms + static_cast<int64_t>(options.days) * kDayMs;
  BuildCategories(options, rng, world);
  BuildBrands(options, rng, world);
  BuildItems(options, rng, world);
  BuildRelated(options, rng, world);
  BuildUsers(options, rng, world);
}

double TasteAffinity(const World& w, size_t user, size_t item) {
  const ItemTruth& it = w.items[item];
  const UserTruth& u = w.users[user];
  double score = w.user_category_term[user * w.num_categories() + it.category];
  for (int k = 0; k < kUserBrands; ++k) {
    if (u.brands[k] == it.brand) score += u.brand_affinity[k];
  }
  const float* us = &w.user_style[user * kStyleDims];
  const float* is = &w.item_style[item * kStyleDims];
  double dot = 0;
  for (int d = 0; d < kStyleDims; ++d) dot += us[d] * is[d];
  return score + dot - u.price_sensitivity * OverBudget(w, user, item);
}

void DriftTastes(World& w, size_t user, int64_t now_ms, Rng& rng) {
  UserTruth& u = w.users[user];
  const int64_t elapsed = now_ms - u.taste_ms;
  if (elapsed <= 0) return;
  u.taste_ms = now_ms;
  if (w.options.taste_drift <= 0) return;
  const double sigma =
      w.options.taste_drift * std::sqrt(static_cast<double>(elapsed) / static_cast<double>(kDayMs));
  float* lw = &w.user_log_weight[user * w.num_categories()];
  for (size_t c = 0; c < w.num_categories(); ++c) lw[c] += static_cast<float>(sigma * rng.Normal());
  Renormalize(w, user);
}

void StepTrends(World& w, Rng& rng) {
  // AR(1) with factor 0.9 per day: a trend forgets its past within about ten days. A hype shock
  // (1% of items a day) makes an item trend and then decay at that same rate.
  const double drift = w.options.popularity_drift;
  if (drift <= 0) return;
  for (ItemTruth& it : w.items) {
    it.trend = 0.9 * it.trend + drift * rng.Normal();
    if (rng.Uniform() < 0.01) it.trend += 7.5 * drift;
  }
}

void RefreshAppeal(World& w, int64_t now_ms) {
  const double tau = w.options.novelty_days * static_cast<double>(kDayMs);
  for (ItemTruth& it : w.items) {
    double novelty = 0;
    if (it.arrives_later && now_ms >= it.arrival_ms && w.options.novelty_boost != 0) {
      novelty =
          w.options.novelty_boost * std::exp(-static_cast<double>(now_ms - it.arrival_ms) / tau);
    }
    it.appeal = it.quality + it.trend + novelty;
  }
}

void FormatId(char prefix, uint64_t number, int width, std::string& out) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), number);
  const auto len = static_cast<int>(end - digits);
  out.assign(1, prefix);
  if (len < width) out.append(static_cast<size_t>(width - len), '0');
  out.append(digits, end);
}

}  // namespace freshet::sim
