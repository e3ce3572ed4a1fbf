// The threaded paths of CTR training and prediction: Hogwild embedding rows and FTRL coordinates,
// data-parallel dense weights, concurrent Predict on a trained model. Run under ThreadSanitizer by
// `make tsan` (label `concurrent`).

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "fixtures.h"
#include "rank/ctr_model.h"
#include "rank/metrics.h"
#include "rank/shop_ranker.h"
#include "rank/shop_samples.h"
#include "shop_fixtures.h"
#include "testing/testing.h"

namespace freshet::rank {
namespace {

using testing::SyntheticSet;

class CtrConcurrentTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CtrConcurrentTest, MultiThreadedTrainingAndConcurrentPredictAreRaceFreeAndLearn) {
  const CtrDataset train = SyntheticSet(4000, 31);
  const CtrDataset test = SyntheticSet(1000, 32);
  CtrOptions o = *CtrDefaults(GetParam());
  o.embed_dim = 4;
  if (!o.mlp.empty()) o.mlp = {16};
  o.epochs = 2;
  o.batch_size = 64;
  auto model = CreateCtrModel(GetParam(), o);
  ASSERT_TRUE(model.ok());
  FitOptions fit;
  fit.threads = 4;
  auto report = (*model)->Fit(train, &test, fit);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const CtrModel& trained = **model;
  std::vector<std::vector<float>> out(3, std::vector<float>(test.size()));
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] { trained.Predict(test, out[t], /*threads=*/2); });
  }
  for (auto& r : readers) r.join();
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(out[0], out[2]);
  EXPECT_GT(Auc(out[0], test.labels), 0.6);
}

INSTANTIATE_TEST_SUITE_P(Kinds, CtrConcurrentTest,
                         ::testing::Values("ftrl", "fm", "deepfm", "dcnv2"));

// Serving threads score, explain and read carts from the published ShopRanker and the live
// FeatureState while a learner thread applies events, joins labels, learns on a clone and
// publishes it (the pattern shop_ranker.h prescribes).
TEST(ShopRankerConcurrentTest, ScoringWhileTheLearnerAppliesLearnsAndPublishes) {
  const auto shop = testing::MakeShop(120, 60, 3, 21);
  freshet::testing::TempDir dir;
  std::vector<std::string> files;
  for (auto [target, kind] : {std::pair{ShopTarget::kClick, "ftrl"},
                              std::pair{ShopTarget::kCart, "fm"}}) {
    auto spec = FeatureSpec::Parse(FeatureSpec::DefaultText(), "default");
    ASSERT_TRUE(spec.ok());
    ShopSampleOptions so;
    so.target = target;
    so.joiner.cart_window_ms = 6 * 3600 * 1000LL;  // a 3-day shop: the default 3 days is too long
    auto samples = BuildShopSamples(shop.table, shop.catalog, &*spec, so);
    ASSERT_TRUE(samples.ok()) << samples.status().ToString();
    CtrOptions o = *CtrDefaults(kind);
    o.epochs = 1;
    o.embed_dim = 4;
    auto model = CreateCtrModel(kind, o);
    ASSERT_TRUE(model.ok());
    FitOptions fit;
    fit.threads = 2;
    ASSERT_TRUE((*model)->Fit(samples->train, nullptr, fit).ok());
    ShopModelMeta meta;
    meta.target = target;
    meta.windows = so.joiner;
    files.push_back(dir.Sub(std::string(kind) + ".fmdl"));
    ASSERT_TRUE(SaveShopModel(files.back(), **model, *spec, meta).ok());
  }
  auto loaded = ShopRanker::Load(files);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  std::mutex mu;
  std::shared_ptr<const ShopRanker> published(std::move(*loaded));
  auto current = [&] {
    std::lock_guard lock(mu);
    return published;
  };
  feature::FeatureState state;
  std::atomic<bool> done{false};
  std::atomic<int> publications{0};
  std::thread learner([&] {
    LabelJoinerOptions jo = current()->joiner_options();
    jo.allowed_lateness_ms = 60000;
    std::shared_ptr<const ShopRanker> base = current();
    LabelJoiner joiner(jo, [&](const JoinEvent& a, ShopTarget t, std::vector<uint64_t>* out) {
      base->Features(state, shop.catalog, a, t, out);
    });
    std::vector<JoinedExample> batch;
    const auto& t = shop.table;
    for (size_t i = 0; i < t.size(); ++i) {
      joiner.Add({t.user[i], t.item[i], t.type[i], t.ts_ms[i], t.value[i]},
                 [&](JoinedExample&& x) { batch.push_back(std::move(x)); });
      state.Apply(t.user[i], t.item[i], t.type[i], t.ts_ms[i], t.value[i]);
      if (batch.size() >= 256) {
        std::unique_ptr<ShopRanker> next = base->Clone();
        next->Learn(batch);
        batch.clear();
        base = std::shared_ptr<const ShopRanker>(std::move(next));
        std::lock_guard lock(mu);
        published = base;
        ++publications;
      }
    }
    done = true;
  });
  std::vector<std::thread> readers;
  std::atomic<uint64_t> scored{0};
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      ShopRanker::Scratch scratch;
      std::vector<ItemId> items = {0, 1, 2, 3, 4, 5, 6, 7};
      std::vector<ShopScores> out(items.size());
      CartReport cart;
      std::vector<Contribution> why;
      UserId user = static_cast<UserId>(r);
      while (!done) {
        std::shared_ptr<const ShopRanker> ranker = current();
        ranker->Score(state, shop.catalog, user, items, {state.clock_ms(), 0}, scratch, out);
        for (const ShopScores& s : out) {
          EXPECT_TRUE(s.p_click > 0 && s.p_click < 1);
          EXPECT_TRUE(std::isnan(s.p_buy));
        }
        EXPECT_TRUE(ranker->CartConversion(state, shop.catalog, user, {state.clock_ms(), 0},
                                           scratch, &cart).ok());
        EXPECT_TRUE(ranker->Explain(state, shop.catalog, user, items[user % items.size()],
                                    {state.clock_ms(), 1}, ShopTarget::kClick, 3, &why).ok());
        user = (user + 7) % 120;
        ++scored;
      }
    });
  }
  learner.join();
  for (auto& r : readers) r.join();
  EXPECT_GT(publications.load(), 3);
  EXPECT_GT(scored.load(), 0u);
}

}  // namespace
}  // namespace freshet::rank
