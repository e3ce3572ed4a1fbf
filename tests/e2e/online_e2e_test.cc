// The real `freshet serve` with online learning: SIGKILL while clients post events loses no
// acknowledged event, and the restarted server serves the same user state, its models restored
// from the newest snapshot.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "testing/http_client.h"
#include "testing/testing.h"

namespace freshet {
namespace {

using testing::Http;
using testing::ServerProcess;

// A number after `"key":` in a flat JSON answer; -1 when absent.
long long JsonNumber(const std::string& body, const std::string& key) {
  const size_t at = body.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::atoll(body.c_str() + at + key.size() + 3);
}

// The "recent" array of GET /v1/users/{id}: what the feature state holds for the user.
std::string RecentOf(const std::string& body) {
  const size_t at = body.find("\"recent\":");
  if (at == std::string::npos) return "<none>";
  return body.substr(at, body.find(']', at) - at + 1);
}

class OnlineE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string bin = testing::FreshetBinary();
    const std::string sim = dir_.Sub("sim");
    data_ = dir_.Sub("data");
    auto ok = [](const testing::CommandResult& r) { ASSERT_EQ(r.exit_code, 0) << r.err; };
    ok(testing::Run({bin, "simulate", "--users", "300", "--items", "200", "--days", "3", "--seed",
                     "5", "--out", sim}));
    ok(testing::Run({bin, "items", "--data", data_, "--quiet", sim + "/items.csv"}));
    ok(testing::Run({bin, "ingest", "--data", data_, "--quiet", sim + "/events.csv"}));
    ok(testing::Run({bin, "train", "--data", data_, "--model", "swing", "--quiet", "--out",
                     dir_.Sub("swing.fmdl")}));
  }
  std::unique_ptr<ServerProcess> Start() {
    auto p = std::make_unique<ServerProcess>(
        std::vector<std::string>{"--data", data_, "--model", dir_.Sub("swing.fmdl"),
                                 "--insecure-no-auth", "--threads", "2", "--snapshot-interval-s",
                                 "1", "--online-publish-ms", "100"},
        dir_.path().string());
    EXPECT_TRUE(p->WaitReady()) << p->Stderr();
    return p;
  }

  testing::TempDir dir_;
  std::string data_;
};

TEST_F(OnlineE2eTest, KillNineUnderLoadLosesNoAcknowledgedEvent) {
  auto server = Start();
  const int port = server->port();
  // Settled users: their events all go in first, and their state is read before the kill.
  std::string settled_body;
  for (int u = 0; u < 5; ++u) {
    for (int k = 0; k < 4; ++k) {
      settled_body += "{\"event_id\":\"s" + std::to_string(u) + "-" + std::to_string(k) +
                      "\",\"user\":\"settled" + std::to_string(u) + "\",\"item\":\"i" +
                      std::to_string(100 + (u * 7 + k * 3) % 50) + "\",\"type\":\"view\"}\n";
    }
  }
  ASSERT_EQ(Http(port, "POST", "/v1/events", settled_body).status, 200);

  // Writers: each posts batches of events with unique ids for its own users (with repeats of
  // already-sent ids, out-of-order times and items nobody has seen) until the server dies, and
  // keeps what was acknowledged.
  std::mutex mu;
  std::vector<std::string> acked;  // JSON lines of acknowledged events
  std::atomic<bool> dead{false};
  std::atomic<int> batches{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      testing::HttpConnection c;
      if (!c.Connect(port)) return;
      for (int b = 0; !dead.load(); ++b) {
        std::vector<std::string> lines;
        for (int k = 0; k < 20; ++k) {
          const int n = b * 20 + k;
          const std::string item = n % 11 == 0 ? "brand-new-" + std::to_string(t) + "-" +
                                                     std::to_string(n)
                                               : "i" + std::to_string(n % 150);
          lines.push_back("{\"event_id\":\"w" + std::to_string(t) + "-" + std::to_string(n) +
                          "\",\"user\":\"writer" + std::to_string(t) + "-" +
                          std::to_string(n % 7) + "\",\"item\":\"" + item +
                          "\",\"type\":\"view\",\"ts\":" +
                          std::to_string(1800000000000LL + (n % 5 == 0 ? -n : n) * 1000) + "}");
        }
        if (b > 0) lines.push_back(lines.front());  // a repeat within the batch
        std::string body;
        for (const std::string& l : lines) body += l + "\n";
        testing::HttpResult r = c.Request("POST", "/v1/events", body);
        if (r.status != 200) {
          dead = true;  // the kill: this batch may or may not be in the store
          return;
        }
        std::lock_guard lock(mu);
        for (size_t i = 0; i + (b > 0 ? 1 : 0) < lines.size(); ++i) acked.push_back(lines[i]);
        ++batches;
      }
    });
  }
  while (batches.load() < 60) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::map<std::string, std::string> settled_state;
  for (int u = 0; u < 5; ++u) {
    const std::string id = "settled" + std::to_string(u);
    settled_state[id] = Http(port, "GET", "/v1/users/" + id).body;
  }
  // Killed once a snapshot is complete (LATEST names it; one a second), however slow the
  // machine: a fixed wait of 1.5 s missed it on a loaded one.
  const std::filesystem::path latest = std::filesystem::path(data_) / "snapshots" / "LATEST";
  for (int i = 0; i < 600 && !std::filesystem::exists(latest); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(std::filesystem::exists(latest)) << "no snapshot after 60 s";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // writers still posting
  server->Signal(SIGKILL);
  EXPECT_EQ(server->Wait(), -SIGKILL);
  dead = true;
  for (std::thread& w : writers) w.join();
  ASSERT_GT(acked.size(), 500u);

  auto restarted = Start();
  EXPECT_NE(restarted->Stderr().find("restored from the snapshot"), std::string::npos)
      << restarted->Stderr();
  const int port2 = restarted->port();
  // Every acknowledged event is there exactly once: sent again, each one is a duplicate.
  for (size_t start = 0; start < acked.size(); start += 1000) {
    std::string body;
    for (size_t i = start; i < std::min(acked.size(), start + 1000); ++i) body += acked[i] + "\n";
    testing::HttpResult r = Http(port2, "POST", "/v1/events", body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(JsonNumber(r.body, "accepted"), 0) << "acknowledged events missing after the kill";
    EXPECT_EQ(JsonNumber(r.body, "duplicates"),
              static_cast<long long>(std::min<size_t>(1000, acked.size() - start)));
  }
  // The users nobody wrote to after their state was read look exactly as before the kill.
  for (const auto& [id, before] : settled_state) {
    const std::string after = Http(port2, "GET", "/v1/users/" + id).body;
    EXPECT_EQ(RecentOf(after), RecentOf(before)) << id;
    EXPECT_EQ(JsonNumber(after, "events"), JsonNumber(before, "events")) << id;
  }
  // And it serves: recommendations for a writer's user, from the restored, learning model.
  testing::HttpResult rec = Http(port2, "GET", "/v1/recommend?user=writer0-1&k=5");
  EXPECT_EQ(rec.status, 200) << rec.body;
  EXPECT_NE(rec.body.find("restored from snapshot"), std::string::npos) << rec.body;
  restarted->Signal(SIGTERM);
  EXPECT_EQ(restarted->Wait(), 0) << restarted->Stderr();
}

}  // namespace
}  // namespace freshet
