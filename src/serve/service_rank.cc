// The shop ranker in serving: loading (--rank), the second stage of recommend, the
// probabilities of POST /v1/score, the cart endpoint, and online learning from joined labels.
//
// Online, the label joiner runs on the ingest path (Service::Ingest, in store sequence order,
// before each event is applied to the feature state, so an anchor's features are those the
// request path saw). Decided examples wait in rank_queue_; the learner thread (LearnStep in
// service_online.cc) learns them on a private Clone of the published ranker and every
// publish_ms publishes a serving Clone of that (bare embedding rows) as a new RankSet, swapped
// in under mu_. Readers only ever
// score with a published, never-changing ranker: no shared mutable weight, no data race.

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "core/json_writer.h"
#include "core/time.h"
#include "serve/catalog_view.h"
#include "serve/service.h"

namespace freshet::serve {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kRankLagRing = 4096;

std::string BaseName(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

constexpr rank::ShopTarget kTargets[] = {rank::ShopTarget::kClick, rank::ShopTarget::kCart,
                                         rank::ShopTarget::kBuy};

// "click:click.fmdl,buy:buy.fmdl": the targets the ranker has and their files' names, each file
// `loaded[i]` shown as `shown[i]` (a snapshot's files as the --rank files they came from).
std::string RankFilesLabel(const rank::ShopRanker& ranker, const std::vector<std::string>& loaded,
                           const std::vector<std::string>& shown) {
  std::string out;
  for (rank::ShopTarget t : kTargets) {
    if (!ranker.has(t)) continue;
    std::string path = ranker.path(t);
    for (size_t i = 0; i < loaded.size() && i < shown.size(); ++i) {
      if (loaded[i] == path) path = shown[i];
    }
    if (!out.empty()) out += ',';
    out += std::string(rank::ShopTargetName(t)) + ":" + BaseName(path);
  }
  return out;
}

double LagQuantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// A served ranker is only read: loaded as a serving copy, without the embedding tables' optimizer
// moments (the learner clones it back into learning form).
constexpr rank::CtrModel::CopyFor kServed = rank::CtrModel::CopyFor::kServing;

}  // namespace

// ---- loading

std::shared_ptr<const RankSet> Service::ranker() const {
  std::lock_guard lock(mu_);
  return rank_;
}

std::shared_ptr<RankSet> Service::MakeRankSet(const std::vector<std::string>& files,
                                               std::unique_ptr<rank::ShopRanker> ranker,
                                               const std::vector<std::string>& loaded_from,
                                               uint64_t version, std::string_view suffix) {
  auto set = std::make_shared<RankSet>();
  set->sources = files;
  set->version = set->lineage = version;
  set->files = RankFilesLabel(*ranker, loaded_from, files);
  set->label = fmt::format("r{} {}{}", version, set->files, suffix);
  set->ranker = std::shared_ptr<const rank::ShopRanker>(std::move(ranker));
  for (rank::ShopTarget t : kTargets) {
    const std::string& path = set->ranker->path(t);
    for (size_t i = 0; i < files.size() && i < loaded_from.size(); ++i) {
      if (!path.empty() && path == loaded_from[i]) set->source_of[static_cast<int>(t)] = files[i];
    }
  }
  return set;
}

std::unique_ptr<rank::LabelJoiner> Service::MakeJoiner(
    const std::shared_ptr<const RankSet>& set) {
  if (!options_.online.enabled) return nullptr;
  std::string frozen;
  if (!set->ranker->can_learn(&frozen)) {
    // A quantized ranker only serves: without a joiner no rank example is queued or learned.
    std::fprintf(stderr, "freshet serve: online rank learning is off: %s\n", frozen.c_str());
    return nullptr;
  }
  rank::LabelJoinerOptions jo = set->ranker->joiner_options();
  jo.allowed_lateness_ms = std::max<int64_t>(0, options_.online.rank_allowed_lateness_ms);
  for (rank::ShopTarget t : kTargets) jo.enabled[static_cast<int>(t)] = set->ranker->has(t);
  // Features come from this ranker: its clones share its feature specs, so the ids are the ones
  // every learned copy reads. The shop catalog never changes after Open.
  std::shared_ptr<const rank::ShopRanker> featurizer = set->ranker;
  std::shared_ptr<const rank::ShopCatalog> shop = catalog()->shop;
  return std::make_unique<rank::LabelJoiner>(
      jo, [this, featurizer, shop](const rank::JoinEvent& anchor, rank::ShopTarget target,
                                   std::vector<uint64_t>* out) {
        featurizer->Features(features_, *shop, anchor, target, out);
      });
}

Status Service::LoadRanker(const std::vector<std::string>& files) {
  auto loaded = rank::ShopRanker::Load(files, kServed);
  if (!loaded.ok()) return loaded.status().WithContext("--rank");
  FRESHET_RETURN_IF_ERROR((*loaded)->CheckStore(store_).WithContext("--rank"));
  std::vector<std::string> loaded_from = files;
  std::string_view suffix;
  // After a restart, the weights learned online up to the newest rank snapshot.
  if (auto snapshot = options_.online.enabled ? FindRankSnapshot(files) : std::nullopt) {
    auto restored = rank::ShopRanker::Load(snapshot->first, kServed);
    Status usable = restored.ok() ? (*restored)->CheckStore(store_) : restored.status();
    if (usable.ok()) {
      rank_restored_seq_ = snapshot->second;
      loaded_from = snapshot->first;
      suffix = " (restored from snapshot)";
      loaded = std::move(restored);
    } else {
      std::fprintf(stderr,
                   "freshet serve: rank snapshot not used (%s); starting from the --rank files\n",
                   usable.ToString().c_str());
    }
  }
  std::shared_ptr<RankSet> set =
      MakeRankSet(files, std::move(*loaded), loaded_from, rank_next_version_++, suffix);
  if (rank_restored_seq_) set->through_seq = *rank_restored_seq_;
  rank_snapshotted_ = set;
  joiner_ = MakeJoiner(set);
  std::lock_guard lock(mu_);
  rank_ = std::move(set);
  return Status::OK();
}

Result<std::pair<std::shared_ptr<const RankSet>, std::shared_ptr<const RankSet>>>
Service::ActivateRanker(const std::vector<std::string>& files, bool rollback) {
  std::shared_ptr<const RankSet> next;
  if (rollback) {
    std::lock_guard lock(mu_);
    if (!rank_previous_) return Status::FailedPrecondition("there is no previous ranker");
    next = rank_previous_;
  } else {
    auto loaded = rank::ShopRanker::Load(files, kServed);
    if (!loaded.ok()) return loaded.status();
    FRESHET_RETURN_IF_ERROR((*loaded)->CheckStore(store_));
    next = MakeRankSet(files, std::move(*loaded), files, rank_next_version_++, "");
  }
  // The joiner's open anchors carry the features of the ranker they were made for: a new ranker
  // starts a new joiner, and the examples waiting for the old one are dropped (counted).
  std::lock_guard ingest(ingest_mu_);
  joiner_ = MakeJoiner(next);
  size_t dropped = 0;
  {
    std::lock_guard lock(learn_mu_);
    dropped = rank_queue_.size();
    rank_queue_.clear();
  }
  rank_online_.dropped.fetch_add(dropped, std::memory_order_relaxed);
  rank_online_.pending_anchors.store(0, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  std::shared_ptr<const RankSet> before = rank_;
  rank_previous_ = rank_;
  rank_ = next;
  return std::make_pair(next, before);
}

// ---- the second stage

std::optional<Service::Objective> Service::ParseObjective(std::optional<std::string_view> text,
                                                          const RankSet* rank, std::string* why) {
  const rank::ShopRanker* r = rank != nullptr ? rank->ranker.get() : nullptr;
  const bool click = r != nullptr && r->has(rank::ShopTarget::kClick);
  const bool buy = r != nullptr && r->has(rank::ShopTarget::kBuy);
  if (!text) return click ? Objective::kClick : buy ? Objective::kBuy : Objective::kRetrieval;
  Objective o;
  bool needs_click = false, needs_buy = false;
  if (*text == "retrieval") {
    o = Objective::kRetrieval;
  } else if (*text == "click") {
    o = Objective::kClick, needs_click = true;
  } else if (*text == "buy") {
    o = Objective::kBuy, needs_buy = true;
  } else if (*text == "value") {
    o = Objective::kValue, needs_buy = true;
  } else {
    *why = "objective must be click, buy, value (p_buy x price) or retrieval, not '" +
           std::string(*text) + "'";
    return std::nullopt;
  }
  if ((needs_click && !click) || (needs_buy && !buy)) {
    *why = "objective=" + std::string(*text) + " needs a " + (needs_click ? "click" : "buy") +
           " ranking model; " +
           (r == nullptr ? std::string("none is loaded (freshet serve --rank FILE)")
                         : "the ranker has " + rank->files);
    return std::nullopt;
  }
  return o;
}

const char* Service::ObjectiveName(Objective objective) {
  switch (objective) {
    case Objective::kRetrieval: return "retrieval";
    case Objective::kClick: return "click";
    case Objective::kBuy: return "buy";
    case Objective::kValue: return "value";
  }
  return "retrieval";
}

void Service::WriteProbabilities(JsonWriter& w, const rank::ShopScores& p) {
  w.Key("p_click").Double(p.p_click);  // NaN -> null
  w.Key("p_cart").Double(p.p_cart);
  w.Key("p_buy").Double(p.p_buy);
}

rank::ShopContext Service::RankContext() const {
  rank::ShopContext c;
  // Event time: the newest event the state holds (what training's features saw as "now").
  c.now_ms = features_.clock_ms();
  // Every candidate as if shown first: the ranking compares items, not the slots they had.
  c.position = 1;
  return c;
}

void Service::RankItems(const RankSet& rank, Objective objective, bool fuse, UserId user,
                        const CatalogView& cat, std::vector<RankedItem>* items) const {
  if (items->empty()) return;
  thread_local rank::ShopRanker::Scratch scratch;
  thread_local std::vector<ItemId> ids;
  thread_local std::vector<rank::ShopScores> scores;
  ids.clear();
  for (const RankedItem& r : *items) ids.push_back(r.item);
  scores.assign(ids.size(), rank::ShopScores{});
  rank.ranker->Score(features_, *cat.shop, user, ids, RankContext(), scratch, scores);
  for (size_t j = 0; j < items->size(); ++j) {
    RankedItem& r = (*items)[j];
    r.p = scores[j];
    switch (objective) {
      case Objective::kClick: r.score = r.p.p_click; break;
      case Objective::kBuy: r.score = r.p.p_buy; break;
      case Objective::kValue: {
        // Expected purchase value; an item without a price has none (ranked last).
        const float price = r.item < cat.num_items ? cat.price[r.item] : std::nanf("");
        r.score = r.p.p_buy * price;
        break;
      }
      case Objective::kRetrieval: break;
    }
  }
  // Best first; NaN last; ties keep the retrieval order.
  auto by_score = [](const RankedItem& a, const RankedItem& b) {
    if (std::isnan(b.score)) return !std::isnan(a.score);
    if (std::isnan(a.score)) return false;
    return a.score > b.score;
  };
  if (fuse) {
    // Retrieval knows what the user is doing now (the item graph, the sequence); the ranker
    // knows who clicks and buys what. Fusing the two orders keeps both signals without
    // calibrating one score against the other (docs/benchmarks.md, "Ranking in serving").
    thread_local std::vector<uint32_t> order;
    order.resize(items->size());
    for (uint32_t j = 0; j < order.size(); ++j) order[j] = j;
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return by_score((*items)[a], (*items)[b]); });
    thread_local std::vector<double> fused;
    fused.assign(items->size(), 0.0);
    for (uint32_t r = 0; r < order.size(); ++r) {
      fused[order[r]] = 1 / (kFusionK + order[r]) + 1 / (kFusionK + r);
    }
    for (size_t j = 0; j < items->size(); ++j) (*items)[j].score = static_cast<float>(fused[j]);
  }
  std::stable_sort(items->begin(), items->end(), by_score);
}

// ---- cart

ApiResponse Service::GetCart(const ApiRequest& request, std::string_view id) {
  std::shared_ptr<const ModelSet> set = models();
  std::shared_ptr<const CatalogView> cat = catalog();
  std::shared_ptr<const RankSet> rank = ranker();
  auto error = [&](int status, std::string message) {
    JsonWriter w;
    w.BeginObject();
    w.Key("request_id").String(request.request_id);
    w.Key("model_version").String(set ? set->label : "none");
    w.Key("error").BeginObject();
    w.Key("code").String(status == 404 ? "not_found" : "bad_request");
    w.Key("message").String(message);
    w.EndObject();
    w.EndObject();
    ApiResponse r;
    r.status = status;
    r.body = w.Take();
    return r;
  };
  if (!request.query.empty()) {
    return error(400, "unknown query parameter '" + request.query.front().first +
                          "': GET /v1/users/{id}/cart takes none");
  }
  const std::optional<UserId> uid = store_.FindUser(id);
  feature::FeatureState::UserSummary summary;
  if (!uid || !features_.Summary(*uid, &summary)) {
    return error(404, "unknown user '" + std::string(id) + "'");
  }
  std::vector<feature::FeatureState::CartLine> lines;
  features_.Cart(*uid, &lines);
  const rank::ShopRanker* ranker = rank ? rank->ranker.get() : nullptr;
  const bool scored = ranker != nullptr && ranker->has(rank::ShopTarget::kCart);
  rank::CartReport report;
  std::string unscored;
  if (scored) {
    thread_local rank::ShopRanker::Scratch scratch;
    if (Status s = ranker->CartConversion(features_, *cat->shop, *uid, RankContext(), scratch,
                                          &report);
        !s.ok()) {
      unscored = s.message();
    }
  } else {
    unscored = ranker == nullptr
                   ? "no ranking models loaded (freshet serve --rank FILE)"
                   : "the ranker has no cart model (" + rank->files +
                         "; train one with freshet train --task cart)";
  }
  JsonWriter w;
  w.BeginObject();
  w.Key("request_id").String(request.request_id);
  w.Key("model_version").String(set ? set->label : "none");
  w.Key("ranker_version");
  if (rank) {
    w.String(rank->label);
  } else {
    w.Null();
  }
  w.Key("user").String(id);
  const bool have_p = unscored.empty();
  w.Key("p_converts");
  if (have_p) {
    w.Double(report.p_converts);
  } else {
    w.Null();
    w.Key("unscored").String(unscored);
  }
  w.Key("items").BeginArray();
  for (const auto& line : lines) {
    w.BeginObject();
    w.Key("item").String(store_.ItemName(line.item));
    w.Key("quantity").Double(line.quantity);
    w.Key("added").String(FormatTimestamp(line.added_ms));
    if (line.item < cat->num_items && !std::isnan(cat->price[line.item])) {
      w.Key("price").Double(cat->price[line.item]);
    } else {
      w.Key("price").Null();
    }
    w.Key("p_buy");
    const auto it = std::find_if(report.items.begin(), report.items.end(),
                                 [&](const rank::CartReport::Line& l) { return l.item == line.item; });
    if (have_p && it != report.items.end()) {
      w.Double(it->p_buy);
    } else {
      w.Null();
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  ApiResponse r;
  r.body = w.Take();
  return r;
}

// ---- online learning

void Service::JoinLabels(UserId user, ItemId item, EventType type, int64_t ts_ms, double value,
                         uint64_t seq, std::vector<PendingRankExample>* out) {
  rank::JoinEvent e;
  e.user = user;
  e.item = item;
  e.type = type;
  e.ts_ms = ts_ms;
  e.value = static_cast<float>(value);
  joiner_->Add(e, [out, seq](rank::JoinedExample&& x) {
    out->push_back({std::move(x), seq, Clock::time_point()});
  });
}

void Service::QueueRankExamples(std::vector<PendingRankExample>&& examples) {
  const rank::LabelJoinerStats stats = joiner_->stats();
  rank_online_.late_anchors.store(stats.late_anchors, std::memory_order_relaxed);
  rank_online_.pending_anchors.store(stats.pending, std::memory_order_relaxed);
  if (examples.empty()) return;
  for (const PendingRankExample& p : examples) {
    rank_online_.joined[static_cast<int>(p.example.target)][p.example.label > 0.5f ? 1 : 0]
        .fetch_add(1, std::memory_order_relaxed);
  }
  const auto now = Clock::now();
  std::lock_guard lock(learn_mu_);
  for (PendingRankExample& p : examples) {
    p.joined = now;
    rank_queue_.push_back(std::move(p));
  }
  while (rank_queue_.size() > options_.online.max_queue) {
    rank_queue_.pop_front();
    rank_online_.dropped.fetch_add(1, std::memory_order_relaxed);
  }
}

void Service::RankLearnStep(bool publish) {
  std::shared_ptr<const RankSet> current = ranker();
  if (!current || !current->ranker->can_learn()) return;  // a quantized ranker: serving only
  if (!rank_learner_ || current != rank_learning_from_) {
    // First step, or the served ranker is not the one this learner last published: an
    // activation or rollback replaced it, and learning starts over from what is served.
    rank_learner_ = current->ranker->Clone();
    rank_learning_from_ = current;
    rank_steps_since_publish_ = 0;
    if (!rank_learner_) {
      rank_online_.errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  std::vector<rank::JoinedExample> batch;
  std::vector<Clock::time_point> joined;
  {
    std::lock_guard lock(learn_mu_);
    batch.reserve(rank_queue_.size());
    for (PendingRankExample& p : rank_queue_) {
      batch.push_back(std::move(p.example));
      joined.push_back(p.joined);
      rank_learned_through_seq_ = std::max(rank_learned_through_seq_, p.seq);
    }
    rank_queue_.clear();
  }
  if (!batch.empty()) {
    const auto expire_ms = static_cast<int64_t>(options_.online.expire_days * 86400000.0);
    const rank::LearnReport report = rank_learner_->Learn(batch, expire_ms);
    rank_online_.admitted.fetch_add(report.admitted, std::memory_order_relaxed);
    rank_online_.expired.fetch_add(report.expired, std::memory_order_relaxed);
    if (report.admitted + report.expired > 0) ++rank_steps_since_publish_;
    uint64_t learned = 0;
    for (int t = 0; t < rank::kNumShopTargets; ++t) {
      rank_online_.learned[t].fetch_add(report.examples[t], std::memory_order_relaxed);
      learned += report.examples[t];
    }
    rank_online_.skipped.fetch_add(report.skipped, std::memory_order_relaxed);
    rank_online_.steps.fetch_add(1, std::memory_order_relaxed);
    if (learned > 0) ++rank_steps_since_publish_;
    rank_unpublished_.insert(rank_unpublished_.end(), joined.begin(), joined.end());
    if (rank_unpublished_.size() > 16 * kRankLagRing) {  // publishing stalled: keep the newest
      rank_unpublished_.erase(rank_unpublished_.begin(), rank_unpublished_.end() - kRankLagRing);
    }
  }
  const bool due = Clock::now() - rank_last_publish_ >=
                   std::chrono::milliseconds(options_.online.publish_ms);
  if (rank_steps_since_publish_ == 0 || !(publish || due)) return;
  std::unique_ptr<rank::ShopRanker> copy = rank_learner_->Clone(kServed);
  if (!copy) {
    rank_online_.errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto set = std::make_shared<RankSet>();
  set->lineage = current->lineage;
  set->sources = current->sources;
  std::copy(std::begin(current->source_of), std::end(current->source_of), set->source_of);
  set->files = current->files;
  set->ranker = std::shared_ptr<const rank::ShopRanker>(std::move(copy));
  set->version = rank_next_version_++;
  set->online_steps = current->online_steps + rank_steps_since_publish_;
  set->through_seq = rank_learned_through_seq_;
  set->label =
      fmt::format("r{} {} (+{} online steps)", set->version, set->files, set->online_steps);
  std::shared_ptr<const RankSet> published = set;
  {
    std::lock_guard lock(mu_);
    // An activation (or rollback) since the learner copied its base wins: drop this copy.
    if (!rank_ || rank_->lineage != current->lineage) return;
    rank_ = published;
  }
  rank_learning_from_ = published;
  rank_steps_since_publish_ = 0;
  rank_last_publish_ = Clock::now();
  rank_online_.publishes.fetch_add(1, std::memory_order_relaxed);
  const auto now = Clock::now();
  std::lock_guard lock(lag_mu_);
  for (const auto& t : rank_unpublished_) {
    const double lag = std::chrono::duration<double>(now - t).count();
    if (rank_lag_s_.size() < kRankLagRing) {
      rank_lag_s_.push_back(lag);
    } else {
      rank_lag_s_[rank_lag_next_] = lag;
      rank_lag_next_ = (rank_lag_next_ + 1) % kRankLagRing;
    }
  }
  rank_unpublished_.clear();
}

void Service::RenderRankMetrics(std::string* out) const {
  std::shared_ptr<const RankSet> rank = ranker();
  if (!rank) return;
  std::string label = rank->label;
  std::replace(label.begin(), label.end(), '"', '\'');
  *out += "# HELP freshet_rank_info The served shop ranker (value 1), by version.\n"
          "# TYPE freshet_rank_info gauge\nfreshet_rank_info{version=\"" + label + "\"} 1\n";
  if (!options_.online.enabled) return;
  size_t queued = 0;
  {
    std::lock_guard lock(learn_mu_);
    queued = rank_queue_.size();
  }
  *out += "# HELP freshet_rank_examples_total Ranking examples decided by the online label "
          "joiner, by target and label.\n# TYPE freshet_rank_examples_total counter\n";
  for (rank::ShopTarget t : kTargets) {
    for (int label_value = 1; label_value >= 0; --label_value) {
      *out += "freshet_rank_examples_total{target=\"" + std::string(rank::ShopTargetName(t)) +
              "\",label=\"" + (label_value ? "positive" : "negative") + "\"} " +
              std::to_string(rank_online_.joined[static_cast<int>(t)][label_value].load()) + "\n";
    }
  }
  *out += "# HELP freshet_rank_learned_total Joined examples learned by the served ranker, by "
          "target.\n# TYPE freshet_rank_learned_total counter\n";
  for (rank::ShopTarget t : kTargets) {
    *out += "freshet_rank_learned_total{target=\"" + std::string(rank::ShopTargetName(t)) +
            "\"} " + std::to_string(rank_online_.learned[static_cast<int>(t)].load()) + "\n";
  }
  auto line = [&](const char* name, const char* type, const char* help, uint64_t v) {
    *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
            name + " " + std::to_string(v) + "\n";
  };
  line("freshet_rank_skipped_total", "counter",
       "Joined examples the ranker skipped (no model of their target).",
       rank_online_.skipped.load());
  line("freshet_rank_dropped_total", "counter",
       "Joined examples dropped because the learner was behind (the queue was full).",
       rank_online_.dropped.load());
  line("freshet_rank_queue", "gauge", "Joined examples waiting for a learning step.", queued);
  line("freshet_rank_pending_anchors", "gauge",
       "Impressions and cart adds waiting for their label (window not yet passed).",
       rank_online_.pending_anchors.load());
  line("freshet_rank_late_anchors_total", "counter",
       "Anchors dropped because they arrived after the joiner's watermark.",
       rank_online_.late_anchors.load());
  line("freshet_rank_features_admitted_total", "counter",
       "Feature ids (new users, items, crosses) given a row of their own online.",
       rank_online_.admitted.load());
  line("freshet_rank_features_expired_total", "counter",
       "Feature ids whose row was freed after --online-expire-days unseen.",
       rank_online_.expired.load());
  line("freshet_rank_steps_total", "counter", "Online ranker learning steps.",
       rank_online_.steps.load());
  line("freshet_rank_publishes_total", "counter", "Learned ranker copies published to serving.",
       rank_online_.publishes.load());
  line("freshet_rank_errors_total", "counter", "Failed ranker copies.",
       rank_online_.errors.load());
  std::vector<double> lag;
  {
    std::lock_guard lock(lag_mu_);
    lag = rank_lag_s_;
  }
  *out += "# HELP freshet_rank_lag_seconds Time from a label's decision (the ingest that decided "
          "it) to the published ranker that learned it, over the last 4096 examples.\n"
          "# TYPE freshet_rank_lag_seconds summary\n";
  for (double q : {0.5, 0.99}) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "freshet_rank_lag_seconds{quantile=\"%g\"} %.6f\n", q,
                  LagQuantile(lag, q));
    *out += buf;
  }
  *out += "freshet_rank_lag_seconds_count " + std::to_string(lag.size()) + "\n";
}

}  // namespace freshet::serve
