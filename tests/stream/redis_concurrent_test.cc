// The source's thread, producer threads and metric readers at once (run under ThreadSanitizer by
// `make tsan`): Stop() in the middle of a stream, then a second source with the same consumer
// name finishes it; every event is stored exactly once and nothing stays pending.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/event_store.h"
#include "stream/redis_stream_source.h"
#include "testing/redis_server.h"
#include "testing/testing.h"

namespace freshet::stream {
namespace {

using testing::RedisClient;
using testing::RedisReply;
using testing::RedisServer;

TEST(RedisStreamConcurrentTest, ProducersSourceAndMetricReadersWithStopInTheMiddle) {
  FRESHET_REDIS_OR_SKIP();
  RedisServer redis;
  std::string error;
  ASSERT_TRUE(redis.Start(&error)) << error;
  testing::TempDir dir;
  auto opened = store::EventStore::Open({}, dir.Sub("store"));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<store::EventStore> store = std::move(*opened);

  RedisStreamOptions options;
  options.url = redis.url();
  options.stream = "concurrent";
  options.group = "g";
  options.consumer = "worker";
  options.count = 32;
  options.block_ms = 50;
  options.claim_interval_ms = 50;
  options.backoff_min_ms = 5;
  options.backoff_max_ms = 50;
  options.log = false;
  auto sink = [&](std::span<const Event> events, std::span<const std::string> keys,
                  store::AppendStats* stats) { return store->Append(events, keys, stats); };

  constexpr int kProducers = 4;
  constexpr int kPerProducer = 400;
  std::atomic<int> written{0};
  std::vector<std::jthread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      RedisClient client(redis.port());
      for (int i = 0; i < kPerProducer; ++i) {
        const std::string id = "p" + std::to_string(p) + "-" + std::to_string(i);
        std::vector<std::string> args = {
            "XADD", "concurrent", "*", "user", "u" + id, "item", "i" + std::to_string(i % 50),
            "type", "view"};
        if (i % 2 == 0) {
          args.insert(args.end(), {"event_id", id});
        }
        RedisReply r = client.Command(args);
        ASSERT_EQ(r.type, RedisReply::Type::kString) << r.DebugString();
        ++written;
      }
    });
  }
  std::atomic<bool> reading{true};
  {
    auto first = RedisStreamSource::Create(options, sink);
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE((*first)->Start().ok());
    std::jthread reader([&] {
      while (reading.load()) {
        std::string text;
        (*first)->RenderMetrics(&text);
        const RedisStreamCounters c = (*first)->counters();
        EXPECT_LE(c.entries_acked, c.entries_read);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    while (written.load() < kProducers * kPerProducer / 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    (*first)->Stop();  // while producers keep writing
    reading = false;
  }
  for (auto& t : producers) t.join();
  auto second = RedisStreamSource::Create(options, sink);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->Start().ok());
  RedisClient client(redis.port());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline &&
         store->counts().events < static_cast<uint64_t>(kProducers * kPerProducer)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Then nothing may stay pending.
  long long pending = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    RedisReply r = client.Command({"XPENDING", "concurrent", "g"});
    pending = r.elements.empty() ? -1 : r.elements[0].integer;
    if (pending == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (*second)->Stop();
  EXPECT_EQ(pending, 0);
  std::map<std::string, int> users;
  ASSERT_TRUE(store
                  ->Scan(0,
                         [&](uint64_t, const store::StoredEvent& e) {
                           ++users[store->UserName(e.user)];
                           return true;
                         })
                  .ok());
  EXPECT_EQ(users.size(), static_cast<size_t>(kProducers * kPerProducer));
  for (const auto& [user, n] : users) EXPECT_EQ(n, 1) << user;
}

}  // namespace
}  // namespace freshet::stream
