#include "rank/shop_ranker.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "rank/ctr_model.h"
#include "rank/dataset.h"
#include "rank/shop_samples.h"

namespace freshet::rank {

const ShopItemInfo ShopCatalog::kUnknown{};

uint64_t ShopCatalog::Key(std::string_view text) {
  if (text.empty()) return 0;
  // HashFeature's 56-bit hash of the string under a field no spec column uses (255), so that
  // the key is stable across runs and machines.
  return HashFeature(kMaxFields - 1, text) & ((uint64_t{1} << kFieldShift) - 1);
}

void ShopCatalog::Set(ItemId id, std::string_view category, std::string_view brand, double price,
                      int64_t stock) {
  if (id == kNoId) return;
  if (id >= items_.size()) items_.resize(static_cast<size_t>(id) + 1);
  ShopItemInfo& info = items_[id];
  info.category = Key(category);
  info.brand = Key(brand);
  info.price = price >= 0 ? static_cast<float>(price) : std::numeric_limits<float>::quiet_NaN();
  info.stock = stock;
}

struct ShopRanker::Part {
  std::unique_ptr<CtrModel> model;
  FeatureSpec spec;
  ShopModelMeta meta;
  std::string path;

  // Ids then rows of one sample per key into the scratch (appended at sample `i`).
  void Encode(const feature::FeatureState& state, const ShopCatalog& catalog, const SampleKey& key,
              size_t i, ShopRanker::Scratch& scratch, SpecScratch& spec_scratch) const {
    const size_t f = static_cast<size_t>(spec.num_slots());
    spec.Build(state, catalog, key, spec_scratch,
               std::span<uint64_t>(scratch.ids.data() + i * f, f));
    // The user's features repeat from one candidate to the next: look each new id up once.
    const uint64_t* ids = scratch.ids.data() + i * f;
    uint32_t* rows = scratch.rows.data() + i * f;
    for (size_t j = 0; j < f; ++j) {
      const bool repeated = i > 0 && ids[j] == scratch.ids[(i - 1) * f + j];
      rows[j] = repeated ? scratch.rows[(i - 1) * f + j] : model->RowOf(ids[j]);
    }
  }
};

namespace {

float* Slot(ShopScores& s, ShopTarget t) {
  switch (t) {
    case ShopTarget::kClick:
      return &s.p_click;
    case ShopTarget::kCart:
      return &s.p_cart;
    case ShopTarget::kBuy:
      return &s.p_buy;
  }
  return &s.p_click;
}

}  // namespace

ShopRanker::ShopRanker() = default;
ShopRanker::~ShopRanker() = default;

Result<std::unique_ptr<ShopRanker>> ShopRanker::Load(const std::vector<std::string>& paths,
                                                     CtrModel::CopyFor use) {
  if (paths.empty() || paths.size() > kNumShopTargets) {
    return Status::InvalidArgument("a shop ranker takes 1 to 3 model files (click, cart, buy)");
  }
  std::unique_ptr<ShopRanker> r(new ShopRanker());
  for (const std::string& path : paths) {
    FRESHET_ASSIGN_OR_RETURN(LoadedShopModel m, LoadShopModel(path, use));
    const int t = static_cast<int>(m.meta.target);
    if (r->parts_[t] != nullptr) {
      return Status::InvalidArgument("model files '" + r->parts_[t]->path + "' and '" + path +
                                     "' are both " + ShopTargetName(m.meta.target) + " models");
    }
    auto part = std::make_unique<Part>();
    part->model = std::move(m.model);
    part->spec = std::move(m.spec);
    part->meta = m.meta;
    part->path = path;
    r->parts_[t] = std::move(part);
  }
  for (int t = 0; t < kNumShopTargets; ++t) {
    if (r->parts_[t] == nullptr) continue;
    if (!r->label_.empty()) r->label_ += ' ';
    r->label_ += std::string(ShopTargetName(static_cast<ShopTarget>(t))) + ":" + r->parts_[t]->path;
  }
  return r;
}

Status ShopRanker::CheckStore(const store::EventStore& store) const {
  for (const auto& p : parts_) {
    if (p != nullptr) FRESHET_RETURN_IF_ERROR(CheckShopModelMatchesStore(p->meta, store, p->path));
  }
  return Status::OK();
}

bool ShopRanker::has(ShopTarget target) const { return part(target) != nullptr; }

LabelJoinerOptions ShopRanker::joiner_options() const {
  LabelJoinerOptions o;
  for (int t = 0; t < kNumShopTargets; ++t) {
    const Part* p = parts_[t].get();
    o.enabled[t] = p != nullptr;
    if (p == nullptr) continue;
    switch (static_cast<ShopTarget>(t)) {
      case ShopTarget::kClick:
        o.click_window_ms = p->meta.windows.click_window_ms;
        break;
      case ShopTarget::kCart:
        o.cart_window_ms = p->meta.windows.cart_window_ms;
        break;
      case ShopTarget::kBuy:
        o.buy_window_ms = p->meta.windows.buy_window_ms;
        break;
    }
  }
  return o;
}

void ShopRanker::Score(const feature::FeatureState& state, const ShopCatalog& catalog,
                       UserId user, std::span<const ItemId> items, const ShopContext& context,
                       Scratch& scratch, std::span<ShopScores> out) const {
  for (ShopScores& s : out) s = ShopScores{};
  SpecScratch& spec_scratch = scratch.spec;
  spec_scratch.BeginCall();  // one read of the user's state for all candidates and targets
  for (int t = 0; t < kNumShopTargets; ++t) {
    const Part* p = parts_[t].get();
    if (p == nullptr || items.empty()) continue;
    const auto target = static_cast<ShopTarget>(t);
    const size_t f = static_cast<size_t>(p->spec.num_slots());
    scratch.ids.resize(items.size() * f);
    scratch.rows.resize(items.size() * f);
    scratch.logits.resize(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      // A cart model scores "carted now": its anchors (cart adds) have no page position.
      float position = context.position > 0 ? context.position : static_cast<float>(i + 1);
      if (target == ShopTarget::kCart) position = 0;
      p->Encode(state, catalog, {user, items[i], context.now_ms, position}, i, scratch,
                spec_scratch);
    }
    p->model->PredictEncoded(scratch.rows.data(), items.size(), scratch.logits);
    for (size_t i = 0; i < items.size(); ++i) *Slot(out[i], target) = scratch.logits[i];
  }
  spec_scratch.EndCall();
}

Status ShopRanker::CartConversion(const feature::FeatureState& state, const ShopCatalog& catalog,
                                  UserId user, const ShopContext& context, Scratch& scratch,
                                  CartReport* out) const {
  out->p_converts = 0;
  out->items.clear();
  const Part* p = part(ShopTarget::kCart);
  if (p == nullptr) return Status::FailedPrecondition("no cart model is loaded");
  std::vector<feature::FeatureState::CartLine> cart;
  state.Cart(user, &cart);
  if (cart.empty()) return Status::OK();
  const size_t f = static_cast<size_t>(p->spec.num_slots());
  scratch.ids.resize(cart.size() * f);
  scratch.rows.resize(cart.size() * f);
  scratch.logits.resize(cart.size());
  SpecScratch& spec_scratch = scratch.spec;
  spec_scratch.BeginCall();
  for (size_t i = 0; i < cart.size(); ++i) {
    p->Encode(state, catalog, {user, cart[i].item, context.now_ms, 0.0f}, i, scratch,
              spec_scratch);
  }
  spec_scratch.EndCall();
  p->model->PredictEncoded(scratch.rows.data(), cart.size(), scratch.logits);
  double none = 1;
  for (size_t i = 0; i < cart.size(); ++i) {
    // The model's probability is for a fresh add; a line still open after a day is less likely
    // to be bought (most purchases come soon after the add): condition on its age.
    const float p_buy = ConditionOnAge(scratch.logits[i], p->meta.buy_delays_ms,
                                       context.now_ms - cart[i].added_ms);
    out->items.push_back({cart[i].item, cart[i].added_ms, p_buy});
    none *= 1.0 - p_buy;
  }
  out->p_converts = static_cast<float>(1.0 - none);
  return Status::OK();
}

Status ShopRanker::Explain(const feature::FeatureState& state, const ShopCatalog& catalog,
                           UserId user, ItemId item, const ShopContext& context,
                           ShopTarget target, size_t k, std::vector<Contribution>* out,
                           float* bias) const {
  out->clear();
  const Part* p = part(target);
  if (p == nullptr) {
    return Status::FailedPrecondition(std::string("no ") + ShopTargetName(target) +
                                      " model is loaded");
  }
  const size_t f = static_cast<size_t>(p->spec.num_slots());
  Scratch scratch;
  scratch.ids.resize(f);
  scratch.rows.resize(f);
  const float position =
      target == ShopTarget::kCart ? 0.0f : (context.position > 0 ? context.position : 1.0f);
  p->Encode(state, catalog, {user, item, context.now_ms, position}, 0, scratch, scratch.spec);
  std::vector<float> contributions(f);
  FRESHET_RETURN_IF_ERROR(p->model->ExplainRows(scratch.rows.data(), contributions, bias));
  std::vector<size_t> order(f);
  for (size_t i = 0; i < f; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const float x = std::abs(contributions[a]), y = std::abs(contributions[b]);
    return x != y ? x > y : a < b;
  });
  for (size_t i = 0; i < std::min(k, f); ++i) {
    const size_t slot = order[i];
    out->push_back({p->spec.Describe(static_cast<int>(slot), scratch.ids[slot]),
                    contributions[slot]});
  }
  return Status::OK();
}

void ShopRanker::Features(const feature::FeatureState& state, const ShopCatalog& catalog,
                          const JoinEvent& anchor, ShopTarget target,
                          std::vector<uint64_t>* out) const {
  out->clear();
  const Part* p = part(target);
  if (p == nullptr) return;
  out->resize(static_cast<size_t>(p->spec.num_slots()));
  const float position = anchor.type == EventType::kImpression ? anchor.value : 0.0f;
  SpecScratch spec_scratch;
  p->spec.Build(state, catalog, {anchor.user, anchor.item, anchor.ts_ms, position}, spec_scratch,
                *out);
}

std::unique_ptr<ShopRanker> ShopRanker::Clone(CtrModel::CopyFor use) const {
  std::unique_ptr<ShopRanker> r(new ShopRanker());
  r->label_ = label_;
  for (int t = 0; t < kNumShopTargets; ++t) {
    const Part* p = parts_[t].get();
    if (p == nullptr) continue;
    auto copy = std::make_unique<Part>();
    auto model = p->model->Clone(use);
    // Clone re-reads what WriteEntries wrote in memory; it fails only on a broken invariant.
    assert(model.ok());
    copy->model = std::move(*model);
    copy->spec = p->spec;
    copy->meta = p->meta;
    copy->path = p->path;
    r->parts_[t] = std::move(copy);
  }
  return r;
}

const std::string& ShopRanker::path(ShopTarget target) const {
  static const std::string kNone;
  const Part* p = part(target);
  return p != nullptr ? p->path : kNone;
}

Status ShopRanker::Save(ShopTarget target, const std::string& path) const {
  const Part* p = part(target);
  if (p == nullptr) {
    return Status::FailedPrecondition(std::string("the ranker has no ") + ShopTargetName(target) +
                                      " model to save");
  }
  return SaveShopModel(path, *p->model, p->spec, p->meta);
}

bool ShopRanker::can_learn(std::string* why) const {
  for (const auto& p : parts_) {
    if (p == nullptr || p->model->can_learn()) continue;
    if (why != nullptr) {
      *why = "model file '" + p->path + "' (" + ShopTargetName(p->meta.target) +
             ") is quantized to " + std::string(PrecisionName(p->model->embed_precision())) +
             " for serving";
    }
    return false;
  }
  return true;
}

LearnReport ShopRanker::Learn(std::span<const JoinedExample> examples, int64_t expire_after_ms) {
  LearnReport report;
  double loss = 0;
  uint64_t learned = 0;
  std::vector<uint32_t> rows;
  std::vector<float> labels;
  for (int t = 0; t < kNumShopTargets; ++t) {
    Part* p = parts_[t].get();
    rows.clear();
    labels.clear();
    int64_t newest_ms = 0;
    for (const JoinedExample& x : examples) {
      if (static_cast<int>(x.target) != t) continue;
      if (p == nullptr || x.features.size() != static_cast<size_t>(p->spec.num_slots())) {
        ++report.skipped;
        continue;
      }
      // Admission counts sightings in event time (seconds of the deciding event), the clock of
      // expiry. A quantized model or a serving copy only looks its rows up (it skips the step
      // below).
      const size_t at = rows.size();
      rows.resize(at + x.features.size());
      const std::span<uint32_t> out(rows.data() + at, x.features.size());
      const uint64_t step = static_cast<uint64_t>(std::max<int64_t>(1, x.decided_ms / 1000));
      Result<size_t> admitted = p->model->learns_in_place()
                                    ? p->model->ObserveOnline(x.features, step, out)
                                    : Result<size_t>(size_t{0});
      if (!admitted.ok()) {  // a table that cannot grow: learn through the rows it has
        for (size_t j = 0; j < out.size(); ++j) out[j] = p->model->RowOf(x.features[j]);
      } else {
        report.admitted += *admitted;
      }
      newest_ms = std::max(newest_ms, x.decided_ms);
      labels.push_back(x.label);
    }
    if (p != nullptr && expire_after_ms > 0 && newest_ms > 0 && p->model->learns_in_place()) {
      report.expired += p->model->ExpireOnline(static_cast<uint64_t>(newest_ms / 1000),
                                               static_cast<uint64_t>(expire_after_ms / 1000));
    }
    if (labels.empty()) continue;
    const Result<double> step = p->model->LearnEncoded(rows.data(), labels);
    if (!step.ok()) {  // a quantized model or a serving copy: it serves only
      report.skipped += labels.size();
      continue;
    }
    loss += *step;
    report.examples[t] += labels.size();
    learned += labels.size();
  }
  report.mean_loss = learned > 0 ? loss / static_cast<double>(learned) : 0;
  return report;
}

}  // namespace freshet::rank
