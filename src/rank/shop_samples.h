#pragma once

// Shop ranking samples from the store's history, point-in-time correct, and the shop model file.
//
// BuildShopSamples replays an event table in event-time order through one feature::FeatureState
// and one LabelJoiner: at each event the joiner is fed first (an anchor's features are built by
// FeatureSpec::Build from the state BEFORE the event is applied, the same call the online learner
// makes through ShopRanker::Features), then the state applies it. Decided examples whose anchor
// lies before the split time train, the rest validate (a temporal split: the last `holdout`
// fraction of the time span). Anchors whose label window reaches past the last event are left out
// (right-censored: only their positives could be decided).
//
// Beside the spec's features every sample carries a few dense baseline inputs taken from the same
// pre-event state (recency / frequency / monetary of the user, the cart, the item's popularity and
// click rate, the page position), for the baselines `freshet eval` reports (LogisticBaseline).

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "feature/feature_state.h"
#include "rank/ctr_model.h"
#include "rank/dataset.h"
#include "rank/feature_spec.h"
#include "rank/label_joiner.h"
#include "rank/shop_catalog.h"
#include "store/event_table.h"

namespace freshet::store {
class EventStore;
}  // namespace freshet::store

namespace freshet::store {
class EventStore;
}

namespace freshet::rank {

// Every item of the store's catalog. IOError / Corruption from the store.
Result<ShopCatalog> LoadShopCatalog(const store::EventStore& store);

// The dense baseline inputs of a sample (kBaselineInputs floats, at anchor time):
//   0 log1p(seconds since the user's last buy; 1e8 when none)   1 log1p(user's buys)
//   2 log1p(money spent: price x quantity of the user's buys)    3 items in the cart (others)
//   4 log1p(value of the cart, the item excluded)               5 log1p(seconds since the user's
//   previous event; 1e8 when none)                              6 log1p(item decayed popularity)
//   7 item click rate (clicks + 1) / (impressions + 25)         8 1 / page position (0 unknown)
//   9 log1p(item price; 0 unknown)
inline constexpr int kBaselineInputs = 10;
// The inputs a target's baseline uses: cart: RFM + cart (0-5, 9); click and buy: popularity and
// position (6, 7, 8).
std::vector<int> BaselineColumns(ShopTarget target);
std::string BaselineName(ShopTarget target);

struct ShopSampleOptions {
  ShopTarget target = ShopTarget::kClick;
  LabelJoinerOptions joiner;  // windows; `enabled` is set from target
  // The last fraction of the history's time span validates; the rest trains. In [0, 1).
  double holdout = 0.2;
  // When > 0, the split time itself (eval uses the trained model's), overriding holdout.
  int64_t split_ms = 0;
  feature::FeatureOptions features;
  // Called every ~64k events on the calling thread: (events done, events total).
  std::function<void(size_t, size_t)> progress;
};

struct ShopSamples {
  CtrDataset train, valid;                        // final ids
  std::vector<uint64_t> train_users, valid_users;  // for GAUC
  std::vector<float> train_base, valid_base;       // [n, kBaselineInputs]
  // How long each example's anchor stayed open: from the anchor to the event that decided its
  // label (a cart add: to the buy, the removal or the end of the window).
  std::vector<int64_t> train_open_ms, valid_open_ms;
  int64_t first_ms = 0, last_ms = 0, split_ms = 0;
  LabelJoinerStats joiner;
  // Decided examples dropped because their label window reaches past the last event: only
  // positives get decided there, so they would bias the tail (the undecided ones are in
  // joiner.pending).
  uint64_t censored = 0;
};

// Replays `table` (REQUIRES: sorted by time, as LoadEventTable leaves it). When `spec` is not
// frozen it is frozen on the training samples. InvalidArgument when the table is empty, holdout
// is out of range, or no example of the target was decided (e.g. a log without impressions for
// click); the message says which events the target needs.
Result<ShopSamples> BuildShopSamples(const store::EventTable& table, const ShopCatalog& catalog,
                                     FeatureSpec* spec, const ShopSampleOptions& options);

// What a shop model file carries besides the CTR model and the spec.
struct ShopModelMeta {
  ShopTarget target = ShopTarget::kClick;
  LabelJoinerOptions windows;  // the label windows it was trained with
  int64_t split_ms = 0;        // the temporal split of its training run
  double holdout = 0;
  // The store it was trained on: its item count then and model::ItemFingerprint over them. User
  // and item ids are the store's dense ids, so a model served over another store would score
  // the wrong users and items without a word. 0 items: not recorded (nothing is checked).
  uint32_t num_items = 0;
  uint64_t item_fingerprint = 0;
  // Cart models: the time from a cart add to its purchase, over the converted adds of training,
  // as kBuyDelayQuantiles quantiles (ascending; empty for other targets and older files). It turns
  // the model's probability at the add into the probability for a cart line that is still open
  // at its age (ConditionOnAge).
  std::vector<int64_t> buy_delays_ms;
};

inline constexpr int kBuyDelayQuantiles = 64;
// The kBuyDelayQuantiles quantiles of open_ms over the positive examples (labels > 0.5): entry k
// is the delay under which a fraction (k + 1) / kBuyDelayQuantiles of the purchases happened.
// Empty without positives.
std::vector<int64_t> BuyDelayQuantiles(std::span<const int64_t> open_ms,
                                       std::span<const float> labels);
// P(bought within the window | not bought, nor removed, after age_ms) from p = P(bought within
// the window) at the add, F the distribution of buy delays (quantiles as above):
// p (1 - F(age)) / (1 - p F(age)). p itself for empty quantiles or age <= 0; 0 once age passes the
// slowest purchase seen.
float ConditionOnAge(float p, std::span<const int64_t> delay_quantiles, int64_t age_ms);

// OK when `meta` was trained on `store` (or records no store); FailedPrecondition naming `path`
// and the store's directory otherwise.
Status CheckShopModelMatchesStore(const ShopModelMeta& meta, const store::EventStore& store,
                                  const std::string& path);

// Writes a shop model file atomically (docs/formats.md: the CTR entries plus "shop.*").
Status SaveShopModel(const std::string& path, const CtrModel& model, const FeatureSpec& spec,
                     const ShopModelMeta& meta);

struct LoadedShopModel {
  std::unique_ptr<CtrModel> model;
  FeatureSpec spec;
  ShopModelMeta meta;
};
// NotFound; InvalidArgument for a file that is not a shop model (a --task ctr or retrieval
// model); Corruption naming the path and entry otherwise. `use`: as CtrModel::LoadFrom.
Result<LoadedShopModel> LoadShopModel(const std::string& path,
                                      CtrModel::CopyFor use = CtrModel::CopyFor::kLearning);

// Logistic regression on a few standardised dense inputs (Newton's method with a small L2), the
// baselines of the shop ranking results.
class LogisticBaseline {
 public:
  // Fits on rows [n, kBaselineInputs] using `columns`. Returns false when the labels are all one
  // class.
  bool Fit(std::span<const float> inputs, std::span<const float> labels,
           const std::vector<int>& columns);
  void Predict(std::span<const float> inputs, std::span<float> out) const;

 private:
  std::vector<int> columns_;
  std::vector<double> mean_, scale_, w_;  // w_ last entry: intercept
};

}  // namespace freshet::rank
