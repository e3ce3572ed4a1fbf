// RedisStreamSource against a real redis-server on a free loopback port and a real EventStore:
// every entry XADDed ends in the store exactly once and is acknowledged only after it is there,
// through bad entries, duplicates, a Redis restart, a consumer crash and a failing store.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
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
using Fields = std::vector<std::pair<std::string, std::string>>;

// Polls `done` every 10 ms for up to timeout_ms.
bool WaitFor(const std::function<bool()>& done, int timeout_ms = 20000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class RedisStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FRESHET_REDIS_OR_SKIP();
    redis_ = std::make_unique<RedisServer>();
    std::string error;
    ASSERT_TRUE(redis_->Start(&error)) << error;
    client_ = std::make_unique<RedisClient>(redis_->port());
    auto store = store::EventStore::Open({}, dir_.Sub("store"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  void TearDown() override {
    sources_.clear();  // stop the sources before the store goes
    store_.reset();
  }

  RedisStreamOptions Options(const std::string& consumer = "c1") const {
    RedisStreamOptions o;
    o.url = redis_->url();
    o.stream = kStream;
    o.group = "g";
    o.consumer = consumer;
    o.block_ms = 100;
    o.claim_interval_ms = 100;
    o.backoff_min_ms = 10;
    o.backoff_max_ms = 200;
    return o;
  }

  // Appends to the store unless fail_ is set (or a test's hook says otherwise).
  EventSink StoreSink() {
    return [this](std::span<const Event> events, std::span<const std::string> keys,
                  store::AppendStats* stats) -> Status {
      ++sink_calls_;
      if (fail_.load()) return Status::IOError("injected store failure");
      return store_->Append(events, keys, stats);
    };
  }

  RedisStreamSource* StartSource(const RedisStreamOptions& options, EventSink sink) {
    auto source = RedisStreamSource::Create(options, std::move(sink));
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    if (!source.ok()) return nullptr;
    Status s = (*source)->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    sources_.push_back(std::move(*source));
    return sources_.back().get();
  }

  std::string Xadd(const Fields& fields, const std::string& stream = kStream) {
    std::vector<std::string> args = {"XADD", stream, "*"};
    for (const auto& [k, v] : fields) {
      args.push_back(k);
      args.push_back(v);
    }
    RedisReply r = client_->Command(args);
    EXPECT_EQ(r.type, RedisReply::Type::kString) << r.DebugString();
    return r.str;
  }
  static Fields View(const std::string& id, const std::string& user = "u1",
                     const std::string& item = "i1") {
    return {{"event_id", id},
            {"user", user},
            {"item", item},
            {"type", "view"},
            {"ts", "1700000000000"}};
  }

  // XPENDING's total for the group.
  long long Pending(const std::string& group = "g") {
    RedisReply r = client_->Command({"XPENDING", kStream, group});
    if (r.type != RedisReply::Type::kArray || r.elements.empty()) return -1;
    return r.elements[0].integer;
  }
  // Pending entries owned by `consumer`.
  long long PendingOf(const std::string& consumer) {
    RedisReply r = client_->Command({"XPENDING", kStream, "g", "-", "+", "100000", consumer});
    return r.type == RedisReply::Type::kArray ? static_cast<long long>(r.elements.size()) : -1;
  }

  // How often each event_id is in the store (events without one count under "user:<user>").
  std::map<std::string, int> StoredIds() {
    std::map<std::string, int> ids;
    Status s = store_->Scan(0, [&](uint64_t, const store::StoredEvent& e) {
      ++ids[e.event_id.empty() ? "user:" + store_->UserName(e.user) : e.event_id];
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return ids;
  }
  uint64_t StoredEvents() { return store_->counts().events; }

  static constexpr const char* kStream = "shop-events";
  testing::TempDir dir_;
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<RedisClient> client_;
  std::unique_ptr<store::EventStore> store_;
  std::vector<std::unique_ptr<RedisStreamSource>> sources_;
  std::atomic<bool> fail_{false};
  std::atomic<int> sink_calls_{0};
  std::atomic<int> calls_{0};  // for a test's own sink
};

TEST_F(RedisStreamTest, ConsumesEntriesWrittenBeforeAndAfterStartAndAcksThemAll) {
  for (int i = 0; i < 30; ++i) Xadd(View("before-" + std::to_string(i)));
  RedisStreamOptions options = Options();
  options.count = 7;  // several batches
  RedisStreamSource* source = StartSource(options, StoreSink());
  ASSERT_NE(source, nullptr);
  for (int i = 0; i < 30; ++i) Xadd(View("after-" + std::to_string(i)));
  ASSERT_TRUE(WaitFor([&] { return source->counters().entries_acked == 60; }))
      << source->counters().entries_acked;
  EXPECT_EQ(Pending(), 0);
  const std::map<std::string, int> ids = StoredIds();
  EXPECT_EQ(ids.size(), 60u);
  for (const auto& [id, n] : ids) EXPECT_EQ(n, 1) << id;
  const RedisStreamCounters c = source->counters();
  EXPECT_EQ(c.entries_read, 60u);
  EXPECT_EQ(c.events_accepted, 60u);
  EXPECT_EQ(c.events_duplicate, 0u);
  EXPECT_EQ(c.entries_rejected, 0u);
  EXPECT_TRUE(c.connected);
  ASSERT_TRUE(WaitFor([&] { return source->counters().pending == 0; }));
}

TEST_F(RedisStreamTest, FlatAndJsonEntriesAreStoredAlike) {
  const std::string flat_id = Xadd({{"user", "flat-user"},
                                    {"item", "i7"},
                                    {"type", "buy"},
                                    {"value", "3"},
                                    {"session", "s9"},
                                    {"page", "cart"}});
  Xadd({{"event", R"({"user":"json-user","item":"i7","type":"buy","value":3,"session":"s9",)"
                  R"("ts":"2023-11-14T22:13:20Z","context":{"page":"cart"}})"}});
  RedisStreamSource* source = StartSource(Options(), StoreSink());
  ASSERT_TRUE(WaitFor([&] { return source->counters().entries_acked == 2; }));
  std::map<std::string, store::StoredEvent> by_user;
  ASSERT_TRUE(store_
                  ->Scan(0,
                         [&](uint64_t, const store::StoredEvent& e) {
                           by_user[store_->UserName(e.user)] = e;
                           return true;
                         })
                  .ok());
  ASSERT_EQ(by_user.size(), 2u);
  const store::StoredEvent& flat = by_user["flat-user"];
  const store::StoredEvent& json = by_user["json-user"];
  for (const store::StoredEvent* e : {&flat, &json}) {
    EXPECT_EQ(e->type, EventType::kBuy);
    EXPECT_EQ(store_->ItemName(e->item), "i7");
    EXPECT_EQ(e->value, 3.0);
    EXPECT_EQ(e->session, "s9");
    ASSERT_EQ(e->context.size(), 1u);
    EXPECT_EQ(e->context[0], (std::pair<std::string, std::string>{"page", "cart"}));
  }
  // No ts: the entry id's time.
  EXPECT_EQ(flat.ts_ms, *EntryIdMillis(flat_id));
  EXPECT_EQ(json.ts_ms, 1700000000000);
}

TEST_F(RedisStreamTest, BadEntriesGoToTheDeadLetterStreamAndAreAcked) {
  Xadd(View("good-1"));
  const std::string bad_json = Xadd({{"event", "{\"user\":"}});
  const std::string bad_type = Xadd({{"user", "u"}, {"item", "i"}, {"type", "teleport"}});
  const std::string no_user = Xadd({{"item", "i"}, {"type", "view"}});
  Xadd(View("good-2"));
  RedisStreamSource* source = StartSource(Options(), StoreSink());
  ASSERT_TRUE(WaitFor([&] { return source->counters().entries_acked == 5; }));
  EXPECT_EQ(Pending(), 0);
  EXPECT_EQ(source->counters().entries_rejected, 3u);
  EXPECT_EQ(source->counters().events_accepted, 2u);
  EXPECT_EQ(StoredEvents(), 2u);
  RedisReply dead = client_->Command({"XRANGE", std::string(kStream) + ":rejected", "-", "+"});
  ASSERT_EQ(dead.type, RedisReply::Type::kArray) << dead.DebugString();
  ASSERT_EQ(dead.elements.size(), 3u) << dead.DebugString();
  struct Expect {
    std::string id, field, original_field;
  };
  const std::vector<Expect> expected = {
      {bad_json, "event", "event"}, {bad_type, "type", "type"}, {no_user, "user", "item"}};
  for (size_t i = 0; i < 3; ++i) {
    std::map<std::string, std::string> fields;
    const RedisReply& kv = dead.elements[i].elements[1];
    for (size_t j = 0; j + 1 < kv.elements.size(); j += 2) {
      fields[kv.elements[j].str] = kv.elements[j + 1].str;
    }
    EXPECT_EQ(fields["rejected_id"], expected[i].id);
    EXPECT_EQ(fields["rejected_field"], expected[i].field);
    EXPECT_EQ(fields["rejected_reason"].rfind("field '" + expected[i].field + "': ", 0), 0u)
        << fields["rejected_reason"];
    EXPECT_TRUE(fields.count(expected[i].original_field)) << "the original fields are kept";
  }
  std::string metrics;
  source->RenderMetrics(&metrics);
  EXPECT_NE(
      metrics.find("freshet_redis_entries_total{stream=\"shop-events\",outcome=\"rejected\"} 3"),
      std::string::npos)
      << metrics;
}

TEST_F(RedisStreamTest, TheSameEventIdTwiceIsStoredOnce) {
  Xadd(View("dup"));
  Xadd(View("dup"));
  Xadd(View("other"));
  RedisStreamSource* source = StartSource(Options(), StoreSink());
  ASSERT_TRUE(WaitFor([&] { return source->counters().entries_acked == 3; }));
  EXPECT_EQ(StoredEvents(), 2u);
  EXPECT_EQ(source->counters().events_duplicate, 1u);
  EXPECT_EQ(Pending(), 0);
}

TEST_F(RedisStreamTest, AnEntryDeliveredAgainIsStoredOnce) {
  // Entries without event_id: the dedupe key is the stream and entry id.
  for (int i = 0; i < 10; ++i) {
    Xadd({{"user", "anon-" + std::to_string(i)}, {"item", "i1"}, {"type", "view"}});
  }
  // The store takes the first batch but the answer is lost (a crash between write and ack): the
  // entries stay pending and come again.
  RedisStreamSource* source =
      StartSource(Options(),
                  [&](std::span<const Event> events, std::span<const std::string> keys,
                      store::AppendStats* stats) -> Status {
                    Status s = store_->Append(events, keys, stats);
                    if (calls_++ == 0 && s.ok()) return Status::IOError("lost answer");
                    return s;
                  });
  ASSERT_TRUE(WaitFor([&] { return source->counters().entries_acked == 10; }));
  EXPECT_EQ(StoredEvents(), 10u);
  EXPECT_EQ(source->counters().events_duplicate, 10u);
  EXPECT_EQ(source->counters().sink_errors, 1u);
  // A second consumer group reads the whole stream again: every entry is a duplicate.
  RedisStreamOptions other = Options("c9");
  other.group = "g2";
  RedisStreamSource* again = StartSource(other, StoreSink());
  ASSERT_TRUE(WaitFor([&] { return again->counters().entries_acked == 10; }));
  EXPECT_EQ(again->counters().events_duplicate, 10u);
  EXPECT_EQ(again->counters().events_accepted, 0u);
  const std::map<std::string, int> ids = StoredIds();
  EXPECT_EQ(ids.size(), 10u);
  for (const auto& [id, n] : ids) EXPECT_EQ(n, 1) << id;
}

TEST_F(RedisStreamTest, OutOfOrderTimestampsAreKept) {
  const std::vector<int64_t> ts = {1700000005000, 1700000001000, 1700000009000, 1700000000000};
  for (size_t i = 0; i < ts.size(); ++i) {
    Xadd({{"event_id", "t" + std::to_string(i)},
          {"user", "u"},
          {"item", "i" + std::to_string(i)},
          {"type", "view"},
          {"ts", std::to_string(ts[i])}});
  }
  RedisStreamSource* source = StartSource(Options(), StoreSink());
  ASSERT_TRUE(WaitFor([&] { return source->counters().entries_acked == 4; }));
  std::map<std::string, int64_t> stored;
  ASSERT_TRUE(store_
                  ->Scan(0,
                         [&](uint64_t, const store::StoredEvent& e) {
                           stored[e.event_id] = e.ts_ms;
                           return true;
                         })
                  .ok());
  ASSERT_EQ(stored.size(), 4u);
  for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(stored["t" + std::to_string(i)], ts[i]);
}

TEST_F(RedisStreamTest, EventsForItemsTheStoreHasNeverSeenAreStored) {
  Item known;
  known.id = "known-item";
  known.title = "Known";
  ASSERT_TRUE(store_->PutItems(std::span<const Item>(&known, 1)).ok());
  Xadd(View("a", "u1", "known-item"));
  Xadd(View("b", "u1", "brand-new-item"));
  Xadd(View("c", "brand-new-user", "another-new-item"));
  RedisStreamSource* source = StartSource(Options(), StoreSink());
  ASSERT_TRUE(WaitFor([&] { return source->counters().entries_acked == 3; }));
  EXPECT_EQ(StoredEvents(), 3u);
  EXPECT_TRUE(store_->FindItem("brand-new-item").has_value());
  EXPECT_TRUE(store_->FindItem("another-new-item").has_value());
  EXPECT_TRUE(store_->FindUser("brand-new-user").has_value());
  EXPECT_EQ(source->counters().entries_rejected, 0u);
}

TEST_F(RedisStreamTest, EveryEventSurvivesARedisRestartInTheMiddleOfTheStream) {
  RedisStreamOptions options = Options();
  options.count = 16;
  RedisStreamSource* source = StartSource(options, StoreSink());
  constexpr int kEvents = 300;
  std::atomic<int> written{0};
  // The producer retries each XADD until Redis takes it (a retry after a lost answer may add a
  // second entry with the same event_id: the store keeps one).
  std::jthread producer([&](std::stop_token stop) {
    RedisClient client(redis_->port());
    for (int i = 0; i < kEvents && !stop.stop_requested(); ++i) {
      while (!stop.stop_requested()) {
        RedisReply r = client.Command({"XADD", kStream, "*", "event_id", "r" + std::to_string(i),
                                       "user", "u" + std::to_string(i % 17), "item",
                                       "i" + std::to_string(i % 23), "type", "view"});
        if (r.type == RedisReply::Type::kString) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      written = i + 1;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  ASSERT_TRUE(WaitFor([&] { return written.load() >= 100; }));
  ASSERT_TRUE(WaitFor([&] { return source->counters().entries_acked >= 50; }));
  redis_->Stop();
  ASSERT_TRUE(WaitFor([&] { return !source->counters().connected; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::string error;
  ASSERT_TRUE(redis_->Start(&error)) << error;
  producer.join();
  ASSERT_TRUE(WaitFor([&] { return StoredIds().size() == kEvents; }, 60000))
      << StoredIds().size() << " of " << kEvents;
  ASSERT_TRUE(WaitFor([&] { return Pending() == 0; }));
  const std::map<std::string, int> ids = StoredIds();
  for (const auto& [id, n] : ids) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(StoredEvents(), static_cast<uint64_t>(kEvents));
  EXPECT_GE(source->counters().reconnects, 1u);
  EXPECT_TRUE(source->counters().connected);
}

TEST_F(RedisStreamTest, AnotherConsumerClaimsTheEntriesOfACrashedOne) {
  // Written before A starts, so that A reads them in one batch (it retries that batch forever).
  for (int i = 0; i < 25; ++i) Xadd(View("p" + std::to_string(i)));
  fail_ = true;  // consumer A reads but cannot store
  RedisStreamSource* a = StartSource(Options("crashing-a"), StoreSink());
  ASSERT_TRUE(WaitFor([&] { return PendingOf("crashing-a") == 25; }));
  ASSERT_TRUE(WaitFor([&] { return a->counters().sink_errors >= 1; }));
  // A dies with its entries read but not acknowledged.
  a->Stop();
  EXPECT_EQ(a->counters().entries_acked, 0u);
  EXPECT_EQ(StoredEvents(), 0u);
  EXPECT_EQ(PendingOf("crashing-a"), 25);
  fail_ = false;
  RedisStreamOptions options = Options("rescuer-b");
  options.claim_idle_ms = 200;
  RedisStreamSource* b = StartSource(options, StoreSink());
  ASSERT_TRUE(WaitFor([&] { return b->counters().entries_acked == 25; }))
      << b->counters().entries_acked;
  EXPECT_EQ(b->counters().entries_claimed, 25u);
  EXPECT_EQ(Pending(), 0);
  const std::map<std::string, int> ids = StoredIds();
  EXPECT_EQ(ids.size(), 25u);
  for (const auto& [id, n] : ids) EXPECT_EQ(n, 1) << id;
}

TEST_F(RedisStreamTest, ARestartedConsumerReadsItsOwnPendingEntriesFirst) {
  for (int i = 0; i < 10; ++i) Xadd(View("own" + std::to_string(i)));
  fail_ = true;
  RedisStreamSource* first = StartSource(Options("stable-name"), StoreSink());
  ASSERT_TRUE(WaitFor([&] { return PendingOf("stable-name") == 10; }));
  first->Stop();
  fail_ = false;
  // Same name, claiming far off: the pending entries come back through XREADGROUP ... 0.
  RedisStreamSource* second = StartSource(Options("stable-name"), StoreSink());
  ASSERT_TRUE(WaitFor([&] { return second->counters().entries_acked == 10; }));
  EXPECT_EQ(second->counters().entries_claimed, 0u);
  EXPECT_EQ(StoredEvents(), 10u);
  EXPECT_EQ(Pending(), 0);
}

TEST_F(RedisStreamTest, NothingIsAckedWhileTheStoreFailsAndAllIsAckedAfter) {
  for (int i = 0; i < 12; ++i) Xadd(View("f" + std::to_string(i)));
  fail_ = true;
  RedisStreamSource* source = StartSource(Options(), StoreSink());
  ASSERT_TRUE(WaitFor([&] { return source->counters().sink_errors >= 3; }));
  EXPECT_EQ(source->counters().entries_acked, 0u);
  EXPECT_EQ(Pending(), 12);
  EXPECT_EQ(StoredEvents(), 0u);
  fail_ = false;
  ASSERT_TRUE(WaitFor([&] { return source->counters().entries_acked == 12; }));
  EXPECT_EQ(Pending(), 0);
  EXPECT_EQ(StoredEvents(), 12u);
  std::string metrics;
  source->RenderMetrics(&metrics);
  EXPECT_NE(metrics.find("freshet_redis_sink_errors_total{stream=\"shop-events\"} "),
            std::string::npos);
  EXPECT_NE(metrics.find("freshet_redis_ack_lag_seconds{stream=\"shop-events\",quantile=\"0.99\"}"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("freshet_redis_ack_lag_seconds_count{stream=\"shop-events\"} 12"),
            std::string::npos)
      << metrics;
}

TEST_F(RedisStreamTest, AnEventTheStoreRefusesIsDeadLetteredAndTheRestStored) {
  Xadd(View("ok-1"));
  Xadd(View("poison", "poison-user"));
  Xadd(View("ok-2"));
  RedisStreamSource* source =
      StartSource(Options(),
                  [&](std::span<const Event> events, std::span<const std::string> keys,
                      store::AppendStats* stats) -> Status {
                    for (const Event& e : events) {
                      if (e.user == "poison-user")
                        return Status::InvalidArgument("event 0: field 'user'");
                    }
                    return store_->Append(events, keys, stats);
                  });
  ASSERT_TRUE(WaitFor([&] { return source->counters().entries_acked == 3; }));
  EXPECT_EQ(StoredEvents(), 2u);
  EXPECT_EQ(source->counters().entries_rejected, 1u);
  RedisReply dead = client_->Command({"XLEN", std::string(kStream) + ":rejected"});
  EXPECT_EQ(dead.integer, 1);
}

TEST_F(RedisStreamTest, StopIsPromptWhileIdle) {
  RedisStreamSource* source = StartSource(Options(), StoreSink());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const auto start = std::chrono::steady_clock::now();
  source->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  source->Stop();  // idempotent
}

TEST_F(RedisStreamTest, StartFailsWhenTheKeyIsNotAStream) {
  ASSERT_TRUE(client_->Command({"SET", kStream, "not a stream"}).ok());
  auto source = RedisStreamSource::Create(Options(), StoreSink());
  ASSERT_TRUE(source.ok());
  Status s = (*source)->Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("WRONGTYPE"), std::string::npos) << s.ToString();
}

TEST_F(RedisStreamTest, StartWithoutRedisKeepsTryingAndConsumesOnceItIsUp) {
  redis_->Stop();
  RedisStreamSource* source = StartSource(Options(), StoreSink());
  EXPECT_FALSE(source->counters().connected);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::string error;
  ASSERT_TRUE(redis_->Start(&error)) << error;
  Xadd(View("late"));
  ASSERT_TRUE(WaitFor([&] { return source->counters().entries_acked == 1; }));
  EXPECT_EQ(StoredEvents(), 1u);
}

TEST(RedisStreamOptionsTest, BadOptionsAreClearErrors) {
  auto sink = [](std::span<const Event>, std::span<const std::string>, store::AppendStats*) {
    return Status::OK();
  };
  RedisStreamOptions o;
  o.stream = "s";
  o.url = "http://localhost";
  auto bad_url = RedisStreamSource::Create(o, sink);
  ASSERT_FALSE(bad_url.ok());
  EXPECT_NE(bad_url.status().message().find("scheme must be redis://"), std::string::npos);
  o.url = "redis://127.0.0.1:1";
  o.stream = "";
  auto no_stream = RedisStreamSource::Create(o, sink);
  ASSERT_FALSE(no_stream.ok());
  EXPECT_NE(no_stream.status().message().find("stream"), std::string::npos);
  o.stream = "s";
  o.start_id = "latest";
  EXPECT_FALSE(RedisStreamSource::Create(o, sink).ok());
  o.start_id = "$";
  auto ok = RedisStreamSource::Create(o, sink);
  ASSERT_TRUE(ok.ok());
  // The default consumer name is <hostname>-<pid>.
  EXPECT_NE((*ok)->consumer().find("-" + std::to_string(::getpid())), std::string::npos);
}

}  // namespace
}  // namespace freshet::stream
