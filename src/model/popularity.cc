#include "model/popularity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

namespace freshet::model {
namespace {

constexpr Field<PopularityOptions> kFields[] = {
    {"half_life_days",
     [](PopularityOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 0, 1e6, &o.half_life_days);
     },
     [](const PopularityOptions& o) { return FormatNumber(o.half_life_days); }},
};

void Rank(const std::vector<float>& scores, std::vector<ItemId>* ranked) {
  ranked->resize(scores.size());
  std::iota(ranked->begin(), ranked->end(), 0u);
  std::stable_sort(ranked->begin(), ranked->end(),
                   [&](ItemId a, ItemId b) { return scores[a] > scores[b]; });
}

}  // namespace

Status PopularityOptions::Set(std::string_view key, std::string_view value) {
  return SetField("pop", kFields, *this, key, value);
}
Params PopularityOptions::Get() const { return GetFields(kFields, *this); }

Status PopularityModel::Fit(const TrainData& data, const FitOptions&, TrainReport* report) {
  const auto start = std::chrono::steady_clock::now();
  const UserSequences& seqs = *data.sequences;
  if (seqs.items.empty()) return Status::InvalidArgument("no interactions to count");
  int64_t newest = *std::max_element(seqs.ts_ms.begin(), seqs.ts_ms.end());
  const double half_life_ms = options_.half_life_days * 86400000.0;
  std::vector<double> acc(seqs.num_items, 0.0);
  for (size_t i = 0; i < seqs.items.size(); ++i) {
    double w = 1.0;
    if (half_life_ms > 0) w = std::exp2(-static_cast<double>(newest - seqs.ts_ms[i]) / half_life_ms);
    acc[seqs.items[i]] += w;
  }
  scores_.assign(acc.begin(), acc.end());
  clock_ms_ = newest;
  Rank(scores_, &ranked_);
  if (report != nullptr) {
    report->seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return Status::OK();
}

void PopularityModel::ScoreAll(UserId, std::span<const ItemId>, std::span<float> out) const {
  std::copy(scores_.begin(), scores_.end(), out.begin());
}

void PopularityModel::ScoreItems(UserId, std::span<const ItemId>, std::span<const ItemId> items,
                                 std::span<float> out) const {
  for (size_t i = 0; i < items.size(); ++i) {
    out[i] = items[i] < scores_.size() ? scores_[items[i]] : 0.0f;
  }
}

void PopularityModel::Similar(ItemId item, size_t k,
                              std::vector<std::pair<ItemId, float>>* out) const {
  out->clear();
  for (ItemId i : ranked_) {
    if (out->size() >= k) break;
    if (i != item) out->emplace_back(i, scores_[i]);
  }
}

Status PopularityModel::Learn(std::span<const OnlineExample> batch, uint32_t num_items,
                              const OnlineOptions&) {
  for (const OnlineExample& e : batch) {
    if (e.item >= num_items) {
      return Status::InvalidArgument("pop: online example item " + std::to_string(e.item) +
                                     " is not below num_items " + std::to_string(num_items));
    }
  }
  if (num_items > scores_.size()) scores_.resize(num_items, 0.0f);
  const double half_life_ms = options_.half_life_days * 86400000.0;
  int64_t newest = clock_ms_;
  for (const OnlineExample& e : batch) newest = std::max(newest, e.ts_ms);
  if (half_life_ms > 0 && newest > clock_ms_) {
    const float decay =
        static_cast<float>(std::exp2(-static_cast<double>(newest - clock_ms_) / half_life_ms));
    for (float& v : scores_) v *= decay;
  }
  clock_ms_ = newest;
  for (const OnlineExample& e : batch) {
    double w = 1.0;
    if (half_life_ms > 0) w = std::exp2(-static_cast<double>(newest - e.ts_ms) / half_life_ms);
    scores_[e.item] += static_cast<float>(w);
  }
  Rank(scores_, &ranked_);
  return Status::OK();
}

void PopularityModel::Forget(std::span<const ItemId> items) {
  for (ItemId i : items) {
    if (i < scores_.size()) scores_[i] = 0.0f;
  }
  Rank(scores_, &ranked_);
}

std::unique_ptr<Recommender> PopularityModel::Clone() const {
  return std::make_unique<PopularityModel>(*this);
}

Status PopularityModel::Save(ModelWriter& writer) const {
  writer.PutBytes("params", FormatParams(options_.Get()));
  writer.PutF32("pop.scores", scores_);
  const int64_t clock[] = {clock_ms_};
  writer.PutI64("pop.clock", clock);
  return Status::OK();
}

Status PopularityModel::Load(const ModelReader& reader) {
  FRESHET_ASSIGN_OR_RETURN(std::string params_text, reader.Bytes("params"));
  FRESHET_ASSIGN_OR_RETURN(Params params, ParseParams(params_text));
  options_ = PopularityOptions();
  FRESHET_RETURN_IF_ERROR(ApplyParams(params, options_));
  FRESHET_ASSIGN_OR_RETURN(scores_, reader.F32("pop.scores"));
  clock_ms_ = 0;
  if (reader.Has("pop.clock")) {  // files before online learning have none
    FRESHET_ASSIGN_OR_RETURN(std::vector<int64_t> clock, reader.I64("pop.clock"));
    if (clock.size() != 1) {
      return Status::Corruption("model file '" + reader.origin() + "': pop.clock is not one value");
    }
    clock_ms_ = clock[0];
  }
  Rank(scores_, &ranked_);
  return Status::OK();
}

}  // namespace freshet::model
