#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "feature/feature_state.h"

namespace freshet::feature {
namespace {

TEST(FeatureStateConcurrentTest, ReadersSeeConsistentStateWhileWritersApply) {
  FeatureOptions o;
  o.max_recent = 16;
  FeatureState s(o);
  constexpr int kWriters = 2, kEvents = 4000;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      // Each writer owns the users of its parity; items walk 0, 1, 2, ... per user.
      for (int e = 0; e < kEvents; ++e) {
        const UserId user = static_cast<UserId>(2 * (e % 50) + w);
        s.Apply(user, static_cast<ItemId>(e / 50), EventType::kView, e);
      }
    });
  }
  threads.emplace_back([&] {
    std::vector<ItemId> recent;
    std::vector<std::pair<ItemId, float>> top;
    while (!stop.load()) {
      for (UserId u = 0; u < 100; ++u) {
        s.Recent(u, 16, &recent);
        // Items of one user only grow by one at a time: any snapshot is consecutive.
        for (size_t i = 1; i < recent.size(); ++i) bad += recent[i] != recent[i - 1] + 1;
      }
      s.Trending(5, nullptr, &top);
    }
  });
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  stop = true;
  threads.back().join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(s.events_applied(), static_cast<uint64_t>(kWriters * kEvents));
  std::vector<ItemId> recent;
  s.Recent(0, 100, &recent);
  ASSERT_EQ(recent.size(), 16u);
  EXPECT_EQ(recent.back(), static_cast<ItemId>((kEvents - 1) / 50));
}

}  // namespace
}  // namespace freshet::feature
