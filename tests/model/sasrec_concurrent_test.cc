#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "model/sasrec.h"
#include "sasrec_fixtures.h"

namespace freshet::model {
namespace {

using testing::Chains;
using testing::kItems;
using testing::Small;

TEST(SasrecConcurrentTest, ScoringFromManyThreadsSharesWorkspacesSafely) {
  Chains chains(60, 6);
  SasrecOptions o = Small("ce");
  o.epochs = 1;
  SasrecModel m(o);
  FitOptions fit;
  fit.progress = false;
  ASSERT_TRUE(m.Fit(chains.data(), fit, nullptr).ok());
  const std::vector<ItemId> history = {3, 4, 5};
  std::vector<float> want(kItems);
  m.ScoreAll(0, history, want);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> got(kItems);
      std::vector<float> batch(2 * kItems);
      const std::vector<UserId> users = {0, 1};
      const std::vector<std::span<const ItemId>> histories = {history, history};
      for (int i = 0; i < 50; ++i) {
        if ((i + t) % 2 == 0) {
          m.ScoreAll(0, history, got);
          mismatches += got != want;
        } else {
          m.ScoreBatch(users, histories, batch);
          for (int j = 0; j < kItems; ++j) {
            mismatches += std::abs(batch[kItems + j] - want[j]) > 1e-4f * (1 + std::abs(want[j]));
          }
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace freshet::model
