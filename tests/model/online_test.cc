// Online learning (Recommender::Learn / Forget / Clone): every model that learns from the stream
// picks up a pattern planted after its offline fit, on an item the fit never saw.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/registry.h"
#include "model/sasrec.h"
#include "sasrec_fixtures.h"
#include "testing/testing.h"

namespace freshet::model {
namespace {

using testing::Chains;
using testing::kItems;

constexpr ItemId kNewItem = kItems;  // the first id after the fitted catalog
constexpr ItemId kCue = 5;           // after it, users now take the new item

std::unique_ptr<Recommender> Fitted(std::string_view kind) {
  Params params;
  if (kind == "sasrec") {
    params = Params{{"max_len", "8"},   {"hidden", "16"},       {"blocks", "1"},
                    {"heads", "2"},     {"epochs", "40"},       {"batch_size", "32"},
                    {"learning_rate", "0.01"}};
  } else if (kind == "bpr") {
    params = Params{{"epochs", "30"}, {"dim", "16"}};
  }
  auto created = CreateModel(kind, params);
  EXPECT_TRUE(created.ok()) << created.status().ToString();
  std::unique_ptr<Recommender> m = std::move(*created);
  Chains chains(400, 7);
  FitOptions fit;
  fit.progress = false;
  fit.threads = 1;
  TrainReport report;
  const Status s = m->Fit(chains.data(), fit, &report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return m;
}

// 0-based rank of `item` among ScoreAll's scores (ties count against it).
size_t RankOf(const Recommender& m, std::span<const ItemId> history, ItemId item) {
  std::vector<float> scores(m.num_items());
  m.ScoreAll(kNoId, history, scores);
  size_t rank = 0;
  for (ItemId j = 0; j < scores.size(); ++j) rank += (j != item && scores[j] >= scores[item]);
  return rank;
}

// Users 1000.. each walk the chain to the cue and then take the new item.
std::vector<std::vector<ItemId>> NewPatternHistories(int users) {
  std::vector<std::vector<ItemId>> histories;
  for (int u = 0; u < users; ++u) {
    ItemId start = static_cast<ItemId>((u * 11) % kItems);
    std::vector<ItemId> h{start, testing::Next(start), kCue};
    histories.push_back(h);
  }
  return histories;
}

Status LearnNewPattern(Recommender& m, int users, size_t batch_size) {
  const auto histories = NewPatternHistories(users);
  std::vector<OnlineExample> batch;
  OnlineOptions options;
  for (int u = 0; u < users; ++u) {
    batch.push_back({static_cast<UserId>(1000 + u), kNewItem, histories[u], 1000000 + u});
    if (batch.size() == batch_size || u + 1 == users) {
      FRESHET_RETURN_IF_ERROR(m.Learn(batch, kItems + 1, options));
      batch.clear();
    }
  }
  return Status::OK();
}

class OnlineModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnlineModelTest, LearnsAPatternOnANewItem) {
  std::unique_ptr<Recommender> m = Fitted(GetParam());
  ASSERT_EQ(m->num_items(), kItems);
  EXPECT_FALSE(m->item_active(kNewItem));
  ASSERT_TRUE(LearnNewPattern(*m, 200, 16).ok());
  ASSERT_EQ(m->num_items(), kItems + 1);
  EXPECT_TRUE(m->item_active(kNewItem));
  const std::vector<ItemId> probe{12, testing::Next(12), kCue};
  // Popularity ranks it first by count; the others by the cue that precedes it.
  EXPECT_LE(RankOf(*m, probe, kNewItem), GetParam() == "bpr" ? 4u : 2u) << GetParam();
}

TEST_P(OnlineModelTest, CloneIsIndependentAndSavedStateRoundTrips) {
  std::unique_ptr<Recommender> m = Fitted(GetParam());
  ASSERT_TRUE(LearnNewPattern(*m, 40, 8).ok());
  std::unique_ptr<Recommender> copy = m->Clone();
  ASSERT_NE(copy, nullptr);
  const std::vector<ItemId> probe{3, testing::Next(3), kCue};
  std::vector<float> before(m->num_items()), after(m->num_items()), cloned(m->num_items());
  copy->ScoreAll(kNoId, probe, before);
  m->ScoreAll(kNoId, probe, cloned);
  EXPECT_EQ(before, cloned);
  ASSERT_TRUE(LearnNewPattern(*m, 40, 8).ok());
  copy->ScoreAll(kNoId, probe, after);
  EXPECT_EQ(before, after) << "learning on the original changed the clone";

  // The grown model saves and loads with identical scores.
  const std::string path = (std::filesystem::path(::testing::TempDir()) /
                            ("online-" + GetParam() + ".fmdl")).string();
  ModelMeta meta;
  meta.kind = std::string(m->kind());
  meta.num_items = m->num_items();
  ASSERT_TRUE(SaveModel(*m, meta, path).ok());
  auto loaded = LoadModel(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->model->num_items(), m->num_items());
  std::vector<float> original(m->num_items()), reloaded(m->num_items());
  m->ScoreAll(kNoId, probe, original);
  loaded->model->ScoreAll(kNoId, probe, reloaded);
  for (size_t i = 0; i < original.size(); ++i) {
    EXPECT_NEAR(original[i], reloaded[i], 1e-4f * (1 + std::abs(original[i]))) << "item " << i;
  }
}

TEST_P(OnlineModelTest, RejectsAnItemBeyondTheCatalog) {
  std::unique_ptr<Recommender> m = Fitted(GetParam());
  const std::vector<ItemId> h{1, 2};
  const OnlineExample e{1, kItems + 5, h, 1};
  const Status s = m->Learn({&e, 1}, kItems + 1, OnlineOptions());
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
}

INSTANTIATE_TEST_SUITE_P(Models, OnlineModelTest,
                         ::testing::Values("pop", "swing", "itemknn", "bpr", "sasrec"),
                         [](const auto& info) { return info.param; });

// SasrecModel::Learn runs a large batch through the encoder kOnlineChunk windows at a time and
// sums the gradients before its one step: the step must not depend on which examples share a
// chunk. Without dropout, a batch and its reverse give the same weights (to rounding); a chunk
// that overwrote the gradients of the one before, or scaled them by its own size, would not.
TEST(OnlineSasrecTest, AStepOverSeveralChunksDoesNotDependOnTheirOrder) {
  auto created = CreateModel("sasrec", Params{{"max_len", "8"}, {"hidden", "16"},
                                              {"blocks", "1"}, {"heads", "2"},
                                              {"epochs", "5"}, {"dropout", "0"}});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::unique_ptr<Recommender> m = std::move(*created);
  Chains chains(200, 3);
  FitOptions fit;
  fit.progress = false;
  fit.threads = 1;
  TrainReport report;
  ASSERT_TRUE(m->Fit(chains.data(), fit, &report).ok());

  constexpr int kExamples = 2 * SasrecModel::kOnlineChunk + 19;  // three chunks, one short
  const auto histories = NewPatternHistories(kExamples);
  std::vector<OnlineExample> batch;
  for (int u = 0; u < kExamples; ++u) {
    const ItemId target = u % 3 == 0 ? kCue : testing::Next(histories[u].back());
    batch.push_back({static_cast<UserId>(1000 + u), target, histories[u], 1000000 + u});
  }
  std::vector<OnlineExample> reversed(batch.rbegin(), batch.rend());
  std::unique_ptr<Recommender> a = m->Clone();  // clones hold no gradient buffers: Learn makes them
  std::unique_ptr<Recommender> b = m->Clone();
  ASSERT_TRUE(a->Learn(batch, kItems, OnlineOptions()).ok());
  ASSERT_TRUE(b->Learn(reversed, kItems, OnlineOptions()).ok());

  const std::vector<ItemId> probe{3, testing::Next(3), kCue};
  std::vector<float> before(kItems), sa(kItems), sb(kItems);
  m->ScoreAll(kNoId, probe, before);
  a->ScoreAll(kNoId, probe, sa);
  b->ScoreAll(kNoId, probe, sb);
  float moved = 0;
  for (size_t i = 0; i < sa.size(); ++i) {
    moved = std::max(moved, std::abs(sa[i] - before[i]));
    EXPECT_NEAR(sa[i], sb[i], 1e-4f * (1 + std::abs(sa[i]))) << "item " << i;
  }
  EXPECT_GT(moved, 1e-3f) << "the step did not change the scores";
}

TEST(OnlineForgetTest, ForgottenItemsLeaveTheRankingUntilSeenAgain) {
  for (const char* kind : {"bpr", "sasrec"}) {
    std::unique_ptr<Recommender> m = Fitted(kind);
    const ItemId gone = testing::Next(kCue);
    const ItemId forgotten[] = {gone};
    m->Forget(forgotten);
    EXPECT_FALSE(m->item_active(gone)) << kind;
    const std::vector<ItemId> probe{kCue};
    std::vector<float> scores(m->num_items());
    m->ScoreAll(kNoId, probe, scores);
    EXPECT_EQ(scores[gone], Recommender::kInactiveScore) << kind;
    // Seen again: back in the ranking.
    const std::vector<ItemId> h{2, kCue};
    const OnlineExample e{7, gone, h, 5};
    ASSERT_TRUE(m->Learn({&e, 1}, m->num_items(), OnlineOptions()).ok());
    EXPECT_TRUE(m->item_active(gone)) << kind;
  }
}

TEST(OnlineForgetTest, ModelsThatCannotLearnSaySo) {
  // Every built-in kind learns online; the base class default reports Unimplemented.
  struct Fixed final : Recommender {
    std::string_view kind() const override { return "fixed"; }
    uint32_t num_items() const override { return 1; }
    Params params() const override { return {}; }
    Status Fit(const TrainData&, const FitOptions&, TrainReport*) override { return Status::OK(); }
    void ScoreAll(UserId, std::span<const ItemId>, std::span<float> out) const override {
      out[0] = 1;
    }
    void Similar(ItemId, size_t, std::vector<std::pair<ItemId, float>>* out) const override {
      out->clear();
    }
  } fixed;
  EXPECT_EQ(fixed.Learn({}, 1, OnlineOptions()).code(), Status::Code::kUnimplemented);
  EXPECT_EQ(fixed.Clone(), nullptr);
}

}  // namespace
}  // namespace freshet::model
