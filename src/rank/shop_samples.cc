#include "rank/shop_samples.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <unordered_map>

#include "model/model_file.h"
#include "model/registry.h"
#include "store/event_store.h"

namespace freshet::rank {
namespace {

constexpr float kNever = 1e8f;  // "no such event yet", in seconds

Result<ShopTarget> ParseTarget(std::string_view name) {
  if (name == "click") return ShopTarget::kClick;
  if (name == "cart") return ShopTarget::kCart;
  if (name == "buy") return ShopTarget::kBuy;
  return Status::InvalidArgument("unknown shop target '" + std::string(name) +
                                 "' (known: click, cart, buy)");
}

const char* TargetNeeds(ShopTarget t) {
  switch (t) {
    case ShopTarget::kClick:
      return "impression events followed by click or view events";
    case ShopTarget::kCart:
      return "cart events (followed by buy or remove_cart events)";
    case ShopTarget::kBuy:
      return "impression events followed by buy events";
  }
  return "";
}

}  // namespace

Result<ShopCatalog> LoadShopCatalog(const store::EventStore& store) {
  ShopCatalog catalog;
  Status s = store.ScanItems([&](ItemId id, const Item& item) {
    catalog.Set(id, item.category, item.brand, item.price, item.stock);
    return true;
  });
  if (!s.ok()) return s;
  return catalog;
}

std::vector<int> BaselineColumns(ShopTarget target) {
  if (target == ShopTarget::kCart) return {0, 1, 2, 3, 4, 5, 9};
  return {6, 7, 8};
}

std::string BaselineName(ShopTarget target) {
  if (target == ShopTarget::kCart) {
    return "rfm-logistic (recency of last buy, buys, money spent, cart size and value, idle "
           "time, price)";
  }
  return "popularity-position-logistic (item popularity, item click rate, 1/position)";
}

Result<ShopSamples> BuildShopSamples(const store::EventTable& table, const ShopCatalog& catalog,
                                     FeatureSpec* spec, const ShopSampleOptions& options) {
  if (table.size() == 0) return Status::InvalidArgument("the store holds no events");
  if (!(options.holdout >= 0 && options.holdout < 1)) {
    return Status::InvalidArgument("holdout must be in [0, 1), got " +
                                   std::to_string(options.holdout));
  }
  ShopSamples out;
  out.first_ms = table.ts_ms.front();
  out.last_ms = table.ts_ms.back();
  out.split_ms = options.split_ms > 0
                     ? options.split_ms
                     : out.last_ms - static_cast<int64_t>(options.holdout *
                                                          static_cast<double>(out.last_ms -
                                                                              out.first_ms));
  if (options.split_ms <= 0 && options.holdout == 0) out.split_ms = out.last_ms + 1;
  const int slots = spec->num_slots();
  for (CtrDataset* d : {&out.train, &out.valid}) {
    d->format = CtrFormat::kCriteo;  // unused by shop models; the field count is the spec's
    d->num_fields = slots;
  }

  feature::FeatureState state(options.features);
  std::unordered_map<UserId, double> spent;  // monetary value for the baseline
  SpecScratch scratch;
  auto featurize = [&](const JoinEvent& a, ShopTarget, std::vector<uint64_t>* f) {
    f->resize(static_cast<size_t>(slots + kBaselineInputs));
    const float position = a.type == EventType::kImpression ? a.value : 0.0f;
    spec->Build(state, catalog, {a.user, a.item, a.ts_ms, position}, scratch,
                std::span<uint64_t>(f->data(), static_cast<size_t>(slots)));
    // Baseline inputs from the same pre-event state.
    float base[kBaselineInputs] = {};
    feature::FeatureState::UserSummary u;
    const bool known = state.Summary(a.user, &u);
    base[0] = std::log1p(known && u.last_buy_ms > 0
                             ? static_cast<float>(a.ts_ms - u.last_buy_ms) / 1000.0f
                             : kNever);
    base[1] = std::log1p(known ? static_cast<float>(u.buys) : 0.0f);
    auto s = spent.find(a.user);
    base[2] = std::log1p(s == spent.end() ? 0.0f : static_cast<float>(s->second));
    state.Cart(a.user, &scratch.cart);
    float cart_n = 0, cart_v = 0;
    for (const auto& line : scratch.cart) {
      if (line.item == a.item) continue;
      cart_n += 1;
      const float p = catalog.Get(line.item).price;
      if (!std::isnan(p)) cart_v += p;
    }
    base[3] = cart_n;
    base[4] = std::log1p(cart_v);
    base[5] = std::log1p(known && u.last_ts_ms > 0
                             ? static_cast<float>(std::max<int64_t>(0, a.ts_ms - u.last_ts_ms)) /
                                   1000.0f
                             : kNever);
    base[6] = std::log1p(state.Popularity(a.item));
    const auto c = state.Counts(a.item);
    base[7] = (c.clicks + 1.0f) / (c.impressions + 25.0f);
    base[8] = position > 0 ? 1.0f / position : 0.0f;
    const float price = catalog.Get(a.item).price;
    base[9] = std::isnan(price) ? 0.0f : std::log1p(std::max(price, 0.0f));
    for (int i = 0; i < kBaselineInputs; ++i) {
      (*f)[static_cast<size_t>(slots + i)] = std::bit_cast<uint32_t>(base[i]);
    }
  };
  LabelJoinerOptions jo = options.joiner;
  for (int t = 0; t < kNumShopTargets; ++t) jo.enabled[t] = t == static_cast<int>(options.target);
  LabelJoiner joiner(jo, featurize);
  int64_t window = jo.click_window_ms;
  if (options.target == ShopTarget::kCart) window = jo.cart_window_ms;
  if (options.target == ShopTarget::kBuy) window = jo.buy_window_ms;
  auto emit = [&](JoinedExample&& x) {
    // Right-censoring: an anchor whose window reaches past the end of the history can only be
    // decided positive (its negatives never are), so keeping the decided ones would bias the
    // last stretch towards positives. Only anchors with the whole window inside count.
    if (x.ts_ms + window >= out.last_ms) {
      ++out.censored;
      return;
    }
    const bool train = x.ts_ms < out.split_ms;
    CtrDataset& d = train ? out.train : out.valid;
    d.labels.push_back(x.label);
    d.features.insert(d.features.end(), x.features.begin(), x.features.begin() + slots);
    (train ? out.train_users : out.valid_users).push_back(x.user);
    (train ? out.train_open_ms : out.valid_open_ms).push_back(x.decided_ms - x.ts_ms);
    std::vector<float>& base = train ? out.train_base : out.valid_base;
    for (int i = 0; i < kBaselineInputs; ++i) {
      base.push_back(std::bit_cast<float>(
          static_cast<uint32_t>(x.features[static_cast<size_t>(slots + i)])));
    }
  };
  for (size_t i = 0; i < table.size(); ++i) {
    const JoinEvent e{table.user[i], table.item[i], table.type[i], table.ts_ms[i],
                      table.value[i]};
    joiner.Add(e, emit);  // before Apply: the anchor's features are the state before its event
    state.Apply(e.user, e.item, e.type, e.ts_ms, e.value);
    if (e.type == EventType::kBuy && e.item != kNoId) {
      const float price = catalog.Get(e.item).price;
      if (!std::isnan(price)) spent[e.user] += price * std::max(1.0f, e.value);
    }
    if (options.progress && (i & 0xffff) == 0xffff) options.progress(i + 1, table.size());
  }
  if (options.progress) options.progress(table.size(), table.size());
  out.joiner = joiner.stats();
  if (out.train.size() + out.valid.size() == 0) {
    return Status::InvalidArgument(std::string("no ") + ShopTargetName(options.target) +
                                   " example could be built: the target needs " +
                                   TargetNeeds(options.target));
  }
  if (!spec->frozen()) {
    if (out.train.size() == 0) {
      return Status::InvalidArgument(std::string("no ") + ShopTargetName(options.target) +
                                     " example falls before the split time; lower --holdout");
    }
    FRESHET_RETURN_IF_ERROR(spec->Freeze(out.train.features));
    spec->Finalize(out.train.features);
    spec->Finalize(out.valid.features);
  }
  return out;
}

Status SaveShopModel(const std::string& path, const CtrModel& model, const FeatureSpec& spec,
                     const ShopModelMeta& meta) {
  return model.SaveWith(path, [&](model::ModelWriter& w) {
    w.PutBytes("shop.target", ShopTargetName(meta.target));
    const std::vector<int64_t> windows = {meta.windows.click_window_ms, meta.windows.cart_window_ms,
                                          meta.windows.buy_window_ms};
    w.PutI64("shop.windows", windows);
    const std::vector<int64_t> split = {meta.split_ms};
    w.PutI64("shop.split", split);
    const std::vector<double> holdout = {meta.holdout};
    w.PutF64("shop.holdout", holdout);
    const std::vector<int64_t> items = {static_cast<int64_t>(meta.num_items),
                                        std::bit_cast<int64_t>(meta.item_fingerprint)};
    w.PutI64("shop.store_items", items);
    if (!meta.buy_delays_ms.empty()) w.PutI64("shop.buy_delays", meta.buy_delays_ms);
    spec.Save(w);
  });
}

Status CheckShopModelMatchesStore(const ShopModelMeta& meta, const store::EventStore& store,
                                  const std::string& path) {
  if (meta.num_items == 0) return Status::OK();
  if (meta.num_items > store.counts().items ||
      model::ItemFingerprint(store, meta.num_items) != meta.item_fingerprint) {
    return Status::FailedPrecondition("model file '" + path + "' was trained on other data (" +
                                      std::to_string(meta.num_items) +
                                      " items): its item ids do not match the store in " +
                                      store.dir());
  }
  return Status::OK();
}

Result<LoadedShopModel> LoadShopModel(const std::string& path, CtrModel::CopyFor use) {
  FRESHET_ASSIGN_OR_RETURN(model::ModelReader r, model::ModelReader::Open(path));
  if (!r.Has("shop.target")) {
    return Status::InvalidArgument("model file '" + path +
                                   "' is not a shop ranking model (train one with --task "
                                   "click|cart|buy)");
  }
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption("model file '" + path + "': " + what);
  };
  LoadedShopModel m;
  FRESHET_ASSIGN_OR_RETURN(std::string target, r.Bytes("shop.target"));
  auto t = ParseTarget(target);
  if (!t.ok()) return corrupt(t.status().message());
  m.meta.target = *t;
  FRESHET_ASSIGN_OR_RETURN(std::vector<int64_t> windows, r.I64("shop.windows"));
  FRESHET_ASSIGN_OR_RETURN(std::vector<int64_t> split, r.I64("shop.split"));
  FRESHET_ASSIGN_OR_RETURN(std::vector<double> holdout, r.F64("shop.holdout"));
  if (windows.size() != 3 || split.size() != 1 || holdout.size() != 1) {
    return corrupt("bad shop.windows / shop.split / shop.holdout");
  }
  m.meta.windows.click_window_ms = windows[0];
  m.meta.windows.cart_window_ms = windows[1];
  m.meta.windows.buy_window_ms = windows[2];
  m.meta.split_ms = split[0];
  m.meta.holdout = holdout[0];
  if (r.Has("shop.store_items")) {
    FRESHET_ASSIGN_OR_RETURN(std::vector<int64_t> items, r.I64("shop.store_items"));
    if (items.size() != 2 || items[0] < 0 || items[0] > int64_t{0xffffffff}) {
      return corrupt("bad shop.store_items");
    }
    m.meta.num_items = static_cast<uint32_t>(items[0]);
    m.meta.item_fingerprint = std::bit_cast<uint64_t>(items[1]);
  }
  if (r.Has("shop.buy_delays")) {
    FRESHET_ASSIGN_OR_RETURN(m.meta.buy_delays_ms, r.I64("shop.buy_delays"));
    const auto& q = m.meta.buy_delays_ms;
    if (q.size() != static_cast<size_t>(kBuyDelayQuantiles) || q.front() < 0 ||
        !std::is_sorted(q.begin(), q.end())) {
      return corrupt("bad shop.buy_delays (64 ascending non-negative delays)");
    }
  }
  FRESHET_ASSIGN_OR_RETURN(m.spec, FeatureSpec::Load(r));
  FRESHET_ASSIGN_OR_RETURN(m.model, CtrModel::LoadFrom(r, use));
  if (m.model->num_fields() != m.spec.num_slots()) {
    return corrupt("the model has " + std::to_string(m.model->num_fields()) +
                   " fields, its spec " + std::to_string(m.spec.num_slots()));
  }
  return m;
}

std::vector<int64_t> BuyDelayQuantiles(std::span<const int64_t> open_ms,
                                       std::span<const float> labels) {
  std::vector<int64_t> delays;
  for (size_t i = 0; i < labels.size() && i < open_ms.size(); ++i) {
    if (labels[i] > 0.5f) delays.push_back(std::max<int64_t>(0, open_ms[i]));
  }
  if (delays.empty()) return {};
  std::sort(delays.begin(), delays.end());
  std::vector<int64_t> q(kBuyDelayQuantiles);
  for (int k = 0; k < kBuyDelayQuantiles; ++k) {
    // The smallest delay with at least (k + 1) / n of the purchases at or below it.
    const size_t rank = (static_cast<size_t>(k + 1) * delays.size() + kBuyDelayQuantiles - 1) /
                        kBuyDelayQuantiles;
    q[static_cast<size_t>(k)] = delays[std::max<size_t>(rank, 1) - 1];
  }
  return q;
}

float ConditionOnAge(float p, std::span<const int64_t> delay_quantiles, int64_t age_ms) {
  if (delay_quantiles.empty() || age_ms <= 0) return p;
  const size_t n = delay_quantiles.size();
  // F(age): linear between the quantiles, from (0, 0).
  const size_t k = static_cast<size_t>(
      std::upper_bound(delay_quantiles.begin(), delay_quantiles.end(), age_ms) -
      delay_quantiles.begin());
  if (k == n) return 0.0f;
  const double lo = k > 0 ? static_cast<double>(delay_quantiles[k - 1]) : 0.0;
  const double hi = static_cast<double>(delay_quantiles[k]);
  const double within = hi > lo ? (static_cast<double>(age_ms) - lo) / (hi - lo) : 1.0;
  const double f = (static_cast<double>(k) + std::clamp(within, 0.0, 1.0)) / static_cast<double>(n);
  const double denominator = 1.0 - p * f;
  return denominator > 0 ? static_cast<float>(p * (1.0 - f) / denominator) : 0.0f;
}

bool LogisticBaseline::Fit(std::span<const float> inputs, std::span<const float> labels,
                           const std::vector<int>& columns) {
  columns_ = columns;
  const size_t d = columns.size();
  const size_t n = labels.size();
  double pos = 0;
  for (float y : labels) pos += y;
  if (pos == 0 || pos == static_cast<double>(n)) return false;
  mean_.assign(d, 0);
  scale_.assign(d, 1);
  for (size_t j = 0; j < d; ++j) {
    double s = 0, sq = 0;
    for (size_t i = 0; i < n; ++i) s += inputs[i * kBaselineInputs + static_cast<size_t>(columns[j])];
    mean_[j] = s / static_cast<double>(n);
    for (size_t i = 0; i < n; ++i) {
      const double v = inputs[i * kBaselineInputs + static_cast<size_t>(columns[j])] - mean_[j];
      sq += v * v;
    }
    const double sd = std::sqrt(sq / static_cast<double>(n));
    scale_[j] = sd > 1e-12 ? 1.0 / sd : 1.0;
  }
  const size_t p = d + 1;
  w_.assign(p, 0);
  w_[d] = std::log(pos / (static_cast<double>(n) - pos));
  std::vector<double> x(p), grad(p), hess(p * p);
  const double l2 = 1e-3 * static_cast<double>(n) / 1000.0;  // mild, scales with n
  for (int iter = 0; iter < 25; ++iter) {
    std::fill(grad.begin(), grad.end(), 0.0);
    std::fill(hess.begin(), hess.end(), 0.0);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < d; ++j) {
        x[j] = (inputs[i * kBaselineInputs + static_cast<size_t>(columns[j])] - mean_[j]) *
               scale_[j];
      }
      x[d] = 1;
      double z = 0;
      for (size_t j = 0; j < p; ++j) z += w_[j] * x[j];
      const double q = 1 / (1 + std::exp(-z));
      const double g = q - labels[i];
      const double h = std::max(q * (1 - q), 1e-9);
      for (size_t j = 0; j < p; ++j) {
        grad[j] += g * x[j];
        for (size_t k = 0; k <= j; ++k) hess[j * p + k] += h * x[j] * x[k];
      }
    }
    for (size_t j = 0; j < p; ++j) {
      for (size_t k = 0; k < j; ++k) hess[k * p + j] = hess[j * p + k];
      if (j < d) {
        grad[j] += l2 * w_[j];
        hess[j * p + j] += l2;
      }
    }
    // Solve hess * step = grad by Gaussian elimination with partial pivoting (p <= 11).
    std::vector<double> a = hess, b = grad;
    for (size_t c = 0; c < p; ++c) {
      size_t piv = c;
      for (size_t r = c + 1; r < p; ++r) {
        if (std::abs(a[r * p + c]) > std::abs(a[piv * p + c])) piv = r;
      }
      if (std::abs(a[piv * p + c]) < 1e-12) continue;
      if (piv != c) {
        for (size_t k = 0; k < p; ++k) std::swap(a[c * p + k], a[piv * p + k]);
        std::swap(b[c], b[piv]);
      }
      for (size_t r = c + 1; r < p; ++r) {
        const double f = a[r * p + c] / a[c * p + c];
        for (size_t k = c; k < p; ++k) a[r * p + k] -= f * a[c * p + k];
        b[r] -= f * b[c];
      }
    }
    double moved = 0;
    for (size_t c = p; c-- > 0;) {
      if (std::abs(a[c * p + c]) < 1e-12) continue;
      double v = b[c];
      for (size_t k = c + 1; k < p; ++k) v -= a[c * p + k] * b[k];
      b[c] = v / a[c * p + c];
    }
    for (size_t j = 0; j < p; ++j) {
      w_[j] -= b[j];
      moved = std::max(moved, std::abs(b[j]));
    }
    if (moved < 1e-6) break;
  }
  return true;
}

void LogisticBaseline::Predict(std::span<const float> inputs, std::span<float> out) const {
  const size_t d = columns_.size();
  for (size_t i = 0; i < out.size(); ++i) {
    double z = w_.empty() ? 0 : w_[d];
    for (size_t j = 0; j < d; ++j) {
      z += w_[j] * (inputs[i * kBaselineInputs + static_cast<size_t>(columns_[j])] - mean_[j]) *
           scale_[j];
    }
    out[i] = static_cast<float>(1 / (1 + std::exp(-z)));
  }
}

}  // namespace freshet::rank
