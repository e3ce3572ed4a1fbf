#pragma once

// Time-decayed popularity: an item's score is the number of interactions with it, each weighted
// by 2^(-age / half_life), age measured back from the newest interaction in the training data.
// Not personalised; it is the baseline every model must beat and the cold-start fallback.

#include <string>
#include <vector>

#include "model/params.h"
#include "model/recommender.h"

namespace freshet::model {

struct PopularityOptions {
  // Half-life of an interaction's weight, in days. Short half-lives follow trends (good for
  // shops whose bestsellers change weekly); 0 disables decay (all-time counts).
  double half_life_days = 7.0;

  Status Set(std::string_view key, std::string_view value);
  Params Get() const;
};

class PopularityModel final : public Recommender {
 public:
  explicit PopularityModel(PopularityOptions options = {}) : options_(options) {}

  std::string_view kind() const override { return "pop"; }
  uint32_t num_items() const override { return static_cast<uint32_t>(scores_.size()); }
  Status Fit(const TrainData& data, const FitOptions& options, TrainReport* report) override;
  void ScoreAll(UserId user, std::span<const ItemId> history,
                std::span<float> out) const override;
  void ScoreItems(UserId user, std::span<const ItemId> history, std::span<const ItemId> items,
                  std::span<float> out) const override;
  void Similar(ItemId item, size_t k, std::vector<std::pair<ItemId, float>>* out) const override;
  // Online: each interaction adds its weight at the model's clock (the newest time seen), which
  // moves forward with the stream and decays the older counts. New items enter with their first
  // interaction.
  Status Learn(std::span<const OnlineExample> batch, uint32_t num_items,
               const OnlineOptions& options) override;
  void Forget(std::span<const ItemId> items) override;
  std::unique_ptr<Recommender> Clone() const override;
  Status Save(ModelWriter& writer) const override;
  Status Load(const ModelReader& reader) override;

  Params params() const override { return options_.Get(); }
  const PopularityOptions& options() const { return options_; }

 private:
  PopularityOptions options_;
  std::vector<float> scores_;  // per item
  std::vector<ItemId> ranked_;  // items by descending score, for Similar
  int64_t clock_ms_ = 0;        // the time scores_ are decayed to: the newest interaction
};

}  // namespace freshet::model
