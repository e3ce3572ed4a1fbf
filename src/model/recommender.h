#pragma once

// The interface every retrieval model implements (popularity, Swing, ItemKNN, BPR, SASRec), and
// what evaluation and serving call. Models index items by the store's dense ids.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/status.h"
#include "model/model_file.h"
#include "model/params.h"
#include "model/sequences.h"
#include "store/event_table.h"

namespace freshet::model {

// What a model is fitted on. The protocol (eval/split.h) has already removed held-out events.
struct TrainData {
  const store::EventTable* table = nullptr;     // events to fit on, sorted by time
  const UserSequences* sequences = nullptr;     // the same events as per-user sequences
  // Optional: per user, the held-out next item after `sequences` (kNoId for none). Models that
  // train in epochs evaluate on it after each epoch and stop early when it stops improving.
  std::span<const ItemId> validation_targets;
};

class Recommender;

// One interaction to learn from online: `user` took `item` at ts_ms, and `history` holds the
// user's interaction items before it, oldest first (the FeatureState's recent items). The spans
// are valid during the Learn call only.
struct OnlineExample {
  UserId user = kNoId;
  ItemId item = kNoId;
  std::span<const ItemId> history;
  int64_t ts_ms = 0;
};

struct OnlineOptions {
  // Step size of the online updates; 0 takes the model's default (docs/models.md, "Online").
  double learning_rate = 0;
  uint64_t seed = 42;
};

// Validation metrics of a model after an epoch, e.g. {{"NDCG@10", 0.041}, {"HR@10", 0.07}}; the
// first one is maximised for early stopping. Set by the trainer (it knows the protocol); models
// must not depend on evaluation code.
using ValidateFn =
    std::function<std::vector<std::pair<std::string, double>>(const Recommender& model)>;

struct FitOptions {
  int threads = 1;         // worker threads; 0 = one per core
  uint64_t seed = 42;      // every random choice derives from it; logged
  bool progress = true;    // progress lines on stderr
  // Models that train in epochs call it after each one (if set), keep the weights of the best
  // epoch and stop after `patience` epochs without improvement.
  ValidateFn validate;
  int patience = 5;
};

// One epoch of training, for reports and the per-epoch validation curve.
struct EpochStat {
  int epoch = 0;
  double loss = 0;
  double seconds = 0;
  double samples_per_s = 0;
  std::vector<std::pair<std::string, double>> validation;  // e.g. {"NDCG@10", 0.041}
};

struct TrainReport {
  double seconds = 0;  // wall time of Fit
  std::vector<EpochStat> epochs;
  int best_epoch = 0;  // the epoch whose weights were kept (0 for models without epochs)
};

class Recommender {
 public:
  virtual ~Recommender() = default;

  // "pop", "swing", "itemknn", "bpr", "sasrec".
  virtual std::string_view kind() const = 0;
  // Items the model can score: ids [0, num_items()).
  virtual uint32_t num_items() const = 0;
  // Its options, every one (defaults included), as `freshet train --param` takes them.
  virtual Params params() const = 0;

  // Fits on `data`, replacing any previous state. InvalidArgument for unusable data (e.g. no
  // interactions). Not thread-safe with any other call.
  virtual Status Fit(const TrainData& data, const FitOptions& options, TrainReport* report) = 0;

  // Scores every item for a user whose recent interactions are `history` (item ids, oldest
  // first; may be empty, may hold ids >= num_items(), which are ignored). `user` is the user's
  // dense id, or kNoId / an id unseen at training time: sequence and co-occurrence models must
  // then still personalise from `history`. Higher is better. REQUIRES: out.size() == num_items().
  // Thread-safe: const, per-call scratch only.
  virtual void ScoreAll(UserId user, std::span<const ItemId> history,
                        std::span<float> out) const = 0;

  // ScoreAll for several users at once: out holds users.size() rows of num_items() scores, row
  // after row. The default calls ScoreAll per user; models whose last step is a product with an
  // item table override it to make one matrix product of it, which reads the table once per
  // batch instead of once per user. REQUIRES: histories.size() == users.size(),
  // out.size() == users.size() * num_items(). Thread-safe.
  virtual void ScoreBatch(std::span<const UserId> users,
                          std::span<const std::span<const ItemId>> histories,
                          std::span<float> out) const;

  // Models whose ScoreAll is exactly the inner product of a query vector with per-item vectors
  // expose both, so that serving can retrieve from a vector index instead of scoring the whole
  // catalog. vector_dim() == 0 (the default): not such a model.
  virtual int vector_dim() const { return 0; }
  // The item vectors, num_items() rows of vector_dim() floats, row after row, replace *out.
  // REQUIRES: vector_dim() > 0.
  virtual void ItemVectors(std::vector<float>* out) const;
  // Writes the query vector for the user and history (what ScoreAll dots with each item vector)
  // to out. Returns false when there is none (e.g. a sequence model given no known item: ScoreAll
  // then falls back to popularity). REQUIRES: out.size() == vector_dim() > 0. Thread-safe.
  virtual bool QueryVector(UserId user, std::span<const ItemId> history,
                           std::span<float> out) const;

  // Scores of the listed items, in order. The default calls ScoreAll; models override it when
  // scoring a few candidates is much cheaper than scoring the catalog. Thread-safe.
  virtual void ScoreItems(UserId user, std::span<const ItemId> history,
                          std::span<const ItemId> items, std::span<float> out) const;

  // Up to k items most related to `item` with their scores, best first (excluding the item).
  // Thread-safe.
  virtual void Similar(ItemId item, size_t k,
                       std::vector<std::pair<ItemId, float>>* out) const = 0;

  // --- Online learning (docs/models.md, "Online learning"). A model keeps learning from the
  // live stream on a private copy: Learn updates it in place (not thread-safe with any call),
  // and Clone makes the immutable copy that serving reads while the next steps run.

  // Takes one micro-batch of interactions in arrival order. First grows the model to
  // `num_items` items (the store's dictionary: ids only grow); grown items start untrained and
  // unrankable (item_active false) until an example names them. Unimplemented for models
  // that cannot learn online. InvalidArgument for an example whose item is >= num_items.
  virtual Status Learn(std::span<const OnlineExample> batch, uint32_t num_items,
                       const OnlineOptions& options);
  // Makes the listed items untrained again (expiry of items nobody takes any more): they leave
  // the ranking until an example names them again. Ids >= num_items() are ignored.
  virtual void Forget(std::span<const ItemId> items);
  // A deep copy (options, weights, online state). nullptr for models that cannot be copied.
  virtual std::unique_ptr<Recommender> Clone() const;
  // False for an item the model holds no trained state for (grown online and not yet learned,
  // or forgotten): ScoreAll gives it kInactiveScore, and a vector index must not hold it.
  virtual bool item_active(ItemId item) const { return item < num_items(); }
  static constexpr float kInactiveScore = -1e30f;

  // Writes the model's options and state as entries of `writer` (kind and dataset fingerprint are
  // written by SaveModel in model/registry.h). The default reports Unimplemented.
  virtual Status Save(ModelWriter& writer) const;
  // Restores what Save wrote. Corruption naming the entry when it is missing or inconsistent.
  virtual Status Load(const ModelReader& reader);
};

}  // namespace freshet::model
