#include "rank/models.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "fixtures.h"
#include "model/model_file.h"
#include "rank/ctr_model.h"
#include "rank/metrics.h"
#include "testing/testing.h"

namespace freshet::rank {
namespace {

using testing::FrequencyBaselineAuc;
using testing::SyntheticSet;

TEST(FtrlTest, OneUpdateMatchesHandComputedNumbers) {
  CtrOptions o;
  o.ftrl_alpha = 0.1f;
  o.ftrl_beta = 1.0f;
  o.ftrl_l1 = 0.1f;
  o.ftrl_l2 = 1.0f;
  FtrlModel m(o);
  ASSERT_TRUE(m.Init(2, 4).ok());
  // Two fields, four feature rows, the bias is coordinate 4.
  const uint32_t first[2] = {2, 3};
  // All weights 0: p = 0.5, g = -0.5; each active coordinate: sigma = (sqrt(0.25) - 0) / 0.1 = 5,
  // z = -0.5 - 5 * 0 = -0.5, n = 0.25; w = -(z + l1) / ((beta + sqrt(n)) / alpha + l2)
  // = 0.4 / 16 = 0.025.
  EXPECT_FLOAT_EQ(m.Learn(first, 1.0f), 0.5f);
  EXPECT_FLOAT_EQ(m.Weight(2), 0.025f);
  EXPECT_FLOAT_EQ(m.Weight(3), 0.025f);
  EXPECT_FLOAT_EQ(m.Weight(m.bias_coordinate()), 0.025f);
  EXPECT_EQ(m.Weight(1), 0.0f);
  // Second sample, rows {2, 1}, label 0: logit 0.025 + 0 + 0.025, p = sigmoid(0.05).
  // Coordinate 2: g = 0.5124974, sigma = (sqrt(0.5126536) - 0.5) / 0.1 = 2.1599832,
  // z = -0.5 + g - sigma * 0.025 = -0.0415022, |z| <= l1 so w = 0.
  // Coordinate 1: sigma = g / 0.1, z = g = 0.5124974, n = g^2 = 0.2626536,
  // w = -(0.5124974 - 0.1) / ((1 + 0.5124974) / 0.1 + 1) = -0.0255813.
  const uint32_t second[2] = {2, 1};
  EXPECT_NEAR(m.Learn(second, 0.0f), 0.5124973964842103, 1e-6);
  EXPECT_EQ(m.Weight(2), 0.0f);
  EXPECT_NEAR(m.Weight(1), -0.025581275193596854, 1e-6);
  EXPECT_EQ(m.Weight(m.bias_coordinate()), 0.0f);
  EXPECT_FLOAT_EQ(m.Weight(3), 0.025f) << "coordinates not in the sample are untouched";
}

struct LearnCase {
  const char* kind;
  double min_gain_over_baseline;
};

class CtrModelLearnTest : public ::testing::TestWithParam<LearnCase> {};

CtrOptions SmallOptions(const std::string& kind) {
  CtrOptions o = *CtrDefaults(kind);
  // Smaller than the defaults so that the sanitizer builds stay quick; the same code paths.
  o.embed_dim = 8;
  if (!o.mlp.empty()) o.mlp = {32, 32};
  o.epochs = 6;
  return o;
}

// A `kind` model with SmallOptions trained `epochs` epochs on `train`; null (with a failure) if
// that does not work.
std::unique_ptr<CtrModel> FitSmall(const std::string& kind, const CtrDataset& train, int epochs) {
  CtrOptions o = SmallOptions(kind);
  o.epochs = epochs;
  auto model = CreateCtrModel(kind, o);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return nullptr;
  const auto fitted = (*model)->Fit(train, nullptr, FitOptions{});
  EXPECT_TRUE(fitted.ok()) << fitted.status().ToString();
  return fitted.ok() ? std::move(*model) : nullptr;
}

TEST_P(CtrModelLearnTest, LearnsThePlantedPatternWellAboveTheFrequencyBaseline) {
  const LearnCase c = GetParam();
  const CtrDataset train = SyntheticSet(20000, 1);
  const CtrDataset valid = SyntheticSet(3000, 2);
  std::vector<float> truth;
  const CtrDataset test = SyntheticSet(6000, 3, &truth);
  auto model = CreateCtrModel(c.kind, SmallOptions(c.kind));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  FitOptions fit;
  fit.threads = 2;
  auto report = (*model)->Fit(train, &valid, fit);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::vector<float> p(test.size());
  (*model)->Predict(test, p, 2);
  const double auc = Auc(p, test.labels);
  const double baseline = FrequencyBaselineAuc(train, test);
  const double oracle = Auc(truth, test.labels);
  std::printf(
      "%s: test AUC %.4f logloss %.4f; frequency baseline %.4f, oracle %.4f, best epoch %d\n",
      c.kind, auc, LogLoss(p, test.labels), baseline, oracle, report->best_epoch);
  EXPECT_GT(auc, baseline + c.min_gain_over_baseline);
  EXPECT_LT(LogLoss(p, test.labels), 0.6);
}

INSTANTIATE_TEST_SUITE_P(Kinds, CtrModelLearnTest,
                         ::testing::Values(LearnCase{"ftrl", 0.05}, LearnCase{"fm", 0.05},
                                           LearnCase{"deepfm", 0.05}, LearnCase{"dcnv2", 0.05}),
                         [](const auto& info) { return std::string(info.param.kind); });

class CtrModelFileTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CtrModelFileTest, SaveLoadRoundTripGivesIdenticalPredictions) {
  const CtrDataset train = SyntheticSet(3000, 11);
  const CtrDataset test = SyntheticSet(500, 12);
  auto model = FitSmall(GetParam(), train, 2);
  ASSERT_NE(model, nullptr);
  freshet::testing::TempDir dir;
  const std::string path = dir.Sub("m.fmdl");
  ASSERT_TRUE(model->Save(path).ok());
  auto loaded = CtrModel::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->kind(), GetParam());
  EXPECT_EQ((*loaded)->format(), CtrFormat::kCriteo);
  std::vector<float> a(test.size()), b(test.size());
  model->Predict(test, a);
  (*loaded)->Predict(test, b);
  EXPECT_EQ(a, b);
}

// Online admission and expiry (the shop ranker's learner): a new id gets a row of its own on its
// min_count-th sighting, starting as its field's rare row (the prediction does not jump), learns
// on it without moving the rare row, is kept by copies and files, and gives the row back when
// unseen too long; the next new id reuses it from a fresh start.
TEST_P(CtrModelFileTest, IdsAdmittedOnlineGetOwnRowsAndExpire) {
  const CtrDataset train = SyntheticSet(3000, 11);
  CtrOptions o = SmallOptions(GetParam());
  o.epochs = 1;
  o.min_count = 2;
  auto created = CreateCtrModel(GetParam(), o);
  ASSERT_TRUE(created.ok());
  CtrModel& model = **created;
  ASSERT_TRUE(model.Fit(train, nullptr, FitOptions{}).ok());
  const size_t f = static_cast<size_t>(model.num_fields());
  // A training sample's rows with field 0's id replaced by one never seen.
  std::vector<uint32_t> rows(f);
  for (size_t j = 0; j < f; ++j) rows[j] = model.RowOf(train.features[j]);
  const uint64_t fresh = HashFeature(0, "never-seen-before");
  rows[0] = model.RowOf(fresh);
  ASSERT_EQ(rows[0], 0u) << "an unseen id uses its field's rare row";
  const std::vector<uint32_t> rare_rows = rows;
  auto predict = [&](const std::vector<uint32_t>& r, CtrModel& m) {
    float p = 0;
    m.PredictEncoded(r.data(), 1, {&p, 1});
    return p;
  };
  // Positives through the rare row first, so that it has a weight of its own to be copied (an
  // FTRL weight starts at exactly 0).
  const std::vector<float> ones(8, 1.0f);
  std::vector<uint32_t> batch;
  auto learn_ones = [&] {
    batch.clear();
    for (int i = 0; i < 8; ++i) batch.insert(batch.end(), rows.begin(), rows.end());
    for (int step = 0; step < 5; ++step) ASSERT_TRUE(model.LearnEncoded(batch.data(), ones).ok());
  };
  const float untrained = predict(rows, model);
  learn_ones();
  const float before = predict(rows, model);
  ASSERT_GT(before, untrained);
  const uint32_t table_rows = model.feature_rows();
  auto observe = [&](uint64_t id, uint64_t step) {
    auto admitted = model.ObserveOnline({&id, 1}, step, {&rows[0], 1});
    EXPECT_TRUE(admitted.ok()) << admitted.status().ToString();
    return admitted.ok() ? *admitted : 0;
  };

  EXPECT_EQ(observe(fresh, 100), 0u);
  EXPECT_EQ(rows[0], 0u) << "one sighting is below min_count";
  EXPECT_EQ(observe(fresh, 101), 1u);
  const uint32_t own = rows[0];
  EXPECT_EQ(own, table_rows) << "the table grew by one row";
  EXPECT_EQ(model.feature_rows(), table_rows + 1);
  EXPECT_EQ(model.RowOf(fresh), own);
  const float admitted = predict(rows, model);
  EXPECT_NEAR(admitted, before, 1e-6) << "the new row starts as the rare row";

  learn_ones();
  const float learned = predict(rows, model);
  EXPECT_GT(learned, admitted);
  const float rare = predict(rare_rows, model);

  // Copies and files keep the admitted id and its row.
  freshet::testing::TempDir dir;
  ASSERT_TRUE(model.Save(dir.Sub("grown.fmdl")).ok());
  auto loaded = CtrModel::Load(dir.Sub("grown.fmdl"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->RowOf(fresh), own);
  EXPECT_EQ(predict(rows, **loaded), learned);

  // Expiry: ids admitted offline count their age from the first call, so only the new id, last
  // seen at 101, is more than 50 steps old at 200.
  EXPECT_EQ(model.ExpireOnline(150, 50), 0u);
  EXPECT_EQ(model.ExpireOnline(200, 50), 1u);
  EXPECT_EQ(model.RowOf(fresh), 0u);
  const uint64_t next = HashFeature(0, "another-newcomer");
  observe(next, 201);
  EXPECT_EQ(observe(next, 202), 1u);
  EXPECT_EQ(rows[0], own) << "the freed row is reused";
  EXPECT_EQ(model.feature_rows(), table_rows + 1);
  EXPECT_NEAR(predict(rows, model), rare, 1e-6) << "the reused row starts over from the rare row";
}

// A model read from a file or copied serves from cached weights (FTRL) or its tables; what it
// learns afterwards must show in its next predictions.
TEST_P(CtrModelFileTest, ALoadedOrCopiedModelPredictsWhatItLearnsNext) {
  const CtrDataset train = SyntheticSet(2000, 21);
  auto model = FitSmall(GetParam(), train, 1);
  ASSERT_NE(model, nullptr);
  freshet::testing::TempDir dir;
  ASSERT_TRUE(model->Save(dir.Sub("m.fmdl")).ok());
  auto loaded = CtrModel::Load(dir.Sub("m.fmdl"));
  ASSERT_TRUE(loaded.ok());
  auto copied = model->Clone();
  ASSERT_TRUE(copied.ok());
  const size_t f = static_cast<size_t>(model->num_fields());
  std::vector<uint32_t> rows(f);
  for (size_t j = 0; j < f; ++j) rows[j] = model->RowOf(train.features[j]);
  for (CtrModel* m : {loaded->get(), copied->get()}) {
    float before = 0, after = 0;
    m->PredictEncoded(rows.data(), 1, {&before, 1});
    const std::vector<float> ones(4, 1.0f);
    std::vector<uint32_t> batch;
    for (int i = 0; i < 4; ++i) batch.insert(batch.end(), rows.begin(), rows.end());
    for (int step = 0; step < 5; ++step) ASSERT_TRUE(m->LearnEncoded(batch.data(), ones).ok());
    m->PredictEncoded(rows.data(), 1, {&after, 1});
    EXPECT_GT(after, before);
  }
}

// A serving copy predicts exactly as its source, without the tables' optimizer moments; it
// refuses to learn in place, and its learning clone learns as a learning clone of the source.
TEST_P(CtrModelFileTest, AServingCopyPredictsAlikeWithoutOptimizerState) {
  const CtrDataset train = SyntheticSet(2000, 23);
  const CtrDataset test = SyntheticSet(400, 24);
  auto model = FitSmall(GetParam(), train, 1);
  ASSERT_NE(model, nullptr);
  auto serving = model->Clone(CtrModel::CopyFor::kServing);
  ASSERT_TRUE(serving.ok()) << serving.status().ToString();
  CtrModel& copy = **serving;
  EXPECT_TRUE(copy.serving_copy());
  EXPECT_TRUE(copy.can_learn()) << "a learning clone of it can";
  EXPECT_FALSE(copy.learns_in_place());
  std::vector<float> a(test.size()), b(test.size());
  model->Predict(test, a);
  copy.Predict(test, b);
  EXPECT_EQ(a, b);
  const CtrModel::TableBytes full = model->EmbeddingBytes(), bare = copy.EmbeddingBytes();
  EXPECT_EQ(bare.values, full.values);
  if (full.values > 0) {  // FM, DeepFM, DCN-v2: only the rows' step counts are left
    EXPECT_EQ(bare.optimizer, full.values / static_cast<size_t>(SmallOptions(GetParam()).embed_dim));
  }
  const size_t f = static_cast<size_t>(model->num_fields());
  std::vector<uint32_t> rows(f);
  for (size_t j = 0; j < f; ++j) rows[j] = model->RowOf(train.features[j]);
  const std::vector<float> one(1, 1.0f);
  const Result<double> refused = copy.LearnEncoded(rows.data(), one);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("serving copy"), std::string::npos);
  std::vector<uint32_t> out(1);
  const std::vector<uint64_t> id(1, train.features[0]);
  EXPECT_FALSE(copy.ObserveOnline(id, 1, out).ok());
  EXPECT_EQ(copy.ExpireOnline(1000, 1), 0u);
  copy.Predict(test, b);
  EXPECT_EQ(a, b) << "refused calls changed nothing";
  auto from_copy = copy.Clone();
  auto from_source = model->Clone();
  ASSERT_TRUE(from_copy.ok() && from_source.ok());
  EXPECT_FALSE((*from_copy)->serving_copy());
  for (CtrModel* m : {from_copy->get(), from_source->get()}) {
    for (int step = 0; step < 3; ++step) ASSERT_TRUE(m->LearnEncoded(rows.data(), one).ok());
  }
  (*from_copy)->Predict(test, a);
  (*from_source)->Predict(test, b);
  EXPECT_EQ(a, b);
}

TEST_P(CtrModelFileTest, CorruptOrTruncatedFileIsRejected) {
  const CtrDataset train = SyntheticSet(1000, 13);
  auto model = FitSmall(GetParam(), train, 1);
  ASSERT_NE(model, nullptr);
  freshet::testing::TempDir dir;
  const std::string path = dir.Sub("m.fmdl");
  ASSERT_TRUE(model->Save(path).ok());
  std::string bytes = freshet::testing::ReadFile(path);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x20;
  freshet::testing::WriteFile(dir.Sub("flipped.fmdl"), flipped);
  auto bad = CtrModel::Load(dir.Sub("flipped.fmdl"));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsCorruption()) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("flipped.fmdl"), std::string::npos);
  freshet::testing::WriteFile(dir.Sub("short.fmdl"), bytes.substr(0, bytes.size() - 9));
  auto truncated = CtrModel::Load(dir.Sub("short.fmdl"));
  ASSERT_FALSE(truncated.ok());
  EXPECT_TRUE(truncated.status().IsCorruption());
}

INSTANTIATE_TEST_SUITE_P(Kinds, CtrModelFileTest,
                         ::testing::Values("ftrl", "fm", "deepfm", "dcnv2"));

TEST(CtrModelFileTest, ForeignModelFileIsRejectedClearly) {
  freshet::testing::TempDir dir;
  model::ModelWriter w;
  w.PutBytes("kind", "sasrec");
  ASSERT_TRUE(w.Commit(dir.Sub("rec.fmdl")).ok());
  auto loaded = CtrModel::Load(dir.Sub("rec.fmdl"));
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("holds a 'sasrec' model, not a CTR model"),
            std::string::npos)
      << loaded.status().ToString();
  freshet::testing::WriteFile(dir.Sub("text.fmdl"), "hello, not a model\n");
  auto text = CtrModel::Load(dir.Sub("text.fmdl"));
  ASSERT_FALSE(text.ok());
  EXPECT_TRUE(text.status().IsCorruption());
}

TEST(CtrModelTest, UnknownKindAndBadOptionsAreNamed) {
  auto unknown = CreateCtrModel("xgboost", {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("known: ftrl, fm, deepfm, dcnv2"), std::string::npos);
  CtrOptions o = *CtrDefaults("fm");
  o.embed_dim = 0;
  auto bad = CreateCtrModel("fm", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("embed_dim"), std::string::npos);
}

TEST(CtrModelTest, EarlyStoppingKeepsTheBestValidationEpoch) {
  const CtrDataset train = SyntheticSet(3000, 21);
  const CtrDataset valid = SyntheticSet(1000, 22);
  CtrOptions o = SmallOptions("deepfm");
  o.epochs = 30;
  o.patience = 1;
  o.min_count = 1;  // memorise everything: overfits within a few epochs
  auto model = CreateCtrModel("deepfm", o);
  ASSERT_TRUE(model.ok());
  std::vector<EpochReport> seen;
  FitOptions fit;
  fit.threads = 1;
  fit.on_epoch = [&](const EpochReport& e) { seen.push_back(e); };
  auto report = (*model)->Fit(train, &valid, fit);
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(seen.size(), report->epochs.size());
  EXPECT_LT(seen.size(), 30u) << "stopped early";
  const int best = report->best_epoch;
  ASSERT_GE(best, 1);
  std::vector<float> p(valid.size());
  (*model)->Predict(valid, p);
  EXPECT_NEAR(LogLoss(p, valid.labels), seen[best - 1].valid_logloss, 1e-6)
      << "the model holds the best epoch's weights";
}

}  // namespace
}  // namespace freshet::rank

namespace freshet::rank {
namespace {

TEST(CtrOptionTest, ValuesParseWholeOrAreRefusedByName) {
  CtrOptions o;
  EXPECT_TRUE(SetCtrOption("embed_dim", "8", &o).ok());
  EXPECT_EQ(o.embed_dim, 8);
  EXPECT_TRUE(SetCtrOption("mlp", "200:100", &o).ok());
  EXPECT_EQ(o.mlp, (std::vector<int>{200, 100}));
  EXPECT_TRUE(SetCtrOption("mlp", "64,32", &o).ok());
  EXPECT_EQ(o.mlp, (std::vector<int>{64, 32}));
  EXPECT_TRUE(SetCtrOption("learning_rate", "0.01", &o).ok());
  EXPECT_FLOAT_EQ(o.learning_rate, 0.01f);
  const Status trailing = SetCtrOption("embed_dim", "8x", &o);
  EXPECT_TRUE(trailing.IsInvalidArgument());
  EXPECT_NE(trailing.message().find("embed_dim"), std::string::npos) << trailing.message();
  EXPECT_EQ(o.embed_dim, 8);
  EXPECT_TRUE(SetCtrOption("mlp", "200::100", &o).IsInvalidArgument());
  EXPECT_TRUE(SetCtrOption("learning_rate", "nan", &o).IsInvalidArgument());
  EXPECT_TRUE(SetCtrOption("no_such_option", "1", &o).IsNotFound());
  EXPECT_TRUE(o.mlp_bf16);
  EXPECT_TRUE(SetCtrOption("mlp_precision", "float", &o).ok());
  EXPECT_FALSE(o.mlp_bf16);
  EXPECT_TRUE(SetCtrOption("mlp_precision", "bf16", &o).ok());
  EXPECT_TRUE(o.mlp_bf16);
  const Status precision = SetCtrOption("mlp_precision", "fp16", &o);
  EXPECT_TRUE(precision.IsInvalidArgument());
  EXPECT_NE(precision.message().find("mlp_precision"), std::string::npos) << precision.message();
}

// Threaded training applies each row once per batch with the gradient summed over the whole
// batch, rows split between the workers: two runs with the same thread count give identical
// models, and a different thread count the same model up to the order of float sums.
TEST(CtrModelTest, ThreadedTrainingIsDeterministicAndMatchesOneThread) {
  const CtrDataset train = SyntheticSet(6000, 1);
  const CtrDataset test = SyntheticSet(2000, 3);
  for (const char* kind : {"fm", "deepfm"}) {
    std::vector<std::vector<float>> p;
    for (int threads : {3, 3, 1}) {
      CtrOptions o = SmallOptions(kind);
      o.epochs = 2;
      auto model = CreateCtrModel(kind, o);
      ASSERT_TRUE(model.ok()) << model.status().ToString();
      FitOptions fit;
      fit.threads = threads;
      ASSERT_TRUE((*model)->Fit(train, nullptr, fit).ok());
      p.emplace_back(test.size());
      (*model)->Predict(test, p.back(), 1);
    }
    EXPECT_EQ(p[0], p[1]) << kind;
    float most = 0;
    for (size_t i = 0; i < p[0].size(); ++i) most = std::max(most, std::abs(p[0][i] - p[2][i]));
    EXPECT_LT(most, 0.01f) << kind;
    std::printf("%s: largest |p(3 threads) - p(1 thread)| %.2g\n", kind, most);
  }
}

// The MLP's bf16 products (on CPUs with AVX512-BF16; elsewhere both runs are float) cost no
// accuracy: the same data and seed give the same test AUC to within run-to-run noise.
TEST(CtrModelTest, Bf16AndFloatMlpLearnAlike) {
  const CtrDataset train = SyntheticSet(20000, 1);
  const CtrDataset test = SyntheticSet(6000, 3);
  double auc[2];
  for (int bf16 = 0; bf16 < 2; ++bf16) {
    CtrOptions o = SmallOptions("deepfm");
    o.epochs = 3;
    o.mlp_bf16 = bf16 == 1;
    auto model = CreateCtrModel("deepfm", o);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    FitOptions fit;
    fit.threads = 2;
    ASSERT_TRUE((*model)->Fit(train, nullptr, fit).ok());
    std::vector<float> p(test.size());
    (*model)->Predict(test, p, 2);
    auc[bf16] = Auc(p, test.labels);
  }
  std::printf("deepfm test AUC: float MLP %.4f, bf16 MLP %.4f\n", auc[0], auc[1]);
  EXPECT_NEAR(auc[1], auc[0], 0.01);
}

}  // namespace
}  // namespace freshet::rank
