#include "rank/feature_spec.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "model/model_file.h"
#include "rank/dataset.h"

namespace freshet::rank {
namespace {

constexpr uint64_t kValueMask = (uint64_t{1} << kFieldShift) - 1;
constexpr uint64_t kMissing = kValueMask;  // the value of an absent categorical value
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

uint64_t Mix(uint64_t x) {
  // splitmix64's finaliser: a bijection that spreads every input bit over the output.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

enum class SourceKind : uint8_t { kCategorical, kNumeric, kSequence };

// Every source a spec may name. Persisted by name in model files (the spec text): never rename.
enum class Src : uint8_t {
  // categorical
  kUser, kItem, kCategory, kBrand, kPosition, kHour, kWeekday, kInCart, kSeenItem,
  kLastCategoryMatch,
  // numeric
  kItemPrice, kItemPopularity, kItemImpressions, kItemClicks, kItemCarts, kItemBuys, kItemCtr,
  kItemBuyRate, kUserEvents, kUserClicks, kUserCarts, kUserBuys, kUserIdleSeconds,
  kUserSinceBuySeconds, kUserItemInteractions, kUserCategoryShare, kCartSize, kCartValue,
  kCartItemAgeSeconds, kUserMeanPrice, kPriceVsUser,
  // sequence
  kRecentItems, kRecentCategories,
};

struct SourceDef {
  const char* name;
  SourceKind kind;
  Src src;
  const char* help;
};

constexpr SourceDef kSources[] = {
    {"user", SourceKind::kCategorical, Src::kUser, "the user's dense id"},
    {"item", SourceKind::kCategorical, Src::kItem, "the item's dense id"},
    {"category", SourceKind::kCategorical, Src::kCategory, "the item's category (catalog)"},
    {"brand", SourceKind::kCategorical, Src::kBrand, "the item's brand (catalog)"},
    {"position", SourceKind::kCategorical, Src::kPosition,
     "page position of an impression, 1-based (0 unknown, capped at 50)"},
    {"hour", SourceKind::kCategorical, Src::kHour, "hour of day (UTC) of the event"},
    {"weekday", SourceKind::kCategorical, Src::kWeekday, "day of week (UTC) of the event"},
    {"in_cart", SourceKind::kCategorical, Src::kInCart, "1 when the item is in the user's cart"},
    {"seen_item", SourceKind::kCategorical, Src::kSeenItem,
     "1 when the item is among the user's recent interactions"},
    {"last_category_match", SourceKind::kCategorical, Src::kLastCategoryMatch,
     "1 when the item's category is that of the user's last interaction, 0 not, 2 no history"},
    {"item_price", SourceKind::kNumeric, Src::kItemPrice, "the item's price (catalog)"},
    {"item_popularity", SourceKind::kNumeric, Src::kItemPopularity,
     "decayed count of the item's non-impression events"},
    {"item_impressions", SourceKind::kNumeric, Src::kItemImpressions, "decayed impressions"},
    {"item_clicks", SourceKind::kNumeric, Src::kItemClicks, "decayed clicks and views"},
    {"item_carts", SourceKind::kNumeric, Src::kItemCarts, "decayed cart adds"},
    {"item_buys", SourceKind::kNumeric, Src::kItemBuys, "decayed buys"},
    {"item_ctr", SourceKind::kNumeric, Src::kItemCtr,
     "(clicks + 1) / (impressions + 25), decayed counts"},
    {"item_buy_rate", SourceKind::kNumeric, Src::kItemBuyRate,
     "(buys + 0.1) / (clicks + 2), decayed counts"},
    {"user_events", SourceKind::kNumeric, Src::kUserEvents, "the user's events so far"},
    {"user_clicks", SourceKind::kNumeric, Src::kUserClicks, "the user's clicks and views"},
    {"user_carts", SourceKind::kNumeric, Src::kUserCarts, "the user's cart adds"},
    {"user_buys", SourceKind::kNumeric, Src::kUserBuys, "the user's buys"},
    {"user_idle_seconds", SourceKind::kNumeric, Src::kUserIdleSeconds,
     "seconds since the user's previous event (missing for a new user)"},
    {"user_since_buy_seconds", SourceKind::kNumeric, Src::kUserSinceBuySeconds,
     "seconds since the user's last buy (missing when none)"},
    {"user_item_interactions", SourceKind::kNumeric, Src::kUserItemInteractions,
     "times the item occurs in the user's recent interactions"},
    {"user_category_share", SourceKind::kNumeric, Src::kUserCategoryShare,
     "share of the user's last 50 interactions in the item's category"},
    {"cart_size", SourceKind::kNumeric, Src::kCartSize, "items in the cart, the item excluded"},
    {"cart_value", SourceKind::kNumeric, Src::kCartValue,
     "summed price of the cart, the item excluded"},
    {"cart_item_age_seconds", SourceKind::kNumeric, Src::kCartItemAgeSeconds,
     "seconds since the item was carted (missing when not in the cart)"},
    {"user_mean_price", SourceKind::kNumeric, Src::kUserMeanPrice,
     "mean price of the user's last 50 interaction items (missing without history)"},
    {"price_vs_user", SourceKind::kNumeric, Src::kPriceVsUser,
     "log(item price / user_mean_price): above 0 dearer than what the user looks at"},
    {"recent_items", SourceKind::kSequence, Src::kRecentItems,
     "the user's newest interaction items, newest first"},
    {"recent_categories", SourceKind::kSequence, Src::kRecentCategories,
     "categories of the user's newest interaction items, newest first"},
};

const SourceDef* FindSource(std::string_view name) {
  for (const SourceDef& s : kSources) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

std::vector<std::string_view> Tokens(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

constexpr char kDefaultSpec[] = R"(# freshet shop ranking feature spec (the default: config/shop_rank.spec).
# One declaration per line:
#   categorical NAME SOURCE [encode=dict|hash]
#   cross       NAME FIELD,FIELD[,FIELD]
#   numeric     NAME SOURCE [transform=none|log|zscore] [buckets=N] [binning=quantile|uniform]
#   sequence    NAME SOURCE [length=K]
# `freshet train --task click --model ftrl --spec help` lists the sources; docs/models.md,
# "Shop ranking", explains them.

categorical user        user
categorical item        item
categorical category    category     encode=hash
categorical brand       brand        encode=hash
categorical position    position
categorical hour        hour
categorical weekday     weekday
categorical in_cart     in_cart
categorical seen_item   seen_item
categorical last_cat    last_category_match

cross user_x_category   user,category
cross item_x_position   item,position
cross category_x_last   category,last_cat

numeric price           item_price              transform=log buckets=16
numeric popularity      item_popularity         transform=log buckets=16
numeric item_ctr        item_ctr                buckets=16
numeric item_buy_rate   item_buy_rate           buckets=16
numeric item_carts      item_carts              transform=log buckets=8
numeric user_events     user_events             transform=log buckets=12
numeric user_clicks     user_clicks             transform=log buckets=12
numeric user_carts      user_carts              transform=log buckets=8
numeric user_buys       user_buys               transform=log buckets=8
numeric idle            user_idle_seconds       transform=log buckets=16
numeric since_buy       user_since_buy_seconds  transform=log buckets=12
numeric item_affinity   user_item_interactions  buckets=6
numeric category_share  user_category_share     transform=zscore buckets=12 binning=uniform
numeric cart_size       cart_size               buckets=6
numeric cart_value      cart_value              transform=log buckets=8
numeric cart_age        cart_item_age_seconds   transform=log buckets=8

sequence recent_item    recent_items            length=3
sequence recent_cat     recent_categories       length=3
)";

constexpr char kDefaultCartSpec[] = R"(# A compact spec for the cart-conversion model (--task cart): cart adds are few (thousands, not
# millions), so it keeps fields that generalise across users and items (price against the user's
# usual price, item buy rate, the user's buying history, the cart) and drops the id fields and
# crosses that the default spec memorises.

categorical category    category     encode=hash
categorical brand       brand        encode=hash
categorical hour        hour
categorical weekday     weekday
categorical last_cat    last_category_match

numeric price           item_price              transform=log buckets=8
numeric price_vs_user   price_vs_user           buckets=8
numeric item_buy_rate   item_buy_rate           buckets=8
numeric item_carts      item_carts              transform=log buckets=6
numeric popularity      item_popularity         transform=log buckets=8
numeric user_clicks     user_clicks             transform=log buckets=6
numeric user_carts      user_carts              transform=log buckets=6
numeric user_buys       user_buys               transform=log buckets=6
numeric idle            user_idle_seconds       transform=log buckets=8
numeric since_buy       user_since_buy_seconds  transform=log buckets=8
numeric item_affinity   user_item_interactions  buckets=4
numeric category_share  user_category_share     buckets=6
numeric cart_size       cart_size               buckets=5
numeric cart_value      cart_value              transform=log buckets=6
)";

}  // namespace

std::string_view FeatureSpec::DefaultText() { return kDefaultSpec; }
std::string_view FeatureSpec::DefaultCartText() { return kDefaultCartSpec; }

std::string FeatureSpec::SourceHelp() {
  std::string s;
  for (const SourceDef& d : kSources) {
    s += d.name;
    s += d.kind == SourceKind::kCategorical ? " (categorical)"
         : d.kind == SourceKind::kNumeric   ? " (numeric)"
                                            : " (sequence)";
    s += ": ";
    s += d.help;
    s += '\n';
  }
  return s;
}

Result<FeatureSpec> FeatureSpec::ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("feature spec '" + path + "' cannot be opened");
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Status::IOError("feature spec '" + path + "': read error");
  return Parse(buffer.str(), path);
}

Result<FeatureSpec> FeatureSpec::Parse(std::string_view text, std::string_view origin) {
  FeatureSpec spec;
  spec.text_ = std::string(text);
  spec.origin_ = std::string(origin);
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const std::vector<std::string_view> tok = Tokens(line);
    if (tok.empty()) {
      if (end == text.size()) break;
      continue;
    }
    const std::string name = tok.size() > 1 ? std::string(tok[1]) : std::string("?");
    auto fail = [&](const std::string& why) {
      return Status::InvalidArgument(std::string(origin) + ":" + std::to_string(line_no) +
                                     ": field " + name + ": " + why);
    };
    const std::string_view kind = tok[0];
    SpecField f;
    f.line = line_no;
    f.name = name;
    if (kind == "categorical") {
      f.kind = SpecKind::kCategorical;
    } else if (kind == "cross") {
      f.kind = SpecKind::kCross;
    } else if (kind == "numeric") {
      f.kind = SpecKind::kNumeric;
    } else if (kind == "sequence") {
      f.kind = SpecKind::kSequence;
    } else {
      return fail("unknown kind '" + std::string(kind) +
                  "' (known: categorical, cross, numeric, sequence)");
    }
    if (tok.size() < 3) return fail("needs a name and a " +
                                    std::string(kind == "cross" ? "list of fields" : "source"));
    if (!ValidName(tok[1])) return fail("a name is 1-64 letters, digits or '_'");
    for (const SpecField& other : spec.fields_) {
      if (other.name == name) {
        return fail("defined twice (first on line " + std::to_string(other.line) + ")");
      }
    }
    if (f.kind == SpecKind::kCross) {
      std::string_view rest = tok[2];
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string_view part = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        int found = -1;
        for (size_t i = 0; i < spec.fields_.size(); ++i) {
          if (spec.fields_[i].name == part) found = static_cast<int>(i);
        }
        if (found < 0) {
          return fail("crosses '" + std::string(part) +
                      "', which is not a categorical field defined above it");
        }
        if (spec.fields_[static_cast<size_t>(found)].kind != SpecKind::kCategorical) {
          return fail("crosses '" + std::string(part) + "', which is not categorical");
        }
        f.parts.push_back(found);
      }
      if (f.parts.size() < 2 || f.parts.size() > 3) return fail("a cross has 2 or 3 fields");
      if (tok.size() > 3) return fail("unexpected '" + std::string(tok[3]) + "'");
    } else {
      const SourceDef* src = FindSource(tok[2]);
      if (src == nullptr) {
        return fail("unknown source '" + std::string(tok[2]) +
                    "' (`freshet train --task click --model ftrl --spec help` lists them)");
      }
      const SourceKind want = f.kind == SpecKind::kCategorical ? SourceKind::kCategorical
                              : f.kind == SpecKind::kNumeric   ? SourceKind::kNumeric
                                                               : SourceKind::kSequence;
      if (src->kind != want) {
        return fail("source '" + std::string(tok[2]) + "' is not a " + std::string(kind) +
                    " source");
      }
      f.source = static_cast<int>(src - kSources);
      for (size_t t = 3; t < tok.size(); ++t) {
        const std::string_view opt = tok[t];
        const size_t eq = opt.find('=');
        if (eq == std::string_view::npos) {
          return fail("option '" + std::string(opt) + "' is not KEY=VALUE");
        }
        const std::string_view key = opt.substr(0, eq), value = opt.substr(eq + 1);
        auto integer = [&](int lo, int hi, int* out) -> Status {
          auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), *out);
          if (ec != std::errc() || p != value.data() + value.size() || *out < lo || *out > hi) {
            return fail(std::string(key) + " must be an integer in [" + std::to_string(lo) +
                        ", " + std::to_string(hi) + "], got '" + std::string(value) + "'");
          }
          return Status::OK();
        };
        if (f.kind == SpecKind::kCategorical && key == "encode") {
          if (value == "hash") {
            f.hashed = true;
          } else if (value != "dict") {
            return fail("encode must be dict or hash, got '" + std::string(value) + "'");
          }
        } else if (f.kind == SpecKind::kNumeric && key == "transform") {
          if (value == "none") {
            f.transform = Transform::kNone;
          } else if (value == "log") {
            f.transform = Transform::kLog;
          } else if (value == "zscore") {
            f.transform = Transform::kZscore;
          } else {
            return fail("transform must be none, log or zscore, got '" + std::string(value) +
                        "'");
          }
        } else if (f.kind == SpecKind::kNumeric && key == "buckets") {
          FRESHET_RETURN_IF_ERROR(integer(2, 1024, &f.buckets));
        } else if (f.kind == SpecKind::kNumeric && key == "binning") {
          if (value == "uniform") {
            f.uniform = true;
          } else if (value != "quantile") {
            return fail("binning must be quantile or uniform, got '" + std::string(value) + "'");
          }
        } else if (f.kind == SpecKind::kSequence && key == "length") {
          FRESHET_RETURN_IF_ERROR(integer(1, 50, &f.length));
        } else {
          return fail("unknown option '" + std::string(key) + "' for a " + std::string(kind) +
                      " field");
        }
      }
    }
    f.first_slot = spec.num_slots_;
    spec.num_slots_ += f.kind == SpecKind::kSequence ? f.length : 1;
    if (spec.num_slots_ > kMaxFields) {
      return fail("the spec has more than " + std::to_string(kMaxFields) + " columns");
    }
    if (f.kind == SpecKind::kNumeric) f.numeric_index = spec.num_numeric_++;
    spec.fields_.push_back(std::move(f));
    if (end == text.size()) break;
  }
  if (spec.fields_.empty()) {
    return Status::InvalidArgument(std::string(origin) + ": the feature spec defines no field");
  }
  spec.stats_.resize(static_cast<size_t>(spec.num_numeric_));
  return spec;
}

std::string FeatureSpec::SlotName(int slot) const {
  for (const SpecField& f : fields_) {
    if (f.kind == SpecKind::kSequence && slot >= f.first_slot && slot < f.first_slot + f.length) {
      return f.name + "_" + std::to_string(slot - f.first_slot + 1);
    }
    if (slot == f.first_slot) return f.name;
  }
  return "?";
}

namespace {

// The most recent items any source reads (the rest read a tail of these).
constexpr size_t kRecentRead = 200;

// The reads held in the scratch are `user`'s (dropped when they were another user's).
void SameUser(SpecScratch& scratch, UserId user) {
  if (scratch.user != user) {
    scratch.user = user;
    scratch.have_recent = scratch.have_cart = scratch.have_summary = false;
  }
}

// The user's newest `n` (<= kRecentRead) items, oldest first.
std::span<const ItemId> RecentItems(const feature::FeatureState& state, UserId user,
                                    SpecScratch& scratch, size_t n) {
  SameUser(scratch, user);
  if (!scratch.have_recent) {
    state.Recent(user, kRecentRead, &scratch.recent);
    scratch.have_recent = true;
  }
  const size_t take = std::min(n, scratch.recent.size());
  return {scratch.recent.data() + (scratch.recent.size() - take), take};
}

const std::vector<feature::FeatureState::CartLine>& CartOf(const feature::FeatureState& state,
                                                          UserId user, SpecScratch& scratch) {
  SameUser(scratch, user);
  if (!scratch.have_cart) {
    state.Cart(user, &scratch.cart);
    scratch.have_cart = true;
  }
  return scratch.cart;
}

// The user's summary; false for a user the state does not know.
bool SummaryOf(const feature::FeatureState& state, UserId user, SpecScratch& scratch,
               feature::FeatureState::UserSummary* out) {
  SameUser(scratch, user);
  if (!scratch.have_summary) {
    scratch.summary_known = state.Summary(user, &scratch.summary);
    scratch.have_summary = true;
  }
  *out = scratch.summary;
  return scratch.summary_known;
}

}  // namespace

float FeatureSpec::Raw(int field, const feature::FeatureState& state, const ShopCatalog& catalog,
                       const SampleKey& key, SpecScratch& scratch) const {
  const SpecField& f = fields_[static_cast<size_t>(field)];
  const ShopItemInfo& info = catalog.Get(key.item);
  feature::FeatureState::UserSummary u;
  auto user = [&]() { return SummaryOf(state, key.user, scratch, &u); };
  auto cart_other = [&](float* value) {
    float n = 0, v = 0;
    for (const auto& line : CartOf(state, key.user, scratch)) {
      if (line.item == key.item) continue;
      n += 1;
      const float p = catalog.Get(line.item).price;
      if (!std::isnan(p)) v += p;
    }
    if (value != nullptr) *value = v;
    return n;
  };
  float x = kNaN;
  switch (kSources[f.source].src) {
    case Src::kItemPrice:
      x = info.price;
      break;
    case Src::kItemPopularity:
      x = state.Popularity(key.item);
      break;
    case Src::kItemImpressions:
      x = state.Counts(key.item).impressions;
      break;
    case Src::kItemClicks:
      x = state.Counts(key.item).clicks;
      break;
    case Src::kItemCarts:
      x = state.Counts(key.item).carts;
      break;
    case Src::kItemBuys:
      x = state.Counts(key.item).buys;
      break;
    case Src::kItemCtr: {
      const auto c = state.Counts(key.item);
      x = (c.clicks + 1.0f) / (c.impressions + 25.0f);
      break;
    }
    case Src::kItemBuyRate: {
      const auto c = state.Counts(key.item);
      x = (c.buys + 0.1f) / (c.clicks + 2.0f);
      break;
    }
    case Src::kUserEvents:
      x = user() ? static_cast<float>(u.events) : 0.0f;
      break;
    case Src::kUserClicks:
      x = user() ? static_cast<float>(u.clicks) : 0.0f;
      break;
    case Src::kUserCarts:
      x = user() ? static_cast<float>(u.carts) : 0.0f;
      break;
    case Src::kUserBuys:
      x = user() ? static_cast<float>(u.buys) : 0.0f;
      break;
    case Src::kUserIdleSeconds:
      if (user() && u.last_ts_ms > 0) {
        x = static_cast<float>(std::max<int64_t>(0, key.ts_ms - u.last_ts_ms)) / 1000.0f;
      }
      break;
    case Src::kUserSinceBuySeconds:
      if (user() && u.last_buy_ms > 0) {
        x = static_cast<float>(std::max<int64_t>(0, key.ts_ms - u.last_buy_ms)) / 1000.0f;
      }
      break;
    case Src::kUserItemInteractions: {
      const auto recent = RecentItems(state, key.user, scratch, 200);
      x = static_cast<float>(std::count(recent.begin(), recent.end(), key.item));
      break;
    }
    case Src::kUserCategoryShare: {
      const auto recent = RecentItems(state, key.user, scratch, 50);
      if (recent.empty()) break;
      size_t same = 0;
      for (ItemId i : recent) same += catalog.Get(i).category == info.category ? 1 : 0;
      x = static_cast<float>(same) / static_cast<float>(recent.size());
      break;
    }
    case Src::kCartSize:
      x = cart_other(nullptr);
      break;
    case Src::kCartValue:
      cart_other(&x);
      break;
    case Src::kCartItemAgeSeconds:
      for (const auto& line : CartOf(state, key.user, scratch)) {
        if (line.item == key.item) {
          x = static_cast<float>(std::max<int64_t>(0, key.ts_ms - line.added_ms)) / 1000.0f;
        }
      }
      break;
    case Src::kUserMeanPrice:
    case Src::kPriceVsUser: {
      double sum = 0;
      int n = 0;
      for (ItemId i : RecentItems(state, key.user, scratch, 50)) {
        const float p = catalog.Get(i).price;
        if (!std::isnan(p)) {
          sum += p;
          ++n;
        }
      }
      if (n == 0) break;
      const double mean = sum / n;
      if (kSources[f.source].src == Src::kUserMeanPrice) {
        x = static_cast<float>(mean);
      } else if (!std::isnan(info.price) && info.price > 0 && mean > 0) {
        x = static_cast<float>(std::log(info.price / mean));
      }
      break;
    }
    default:
      break;
  }
  if (std::isnan(x)) return x;
  if (f.transform == Transform::kLog) x = std::log1p(std::max(x, 0.0f));
  return x;
}

void FeatureSpec::Build(const feature::FeatureState& state, const ShopCatalog& catalog,
                        const SampleKey& key, SpecScratch& scratch,
                        std::span<uint64_t> out) const {
  const ShopItemInfo& info = catalog.Get(key.item);
  // Categorical values first (crosses read them). The user's reads happen once per sample, or
  // once per call (SpecScratch::per_call): a new sample outside a call reads the state again.
  if (!scratch.per_call) scratch.have_recent = scratch.have_cart = scratch.have_summary = false;
  SameUser(scratch, key.user);
  auto recent = [&] { return RecentItems(state, key.user, scratch, kRecentRead); };
  std::vector<uint64_t>& values = scratch.values;
  values.assign(fields_.size(), kMissing);
  for (size_t fi = 0; fi < fields_.size(); ++fi) {
    const SpecField& f = fields_[fi];
    const uint64_t slot = static_cast<uint64_t>(f.first_slot);
    if (f.kind == SpecKind::kCategorical) {
      uint64_t v = kMissing;
      switch (kSources[f.source].src) {
        case Src::kUser:
          v = key.user;
          break;
        case Src::kItem:
          v = key.item == kNoId ? kMissing : key.item;
          break;
        case Src::kCategory:
          v = info.category;
          break;
        case Src::kBrand:
          v = info.brand;
          break;
        case Src::kPosition:
          v = static_cast<uint64_t>(std::clamp(key.position, 0.0f, 50.0f));
          break;
        case Src::kHour:
          v = static_cast<uint64_t>((key.ts_ms / 3600000) % 24);
          break;
        case Src::kWeekday:
          v = static_cast<uint64_t>((key.ts_ms / 86400000 + 4) % 7);  // 1970-01-01: Thursday
          break;
        case Src::kInCart: {
          v = 0;
          for (const auto& line : CartOf(state, key.user, scratch)) {
            v |= line.item == key.item ? 1 : 0;
          }
          break;
        }
        case Src::kSeenItem: {
          const auto& r = recent();
          v = std::find(r.begin(), r.end(), key.item) != r.end() ? 1 : 0;
          break;
        }
        case Src::kLastCategoryMatch: {
          const auto& r = recent();
          v = r.empty() ? 2 : (catalog.Get(r.back()).category == info.category ? 1 : 0);
          break;
        }
        default:
          break;
      }
      values[fi] = v & kValueMask;
      const uint64_t enc = f.hashed ? (Mix(v ^ (slot << 48)) & kValueMask) : (v & kValueMask);
      out[slot] = (slot << kFieldShift) | enc;
    } else if (f.kind == SpecKind::kCross) {
      uint64_t h = Mix(0x9e3779b97f4a7c15ULL ^ slot);
      for (int p : f.parts) h = Mix(h ^ values[static_cast<size_t>(p)]);
      out[slot] = (slot << kFieldShift) | (h & kValueMask);
    } else if (f.kind == SpecKind::kNumeric) {
      const float x = Raw(static_cast<int>(fi), state, catalog, key, scratch);
      out[slot] = frozen_ ? NumericId(static_cast<int>(fi), x)
                          : static_cast<uint64_t>(std::bit_cast<uint32_t>(x));
    } else {  // sequence: newest first
      const auto& r = recent();
      const bool categories = kSources[f.source].src == Src::kRecentCategories;
      for (int k = 0; k < f.length; ++k) {
        uint64_t v = kMissing;
        if (static_cast<size_t>(k) < r.size()) {
          const ItemId item = r[r.size() - 1 - static_cast<size_t>(k)];
          v = categories ? catalog.Get(item).category : item;
        }
        const uint64_t s = slot + static_cast<uint64_t>(k);
        out[s] = (s << kFieldShift) | (v & kValueMask);
      }
    }
  }
}

Status FeatureSpec::Freeze(std::span<const uint64_t> raw_rows) {
  const size_t width = static_cast<size_t>(num_slots_);
  if (raw_rows.size() % width != 0) {
    return Status::InvalidArgument("raw rows are not a multiple of the spec's columns");
  }
  const size_t n = raw_rows.size() / width;
  std::vector<float> values;
  for (const SpecField& f : fields_) {
    if (f.kind != SpecKind::kNumeric) continue;
    NumericStats& st = stats_[static_cast<size_t>(f.numeric_index)];
    values.clear();
    for (size_t i = 0; i < n; ++i) {
      const float x = std::bit_cast<float>(
          static_cast<uint32_t>(raw_rows[i * width + static_cast<size_t>(f.first_slot)]));
      if (!std::isnan(x)) values.push_back(x);
    }
    st = NumericStats{};
    if (values.empty()) continue;  // every value missing: one "missing" bucket and one other
    double sum = 0, sq = 0;
    for (float v : values) sum += v;
    st.mean = sum / static_cast<double>(values.size());
    for (float v : values) sq += (v - st.mean) * (v - st.mean);
    st.stddev = std::sqrt(sq / static_cast<double>(values.size()));
    if (!(st.stddev > 1e-12)) st.stddev = 1;
    if (f.transform == Transform::kZscore) {
      for (float& v : values) v = static_cast<float>((v - st.mean) / st.stddev);
    }
    if (f.uniform) {
      float lo = -3, hi = 3;
      if (f.transform != Transform::kZscore) {
        auto [mn, mx] = std::minmax_element(values.begin(), values.end());
        lo = *mn;
        hi = *mx;
      }
      for (int b = 1; b < f.buckets; ++b) {
        st.edges.push_back(lo + (hi - lo) * static_cast<float>(b) / static_cast<float>(f.buckets));
      }
    } else {
      std::sort(values.begin(), values.end());
      for (int b = 1; b < f.buckets; ++b) {
        const size_t at = values.size() * static_cast<size_t>(b) / static_cast<size_t>(f.buckets);
        st.edges.push_back(values[std::min(at, values.size() - 1)]);
      }
    }
    st.edges.erase(std::unique(st.edges.begin(), st.edges.end()), st.edges.end());
  }
  frozen_ = true;
  return Status::OK();
}

uint64_t FeatureSpec::NumericId(int field, float x) const {
  const SpecField& f = fields_[static_cast<size_t>(field)];
  const NumericStats& st = stats_[static_cast<size_t>(f.numeric_index)];
  uint64_t bucket = 0;  // missing
  if (!std::isnan(x)) {
    if (f.transform == Transform::kZscore) x = static_cast<float>((x - st.mean) / st.stddev);
    bucket = 1 + static_cast<uint64_t>(std::upper_bound(st.edges.begin(), st.edges.end(), x) -
                                       st.edges.begin());
  }
  return (static_cast<uint64_t>(f.first_slot) << kFieldShift) | bucket;
}

void FeatureSpec::Finalize(std::span<uint64_t> raw_rows) const {
  const size_t width = static_cast<size_t>(num_slots_);
  for (size_t i = 0; i + width <= raw_rows.size(); i += width) {
    for (size_t fi = 0; fi < fields_.size(); ++fi) {
      const SpecField& f = fields_[fi];
      if (f.kind != SpecKind::kNumeric) continue;
      uint64_t& cell = raw_rows[i + static_cast<size_t>(f.first_slot)];
      cell = NumericId(static_cast<int>(fi), std::bit_cast<float>(static_cast<uint32_t>(cell)));
    }
  }
}

std::string FeatureSpec::Describe(int slot, uint64_t id) const {
  const uint64_t v = id & kValueMask;
  for (const SpecField& f : fields_) {
    const int width = f.kind == SpecKind::kSequence ? f.length : 1;
    if (slot < f.first_slot || slot >= f.first_slot + width) continue;
    const std::string name = SlotName(slot);
    if (f.kind == SpecKind::kNumeric) {
      if (v == 0) return name + "=missing";
      const NumericStats& st = stats_[static_cast<size_t>(f.numeric_index)];
      const size_t b = static_cast<size_t>(v - 1);
      std::ostringstream s;
      s.precision(4);
      s << name << "=[";
      if (b == 0) {
        s << "-inf";
      } else {
        s << st.edges[b - 1];
      }
      s << ",";
      if (b >= st.edges.size()) {
        s << "inf";
      } else {
        s << st.edges[b];
      }
      s << ")";
      if (f.transform != Transform::kNone) {
        s << (f.transform == Transform::kLog ? " (log1p)" : " (z)");
      }
      return s.str();
    }
    if (v == kMissing) return name + "=none";
    if (f.kind == SpecKind::kCross || f.hashed) {
      std::ostringstream s;
      s << name << "=#" << std::hex << v;
      return s.str();
    }
    if (f.kind == SpecKind::kSequence && kSources[f.source].src == Src::kRecentCategories) {
      std::ostringstream s;
      s << name << "=#" << std::hex << v;
      return s.str();
    }
    return name + "=" + std::to_string(v);
  }
  return "?";
}

void FeatureSpec::Save(model::ModelWriter& w) const {
  w.PutBytes("shop.spec", text_);
  w.PutBytes("shop.spec_origin", origin_);
  std::vector<double> flat;
  for (const NumericStats& st : stats_) {
    flat.push_back(st.mean);
    flat.push_back(st.stddev);
    flat.push_back(static_cast<double>(st.edges.size()));
    for (float e : st.edges) flat.push_back(e);
  }
  w.PutF64("shop.stats", flat);
}

Result<FeatureSpec> FeatureSpec::Load(const model::ModelReader& r) {
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption("model file '" + r.origin() + "': " + what);
  };
  FRESHET_ASSIGN_OR_RETURN(std::string text, r.Bytes("shop.spec"));
  FRESHET_ASSIGN_OR_RETURN(std::string origin, r.Bytes("shop.spec_origin"));
  auto spec = Parse(text, origin);
  if (!spec.ok()) return corrupt("its feature spec does not parse: " + spec.status().message());
  FRESHET_ASSIGN_OR_RETURN(std::vector<double> flat, r.F64("shop.stats"));
  size_t at = 0;
  for (NumericStats& st : spec->stats_) {
    if (at + 3 > flat.size()) return corrupt("shop.stats is truncated");
    st.mean = flat[at];
    st.stddev = flat[at + 1];
    const double count = flat[at + 2];
    at += 3;
    if (!(count >= 0) || count > 1024 || at + static_cast<size_t>(count) > flat.size()) {
      return corrupt("shop.stats is inconsistent");
    }
    for (size_t i = 0; i < static_cast<size_t>(count); ++i) {
      st.edges.push_back(static_cast<float>(flat[at + i]));
    }
    at += static_cast<size_t>(count);
    if (!std::is_sorted(st.edges.begin(), st.edges.end()) || !(st.stddev > 0)) {
      return corrupt("shop.stats is inconsistent");
    }
  }
  if (at != flat.size()) return corrupt("shop.stats has trailing values");
  spec->frozen_ = true;
  return spec;
}

}  // namespace freshet::rank
