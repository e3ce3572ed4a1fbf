#include "model/sasrec.h"

#include <gtest/gtest.h>

#include <cmath>

#include "nn/random.h"
#include "sasrec_fixtures.h"

namespace freshet::model {
namespace {

using testing::Chains;
using testing::kItems;
using testing::Next;
using testing::Small;

// Share of random histories whose true next item is ranked first.
double NextItemAccuracy(const Recommender& m, uint64_t seed) {
  nn::Rng rng(seed);
  std::vector<float> s(m.num_items());
  int correct = 0;
  const int trials = 200;
  for (int t = 0; t < trials; ++t) {
    std::vector<ItemId> history;
    ItemId item = static_cast<ItemId>(rng.Below(kItems));
    const int len = 1 + static_cast<int>(rng.Below(6));
    for (int k = 0; k < len; ++k) {
      history.push_back(item);
      item = Next(item);
    }
    m.ScoreAll(kNoId, history, s);  // an unseen user: only the history
    correct += static_cast<ItemId>(std::max_element(s.begin(), s.end()) - s.begin()) == item;
  }
  return static_cast<double>(correct) / trials;
}

TEST(SasrecTest, FullSoftmaxLearnsAPlantedSequenceForUnseenUsers) {
  Chains chains(300, 1);
  SasrecModel m(Small("ce"));
  FitOptions fit;
  fit.threads = 2;
  fit.progress = false;
  TrainReport report;
  ASSERT_TRUE(m.Fit(chains.data(), fit, &report).ok());
  EXPECT_LT(report.epochs.back().loss, 0.5 * report.epochs.front().loss);
  // Chance is 1/30; popularity cannot do better than chance on a uniform chain start.
  EXPECT_GT(NextItemAccuracy(m, 7), 0.9);
}

TEST(SasrecTest, SharedNegativeSoftmaxLearnsToo) {
  // 8 shared negatives per batch out of 30 items: the importance-weighted estimate of the full
  // softmax, which the default uses on catalogs larger than ce_negatives + 1.
  Chains chains(300, 4);
  SasrecOptions o = Small("ce");
  o.ce_negatives = 8;
  SasrecModel m(o);
  FitOptions fit;
  fit.threads = 2;
  fit.progress = false;
  TrainReport report;
  ASSERT_TRUE(m.Fit(chains.data(), fit, &report).ok());
  EXPECT_LT(report.epochs.back().loss, 0.5 * report.epochs.front().loss);
  EXPECT_GT(NextItemAccuracy(m, 9), 0.8);  // chance: 1/30
}

TEST(SasrecTest, SharedNegativeSoftmaxLearnsWithBf16AndWithFloatProducts) {
  // Width 32: wide enough for the bf16 kernels, which run where the CPU has AVX512-BF16 (the
  // float products elsewhere, and always with ce_precision=float).
  for (const char* precision : {"bf16", "float"}) {
    Chains chains(300, 4);
    SasrecOptions o = Small("ce");
    o.hidden = 32;
    o.ce_negatives = 8;
    ASSERT_TRUE(o.Set("ce_precision", precision).ok());
    SasrecModel m(o);
    FitOptions fit;
    fit.threads = 2;
    fit.progress = false;
    TrainReport report;
    ASSERT_TRUE(m.Fit(chains.data(), fit, &report).ok());
    EXPECT_LT(report.epochs.back().loss, 0.5 * report.epochs.front().loss) << precision;
    EXPECT_GT(NextItemAccuracy(m, 9), 0.8) << precision;  // chance: 1/30
  }
}

TEST(SasrecTest, SampledBinaryCrossEntropyLearnsToo) {
  Chains chains(300, 2);
  SasrecOptions o = Small("bce");
  o.negatives = 4;
  SasrecModel m(o);
  FitOptions fit;
  fit.progress = false;
  ASSERT_TRUE(m.Fit(chains.data(), fit, nullptr).ok());
  EXPECT_GT(NextItemAccuracy(m, 8), 0.6);
}

TEST(SasrecTest, SaveLoadGivesIdenticalScoresAndEmptyHistoryFallsBackToPopularity) {
  Chains chains(60, 3);
  SasrecOptions o = Small("ce");
  o.epochs = 2;
  SasrecModel m(o);
  FitOptions fit;
  fit.progress = false;
  ASSERT_TRUE(m.Fit(chains.data(), fit, nullptr).ok());
  ModelWriter w;
  ASSERT_TRUE(m.Save(w).ok());
  auto r = ModelReader::Decode(w.Encode(), "mem");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  SasrecModel loaded;
  ASSERT_TRUE(loaded.Load(*r).ok());
  EXPECT_EQ(loaded.options().hidden, 16);
  EXPECT_EQ(loaded.options().heads, 2);
  std::vector<float> a(kItems), b(kItems);
  std::vector<ItemId> history = {4, Next(4), 99};  // 99: newer than the model, skipped
  m.ScoreAll(0, history, a);
  loaded.ScoreAll(0, history, b);
  EXPECT_EQ(a, b);

  loaded.ScoreAll(kNoId, {}, b);
  std::vector<float> pop(kItems, 0.0f);
  for (ItemId i : chains.seqs.items) pop[i] += 1.0f;
  EXPECT_EQ(b, pop);
  std::vector<std::pair<ItemId, float>> similar;
  loaded.Similar(4, 3, &similar);
  EXPECT_EQ(similar.size(), 3u);
}

TEST(SasrecTest, ScoreBatchEqualsScoreAllPerUser) {
  Chains chains(60, 5);
  SasrecOptions o = Small("ce");
  o.epochs = 2;
  SasrecModel m(o);
  FitOptions fit;
  fit.progress = false;
  ASSERT_TRUE(m.Fit(chains.data(), fit, nullptr).ok());
  // Different lengths (padding), one longer than max_len, an empty one (popularity) and one of
  // ids newer than the model only (popularity too).
  const std::vector<std::vector<ItemId>> histories = {
      {4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {}, {99, 100}, {7, 99, 8}};
  const std::vector<UserId> users = {0, 1, kNoId, 2, 3};
  std::vector<std::span<const ItemId>> spans(histories.begin(), histories.end());
  std::vector<float> batch(users.size() * kItems);
  m.ScoreBatch(users, spans, batch);
  std::vector<float> one(kItems);
  for (size_t u = 0; u < users.size(); ++u) {
    m.ScoreAll(users[u], histories[u], one);
    for (uint32_t i = 0; i < kItems; ++i) {
      EXPECT_NEAR(batch[u * kItems + i], one[i], 1e-4f * (1 + std::abs(one[i]))) << u << " " << i;
    }
  }
}

TEST(SasrecTest, QueryVectorDotItemVectorsIsScoreAll) {
  Chains chains(60, 7);
  SasrecOptions o = Small("ce");
  o.epochs = 1;
  SasrecModel m(o);
  FitOptions fit;
  fit.progress = false;
  ASSERT_TRUE(m.Fit(chains.data(), fit, nullptr).ok());
  ASSERT_EQ(m.vector_dim(), 16);
  std::vector<float> items;
  m.ItemVectors(&items);
  ASSERT_EQ(items.size(), kItems * 16u);
  std::vector<float> q(16), want(kItems);
  const std::vector<ItemId> history = {3, 4, 99};
  ASSERT_TRUE(m.QueryVector(kNoId, history, q));
  m.ScoreAll(kNoId, history, want);
  for (uint32_t i = 0; i < kItems; ++i) {
    float dot = 0;
    for (int k = 0; k < 16; ++k) dot += q[k] * items[i * 16 + k];
    EXPECT_NEAR(dot, want[i], 1e-4f * (1 + std::abs(want[i]))) << i;
  }
  // Only unknown items: no query vector (ScoreAll serves popularity).
  EXPECT_FALSE(m.QueryVector(kNoId, std::vector<ItemId>{99}, q));
}

TEST(SasrecTest, BadOptionsAreNamed) {
  SasrecOptions o;
  EXPECT_TRUE(o.Set("loss", "mse").IsInvalidArgument());
  EXPECT_TRUE(o.Set("ce_precision", "fp16").IsInvalidArgument());
  EXPECT_TRUE(o.Set("dropout", "1.5").IsInvalidArgument());
  ASSERT_TRUE(o.Set("heads", "3").ok());
  Chains chains(10, 4);
  SasrecModel m(o);
  FitOptions fit;
  fit.progress = false;
  Status s = m.Fit(chains.data(), fit, nullptr);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("must divide hidden"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace freshet::model
