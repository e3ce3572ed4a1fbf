#pragma once

// Event tables and fake recommenders shared by the eval tests.

#include <cstdint>
#include <random>
#include <span>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/ids.h"
#include "model/recommender.h"
#include "store/event_table.h"

namespace freshet::eval::testing {

// Appends one row; seq numbers follow insertion order.
inline void AddEvent(store::EventTable& t, UserId u, ItemId i, int64_t ts,
                     EventType type = EventType::kView) {
  t.seq.push_back(t.seq.size());
  t.ts_ms.push_back(ts);
  t.user.push_back(u);
  t.item.push_back(i);
  t.type.push_back(type);
  t.value.push_back(0);
}

// `users` users, each with 3..max_len distinct items (so no repeats), at increasing timestamps
// interleaved across users; sorted by time. Seeded, so every run builds the same table.
inline store::EventTable RandomTable(uint32_t users, uint32_t items, uint32_t max_len,
                                     uint32_t seed) {
  std::mt19937 rng(seed);
  store::EventTable t;
  t.num_users = users;
  t.num_items = items;
  std::vector<std::vector<ItemId>> seqs(users);
  for (auto& s : seqs) {
    const uint32_t len = 3 + rng() % (max_len - 2);
    while (s.size() < len) {
      const ItemId i = rng() % items;
      bool dup = false;
      for (ItemId j : s) dup |= j == i;
      if (!dup) s.push_back(i);
    }
  }
  int64_t ts = 1000;
  for (uint32_t pos = 0; pos < max_len; ++pos) {
    for (UserId u = 0; u < users; ++u) {
      if (pos < seqs[u].size()) AddEvent(t, u, seqs[u][pos], ts++);
    }
  }
  return t;
}

// Scores from a fixed hash of (salt, user, last history item, item): deterministic, personalised,
// and different per user, which is what thread-count and path-equivalence tests need.
inline float HashScore(uint64_t salt, UserId user, ItemId last, ItemId item) {
  uint64_t z = salt * 0x9e3779b97f4a7c15ULL ^ (uint64_t{user} << 32 | last) ^
               (uint64_t{item} * 0xd1b54a32d192ed03ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) / static_cast<float>(1 << 24);
}

// Base for fakes: only scoring matters to the evaluator.
class FakeRecommender : public model::Recommender {
 public:
  explicit FakeRecommender(uint32_t num_items) : num_items_(num_items) {}
  std::string_view kind() const override { return "fake"; }
  uint32_t num_items() const override { return num_items_; }
  model::Params params() const override { return {{"kind", "fake"}}; }
  Status Fit(const model::TrainData&, const model::FitOptions&, model::TrainReport*) override {
    return Status::OK();
  }
  void Similar(ItemId, size_t, std::vector<std::pair<ItemId, float>>* out) const override {
    out->clear();
  }

 protected:
  uint32_t num_items_;
};

// Uniform random-looking scores, independent per (user, item), with `levels` distinct values when
// levels > 0 (to force ties) and NaN for every item divisible by `nan_every` when that is > 0.
class HashRecommender : public FakeRecommender {
 public:
  HashRecommender(uint32_t num_items, uint64_t salt, int levels = 0, uint32_t nan_every = 0)
      : FakeRecommender(num_items), salt_(salt), levels_(levels), nan_every_(nan_every) {}
  std::string_view kind() const override { return "hash"; }
  void ScoreAll(UserId user, std::span<const ItemId> history, std::span<float> out) const override {
    for (ItemId i = 0; i < out.size(); ++i) out[i] = Score(user, history, i);
  }
  void ScoreItems(UserId user, std::span<const ItemId> history, std::span<const ItemId> items,
                  std::span<float> out) const override {
    for (size_t j = 0; j < items.size(); ++j) out[j] = Score(user, history, items[j]);
  }

 private:
  float Score(UserId user, std::span<const ItemId> history, ItemId i) const {
    if (nan_every_ > 0 && i % nan_every_ == 0) return std::numeric_limits<float>::quiet_NaN();
    const float s = HashScore(salt_, user, history.empty() ? kNoId : history.back(), i);
    return levels_ > 0 ? std::floor(s * static_cast<float>(levels_)) : s;
  }
  uint64_t salt_;
  int levels_;
  uint32_t nan_every_;
};

}  // namespace freshet::eval::testing
