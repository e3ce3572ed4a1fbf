#pragma once

// ShopRanker: the shop-side ranking models at serving time. Bundles up to three trained models
// (click: impression -> click/view, cart: cart add -> bought, buy: impression -> buy; see
// label_joiner.h), each with the feature spec and frozen statistics it was trained with, and
// scores candidate items for a user from the live feature::FeatureState and a ShopCatalog.
//
// Threading and lifetime
//  - Score, CartConversion, Explain, Features and every accessor are const and may run from many
//    threads at once, on one ShopRanker, while other threads Apply events to the FeatureState
//    (FeatureState is itself thread-safe). Per-call scratch is caller-owned (Scratch: one per
//    thread, reused across calls; it allocates only while growing).
//  - Learn mutates the weights and is NOT safe with any other call on the same object. The
//    online learner therefore follows the retrieval learner's pattern (src/serve/
//    service_online.cc): keep the published ranker in a std::shared_ptr<const ShopRanker>, Clone
//    it once into a private learner, Learn on the learner, publish a Clone(kServing) of it with
//    an atomic shared_ptr swap; readers that loaded the old pointer finish on it. Clone copies
//    all weights (a few MB per model); a serving copy keeps bare embedding rows (no optimizer
//    moments), and Learn on it skips its models.
//  - The ShopCatalog and FeatureState passed to a call are borrowed for that call only. Build a
//    new ShopCatalog and swap it (shared_ptr) to add items; an item id beyond the catalog is
//    scored with unknown category / brand / price.
//
// Online updates and new feature ids: a model's FeatureMap starts as training left it (frequency
// admission over the training set). Learn counts the ids of the examples it learns and admits
// those seen the model's min_count times (a new user, item or cross), giving them a row of their
// own that starts from their field's shared rare row, through which they were scored and learned
// until then; with expiry on, ids unseen for a while give their rows back. The learner's private
// copy grows; published copies are clones of it.

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "core/status.h"
#include "feature/feature_state.h"
#include "rank/ctr_model.h"
#include "rank/feature_spec.h"
#include "rank/shop_catalog.h"
#include "rank/label_joiner.h"

namespace freshet::store {
class EventStore;
}  // namespace freshet::store

namespace freshet::rank {

struct ShopScores {
  // NaN when the ranker has no model of that target (has(target) is false).
  float p_click = std::numeric_limits<float>::quiet_NaN();
  float p_cart = std::numeric_limits<float>::quiet_NaN();  // if carted now, that it is bought
  float p_buy = std::numeric_limits<float>::quiet_NaN();   // that the impression ends in a buy
};

struct CartReport {
  // Probability that at least one item of the cart is bought within the cart model's window:
  // 1 - prod(1 - p_i), the items treated as independent. 0 for an empty cart.
  float p_converts = 0;
  struct Line {
    ItemId item = kNoId;
    int64_t added_ms = 0;  // when it was (last) carted
    float p_buy = 0;       // the probability that this line is bought within the cart window,
                           // given that it has been open since added_ms
  };
  std::vector<Line> items;  // the user's current cart, oldest add first
};

struct Contribution {
  std::string feature;  // "field=value", e.g. "category=c:7f3a...", "price=[12.5,20)"
  float value = 0;      // contribution to the logit (linear weight + FM pairwise share)
};

struct LearnReport {
  uint64_t examples[kNumShopTargets] = {};  // learned, per target
  uint64_t skipped = 0;    // examples of a target without a model, or with a wrong feature count
  uint64_t admitted = 0;   // feature ids that got a row of their own (online admission)
  uint64_t expired = 0;    // feature ids whose row was freed (age expiry)
  double mean_loss = 0;    // logloss before each step, over the learned examples
};

class ShopRanker {
 public:
  // Per-thread scratch for the const calls. Not shareable between concurrent calls.
  struct Scratch {
    std::vector<uint64_t> ids;
    std::vector<uint32_t> rows;
    std::vector<float> logits;
    SpecScratch spec;
  };

  // Loads 1 to 3 model files written by `freshet train --task click|cart|buy`, at most one per
  // target. NotFound / Corruption naming the file; InvalidArgument when two files have the same
  // target, or a file is not a shop ranking model (e.g. a --task ctr or retrieval model).
  // `use`: kServing for a ranker that is only read (see Clone).
  static Result<std::unique_ptr<ShopRanker>> Load(
      const std::vector<std::string>& paths,
      CtrModel::CopyFor use = CtrModel::CopyFor::kLearning);
  ~ShopRanker();
  ShopRanker(const ShopRanker&) = delete;
  ShopRanker& operator=(const ShopRanker&) = delete;

  // OK when every model was trained on `store` (user and item ids are its dense ids);
  // FailedPrecondition naming the file otherwise. Serving calls it after Load.
  Status CheckStore(const store::EventStore& store) const;

  bool has(ShopTarget target) const;
  // The files the models came from, "click:PATH cart:PATH ...", for model_version labels.
  const std::string& label() const { return label_; }
  // The label windows the models were trained with (from their files), `enabled` only for the
  // targets with a model, allowed lateness 0: build the online LabelJoiner from these, adding the
  // lateness you need.
  LabelJoinerOptions joiner_options() const;

  // Probabilities of every item in `items` for `user`. REQUIRES: out.size() == items.size().
  // Const; thread-safe (see the top of this file).
  void Score(const feature::FeatureState& state, const ShopCatalog& catalog, UserId user,
             std::span<const ItemId> items, const ShopContext& context, Scratch& scratch,
             std::span<ShopScores> out) const;

  // The user's current cart (from the FeatureState) scored by the cart model: each line as the
  // features of a fresh cart add now, with the rest of the cart as context, then conditioned on
  // the line's age (context.now_ms - added_ms: still open that long; ConditionOnAge with the
  // model's buy delays), so an old, abandoned line scores low. FailedPrecondition
  // without a cart model. An unknown user or an empty cart gives an empty report. Thread-safe.
  Status CartConversion(const feature::FeatureState& state, const ShopCatalog& catalog,
                        UserId user, const ShopContext& context, Scratch& scratch,
                        CartReport* out) const;

  // The top-k features by |contribution| to the logit of `target` for (user, item): FTRL: each
  // active feature's weight; FM / DeepFM: linear weight + half of its pairwise FM terms with the
  // other fields (the deep part is not attributed); DCN-v2: its linear part is absent, so
  // InvalidArgument. FailedPrecondition without a model of `target`. *bias gets the bias term
  // (may be null). Thread-safe.
  Status Explain(const feature::FeatureState& state, const ShopCatalog& catalog, UserId user,
                 ItemId item, const ShopContext& context, ShopTarget target, size_t k,
                 std::vector<Contribution>* out, float* bias = nullptr) const;

  // The features of an anchor for `target` as the model of that target builds them, for the
  // online LabelJoiner's Featurize; empty when there is no such model. Call BEFORE applying the
  // anchor event to `state`. Thread-safe.
  void Features(const feature::FeatureState& state, const ShopCatalog& catalog,
                const JoinEvent& anchor, ShopTarget target, std::vector<uint64_t>* out) const;

  // An independent copy (weights, maps, specs). Thread-safe with the const calls.
  // A copy of every model (CtrModel::Clone): kLearning for the learner's private copy, kServing
  // for a copy that is only published and read (bare embedding rows, a third of the memory).
  std::unique_ptr<ShopRanker> Clone(CtrModel::CopyFor use = CtrModel::CopyFor::kLearning) const;

  // The file the model of `target` was loaded from (kept by Clone); empty without that model.
  const std::string& path(ShopTarget target) const;
  // Writes the model of `target`, as learned so far, to `path` in the format of `freshet train
  // --task click|cart|buy` (spec, windows and store fingerprint included), so that Load reads it
  // back as the same model: the online snapshots of serving. FailedPrecondition without that
  // model; IOError naming the path. Thread-safe with the const calls.
  Status Save(ShopTarget target, const std::string& path) const;

  // Whether Learn can update every model: false when one is quantized for serving (`freshet
  // quantize`; CtrModel::can_learn), and then *why (may be null) names its file and precision.
  // Serving skips online rank learning for such a ranker. Thread-safe.
  bool can_learn(std::string* why = nullptr) const;

  // One online step per example on its target's model (FTRL: a proximal step per example;
  // FM / DeepFM / DCN-v2: one Adam batch per target over the examples given). Examples of a
  // target without a model, or whose model cannot learn (quantized), are skipped. Feature ids
  // are admitted online as offline (CtrModel::ObserveOnline: a row of their own once seen the
  // model's min_count times, starting from their field's rare row); with `expire_after_ms` > 0,
  // ids unseen for that long in event time lose their row again (CtrModel::ExpireOnline). NOT
  // thread-safe: only on a private Clone.
  LearnReport Learn(std::span<const JoinedExample> examples, int64_t expire_after_ms = 0);

 private:
  struct Part;  // one target's model, spec and featurizer (shop_ranker.cc)
  ShopRanker();
  const Part* part(ShopTarget target) const { return parts_[static_cast<int>(target)].get(); }

  std::unique_ptr<Part> parts_[kNumShopTargets];
  std::string label_;
};

}  // namespace freshet::rank
