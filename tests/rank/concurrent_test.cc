// The threaded paths of CTR training and prediction: Hogwild embedding rows and FTRL coordinates,
// data-parallel dense weights, concurrent Predict on a trained model. Run under ThreadSanitizer by
// `make tsan` (label `concurrent`).

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "fixtures.h"
#include "rank/ctr_model.h"
#include "rank/metrics.h"

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

}  // namespace
}  // namespace freshet::rank
