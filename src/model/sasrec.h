#pragma once

// SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018). A causal
// transformer reads a user's recent items and predicts the next one; logits are the final hidden
// state dotted with the (shared) item embedding table. Two losses:
//  - "ce" (the default): cross-entropy of the next item against a softmax (Klenitskiy & Vasilev,
//    "Turning Dross Into Gold Loss: is BERT4Rec really better than SASRec?", RecSys 2023, report
//    that this closes most of the gap to later models): over ce_negatives = 4096 negatives shared
//    per batch and importance-weighted (the full softmax's quality on Amazon Beauty and Sports in
//    under half its time per epoch; docs/models.md), or over the whole catalog with
//    ce_negatives = 0.
//  - "bce": the paper's binary cross-entropy of the next item against `negatives` sampled items.
// Because the model reads the history it is given, a user unseen at training time is served
// from their first events with no retraining. An empty history falls back to popularity.

#include <memory>
#include <string>
#include <vector>

#include "model/params.h"
#include "model/recommender.h"

namespace freshet::model {

struct SasrecOptions {
  int max_len = 50;         // longest history read; the paper's 50 for Amazon data
  int hidden = 64;          // embedding and model width
  int blocks = 2;           // transformer blocks (paper: 2)
  int heads = 1;            // attention heads (paper: 1); must divide hidden
  double dropout = 0.2;     // on embeddings, residual branches and feed-forward activations
  int epochs = 200;         // upper bound; early stopping on validation NDCG@10 ends sooner
  int batch_size = 128;     // sequences per step (paper: 128)
  double learning_rate = 1e-3;  // Adam, beta2 = 0.98 as in the paper
  double weight_decay = 0.0;    // decoupled (AdamW) on weights, not on norms and biases
  std::string loss = "ce";      // "ce" (softmax cross-entropy) or "bce" (sampled negatives)
  int negatives = 1;            // bce only: negatives per position (paper: 1)
  // ce only: 0 scores every position against the whole catalog; K > 0 against K negatives
  // drawn per batch and shared by its positions, importance-weighted (see
  // nn::SharedNegativeSoftmaxLoss). A catalog of at most K items is always scored whole.
  int ce_negatives = 4096;
  // ce with ce_negatives: the share of negatives drawn by item popularity, the rest uniformly
  // (nn::MixedNegativeSampler).
  double ce_popularity_share = 0.5;
  // ce with ce_negatives, training only: "bf16" computes the loss's three products from bf16
  // inputs with float sums where the CPU has AVX512-BF16 (nn::FullSoftmaxOptions::bf16_products:
  // the loss 3.4x faster, an epoch on Beauty about 40% shorter, the same quality; docs/models.md),
  // else in float; "float" always in float.
  std::string ce_precision = "bf16";
  std::string activation = "relu";  // "relu" (paper) or "gelu"

  Status Set(std::string_view key, std::string_view value);
  Params Get() const;
};

class SasrecModel final : public Recommender {
 public:
  explicit SasrecModel(SasrecOptions options = {});
  ~SasrecModel() override;

  std::string_view kind() const override { return "sasrec"; }
  uint32_t num_items() const override { return num_items_; }
  Status Fit(const TrainData& data, const FitOptions& options, TrainReport* report) override;
  // Thread-safe: encoder workspaces come from a pool shared by concurrent calls.
  void ScoreAll(UserId user, std::span<const ItemId> history,
                std::span<float> out) const override;
  // One encoder pass over the batch and one [users x hidden] x [hidden x items] product.
  void ScoreBatch(std::span<const UserId> users,
                  std::span<const std::span<const ItemId>> histories,
                  std::span<float> out) const override;
  // Scores are the last hidden state dotted with the item embeddings.
  int vector_dim() const override { return net_ ? options_.hidden : 0; }
  void ItemVectors(std::vector<float>* out) const override;
  bool QueryVector(UserId user, std::span<const ItemId> history,
                   std::span<float> out) const override;
  // Cosine similarity of item embeddings.
  void Similar(ItemId item, size_t k, std::vector<std::pair<ItemId, float>>* out) const override;
  // Online: one Adam step per micro-batch on the cross-entropy of each example's item given its
  // history (the newest position only: the earlier ones were learned when they happened),
  // against negatives shared by the batch. A new item's row starts along the query vector of the
  // history that first led to it (kNewItemNormShare).
  Status Learn(std::span<const OnlineExample> batch, uint32_t num_items,
               const OnlineOptions& options) override;
  void Forget(std::span<const ItemId> items) override;
  // Weights, popularity and active flags; not the online optimizer state.
  std::unique_ptr<Recommender> Clone() const override;
  bool item_active(ItemId item) const override {
    return item < num_items_ && (item_active_.empty() || item_active_[item] != 0);
  }
  Status Save(ModelWriter& writer) const override;
  Status Load(const ModelReader& reader) override;

  Params params() const override { return options_.Get(); }
  const SasrecOptions& options() const { return options_; }
  // The online step size when OnlineOptions gives none, as a share of the offline one. On the
  // simulator's drifting shop (freshet replay --holdout 0.5) the offline rate itself gained 20%
  // HR@10 over the frozen model where a tenth of it gained nothing (docs/models.md).
  static constexpr double kOnlineLearningRateShare = 1.0;
  // A new item's first row: the query vector that led to it, at this share of the mean row norm.
  static constexpr double kNewItemNormShare = 0.5;
  // Windows per forward / backward pass of an online step (the step itself takes the whole
  // batch): bounds the learner's activation memory whatever the batch size.
  static constexpr int kOnlineChunk = 64;

 private:
  struct Net;  // the encoder and its parameters (Eigen stays in the .cc)
  struct OnlineState;  // the learner's optimizer and scratch
  Status Build(uint32_t num_items, uint64_t seed);
  void Grow(uint32_t num_items);
  // The newest max_len active items of history, oldest first.
  void RecentActive(std::span<const ItemId> history, std::vector<ItemId>* ids) const;
  void MaskInactive(std::span<float> out) const;

  SasrecOptions options_;
  uint32_t num_items_ = 0;
  std::unique_ptr<Net> net_;
  std::vector<float> popularity_;  // training interactions per item: the empty-history fallback
  // Per item, 1 when its row is trained; empty: all are. Rows grown online start inactive.
  std::vector<uint8_t> item_active_;
  uint32_t inactive_items_ = 0;
  std::unique_ptr<OnlineState> online_;
};

}  // namespace freshet::model
