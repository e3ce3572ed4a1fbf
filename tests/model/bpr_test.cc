#include "model/bpr.h"

#include <gtest/gtest.h>

#include <cmath>

#include <algorithm>

#include "nn/random.h"

namespace freshet::model {
namespace {

// Two tastes: users of group g interact with 6 random items of the 20 items of their group.
struct Planted {
  store::EventTable table;
  UserSequences seqs;
  std::vector<int> group;
  Planted(int users, uint64_t seed) {
    nn::Rng rng(seed);
    table.num_users = users;
    table.num_items = 40;
    int64_t ts = 0;
    for (int u = 0; u < users; ++u) {
      int g = u % 2;
      group.push_back(g);
      for (int k = 0; k < 6; ++k) {
        table.seq.push_back(table.seq.size());
        table.ts_ms.push_back(ts += 1000);
        table.user.push_back(u);
        table.item.push_back(static_cast<ItemId>(g * 20 + rng.Below(20)));
        table.type.push_back(EventType::kView);
        table.value.push_back(0);
      }
    }
    seqs = BuildSequences(table);
  }
  TrainData data() const {
    TrainData d;
    d.table = &table;
    d.sequences = &seqs;
    return d;
  }
};

// Share of a user's top-10 (excluding their items) that lies in their own group's items.
double InGroupShare(const Recommender& m, const Planted& p, bool as_unseen) {
  double share = 0;
  std::vector<float> s(m.num_items());
  for (UserId u = 0; u < p.seqs.num_users(); ++u) {
    auto history = p.seqs.items_of(u);
    m.ScoreAll(as_unseen ? kNoId : u, history, s);
    for (ItemId h : history) s[h] = -1e30f;
    std::vector<ItemId> order(s.size());
    for (ItemId i = 0; i < order.size(); ++i) order[i] = i;
    std::partial_sort(order.begin(), order.begin() + 10, order.end(),
                      [&](ItemId a, ItemId b) { return s[a] > s[b]; });
    int in = 0;
    for (int r = 0; r < 10; ++r) in += static_cast<int>(order[r] / 20) == p.group[u];
    share += in / 10.0;
  }
  return share / p.seqs.num_users();
}

TEST(BprTest, LearnsPlantedTastesForTrainedAndFoldedInUsers) {
  Planted p(200, 3);
  BprOptions o;
  o.dim = 8;
  o.epochs = 30;
  BprModel m(o);
  FitOptions fit;
  fit.threads = 2;
  fit.progress = false;
  TrainReport report;
  ASSERT_TRUE(m.Fit(p.data(), fit, &report).ok());
  EXPECT_EQ(report.epochs.size(), 30u);
  EXPECT_LT(report.epochs.back().loss, report.epochs.front().loss);
  // Chance is 0.5 (14 unseen items of each group remain).
  EXPECT_GT(InGroupShare(m, p, /*as_unseen=*/false), 0.9);
  EXPECT_GT(InGroupShare(m, p, /*as_unseen=*/true), 0.9);
  std::vector<std::pair<ItemId, float>> similar;
  m.Similar(3, 5, &similar);
  ASSERT_EQ(similar.size(), 5u);
  int same = 0;
  for (auto [j, s] : similar) same += j < 20;
  EXPECT_GE(same, 4);
}

TEST(BprTest, EarlyStoppingKeepsTheBestEpoch) {
  Planted p(60, 5);
  BprOptions o;
  o.dim = 4;
  o.epochs = 50;
  BprModel m(o);
  FitOptions fit;
  fit.progress = false;
  fit.patience = 3;
  int calls = 0;
  // A validation that peaks at epoch 2: training must stop at epoch 5 and keep epoch 2.
  fit.validate = [&](const Recommender&) {
    ++calls;
    return std::vector<std::pair<std::string, double>>{{"score", calls == 2 ? 1.0 : 0.5}};
  };
  TrainReport report;
  ASSERT_TRUE(m.Fit(p.data(), fit, &report).ok());
  EXPECT_EQ(report.epochs.size(), 5u);
  EXPECT_EQ(report.best_epoch, 2);
}

TEST(BprTest, SaveLoadGivesIdenticalScores) {
  Planted p(40, 7);
  BprOptions o;
  o.dim = 6;
  o.epochs = 3;
  BprModel m(o);
  FitOptions fit;
  fit.progress = false;
  ASSERT_TRUE(m.Fit(p.data(), fit, nullptr).ok());
  ModelWriter w;
  ASSERT_TRUE(m.Save(w).ok());
  auto r = ModelReader::Decode(w.Encode(), "mem");
  ASSERT_TRUE(r.ok());
  BprModel loaded;
  ASSERT_TRUE(loaded.Load(*r).ok());
  EXPECT_EQ(loaded.options().dim, 6);
  std::vector<float> a(40), b(40);
  std::vector<ItemId> history = {1, 2};
  for (UserId u : {UserId{0}, UserId{7}, kNoId}) {
    m.ScoreAll(u, history, a);
    loaded.ScoreAll(u, history, b);
    EXPECT_EQ(a, b);
  }
}

TEST(BprTest, QueryVectorDotItemVectorsIsScoreAll) {
  Planted p(40, 8);
  BprOptions o;
  o.dim = 6;
  o.epochs = 2;
  BprModel m(o);
  FitOptions fit;
  fit.progress = false;
  ASSERT_TRUE(m.Fit(p.data(), fit, nullptr).ok());
  ASSERT_EQ(m.vector_dim(), 7);
  std::vector<float> items;
  m.ItemVectors(&items);
  ASSERT_EQ(items.size(), 40u * 7);
  std::vector<float> q(7), want(40);
  const std::vector<ItemId> history = {1, 2};
  for (UserId u : {UserId{0}, kNoId}) {
    ASSERT_TRUE(m.QueryVector(u, history, q));
    m.ScoreAll(u, history, want);
    for (int i = 0; i < 40; ++i) {
      float dot = 0;
      for (int k = 0; k < 7; ++k) dot += q[k] * items[i * 7 + k];
      EXPECT_NEAR(dot, want[i], 1e-4f * (1 + std::abs(want[i]))) << u << " " << i;
    }
  }
}

}  // namespace
}  // namespace freshet::model
