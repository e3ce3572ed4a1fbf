// End to end: the real `freshet serve --redis ... --stream ...` consuming a real redis-server.
// Events XADDed show in GET /v1/users/{id} and /metrics; a server SIGKILLed while events are
// being XADDed, then restarted, ends with every event in the store exactly once.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/event_store.h"
#include "testing/http_client.h"
#include "testing/redis_server.h"
#include "testing/testing.h"

namespace freshet {
namespace {

using testing::Http;
using testing::HttpResult;
using testing::RedisClient;
using testing::RedisReply;
using testing::RedisServer;
using testing::ServerProcess;

bool WaitFor(const std::function<bool()>& done, int timeout_ms = 30000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return done();
}

class StreamE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FRESHET_REDIS_OR_SKIP();
    const std::string bin = testing::FreshetBinary();
    testing::CommandResult help = testing::Run({bin, "serve", "--help"});
    if (help.out.find("--redis") == std::string::npos) {
      GTEST_SKIP() << "SKIPPED: this freshet binary has no `serve --redis` (apps/freshet/main.cc "
                      "must call app::AddServeStreamFlags)";
    }
    const std::string sim = dir_.Sub("sim");
    data_ = dir_.Sub("data");
    auto ok = [](const testing::CommandResult& r) { ASSERT_EQ(r.exit_code, 0) << r.err; };
    ok(testing::Run({bin, "simulate", "--users", "60", "--items", "40", "--days", "2", "--seed",
                     "5", "--out", sim}));
    ok(testing::Run({bin, "items", "--data", data_, "--quiet", sim + "/items.csv"}));
    ok(testing::Run({bin, "ingest", "--data", data_, "--quiet", sim + "/events.csv"}));
    redis_ = std::make_unique<RedisServer>();
    std::string error;
    ASSERT_TRUE(redis_->Start(&error)) << error;
  }

  std::unique_ptr<ServerProcess> StartServer() {
    auto p = std::make_unique<ServerProcess>(
        std::vector<std::string>{"--data", data_, "--insecure-no-auth", "--threads", "2", "--redis",
                                 redis_->url(), "--stream", kStream, "--group", "shop",
                                 "--redis-claim-idle-ms", "500"},
        dir_.path().string());
    EXPECT_TRUE(p->WaitReady()) << p->Stderr();
    return p;
  }

  // The number in a /metrics line that starts with `prefix`, or -1.
  static double Metric(int port, const std::string& prefix) {
    HttpResult m = Http(port, "GET", "/metrics");
    const size_t at = m.body.find("\n" + prefix);
    if (at == std::string::npos) return -1;
    const size_t space = m.body.find(' ', at + 1 + prefix.size());
    return std::strtod(m.body.c_str() + space + 1, nullptr);
  }

  long long Pending() {
    RedisClient client(redis_->port());
    RedisReply r = client.Command({"XPENDING", kStream, "shop"});
    return r.type == RedisReply::Type::kArray && !r.elements.empty() ? r.elements[0].integer : -1;
  }

  static constexpr const char* kStream = "shop-events";
  testing::TempDir dir_;
  std::string data_;
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(StreamE2eTest, EventsXaddedShowInTheUserAndInMetrics) {
  auto server = StartServer();
  const int port = server->port();
  RedisClient client(redis_->port());
  for (int i = 1; i <= 4; ++i) {
    RedisReply r =
        client.Command({"XADD", kStream, "*", "event_id", "e2e-" + std::to_string(i), "user",
                        "redis-user", "item", "i00000" + std::to_string(i), "type", "view"});
    ASSERT_EQ(r.type, RedisReply::Type::kString) << r.DebugString();
  }
  ASSERT_EQ(client
                .Command({"XADD", kStream, "*", "event",
                          R"({"user":"redis-user","item":"i000005","type":"cart","value":1})"})
                .type,
            RedisReply::Type::kString);
  ASSERT_EQ(client.Command({"XADD", kStream, "*", "user", "redis-user", "type", "teleport"}).type,
            RedisReply::Type::kString);
  HttpResult user;
  ASSERT_TRUE(WaitFor([&] {
    user = Http(port, "GET", "/v1/users/redis-user");
    return user.status == 200 && testing::JsonNumber(user.body, "events") == 5;
  })) << user.status
      << " " << user.body;
  EXPECT_NE(user.body.find("i000005"), std::string::npos) << user.body;
  const std::string labels = "{stream=\"shop-events\"}";
  ASSERT_TRUE(WaitFor([&] { return Metric(port, "freshet_redis_acked_total" + labels) == 6; }))
      << Http(port, "GET", "/metrics").body;
  EXPECT_EQ(
      Metric(port, "freshet_redis_entries_total{stream=\"shop-events\",outcome=\"accepted\"}"), 5);
  EXPECT_EQ(
      Metric(port, "freshet_redis_entries_total{stream=\"shop-events\",outcome=\"rejected\"}"), 1);
  EXPECT_EQ(Metric(port, "freshet_redis_connected" + labels), 1);
  EXPECT_EQ(Pending(), 0);
  RedisReply dead = client.Command({"XLEN", std::string(kStream) + ":rejected"});
  EXPECT_EQ(dead.integer, 1);
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Stderr();
  EXPECT_NE(server->Stderr().find("connected to redis://127.0.0.1"), std::string::npos)
      << server->Stderr();
}

TEST_F(StreamE2eTest, BadStreamFlagsAreClearErrors) {
  const std::string bin = testing::FreshetBinary();
  testing::CommandResult no_redis = testing::Run(
      {bin, "serve", "--data", data_, "--insecure-no-auth", "--port", "0", "--stream", "s"});
  EXPECT_EQ(no_redis.exit_code, 1);
  EXPECT_NE(no_redis.err.find("--stream needs --redis"), std::string::npos) << no_redis.err;
  testing::CommandResult no_stream =
      testing::Run({bin, "serve", "--data", data_, "--insecure-no-auth", "--port", "0", "--redis",
                    redis_->url()});
  EXPECT_EQ(no_stream.exit_code, 1);
  EXPECT_NE(no_stream.err.find("--redis needs --stream"), std::string::npos) << no_stream.err;
  testing::CommandResult bad_url =
      testing::Run({bin, "serve", "--data", data_, "--insecure-no-auth", "--port", "0", "--redis",
                    "http://127.0.0.1:1", "--stream", "s"});
  EXPECT_EQ(bad_url.exit_code, 1);
  EXPECT_NE(bad_url.err.find("scheme must be redis://"), std::string::npos) << bad_url.err;
}

TEST_F(StreamE2eTest, EveryEventIsStoredOnceAfterTheServerIsKilledWhileEventsArrive) {
  constexpr int kEvents = 600;
  auto server = StartServer();
  std::atomic<int> written{0};
  std::jthread producer([&](std::stop_token stop) {
    RedisClient client(redis_->port());
    for (int i = 0; i < kEvents && !stop.stop_requested(); ++i) {
      RedisReply r = client.Command({"XADD", kStream, "*", "event_id", "kill-" + std::to_string(i),
                                     "user", "kill-user-" + std::to_string(i % 13), "item",
                                     "i0000" + std::to_string(10 + i % 30), "type", "view"});
      ASSERT_EQ(r.type, RedisReply::Type::kString) << r.DebugString();
      written = i + 1;
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  });
  ASSERT_TRUE(WaitFor([&] {
    return Metric(server->port(), "freshet_redis_acked_total{stream=\"shop-events\"}") >= 100;
  }));
  // Killed mid-stream: some entries read and not acknowledged, maybe some stored and not acked.
  server->Signal(SIGKILL);
  EXPECT_EQ(server->Wait(), -SIGKILL);
  const int at_kill = written.load();
  EXPECT_LT(at_kill, kEvents) << "the producer finished before the kill; slow it down";
  // A new process (a new default consumer name) claims what the dead one left pending.
  server = StartServer();
  producer.join();
  ASSERT_EQ(written.load(), kEvents);
  ASSERT_TRUE(WaitFor([&] { return Pending() == 0; }, 60000)) << Pending();
  // For the log: how much of the dead server's work the new one took over (timing-dependent).
  std::cout << "restarted server: claimed "
            << Metric(server->port(), "freshet_redis_claimed_total{stream=\"shop-events\"}")
            << ", duplicates "
            << Metric(server->port(),
                      "freshet_redis_entries_total{stream=\"shop-events\",outcome=\"duplicate\"}")
            << std::endl;
  ASSERT_TRUE(WaitFor([&] {
    int total = 0;
    for (int u = 0; u < 13; ++u) {
      HttpResult r = Http(server->port(), "GET", "/v1/users/kill-user-" + std::to_string(u));
      const double n = testing::JsonNumber(r.body, "events");
      if (!std::isnan(n)) total += static_cast<int>(n);
    }
    return total == kEvents;
  })) << server->Stderr();
  server->Signal(SIGTERM);
  ASSERT_EQ(server->Wait(), 0) << server->Stderr();
  // The store itself: each event exactly once.
  store::StoreOptions so;
  so.must_exist = true;
  auto store = store::EventStore::Open(so, data_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::map<std::string, int> ids;
  ASSERT_TRUE((*store)
                  ->Scan(0,
                         [&](uint64_t, const store::StoredEvent& e) {
                           if (e.event_id.rfind("kill-", 0) == 0) ++ids[e.event_id];
                           return true;
                         })
                  .ok());
  EXPECT_EQ(ids.size(), static_cast<size_t>(kEvents));
  for (const auto& [id, n] : ids) EXPECT_EQ(n, 1) << id;
}

}  // namespace
}  // namespace freshet
