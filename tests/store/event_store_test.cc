#include "store/event_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "testing/testing.h"

namespace freshet::store {
namespace {

using freshet::testing::TempDir;

Event MakeEvent(std::string user, std::string item, int64_t ts_ms,
                EventType type = EventType::kView, std::string id = "") {
  Event e;
  e.user = std::move(user);
  e.item = std::move(item);
  e.ts_ms = ts_ms;
  e.type = type;
  e.event_id = std::move(id);
  return e;
}

std::vector<std::string> KeysOf(const std::vector<Event>& events) {
  std::vector<std::string> keys;
  for (const Event& e : events) keys.push_back(e.event_id.empty() ? "" : "id:" + e.event_id);
  return keys;
}

std::unique_ptr<EventStore> OpenOrDie(const std::string& dir, StoreOptions options = {}) {
  auto store = EventStore::Open(options, dir);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

uint64_t CountEvents(const EventStore& store) {
  uint64_t n = 0;
  EXPECT_TRUE(store.Scan(0, [&](uint64_t, const StoredEvent&) {
    ++n;
    return true;
  }).ok());
  return n;
}

TEST(EventStoreTest, AppendAssignsDenseIdsInFirstSeenOrder) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("data"));
  std::vector<Event> events = {MakeEvent("alice", "lamp", 1000), MakeEvent("bob", "desk", 2000),
                               MakeEvent("alice", "desk", 3000)};
  AppendStats stats;
  ASSERT_TRUE(store->Append(events, KeysOf(events), &stats).ok());
  EXPECT_EQ(stats.accepted, 3u);
  EXPECT_EQ(store->FindUser("alice"), 0u);
  EXPECT_EQ(store->FindUser("bob"), 1u);
  EXPECT_EQ(store->FindItem("lamp"), 0u);
  EXPECT_EQ(store->FindItem("desk"), 1u);
  EXPECT_FALSE(store->FindUser("carol").has_value());
  EXPECT_EQ(store->UserName(1), "bob");
  EXPECT_EQ(store->counts().events, 3u);
  EXPECT_EQ(store->counts().users, 2u);
}

TEST(EventStoreTest, EverythingSurvivesReopen) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.Sub("data"));
    std::vector<Event> events = {MakeEvent("alice", "lamp", 1000, EventType::kBuy, "e1")};
    events[0].value = 2;
    events[0].session = "s1";
    events[0].context = {{"device", "web"}};
    AppendStats stats;
    ASSERT_TRUE(store->Append(events, KeysOf(events), &stats).ok());
    Item lamp{"lamp", "Desk lamp", "home", "acme", 19.5, 4, {}};
    ASSERT_TRUE(store->PutItems({&lamp, 1}).ok());
    ASSERT_TRUE(store->PutMeta("offset", "17").ok());
  }
  auto store = OpenOrDie(dir.Sub("data"));
  EXPECT_EQ(store->counts().events, 1u);
  EXPECT_EQ(store->FindItem("lamp"), 0u);
  std::vector<StoredEvent> seen;
  ASSERT_TRUE(store->Scan(0, [&](uint64_t, const StoredEvent& e) {
    seen.push_back(e);
    return true;
  }).ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].type, EventType::kBuy);
  EXPECT_EQ(seen[0].value, 2);
  EXPECT_EQ(seen[0].session, "s1");
  EXPECT_EQ(seen[0].context[0].second, "web");
  Item item;
  ASSERT_TRUE(store->GetItem(0, &item).ok());
  EXPECT_EQ(item.title, "Desk lamp");
  auto meta = store->GetMeta("offset");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(**meta, "17");
  // New events continue the sequence, never overwrite.
  std::vector<Event> more = {MakeEvent("carol", "lamp", 5000)};
  AppendStats stats;
  ASSERT_TRUE(store->Append(more, KeysOf(more), &stats).ok());
  EXPECT_EQ(store->counts().events, 2u);
  EXPECT_EQ(store->FindUser("carol"), 1u);
}

TEST(EventStoreTest, DuplicateKeysAreDroppedWithinABatchAcrossBatchesAndAfterReopen) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.Sub("data"));
    std::vector<Event> events = {MakeEvent("a", "x", 1, EventType::kView, "e1"),
                                 MakeEvent("a", "y", 2, EventType::kView, "e1"),
                                 MakeEvent("a", "z", 3, EventType::kView, "e2")};
    AppendStats stats;
    ASSERT_TRUE(store->Append(events, KeysOf(events), &stats).ok());
    EXPECT_EQ(stats.accepted, 2u);
    EXPECT_EQ(stats.duplicates, 1u);
    EXPECT_EQ(stats.seqs, (std::vector<uint64_t>{0, AppendStats::kDuplicate, 1}));
    // The duplicate's item was never written, so it got no id.
    EXPECT_FALSE(store->FindItem("y").has_value());
    AppendStats again;
    ASSERT_TRUE(store->Append(events, KeysOf(events), &again).ok());
    EXPECT_EQ(again.accepted, 0u);
    EXPECT_EQ(again.duplicates, 3u);
  }
  auto store = OpenOrDie(dir.Sub("data"));
  std::vector<Event> events = {MakeEvent("a", "z", 3, EventType::kView, "e2"),
                               MakeEvent("b", "w", 4)};  // no key: never a duplicate
  AppendStats stats;
  ASSERT_TRUE(store->Append(events, KeysOf(events), &stats).ok());
  EXPECT_EQ(stats.accepted, 1u);
  EXPECT_EQ(stats.duplicates, 1u);
  EXPECT_EQ(stats.seqs, (std::vector<uint64_t>{AppendStats::kDuplicate, 2}));
  EXPECT_EQ(CountEvents(*store), 3u);
}

TEST(EventStoreTest, AnInvalidEventRejectsTheWholeBatchNamingIt) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("data"));
  std::vector<Event> events = {MakeEvent("a", "x", 1), MakeEvent("", "y", 2)};
  AppendStats stats;
  Status s = store->Append(events, KeysOf(events), &stats);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("event #1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'user'"), std::string::npos) << s.message();
  EXPECT_EQ(CountEvents(*store), 0u);
  EXPECT_EQ(store->counts().users, 0u);
}

TEST(EventStoreTest, EventTableIsColumnarAndSortedByTimeThenArrival) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("data"));
  std::vector<Event> events = {MakeEvent("a", "x", 3000), MakeEvent("b", "y", 1000),
                               MakeEvent("c", "z", 3000, EventType::kBuy),
                               MakeEvent("a", "y", 2000)};
  events[2].value = 4;
  AppendStats stats;
  ASSERT_TRUE(store->Append(events, KeysOf(events), &stats).ok());
  EventTable table;
  ASSERT_TRUE(store->LoadEventTable(&table).ok());
  ASSERT_EQ(table.size(), 4u);
  EXPECT_EQ(table.ts_ms, (std::vector<int64_t>{1000, 2000, 3000, 3000}));
  EXPECT_EQ(table.seq, (std::vector<uint64_t>{1, 3, 0, 2}));  // tie at 3000: arrival order
  EXPECT_EQ(table.user, (std::vector<UserId>{1, 0, 0, 2}));
  EXPECT_EQ(table.type[3], EventType::kBuy);
  EXPECT_EQ(table.value[3], 4.0f);
  EXPECT_EQ(table.num_users, 3u);
  EXPECT_EQ(table.num_items, 3u);
  EXPECT_TRUE(table.IsSortedByTime());
}

TEST(EventStoreTest, SearchEventsNeedNoItem) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("data"));
  std::vector<Event> events = {MakeEvent("a", "", 1, EventType::kSearch)};
  events[0].query = "garden chair";
  AppendStats stats;
  ASSERT_TRUE(store->Append(events, KeysOf(events), &stats).ok());
  EventTable table;
  ASSERT_TRUE(store->LoadEventTable(&table).ok());
  EXPECT_EQ(table.item[0], kNoId);
  EXPECT_EQ(store->counts().items, 0u);
}

TEST(EventStoreTest, ItemsAreUpsertedById) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("data"));
  std::vector<Item> items = {{"a", "Old title", "", "", 1, 1, {}}, {"b", "B", "", "", 2, 0, {}}};
  ASSERT_TRUE(store->PutItems(items).ok());
  items[0].title = "New title";
  ASSERT_TRUE(store->PutItems({items.data(), 1}).ok());
  Item got;
  ASSERT_TRUE(store->GetItem(*store->FindItem("a"), &got).ok());
  EXPECT_EQ(got.title, "New title");
  int n = 0;
  ASSERT_TRUE(store->ScanItems([&](ItemId, const Item&) {
    ++n;
    return true;
  }).ok());
  EXPECT_EQ(n, 2);
  std::vector<Item> bad = {{"", "no id", "", "", 1, 1, {}}};
  EXPECT_TRUE(store->PutItems(bad).IsInvalidArgument());
  EXPECT_TRUE(store->GetItem(99, &got).IsNotFound());
}

TEST(EventStoreTest, EachDurabilityModeKeepsEventsAcrossACleanClose) {
  for (Durability d : {Durability::kSync, Durability::kBatch, Durability::kNone}) {
    TempDir dir;
    StoreOptions options;
    options.durability = d;
    {
      auto store = OpenOrDie(dir.Sub("data"), options);
      std::vector<Event> events;
      for (int i = 0; i < 100; ++i) events.push_back(MakeEvent("u", std::to_string(i), i));
      AppendStats stats;
      ASSERT_TRUE(store->Append(events, KeysOf(events), &stats).ok());
    }
    auto store = OpenOrDie(dir.Sub("data"), options);
    EXPECT_EQ(CountEvents(*store), 100u) << DurabilityName(d);
  }
}

// A child process appends batches and reports each acknowledgement on a pipe; the parent kills it
// with SIGKILL mid-stream. Every acknowledged event must be in the store afterwards.
void AcknowledgedEventsSurviveSigkill(Durability durability) {
  TempDir dir;
  const std::string data = dir.Sub("data");
  int ack[2];
  ASSERT_EQ(::pipe(ack), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ack[0]);
    StoreOptions options;
    options.durability = durability;
    auto store = EventStore::Open(options, data);
    if (!store.ok()) ::_exit(3);
    for (uint32_t batch = 0;; ++batch) {
      std::vector<Event> events;
      std::vector<std::string> keys;
      for (int i = 0; i < 100; ++i) {
        std::string id = std::to_string(batch) + "-" + std::to_string(i);
        events.push_back(MakeEvent("u" + std::to_string(i), "i" + id, 1000 + batch));
        keys.push_back("id:" + id);
      }
      AppendStats stats;
      if (!(*store)->Append(events, keys, &stats).ok()) ::_exit(4);
      if (::write(ack[1], &batch, sizeof(batch)) != sizeof(batch)) ::_exit(5);
    }
  }
  ::close(ack[1]);
  uint32_t last_acked = 0, got = 0;
  int acks = 0;
  while (acks < 50 && ::read(ack[0], &got, sizeof(got)) == sizeof(got)) {
    last_acked = got;
    ++acks;
  }
  ASSERT_EQ(acks, 50) << "child stopped early";
  ::kill(pid, SIGKILL);
  // Drain acknowledgements that raced with the kill: they count too.
  while (::read(ack[0], &got, sizeof(got)) == sizeof(got)) last_acked = got;
  ::close(ack[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));

  auto store = OpenOrDie(data);
  EXPECT_GE(store->counts().events, (last_acked + 1) * 100ull);
  for (uint32_t b = 0; b <= last_acked; ++b) {
    ASSERT_TRUE(store->FindItem("i" + std::to_string(b) + "-99").has_value()) << "batch " << b;
  }
}

TEST(EventStoreTest, AcknowledgedEventsSurviveSigkillInSyncMode) {
  AcknowledgedEventsSurviveSigkill(Durability::kSync);
}

TEST(EventStoreTest, AcknowledgedEventsSurviveSigkillInBatchMode) {
  AcknowledgedEventsSurviveSigkill(Durability::kBatch);
}

TEST(EventStoreTest, ASecondOpenOfTheSameDirectoryIsAClearError) {
  TempDir dir;
  auto first = OpenOrDie(dir.Sub("data"));
  auto second = EventStore::Open(StoreOptions(), dir.Sub("data"));
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsIOError());
  EXPECT_NE(second.status().message().find("in use"), std::string::npos)
      << second.status().message();
}

TEST(EventStoreTest, MustExistReportsAMissingStore) {
  TempDir dir;
  StoreOptions options;
  options.must_exist = true;
  auto store = EventStore::Open(options, dir.Sub("nothing-here"));
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(store.status().IsNotFound());
  EXPECT_NE(store.status().message().find("freshet ingest"), std::string::npos);
}

TEST(EventStoreTest, AForeignSchemaVersionIsRefused) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.Sub("data"));
    ASSERT_TRUE(store->PutMeta("schema_version", "999").ok());
  }
  auto store = EventStore::Open(StoreOptions(), dir.Sub("data"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("999"), std::string::npos);
}

TEST(EventStoreTest, ConcurrentAppendsAndReadsAreConsistent) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("data"));
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      StoreCounts c = store->counts();
      if (c.users > 0) {
        EXPECT_FALSE(store->UserName(c.users - 1).empty());
      }
      EventTable table;
      EXPECT_TRUE(store->LoadEventTable(&table).ok());
      for (UserId u : table.user) ASSERT_LT(u, table.num_users);
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int b = 0; b < 20; ++b) {
        std::vector<Event> events;
        for (int i = 0; i < 50; ++i) {
          events.push_back(MakeEvent("u" + std::to_string(w * 10000 + b * 50 + i), "x", b));
        }
        AppendStats stats;
        EXPECT_TRUE(store->Append(events, KeysOf(events), &stats).ok());
      }
    });
  }
  for (auto& t : writers) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(store->counts().events, 2000u);
  EXPECT_EQ(store->counts().users, 2000u);
}

}  // namespace
}  // namespace freshet::store
