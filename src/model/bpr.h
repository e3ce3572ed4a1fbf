#pragma once

// BPR matrix factorisation (Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit
// Feedback", UAI 2009): score(u, i) = p_u . q_i + b_i, trained by stochastic gradient ascent on
// ln sigmoid(score(u, i) - score(u, j)) for an observed (u, i) and an item j the user never
// interacted with, drawn uniformly. Hogwild over threads on the embedding tables.
//
// A user unknown at training time has no p_u; they are folded in from their history as the mean
// of the history items' q vectors (a cheap, standard approximation: an item's vector points where
// its users' vectors do).

#include <memory>
#include <string>
#include <vector>

#include "model/params.h"
#include "model/recommender.h"

namespace freshet::nn {
class EmbeddingTable;
}

namespace freshet::model {

struct BprOptions {
  int dim = 64;                 // factors; quality saturates around 64 on Amazon-sized data
  int epochs = 50;              // upper bound; early stopping usually ends sooner
  double learning_rate = 0.05;  // Adagrad
  double reg = 1e-4;            // L2 on the rows of each sample, applied when they are updated
  double init_stddev = 0.01;

  Status Set(std::string_view key, std::string_view value);
  Params Get() const;
};

class BprModel final : public Recommender {
 public:
  explicit BprModel(BprOptions options = {});
  ~BprModel() override;

  std::string_view kind() const override { return "bpr"; }
  uint32_t num_items() const override { return num_items_; }
  Status Fit(const TrainData& data, const FitOptions& options, TrainReport* report) override;
  void ScoreAll(UserId user, std::span<const ItemId> history,
                std::span<float> out) const override;
  void Similar(ItemId item, size_t k, std::vector<std::pair<ItemId, float>>* out) const override;
  // Item vector [q_i, b_i], query vector [p_u, 1]: their product is ScoreAll's p_u . q_i + b_i.
  int vector_dim() const override { return num_items_ > 0 ? options_.dim + 1 : 0; }
  void ItemVectors(std::vector<float>* out) const override;
  bool QueryVector(UserId user, std::span<const ItemId> history,
                   std::span<float> out) const override;
  // Online: plain SGD on the same objective, `negatives` uniform negatives per interaction
  // among the trained items. A user trained offline updates their own vector; any other user is
  // served by the fold-in of their history, which the step uses (and does not store). A new
  // item starts at the user's vector, so it ranks for the people who take it.
  Status Learn(std::span<const OnlineExample> batch, uint32_t num_items,
               const OnlineOptions& options) override;
  void Forget(std::span<const ItemId> items) override;
  std::unique_ptr<Recommender> Clone() const override;
  bool item_active(ItemId item) const override {
    return item < num_items_ && (item_active_.empty() || item_active_[item] != 0);
  }
  Status Save(ModelWriter& writer) const override;
  Status Load(const ModelReader& reader) override;

  Params params() const override { return options_.Get(); }
  const BprOptions& options() const { return options_; }

 private:
  // The user vector: p_u for a trained user, else the mean of the history's item vectors.
  void UserVector(UserId user, std::span<const ItemId> history, std::span<float> out) const;

  // Grows the item tables to num_items (new rows inactive). Users never grow: a user without
  // an offline vector is folded in.
  void GrowItems(uint32_t num_items);
  // Sets every inactive item's score to kInactiveScore.
  void MaskInactive(std::span<float> out) const;

  BprOptions options_;
  uint32_t num_users_ = 0;
  uint32_t num_items_ = 0;
  // Plain arrays for scoring (row-major [rows, dim]); the tables live only during Fit.
  std::vector<float> user_factors_;
  std::vector<float> item_factors_;
  std::vector<float> item_bias_;
  // Per user / item: 1 when the row holds trained values. Users with no training interaction
  // and rows grown online start at 0 (a user is then folded in from their history; an item
  // scores kInactiveScore). Empty item_active_: every item is active.
  std::vector<uint8_t> user_active_;
  std::vector<uint8_t> item_active_;
  uint32_t inactive_items_ = 0;
  uint64_t online_steps_ = 0;
  static constexpr double kOnlineLearningRate = 0.05;
  static constexpr int kOnlineNegatives = 4;
};

}  // namespace freshet::model
