#pragma once

// The serving logic behind the HTTP API, with no HTTP types: a request is a method, a path, the
// decoded query parameters and a body; the answer is a status code and a JSON body. The HTTP
// transport (src/http) parses sockets into ApiRequest and writes ApiResponse back; tests and the
// fuzz target call Handle directly.
//
// Endpoints (docs/api.md): GET /v1/recommend, /v1/similar, /v1/search, /v1/items/{id},
// /v1/users/{id}, /v1/users/{id}/cart, /v1/models; POST /v1/score, /v1/events,
// /v1/models/activate; GET /healthz, /readyz, /metrics. Every JSON answer carries request_id and
// model_version. Recommend is two-stage: retrieval (the primary model or trending items), then
// the shop ranker when one is loaded (service_rank.cc), then the page rules (rerank.h).

#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/status.h"
#include "feature/feature_state.h"
#include "index/vector_index.h"
#include "model/registry.h"
#include "rank/label_joiner.h"
#include "rank/shop_ranker.h"
#include "search/text_index.h"
#include "serve/api_keys.h"
#include "serve/metrics.h"
#include "store/event_store.h"

namespace freshet {
class JsonWriter;
}  // namespace freshet

namespace freshet::serve {

// Online learning while serving (docs/api.md, "Online learning"): accepted interactions feed the
// served models' learners, which take micro-batched steps on private copies and publish them.
struct OnlineServeOptions {
  bool enabled = false;
  size_t batch = 1024;        // examples per step at most (fewer when fewer wait)
  int interval_ms = 50;       // a step waits at most this long for a full batch
  int publish_ms = 1000;      // how often the learned copies replace the served models
  // Examples waiting beyond this many are dropped, oldest first (counted in /metrics): under a
  // stream faster than the learner, lag stays bounded and the newest events are learned.
  size_t max_queue = 20000;
  // An item the served model has no row for gets one on its admit_after-th interaction.
  uint32_t admit_after = 1;
  // Items learned online and then unseen for this many days of event time leave the ranking
  // (Recommender::Forget) until seen again, and the ranker's feature ids unseen as long give
  // their rows back (rank::ShopRanker::Learn); 0 never.
  double expire_days = 0;
  double learning_rate = 0;   // 0: each model's online default
  // The ranker (--rank) learns from labels joined online (rank::LabelJoiner, with the windows
  // its models were trained with): events may arrive this late in event time and still be joined
  // as if in order; every decision waits as long. Only event time moves the joiner's watermark.
  int64_t rank_allowed_lateness_ms = 60000;
  uint64_t seed = 42;
  // Snapshots of the learned models, for restarts: every snapshot_interval_s (and at Snapshot())
  // the published copies are saved under snapshot_dir with the store sequence number they have
  // learned through. Open loads the newest one whose source files are the given model files,
  // unchanged since (size and mtime), and re-learns the events after it. Empty: no snapshots (a
  // restart starts from the files).
  std::string snapshot_dir;
  int snapshot_interval_s = 300;
};

struct ServiceOptions {
  // Largest k a request may ask for; larger is a 400 (a shop page shows tens, not thousands).
  size_t max_k = 500;
  // Default k when a request gives none.
  size_t default_k = 10;
  // Most events one POST /v1/events may carry; more is a 413 (split the batch).
  size_t max_events_per_request = 10000;
  // Most items one POST /v1/score may carry.
  size_t max_score_items = 1000;
  // Two-stage recommend: items retrieved for ranking and re-ranking when a request gives no
  // `candidates` (at least k). More candidates let the ranker find better items, at a cost linear
  // in ranking time (about a microsecond per candidate and model).
  size_t default_candidates = 200;
  // Largest `candidates` a request may ask for.
  size_t max_candidates = 1000;
  // Features in each explanation of POST /v1/score with explain.
  size_t explain_features = 5;
  // Items of the user's history the models read (the sequence model uses its own max_len of it).
  size_t history_length = 200;
  feature::FeatureOptions features;
  search::TextIndexOptions text;
  // Retrieval for vector models (SASRec, BPR): exact top-k below index.exact_below items, HNSW
  // above (kind "auto"); "exact" or "hnsw" force one. Other models score the catalog.
  index::IndexOptions index;
  // Search with a user: final = text / best text + personal_weight * (model score scaled to
  // [0, 1] over the hits). 0 turns personal re-ranking off.
  double personal_weight = 0.5;
  // Requests without a valid key are allowed (and treated as admin). Set only by
  // --insecure-no-auth.
  bool insecure_no_auth = false;
  OnlineServeOptions online;
};

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded path without the query string, e.g. "/v1/items/42"
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::string body;
  std::string api_key;     // from Authorization: Bearer or X-API-Key; empty when none
  std::string request_id;  // assigned by the transport (echoing a sane X-Request-Id)
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Endpoint endpoint = Endpoint::kOther;  // for metrics
};

// Catalog fields the filters and responses read (defined in service.cc).
struct CatalogView;

// The models being served and a version that changes on every activation.
struct ModelSet {
  struct Entry {
    std::string file;
    model::LoadedModel loaded;
    std::vector<float> item_vectors;  // vector models: for explain (cosine to history items)
    std::vector<float> item_norms;
    // Vector models: retrieval. Shared by the online copies of one activation: new items are
    // added to it, and hits are re-scored with the copy's own vectors.
    std::shared_ptr<index::VectorIndex> index;
  };
  std::vector<Entry> models;  // models[0] is the primary: recommend uses it unless asked
  uint64_t version = 0;
  std::string label;  // "v3 sasrec:beauty.fmdl,swing:swing.fmdl", shown as model_version
  // The activation this set descends from (its own version for a loaded set); online copies
  // keep it, so an activation in between is never overwritten by a stale copy.
  uint64_t lineage = 0;
  uint64_t online_steps = 0;  // learning steps in this set's weights since the activation
};

// The shop ranker being served (--rank): click / cart / buy models. Immutable once published;
// the online learner publishes learned copies as new sets.
struct RankSet {
  std::vector<std::string> sources;  // the --rank files
  std::string source_of[rank::kNumShopTargets];  // the --rank file of each target's model
  std::shared_ptr<const rank::ShopRanker> ranker;
  uint64_t version = 0;       // grows with every publication and activation
  uint64_t lineage = 0;       // the activation (or load) it descends from: its version
  uint64_t online_steps = 0;  // learning steps in these weights since they were loaded
  // Every label decided by the store's events through this sequence number is in the weights
  // (except those dropped from a full queue): the point a restart restores to.
  uint64_t through_seq = 0;
  std::string files;          // "click:click.fmdl,buy:buy.fmdl": each target's file name
  std::string label;          // "r1 click:click.fmdl,buy:buy.fmdl", "r4 ... (+12 online steps)"
};

class Service {
 public:
  // Opens the serving state over an open store: replays its events into the feature state and
  // loads `model_files` (the first is primary). Errors name the model file and why (missing,
  // corrupt, trained on other data). The store must outlive the service.
  // `rank_files` (may be empty) are the shop ranker's click / cart / buy models
  // (rank::ShopRanker::Load); errors name the file and why.
  static Result<std::unique_ptr<Service>> Open(store::EventStore& store, ApiKeys keys,
                                               const ServiceOptions& options,
                                               const std::vector<std::string>& model_files,
                                               const std::vector<std::string>& rank_files = {});
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Answers one request. Never throws; a bug surfaces as a 500 with the request id. Thread-safe:
  // any number of calls run concurrently, including with event ingestion and model activation.
  ApiResponse Handle(const ApiRequest& request);

  // The one path for live events from any source (POST /v1/events, the Redis stream): writes
  // them to the store (durable under the store's durability before it returns), then applies
  // each newly written event to the feature state, the catalog view and the online learners, so
  // the next request sees it. keys[i] is events[i]'s dedupe key ("id:<event_id>", or a
  // source-specific key such as "redis:<stream>:<entry id>"; empty: never a duplicate). Events
  // must have passed ValidateEvent. On error nothing of the batch is acknowledged (the store's
  // Append contract) and the caller may retry it whole. Thread-safe.
  Status Ingest(std::span<const Event> events, std::span<const std::string> keys,
                store::AppendStats* stats);

  // Adds Prometheus text to /metrics (a live source's counters). fn is called on request
  // threads, concurrently: it must be thread-safe. Call before serving starts.
  void AddMetricsSource(std::function<void(std::string* out)> fn);

  // Readiness: false while shutting down (readyz then answers 503).
  void SetDraining() { draining_.store(true); }
  // Makes every accepted event durable (at shutdown).
  Status Flush() { return store_.Sync(); }

  // Online learning: learns everything queued and publishes the result now (tests, shutdown).
  // OK at once when online learning is off.
  Status LearnNow();
  // Writes a snapshot of the learned models now (after LearnNow, at shutdown). OK and nothing
  // written when online learning or snapshots are off, or nothing was learned since the last.
  Status Snapshot();
  // The sequence number the served models have learned through after a restart from a
  // snapshot (0: started from the model files). For logs and tests.
  uint64_t restored_from_seq() const { return restored_from_seq_; }
  // The same for the shop ranker's rank snapshot (0: started from the --rank files).
  uint64_t rank_restored_from_seq() const { return rank_restored_seq_.value_or(0); }
  ~Service();

  std::shared_ptr<const ModelSet> models() const;
  // The shop ranker being served; null without --rank. Thread-safe.
  std::shared_ptr<const RankSet> ranker() const;
  const Metrics& metrics() const { return metrics_; }

 private:
  Service(store::EventStore& store, ApiKeys keys, const ServiceOptions& options);

  ApiResponse Route(const ApiRequest& request, Endpoint* endpoint);
  ApiResponse Recommend(const ApiRequest& request);
  ApiResponse Similar(const ApiRequest& request);
  ApiResponse Score(const ApiRequest& request);
  ApiResponse Search(const ApiRequest& request);
  ApiResponse Events(const ApiRequest& request);
  ApiResponse GetItem(const ApiRequest& request, std::string_view id);
  ApiResponse GetUser(const ApiRequest& request, std::string_view id);
  ApiResponse GetCart(const ApiRequest& request, std::string_view id);
  ApiResponse ListModels(const ApiRequest& request);
  ApiResponse Activate(const ApiRequest& request);
  ApiResponse RenderMetrics();

  // Loads files into a new ModelSet with the next version. Errors name the file.
  Result<std::shared_ptr<const ModelSet>> LoadSet(const std::vector<std::string>& files);
  void Publish(std::shared_ptr<const ModelSet> set);
  // Fills e's item vectors and norms from its model; builds its index unless it has one.
  Status PrepareEntry(ModelSet::Entry& e);

  // ---- online learning (service_online.cc)
  struct PendingRankExample {
    rank::JoinedExample example;
    uint64_t seq = 0;  // the store sequence number of the event that decided its label
    std::chrono::steady_clock::time_point joined;
  };
  struct PendingExample {
    UserId user;
    ItemId item;
    std::vector<ItemId> history;
    int64_t ts_ms;
    uint64_t seq;  // the event's store sequence number
    std::chrono::steady_clock::time_point accepted;
  };
  // Replays the store into the feature state in sequence order (as live events were applied);
  // events after `learn_after_seq` (when set) are also queued for the learners. With a ranker
  // learning online, the events that can still decide a label go through the label joiner too
  // (service.cc has the rule).
  Status ReplayStore(std::optional<uint64_t> learn_after_seq);
  // The newest usable snapshot for `model_files`: the snapshot's model files (same order) and the
  // sequence number it learned through. nullopt when there is none.
  std::optional<std::pair<std::vector<std::string>, uint64_t>> FindSnapshot(
      const std::vector<std::string>& model_files) const;
  Status WriteSnapshot();  // REQUIRES: learn_step_mu_ held
  void StartLearner();
  void StopLearner();
  void LearnerLoop();
  // Takes up to options_.online.batch queued examples and learns them; publishes when due or
  // when `publish`. Runs on the learner thread or under LearnNow (learn_step_mu_ held).
  Status LearnStep(bool publish);
  Status PublishLearned();
  void RenderOnlineMetrics(std::string* out) const;

  // ---- ranking (service_rank.cc)
  // What recommend orders its candidates by: the retrieval score, or the ranker's p_click, p_buy
  // or expected purchase value p_buy * price.
  enum class Objective { kRetrieval, kClick, kBuy, kValue };
  struct RankedItem {
    ItemId item = kNoId;
    float retrieval = 0;  // the retrieval stage's score
    float score = 0;      // the objective's value; the list is ordered by it
    rank::ShopScores p;   // NaN where not ranked
  };
  // ?objective=: absent gives click when the ranker has a click model, else buy, else retrieval.
  // nullopt with *why for an unknown name or one the loaded ranker cannot compute.
  static std::optional<Objective> ParseObjective(std::optional<std::string_view> text,
                                                 const RankSet* rank, std::string* why);
  static const char* ObjectiveName(Objective objective);
  // p_click, p_cart, p_buy of `r` (null when NaN).
  static void WriteProbabilities(JsonWriter& w, const rank::ShopScores& p);
  // Scores `items` (in retrieval order) with the ranker and sorts them by the objective, best
  // first (ties keep the retrieval order). With `fuse`, by the reciprocal-rank fusion of the two
  // orders instead: 1 / (kFusionK + retrieval rank) + 1 / (kFusionK + objective rank), ranks
  // from 0. Thread-safe.
  void RankItems(const RankSet& rank, Objective objective, bool fuse, UserId user,
                 const CatalogView& cat, std::vector<RankedItem>* items) const;
  // The constant of reciprocal-rank fusion (Cormack et al. 2009): larger flattens the head.
  static constexpr double kFusionK = 60;
  rank::ShopContext RankContext() const;
  // Loads the ranker of `files` (--rank) or, with online learning, the newest rank snapshot
  // learned from them; starts the label joiner. Open only.
  Status LoadRanker(const std::vector<std::string>& files);
  // The served form of a ranker loaded from `loaded_from` (the --rank `files`, or a snapshot's
  // files standing for them): labels and each target's source file.
  std::shared_ptr<RankSet> MakeRankSet(const std::vector<std::string>& files,
                                       std::unique_ptr<rank::ShopRanker> ranker,
                                       const std::vector<std::string>& loaded_from,
                                       uint64_t version, std::string_view suffix);
  // The online label joiner for `set`'s models; null when online learning is off or the ranker
  // cannot learn (quantized).
  std::unique_ptr<rank::LabelJoiner> MakeJoiner(const std::shared_ptr<const RankSet>& set);
  // POST /v1/models/activate with "rank" (files) or "rank_rollback": serves the ranker of
  // `files` (or the one before the last activation) from now on and returns it and the one it
  // replaced. Load errors as ShopRanker::Load and CheckStore; FailedPrecondition for a rollback
  // with nothing to go back to. The online learner starts over from the new ranker.
  Result<std::pair<std::shared_ptr<const RankSet>, std::shared_ptr<const RankSet>>>
  ActivateRanker(const std::vector<std::string>& files, bool rollback);
  // The newest usable rank snapshot for `files`: its model files (same order) and the sequence
  // number its labels were learned through.
  std::optional<std::pair<std::vector<std::string>, uint64_t>> FindRankSnapshot(
      const std::vector<std::string>& files) const;
  Status WriteRankSnapshot();  // REQUIRES: learn_step_mu_ held
  // Ingest and the restart replay: offers event `seq` to the label joiner (before the event is
  // applied to the feature state); examples it decides are appended to *out.
  // REQUIRES: ingest_mu_ held (or Open).
  void JoinLabels(UserId user, ItemId item, EventType type, int64_t ts_ms, double value,
                  uint64_t seq, std::vector<PendingRankExample>* out);
  // Queues joined examples for the rank learner (learn_mu_ taken inside) and refreshes the
  // joiner's gauges. REQUIRES: ingest_mu_ held (or Open); joiner_ set.
  void QueueRankExamples(std::vector<PendingRankExample>&& examples);
  // Learns the queued joined examples on a private copy of the ranker and publishes it when
  // due. Runs inside LearnStep (learn_step_mu_ held); failures are counted, never fatal.
  void RankLearnStep(bool publish);
  void RenderRankMetrics(std::string* out) const;

  // The catalog view: read from the store at Open, extended when events bring new items.
  std::shared_ptr<const CatalogView> catalog() const;
  Status LoadCatalog();
  void ExtendCatalog();

  store::EventStore& store_;
  ApiKeys keys_;
  ServiceOptions options_;
  Metrics metrics_;
  feature::FeatureState features_;
  std::unique_ptr<search::TextIndex> text_;  // the catalog's titles, categories and brands
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> next_version_{1};
  std::atomic<uint64_t> events_accepted_{0};
  std::atomic<uint64_t> events_rejected_{0};
  std::atomic<uint64_t> events_duplicate_{0};
  std::chrono::steady_clock::time_point started_;
  std::vector<std::function<void(std::string*)>> metrics_sources_;

  // Appends and their application to the feature state and learners happen in sequence order.
  std::mutex ingest_mu_;

  // Online learning: the queue (learn_mu_), and the learner state (learn_step_mu_).
  std::thread learner_;
  mutable std::mutex learn_mu_;
  std::condition_variable learn_cv_;
  std::deque<PendingExample> learn_queue_;  // guarded by learn_mu_
  bool learn_stop_ = false;                 // guarded by learn_mu_
  std::mutex learn_step_mu_;
  std::vector<std::unique_ptr<model::Recommender>> learners_;  // guarded by learn_step_mu_
  std::shared_ptr<const ModelSet> learning_from_;  // the set the learners copy; same guard
  std::vector<uint32_t> admission_counts_;        // per item, while not admitted; same guard
  std::vector<int64_t> last_seen_ms_;             // per item learned online; same guard
  int64_t online_clock_ms_ = 0;                   // newest event time learned; same guard
  uint64_t steps_since_publish_ = 0;              // same guard
  std::chrono::steady_clock::time_point last_publish_;  // same guard
  uint64_t learned_through_seq_ = 0;    // the newest event taken from the queue; same guard
  uint64_t published_through_seq_ = 0;  // ... and in the published copies; same guard
  uint64_t snapshot_seq_ = 0;           // ... in the last snapshot; same guard
  std::chrono::steady_clock::time_point last_snapshot_;  // same guard
  uint64_t restored_from_seq_ = 0;
  struct OnlineCounters {
    std::atomic<uint64_t> learned{0}, dropped{0}, waiting_admission{0}, steps{0}, publishes{0},
        forgotten{0}, errors{0};
  } online_;
  mutable std::mutex lag_mu_;
  std::vector<double> step_lag_s_;     // ring of recent event -> step lags; guarded by lag_mu_
  std::vector<double> publish_lag_s_;  // ring of recent event -> published lags
  size_t step_lag_next_ = 0, publish_lag_next_ = 0;
  std::vector<std::chrono::steady_clock::time_point> unpublished_;  // learned, not yet published

  // Online rank learning. The joiner runs on the ingest path, in sequence order, so that an
  // anchor's features are the state before its event (guarded by ingest_mu_).
  std::unique_ptr<rank::LabelJoiner> joiner_;             // guarded by ingest_mu_
  std::shared_ptr<const RankSet> joiner_rank_;            // featurizes for the joiner; same guard
  std::deque<PendingRankExample> rank_queue_;            // guarded by learn_mu_
  std::unique_ptr<rank::ShopRanker> rank_learner_;       // guarded by learn_step_mu_
  std::shared_ptr<const RankSet> rank_learning_from_;    // same guard
  uint64_t rank_steps_since_publish_ = 0;                // same guard
  std::chrono::steady_clock::time_point rank_last_publish_;  // same guard
  std::vector<std::chrono::steady_clock::time_point> rank_unpublished_;  // same guard
  uint64_t rank_learned_through_seq_ = 0;  // deciding events of the learned labels; same guard
  std::shared_ptr<const RankSet> rank_snapshotted_;  // the set in the last rank snapshot; same
  // With a rank snapshot restored at Open: the sequence number its labels were learned through.
  std::optional<uint64_t> rank_restored_seq_;
  struct RankCounters {
    std::atomic<uint64_t> joined[rank::kNumShopTargets][2] = {};  // [target][label]
    std::atomic<uint64_t> learned[rank::kNumShopTargets] = {};
    std::atomic<uint64_t> skipped{0}, dropped{0}, steps{0}, publishes{0}, errors{0};
    std::atomic<uint64_t> admitted{0}, expired{0};  // feature ids, online admission / expiry
    std::atomic<uint64_t> late_anchors{0}, pending_anchors{0};
  } rank_online_;
  std::vector<double> rank_lag_s_;  // ring of join -> published lags; guarded by lag_mu_
  size_t rank_lag_next_ = 0;

  mutable std::mutex mu_;  // guards the pointers below (readers copy them and let go)
  std::shared_ptr<const RankSet> rank_;
  std::shared_ptr<const RankSet> rank_previous_;  // for rollback
  std::atomic<uint64_t> rank_next_version_{1};
  std::shared_ptr<const ModelSet> current_;
  std::shared_ptr<const ModelSet> previous_;  // for rollback
  std::shared_ptr<const CatalogView> catalog_;
  std::mutex activate_mu_;  // one activation at a time
};

}  // namespace freshet::serve
