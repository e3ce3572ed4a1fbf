// The shop ranking pieces: the feature spec (parsing, errors, frozen statistics), samples from
// history (point-in-time features), the shop model file and ShopRanker (serving parity with the
// trainer, explanations, clone and online learning, cart conversion).

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <set>
#include <fstream>
#include <sstream>

#include "model/model_file.h"
#include "rank/ctr_model.h"
#include "rank/feature_spec.h"
#include "rank/metrics.h"
#include "rank/shop_ranker.h"
#include "rank/shop_samples.h"
#include "shop_fixtures.h"
#include "testing/testing.h"

namespace freshet::rank {
namespace {

using freshet::testing::TempDir;

std::string SpecError(std::string_view text) {
  auto spec = FeatureSpec::Parse(text, "my.spec");
  EXPECT_FALSE(spec.ok());
  return spec.ok() ? "" : spec.status().message();
}

TEST(FeatureSpecTest, DefaultSpecParsesAndMatchesTheConfigFile) {
  auto spec = FeatureSpec::Parse(FeatureSpec::DefaultText(), "default");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_GT(spec->num_slots(), 20);
  EXPECT_GT(spec->num_numeric(), 5);
  std::ifstream in(std::string(FRESHET_SOURCE_DIR) + "/config/shop_rank.spec");
  ASSERT_TRUE(in) << "config/shop_rank.spec is missing";
  std::stringstream file;
  file << in.rdbuf();
  EXPECT_EQ(file.str(), FeatureSpec::DefaultText())
      << "config/shop_rank.spec and the compiled-in default differ";
  EXPECT_EQ(spec->SlotName(spec->num_slots() - 1), "recent_cat_3");
  auto cart = FeatureSpec::Parse(FeatureSpec::DefaultCartText(), "cart default");
  ASSERT_TRUE(cart.ok()) << cart.status().ToString();
  std::ifstream cart_in(std::string(FRESHET_SOURCE_DIR) + "/config/shop_cart.spec");
  ASSERT_TRUE(cart_in) << "config/shop_cart.spec is missing";
  std::stringstream cart_file;
  cart_file << cart_in.rdbuf();
  EXPECT_EQ(cart_file.str(), FeatureSpec::DefaultCartText())
      << "config/shop_cart.spec and the compiled-in cart default differ";
}

TEST(FeatureSpecTest, ErrorsNameTheFileLineFieldAndReason) {
  EXPECT_EQ(SpecError("categorical user user\nnumeric price item_pricey\n"),
            "my.spec:2: field price: unknown source 'item_pricey' (`freshet train --task click "
            "--model ftrl --spec help` lists them)");
  EXPECT_EQ(SpecError("\n\nbogus x user\n"),
            "my.spec:3: field x: unknown kind 'bogus' (known: categorical, cross, numeric, "
            "sequence)");
  EXPECT_EQ(SpecError("categorical price item_price\n"),
            "my.spec:1: field price: source 'item_price' is not a categorical source");
  EXPECT_EQ(SpecError("numeric price item_price buckets=1\n"),
            "my.spec:1: field price: buckets must be an integer in [2, 1024], got '1'");
  EXPECT_EQ(SpecError("numeric price item_price transform=sqrt\n"),
            "my.spec:1: field price: transform must be none, log or zscore, got 'sqrt'");
  EXPECT_EQ(SpecError("categorical user user\ncategorical user item\n"),
            "my.spec:2: field user: defined twice (first on line 1)");
  EXPECT_EQ(SpecError("categorical user user\ncross ux user,item\n"),
            "my.spec:2: field ux: crosses 'item', which is not a categorical field defined above "
            "it");
  EXPECT_EQ(SpecError("categorical user user\nnumeric p item_price\ncross ux user,p\n"),
            "my.spec:3: field ux: crosses 'p', which is not categorical");
  EXPECT_EQ(SpecError("sequence recent recent_items length=0\n"),
            "my.spec:1: field recent: length must be an integer in [1, 50], got '0'");
  EXPECT_EQ(SpecError("categorical user user colour=red\n"),
            "my.spec:1: field user: unknown option 'colour' for a categorical field");
  EXPECT_EQ(SpecError("# nothing\n"), "my.spec: the feature spec defines no field");
  auto missing = FeatureSpec::ReadFile("/nonexistent/shop.spec");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_NE(missing.status().message().find("/nonexistent/shop.spec"), std::string::npos);
}

TEST(FeatureSpecTest, FrozenStatisticsSurviveTheModelFile) {
  auto spec = FeatureSpec::Parse(
      "numeric p item_price transform=log buckets=4\n"
      "numeric z user_events transform=zscore buckets=6 binning=uniform\n",
      "t.spec");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  feature::FeatureState state;
  ShopCatalog catalog;
  std::vector<uint64_t> raw;
  SpecScratch scratch;
  for (ItemId i = 0; i < 100; ++i) {
    catalog.Set(i, "c", "b", i % 3 == 0 ? -1.0 : 1.0 + i, 1);
    for (int k = 0; k < static_cast<int>(i % 7); ++k) state.Apply(i, i, EventType::kView, 1000);
    std::vector<uint64_t> row(2);
    spec->Build(state, catalog, {i, i, 2000, 0}, scratch, row);
    raw.insert(raw.end(), row.begin(), row.end());
  }
  ASSERT_TRUE(spec->Freeze(raw).ok());
  std::vector<uint64_t> ids = raw;
  spec->Finalize(ids);
  // Unknown prices take the "missing" id; the others spread over the buckets.
  EXPECT_EQ(ids[0] & 0xff, 0u);
  std::set<uint64_t> price_ids;
  for (size_t i = 0; i < ids.size(); i += 2) price_ids.insert(ids[i]);
  EXPECT_EQ(price_ids.size(), 5u);  // missing + 4 buckets
  model::ModelWriter w;
  spec->Save(w);
  auto r = model::ModelReader::Decode(w.Encode(), "mem");
  ASSERT_TRUE(r.ok());
  auto loaded = FeatureSpec::Load(*r);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(loaded->frozen());
  for (ItemId i = 0; i < 100; ++i) {
    std::vector<uint64_t> row(2);
    loaded->Build(state, catalog, {i, i, 2000, 0}, scratch, row);
    EXPECT_EQ(row[0], ids[i * 2]) << i;
    EXPECT_EQ(row[1], ids[i * 2 + 1]) << i;
  }
}

TEST(FeatureSpecTest, FeaturesReadTheStateBeforeTheEvent) {
  auto spec = FeatureSpec::Parse(
      "categorical in_cart in_cart\ncategorical seen seen_item\nnumeric carts user_carts\n"
      "sequence recent recent_items length=2\n",
      "t.spec");
  ASSERT_TRUE(spec.ok());
  feature::FeatureState state;
  ShopCatalog catalog;
  SpecScratch scratch;
  std::vector<uint64_t> row(spec->num_slots());
  spec->Build(state, catalog, {1, 5, 1000, 0}, scratch, row);
  EXPECT_EQ(row[0] & 0xff, 0u);  // not in the cart
  EXPECT_EQ(row[1] & 0xff, 0u);  // not seen
  EXPECT_EQ(std::bit_cast<float>(static_cast<uint32_t>(row[2])), 0.0f);
  state.Apply(1, 5, EventType::kView, 1000);
  state.Apply(1, 5, EventType::kCart, 1001, 1);
  state.Apply(1, 6, EventType::kView, 1002);
  spec->Build(state, catalog, {1, 5, 2000, 0}, scratch, row);
  EXPECT_EQ(row[0] & 0xff, 1u);
  EXPECT_EQ(row[1] & 0xff, 1u);
  EXPECT_EQ(std::bit_cast<float>(static_cast<uint32_t>(row[2])), 1.0f);
  EXPECT_EQ(row[3] & 0xffff, 6u);  // newest first
  EXPECT_EQ(row[4] & 0xffff, 5u);
  state.Apply(1, 5, EventType::kBuy, 3000, 1);  // a buy takes the item out of the cart
  spec->Build(state, catalog, {1, 5, 4000, 0}, scratch, row);
  EXPECT_EQ(row[0] & 0xff, 0u);
}

// Trains a model of `target` and returns it with its spec, as a shop model file.
std::string TrainShopModel(const testing::SimShop& shop, ShopTarget target,
                           const std::string& kind, const std::string& path,
                           ShopSamples* samples_out = nullptr) {
  auto spec = FeatureSpec::Parse(target == ShopTarget::kCart ? FeatureSpec::DefaultCartText()
                                                             : FeatureSpec::DefaultText(),
                                 "default");
  EXPECT_TRUE(spec.ok());
  ShopSampleOptions so;
  so.target = target;
  so.holdout = 0.25;
  auto samples = BuildShopSamples(shop.table, shop.catalog, &*spec, so);
  EXPECT_TRUE(samples.ok()) << samples.status().ToString();
  auto options = CtrDefaults(kind);
  options->epochs = 3;
  options->embed_dim = 4;
  if (kind == "deepfm") options->mlp = {16};
  auto model = CreateCtrModel(kind, *options);
  EXPECT_TRUE(model.ok());
  FitOptions fit;
  fit.threads = 1;
  auto report = (*model)->Fit(samples->train, &samples->valid, fit);
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  ShopModelMeta meta;
  meta.target = target;
  meta.windows = so.joiner;
  meta.split_ms = samples->split_ms;
  meta.holdout = so.holdout;
  if (target == ShopTarget::kCart) {
    meta.buy_delays_ms = BuyDelayQuantiles(samples->train_open_ms, samples->train.labels);
  }
  EXPECT_TRUE(SaveShopModel(path, **model, *spec, meta).ok());
  if (samples_out != nullptr) *samples_out = std::move(*samples);
  return path;
}

class ShopRankerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shop_ = new testing::SimShop(testing::MakeShop(300, 120, 8, 3));
    dir_ = new TempDir();
  }
  static void TearDownTestSuite() {
    delete shop_;
    delete dir_;
  }
  static testing::SimShop* shop_;
  static TempDir* dir_;
};
testing::SimShop* ShopRankerTest::shop_ = nullptr;
TempDir* ShopRankerTest::dir_ = nullptr;

TEST_F(ShopRankerTest, ClickModelBeatsChanceOnHeldOutTime) {
  ShopSamples s;
  const std::string path = TrainShopModel(*shop_, ShopTarget::kClick, "ftrl",
                                          dir_->Sub("click.fmdl"), &s);
  ASSERT_GT(s.valid.size(), 1000u);
  auto loaded = LoadShopModel(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  std::vector<float> p(s.valid.size());
  loaded->model->Predict(s.valid, p);
  EXPECT_GT(Auc(p, s.valid.labels), 0.65);
  // Every validation anchor lies at or after the split; every training one before.
  EXPECT_GT(s.split_ms, s.first_ms);
}

TEST_F(ShopRankerTest, ShopAndCtrModelFilesAreNotMixedUp) {
  const std::string path = TrainShopModel(*shop_, ShopTarget::kCart, "ftrl", dir_->Sub("c.fmdl"));
  auto as_ctr = CtrModel::Load(path);
  ASSERT_FALSE(as_ctr.ok());
  EXPECT_NE(as_ctr.status().message().find("--task click|cart|buy"), std::string::npos);
  auto r = ShopRanker::Load({path, path});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("are both cart models"), std::string::npos);
  auto missing = ShopRanker::Load({dir_->Sub("nope.fmdl")});
  EXPECT_FALSE(missing.ok());
}

// The serving path (live FeatureState + ShopRanker::Score) gives the trainer's probability for
// the same anchor: the features are built by the same call from the same state.
TEST_F(ShopRankerTest, ScoreMatchesTheTrainedModelOnReplayedAnchors) {
  const std::string click = TrainShopModel(*shop_, ShopTarget::kClick, "fm", dir_->Sub("k.fmdl"));
  const std::string cart = TrainShopModel(*shop_, ShopTarget::kCart, "ftrl", dir_->Sub("ca.fmdl"));
  auto ranker = ShopRanker::Load({click, cart});
  ASSERT_TRUE(ranker.ok()) << ranker.status().ToString();
  auto model = LoadShopModel(click);
  ASSERT_TRUE(model.ok());
  EXPECT_TRUE((*ranker)->has(ShopTarget::kClick));
  EXPECT_FALSE((*ranker)->has(ShopTarget::kBuy));
  feature::FeatureState state;
  const auto& t = shop_->table;
  ShopRanker::Scratch scratch;
  int checked = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t.type[i] == EventType::kImpression && i % 97 == 0) {
      const ItemId item = t.item[i];
      ShopScores s;
      (*ranker)->Score(state, shop_->catalog, t.user[i], {&item, 1},
                       {t.ts_ms[i], t.value[i]}, scratch, {&s, 1});
      std::vector<uint64_t> ids;
      (*ranker)->Features(state, shop_->catalog, {t.user[i], item, t.type[i], t.ts_ms[i],
                                                  t.value[i]},
                          ShopTarget::kClick, &ids);
      CtrDataset one;
      one.num_fields = static_cast<int>(ids.size());
      one.features = ids;
      one.labels = {0};
      float p = 0;
      model->model->Predict(one, {&p, 1});
      EXPECT_NEAR(s.p_click, p, 1e-6);
      EXPECT_TRUE(std::isnan(s.p_buy));
      EXPECT_GT(s.p_cart, 0.0f);
      ++checked;
    }
    state.Apply(t.user[i], t.item[i], t.type[i], t.ts_ms[i], t.value[i]);
  }
  EXPECT_GT(checked, 50);
}

TEST_F(ShopRankerTest, ExplanationsAddUpToTheLogit) {
  for (const std::string kind : {"ftrl", "fm"}) {
    const std::string path =
        TrainShopModel(*shop_, ShopTarget::kClick, kind, dir_->Sub(kind + ".fmdl"));
    auto ranker = ShopRanker::Load({path});
    ASSERT_TRUE(ranker.ok());
    feature::FeatureState state;
    state.Replay(shop_->table);
    const ShopContext ctx{shop_->table.ts_ms.back(), 2};
    const ItemId item = 7;
    ShopScores s;
    ShopRanker::Scratch scratch;
    (*ranker)->Score(state, shop_->catalog, 3, {&item, 1}, ctx, scratch, {&s, 1});
    std::vector<Contribution> all;
    float bias = 0;
    ASSERT_TRUE((*ranker)
                    ->Explain(state, shop_->catalog, 3, item, ctx, ShopTarget::kClick, 1000, &all,
                              &bias)
                    .ok());
    double logit = bias;
    for (const auto& c : all) logit += c.value;
    EXPECT_NEAR(1 / (1 + std::exp(-logit)), s.p_click, 1e-4) << kind;
    std::vector<Contribution> top;
    ASSERT_TRUE(
        (*ranker)->Explain(state, shop_->catalog, 3, item, ctx, ShopTarget::kClick, 3, &top).ok());
    ASSERT_EQ(top.size(), 3u);
    EXPECT_GE(std::abs(top[0].value), std::abs(top[2].value));
    EXPECT_NE(top[0].feature.find('='), std::string::npos);
    EXPECT_FALSE((*ranker)
                     ->Explain(state, shop_->catalog, 3, item, ctx, ShopTarget::kBuy, 3, &top)
                     .ok());
  }
}

TEST_F(ShopRankerTest, LearnChangesTheCloneOnly) {
  const std::string path = TrainShopModel(*shop_, ShopTarget::kClick, "ftrl", dir_->Sub("l.fmdl"));
  auto ranker = ShopRanker::Load({path});
  ASSERT_TRUE(ranker.ok());
  feature::FeatureState state;
  state.Replay(shop_->table);
  const ShopContext ctx{shop_->table.ts_ms.back(), 1};
  const ItemId item = 11;
  ShopRanker::Scratch scratch;
  ShopScores before, after, original;
  (*ranker)->Score(state, shop_->catalog, 5, {&item, 1}, ctx, scratch, {&before, 1});
  std::unique_ptr<ShopRanker> clone = (*ranker)->Clone();
  ShopScores cloned;
  clone->Score(state, shop_->catalog, 5, {&item, 1}, ctx, scratch, {&cloned, 1});
  EXPECT_EQ(cloned.p_click, before.p_click);
  std::vector<JoinedExample> xs(20);
  for (auto& x : xs) {
    x.target = ShopTarget::kClick;
    x.label = 1;
    clone->Features(state, shop_->catalog, {5, item, EventType::kImpression, ctx.now_ms, 1},
                    ShopTarget::kClick, &x.features);
  }
  JoinedExample other;
  other.target = ShopTarget::kBuy;  // no buy model: skipped
  xs.push_back(other);
  const LearnReport report = clone->Learn(xs);
  EXPECT_EQ(report.examples[0], 20u);
  EXPECT_EQ(report.skipped, 1u);
  clone->Score(state, shop_->catalog, 5, {&item, 1}, ctx, scratch, {&after, 1});
  (*ranker)->Score(state, shop_->catalog, 5, {&item, 1}, ctx, scratch, {&original, 1});
  EXPECT_GT(after.p_click, before.p_click + 0.05);
  EXPECT_EQ(original.p_click, before.p_click);
}

TEST_F(ShopRankerTest, QuantizedModelScoresLikeTheFloatOneAndDoesNotLearn) {
  const std::string path =
      TrainShopModel(*shop_, ShopTarget::kClick, "deepfm", dir_->Sub("qf.fmdl"));
  auto q = QuantizeModelFile(path, dir_->Sub("q8.fmdl"), EmbedPrecision::kInt8);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_TRUE(q->shop);
  auto float_ranker = ShopRanker::Load({path});
  auto ranker = ShopRanker::Load({dir_->Sub("q8.fmdl")});
  ASSERT_TRUE(float_ranker.ok() && ranker.ok()) << ranker.status().ToString();
  EXPECT_TRUE((*float_ranker)->can_learn());
  std::string why;
  EXPECT_FALSE((*ranker)->can_learn(&why));
  EXPECT_NE(why.find("q8.fmdl"), std::string::npos) << why;
  EXPECT_NE(why.find("int8"), std::string::npos) << why;
  feature::FeatureState state;
  state.Replay(shop_->table);
  const ShopContext ctx{shop_->table.ts_ms.back(), 1};
  const std::vector<ItemId> items = {3, 11, 40, 77};
  ShopRanker::Scratch scratch;
  std::vector<ShopScores> a(items.size()), b(items.size()), c(items.size());
  (*float_ranker)->Score(state, shop_->catalog, 5, items, ctx, scratch, a);
  (*ranker)->Score(state, shop_->catalog, 5, items, ctx, scratch, b);
  for (size_t i = 0; i < items.size(); ++i) EXPECT_NEAR(a[i].p_click, b[i].p_click, 0.02);
  // The learner's pattern: Clone, Learn, nothing learned, the scores unchanged.
  std::unique_ptr<ShopRanker> clone = (*ranker)->Clone();
  EXPECT_FALSE(clone->can_learn());
  std::vector<JoinedExample> xs(8);
  for (auto& x : xs) {
    x.target = ShopTarget::kClick;
    x.label = 1;
    clone->Features(state, shop_->catalog, {5, items[1], EventType::kImpression, ctx.now_ms, 1},
                    ShopTarget::kClick, &x.features);
  }
  const LearnReport report = clone->Learn(xs);
  EXPECT_EQ(report.examples[0], 0u);
  EXPECT_EQ(report.skipped, 8u);
  clone->Score(state, shop_->catalog, 5, items, ctx, scratch, c);
  for (size_t i = 0; i < items.size(); ++i) EXPECT_EQ(b[i].p_click, c[i].p_click);
}

TEST_F(ShopRankerTest, CartConversionCombinesTheCartLines) {
  const std::string path = TrainShopModel(*shop_, ShopTarget::kCart, "ftrl", dir_->Sub("cc.fmdl"));
  auto ranker = ShopRanker::Load({path});
  ASSERT_TRUE(ranker.ok());
  EXPECT_TRUE((*ranker)->joiner_options().enabled[1]);
  EXPECT_FALSE((*ranker)->joiner_options().enabled[0]);
  feature::FeatureState state;
  state.Apply(9999, 1, EventType::kCart, 1000, 1);
  state.Apply(9999, 2, EventType::kCart, 2000, 1);
  state.Apply(9999, 3, EventType::kCart, 3000, 1);
  state.Apply(9999, 2, EventType::kRemoveCart, 4000, 1);
  ShopRanker::Scratch scratch;
  CartReport report;
  ASSERT_TRUE(
      (*ranker)->CartConversion(state, shop_->catalog, 9999, {5000, 0}, scratch, &report).ok());
  ASSERT_EQ(report.items.size(), 2u);
  EXPECT_EQ(report.items[0].item, 1u);
  EXPECT_EQ(report.items[1].item, 3u);
  const double expect = 1 - (1 - report.items[0].p_buy) * (1 - report.items[1].p_buy);
  EXPECT_NEAR(report.p_converts, expect, 1e-6);
  CartReport empty;
  ASSERT_TRUE(
      (*ranker)->CartConversion(state, shop_->catalog, 4242, {5000, 0}, scratch, &empty).ok());
  EXPECT_TRUE(empty.items.empty());
  EXPECT_EQ(empty.p_converts, 0.0f);

  // The same cart a day later: its lines have stayed unbought, so they are less likely to be
  // bought than fresh adds; past the slowest purchase of training, not at all.
  CartReport later;
  ASSERT_TRUE((*ranker)->CartConversion(state, shop_->catalog, 9999, {5000 + 86400000, 0},
                                        scratch, &later).ok());
  ASSERT_EQ(later.items.size(), 2u);
  EXPECT_LT(later.items[0].p_buy, report.items[0].p_buy);
  EXPECT_LT(later.p_converts, report.p_converts);
  CartReport abandoned;
  ASSERT_TRUE((*ranker)->CartConversion(state, shop_->catalog, 9999, {5000 + 30 * 86400000LL, 0},
                                        scratch, &abandoned).ok());
  EXPECT_EQ(abandoned.p_converts, 0.0f);
}

// Buy delays as quantiles, and the probability of a line still open at its age.
TEST(ShopSamplesTest, ConditioningOnAgeFollowsTheDelaysOfPurchases) {
  std::vector<int64_t> open_ms;
  std::vector<float> labels;
  for (int i = 1; i <= 640; ++i) {  // purchases after 1 .. 640 s; negatives do not count
    open_ms.push_back(i * 1000);
    labels.push_back(1.0f);
    open_ms.push_back(5);
    labels.push_back(0.0f);
  }
  const std::vector<int64_t> q = BuyDelayQuantiles(open_ms, labels);
  ASSERT_EQ(q.size(), static_cast<size_t>(kBuyDelayQuantiles));
  EXPECT_EQ(q.front(), 10000);  // 1/64 of the purchases: the first 10
  EXPECT_EQ(q[31], 320000);     // the median
  EXPECT_EQ(q.back(), 640000);
  EXPECT_TRUE(BuyDelayQuantiles(open_ms, std::vector<float>(labels.size(), 0.0f)).empty());
  EXPECT_EQ(ConditionOnAge(0.5f, q, 0), 0.5f);
  EXPECT_EQ(ConditionOnAge(0.5f, {}, 320000), 0.5f) << "a file without delays: unchanged";
  // Half the purchases are over at the median: 0.5 * 0.5 / (1 - 0.5 * 0.5) = 1/3.
  EXPECT_NEAR(ConditionOnAge(0.5f, q, 320000), 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(ConditionOnAge(0.5f, q, 5000), 0.5 * (1 - 0.0078125) / (1 - 0.5 * 0.0078125), 1e-6)
      << "linear between 0 and the first quantile";
  EXPECT_EQ(ConditionOnAge(0.9f, q, 640000), 0.0f);
  EXPECT_LT(ConditionOnAge(0.9f, q, 600000), ConditionOnAge(0.9f, q, 100000));
}

TEST(ShopSamplesTest, EmptyHistoryAndMissingEventsAreClearErrors) {
  auto spec = FeatureSpec::Parse(FeatureSpec::DefaultText(), "default");
  ASSERT_TRUE(spec.ok());
  store::EventTable empty;
  ShopCatalog catalog;
  auto none = BuildShopSamples(empty, catalog, &*spec, {});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "the store holds no events");
  store::EventTable views;
  for (int i = 0; i < 10; ++i) {
    views.seq.push_back(static_cast<uint64_t>(i));
    views.ts_ms.push_back(1000 * i);
    views.user.push_back(1);
    views.item.push_back(static_cast<ItemId>(i));
    views.type.push_back(EventType::kView);
    views.value.push_back(0);
  }
  ShopSampleOptions so;
  so.target = ShopTarget::kCart;
  auto no_carts = BuildShopSamples(views, catalog, &*spec, so);
  ASSERT_FALSE(no_carts.ok());
  EXPECT_NE(no_carts.status().message().find("needs cart events"), std::string::npos);
}


TEST(ShopSamplesTest, AnchorsWhoseWindowPassesTheEndAreLeftOut) {
  auto spec = FeatureSpec::Parse(FeatureSpec::DefaultCartText(), "cart");
  ASSERT_TRUE(spec.ok());
  const int64_t hour = 3600000, day = 24 * hour;
  store::EventTable t;
  auto add = [&](UserId u, ItemId i, EventType type, int64_t ts) {
    t.seq.push_back(t.seq.size());
    t.ts_ms.push_back(ts);
    t.user.push_back(u);
    t.item.push_back(i);
    t.type.push_back(type);
    t.value.push_back(1);
  };
  add(1, 1, EventType::kCart, 0);
  add(1, 1, EventType::kBuy, hour);
  add(2, 2, EventType::kCart, 2 * hour);  // never bought: negative after 3 days
  add(3, 3, EventType::kCart, 9 * day);   // bought, but its window passes the end: left out
  add(3, 3, EventType::kBuy, 9 * day + hour);
  add(4, 4, EventType::kCart, 9 * day + 2 * hour);  // undecided at the end
  add(5, 5, EventType::kView, 10 * day);
  ShopSampleOptions so;
  so.target = ShopTarget::kCart;
  so.holdout = 0.5;
  auto s = BuildShopSamples(t, ShopCatalog(), &*spec, so);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->train.size(), 2u);
  EXPECT_EQ(s->train.labels, (std::vector<float>{1, 0}));
  EXPECT_EQ(s->valid.size(), 0u);
  EXPECT_EQ(s->censored, 1u);
  EXPECT_EQ(s->joiner.pending, 1u);
}


TEST(FeatureSpecTest, DamagedStatisticsAreCorruption) {
  const std::string text = "numeric p item_price buckets=4\n";
  auto load = [&](std::vector<double> stats) {
    model::ModelWriter w;
    w.PutBytes("shop.spec", text);
    w.PutBytes("shop.spec_origin", "t.spec");
    w.PutF64("shop.stats", stats);
    auto r = model::ModelReader::Decode(w.Encode(), "m.fmdl");
    EXPECT_TRUE(r.ok());
    return FeatureSpec::Load(*r);
  };
  EXPECT_TRUE(load({1.0, 2.0, 2, 0.5, 1.5}).ok());
  for (const std::vector<double>& bad : std::vector<std::vector<double>>{
           {1.0, 2.0},                 // truncated
           {1.0, 2.0, 3, 0.5},         // fewer edges than counted
           {1.0, 2.0, 2, 1.5, 0.5},    // edges out of order
           {1.0, -1.0, 0},             // negative stddev
           {1.0, 2.0, 0, 7.0}}) {      // trailing values
    auto spec = load(bad);
    ASSERT_FALSE(spec.ok());
    EXPECT_TRUE(spec.status().IsCorruption()) << spec.status().ToString();
    EXPECT_NE(spec.status().message().find("m.fmdl"), std::string::npos);
  }
}

TEST_F(ShopRankerTest, AFlippedByteIsReportedNotLoaded) {
  const std::string path = TrainShopModel(*shop_, ShopTarget::kCart, "ftrl", dir_->Sub("f.fmdl"));
  std::string bytes = freshet::testing::ReadFile(path);
  bytes[bytes.size() / 2] ^= 0x20;
  freshet::testing::WriteFile(dir_->Sub("flipped.fmdl"), bytes);
  auto r = ShopRanker::Load({dir_->Sub("flipped.fmdl")});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
}

}  // namespace
}  // namespace freshet::rank
