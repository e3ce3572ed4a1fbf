#include "eval/split.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "fixtures.h"

namespace freshet::eval {
namespace {

using testing::AddEvent;
using Items = std::vector<ItemId>;

Items V(std::span<const ItemId> s) { return Items(s.begin(), s.end()); }

TEST(ProtocolTest, ParsesTheAcceptedForms) {
  auto loo = ParseProtocol("loo");
  ASSERT_TRUE(loo.ok());
  EXPECT_EQ(loo->kind, ProtocolKind::kLeaveLastOut);
  EXPECT_EQ(loo->Name(), "loo");

  auto temporal = ParseProtocol("temporal");
  ASSERT_TRUE(temporal.ok());
  EXPECT_EQ(temporal->kind, ProtocolKind::kTemporal);
  EXPECT_DOUBLE_EQ(temporal->test_fraction, 0.2);
  EXPECT_EQ(temporal->Name(), "temporal:0.2");

  auto tenth = ParseProtocol("temporal:0.1");
  ASSERT_TRUE(tenth.ok());
  EXPECT_DOUBLE_EQ(tenth->test_fraction, 0.1);
  EXPECT_EQ(tenth->Name(), "temporal:0.1");
}

TEST(ProtocolTest, RejectsMalformedStringsWithInvalidArgument) {
  for (const char* bad :
       {"", "LOO", "loo:1", "temporalx", "temporal:", "temporal:0", "temporal:1", "temporal:1.5",
        "temporal:-0.2", "temporal:abc", "temporal:0.1x", "temporal;0.1", "random"}) {
    auto p = ParseProtocol(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_TRUE(p.status().IsInvalidArgument()) << bad;
    EXPECT_NE(p.status().message().find("expected \"loo\""), std::string::npos)
        << p.status().ToString();
  }
}

// user 0: items 1 2 3 4 (with an impression before and after the validation item, and a
// collapsed repeat), user 1: items 5 6 (too short), user 2: items 1 2 3 exactly.
store::EventTable LooTable() {
  store::EventTable t;
  t.num_users = 4;  // user 3 has no events at all
  t.num_items = 8;
  AddEvent(t, 0, 1, 10);                          // seq 0
  AddEvent(t, 2, 1, 11);                          // seq 1
  AddEvent(t, 0, 2, 12);                          // seq 2
  AddEvent(t, 0, 7, 13, EventType::kImpression);  // seq 3: before the validation item, kept
  AddEvent(t, 1, 5, 14);                          // seq 4
  AddEvent(t, 0, 3, 15, EventType::kClick);       // seq 5: validation item starts here
  AddEvent(t, 0, 3, 16, EventType::kView);        // seq 6: the view the click opened
  AddEvent(t, 2, 2, 17);                          // seq 7
  AddEvent(t, 0, 7, 18, EventType::kImpression);  // seq 8
  AddEvent(t, 1, 6, 19);                          // seq 9
  AddEvent(t, 0, 4, 20, EventType::kBuy);         // seq 10: test item
  AddEvent(t, 2, 3, 21);                          // seq 11
  return t;
}

TEST(SplitTest, LeaveLastOutHoldsOutTheLastTwoInteractions) {
  auto split = MakeSplit(LooTable(), Protocol{});
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->protocol.Name(), "loo");
  EXPECT_EQ(split->num_users, 4u);
  EXPECT_EQ(split->num_items, 8u);
  EXPECT_EQ(split->users_with_interactions, 3u);

  // Training rows: user 0 up to (not including) the click on item 3; all of user 1; user 2's
  // first interaction.
  EXPECT_EQ(split->train_table.seq, (std::vector<uint64_t>{0, 1, 2, 3, 4, 9}));
  EXPECT_EQ(split->train_table.num_users, 4u);
  EXPECT_EQ(split->train_table.num_items, 8u);
  EXPECT_TRUE(split->train_table.IsSortedByTime());
  EXPECT_EQ(V(split->train_sequences.items_of(0)), (Items{1, 2}));
  EXPECT_EQ(V(split->train_sequences.items_of(1)), (Items{5, 6}));
  EXPECT_EQ(V(split->train_sequences.items_of(2)), (Items{1}));
  EXPECT_EQ(split->train_sequences.length(3), 0u);

  EXPECT_EQ(split->validation_targets, (Items{3, kNoId, 2, kNoId}));
  EXPECT_EQ(split->validation_users, 2u);
  const model::TrainData data = split->train_data();
  EXPECT_EQ(data.table, &split->train_table);
  EXPECT_EQ(data.validation_targets.size(), 4u);

  // Test: the history includes the validation item.
  ASSERT_EQ(split->test.size(), 2u);
  EXPECT_EQ(split->test.users, (std::vector<UserId>{0, 2}));
  EXPECT_EQ(V(split->test.history(0)), (Items{1, 2, 3}));
  EXPECT_EQ(V(split->test.targets(0)), (Items{4}));
  EXPECT_EQ(V(split->test.history(1)), (Items{1, 2}));
  EXPECT_EQ(V(split->test.targets(1)), (Items{3}));
}

TEST(SplitTest, ValidationCasesAskForTheValidationItemAfterTheTrainingSequence) {
  auto split = MakeSplit(LooTable(), Protocol{});
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  TestCases v = ValidationCases(*split);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v.users, (std::vector<UserId>{0, 2}));
  EXPECT_EQ(V(v.history(0)), (Items{1, 2}));
  EXPECT_EQ(V(v.targets(0)), (Items{3}));
  EXPECT_EQ(V(v.history(1)), (Items{1}));
  EXPECT_EQ(V(v.targets(1)), (Items{2}));
}

TEST(SplitTest, LeaveLastOutKeepsARepeatedItemAsTarget) {
  store::EventTable t;
  t.num_users = 1;
  t.num_items = 3;
  AddEvent(t, 0, 1, 1);
  AddEvent(t, 0, 2, 2);
  AddEvent(t, 0, 1, 3);  // not an immediate repeat: a new interaction
  auto split = MakeSplit(t, Protocol{});
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(V(split->test.history(0)), (Items{1, 2}));
  EXPECT_EQ(V(split->test.targets(0)), (Items{1}));
  EXPECT_EQ(split->validation_targets[0], 2u);
  EXPECT_EQ(V(split->train_sequences.items_of(0)), (Items{1}));
}

// Interactions at ts 1..7 before the cut and 9, 10, 11 after; temporal:0.25 puts the cut at
// the timestamp with index floor(0.75 * 10) = 7 of the sorted ten: ts 9.
//   user 0: A@1 B@2 C@9       -> test, history A B, target C; validation B (held out)
//   user 1: D@3 E@10          -> test, history D, target E; one pre-cut item: no validation
//   user 2: F@4 G@5           -> training only
//   user 3: A@6 B@7 A@11      -> its only post-cut item repeats its history: not a test user
constexpr ItemId kA = 0, kB = 1, kC = 2, kD = 3, kE = 4, kF = 5, kG = 6;

store::EventTable TemporalTable() {
  store::EventTable t;
  t.num_users = 4;
  t.num_items = 7;
  AddEvent(t, 0, kA, 1);                           // seq 0
  AddEvent(t, 0, kB, 2);                           // seq 1
  AddEvent(t, 1, kD, 3);                           // seq 2
  AddEvent(t, 2, kF, 4);                           // seq 3
  AddEvent(t, 2, kG, 5);                           // seq 4
  AddEvent(t, 2, kA, 5, EventType::kImpression);   // seq 5: pre-cut, not an interaction: kept
  AddEvent(t, 3, kA, 6);                           // seq 6
  AddEvent(t, 3, kB, 7);                           // seq 7
  AddEvent(t, 0, kNoId, 8, EventType::kSearch);    // seq 8: after user 0's validation item
  AddEvent(t, 0, kC, 9);                           // seq 9
  AddEvent(t, 1, kE, 10);                          // seq 10
  AddEvent(t, 3, kA, 11);                          // seq 11
  AddEvent(t, 2, kB, 12, EventType::kImpression);  // seq 12: post-cut
  return t;
}

TEST(SplitTest, TemporalCutsAtTheQuantileAndTestsNewItemsAfterIt) {
  auto protocol = ParseProtocol("temporal:0.25");
  ASSERT_TRUE(protocol.ok());
  auto split = MakeSplit(TemporalTable(), *protocol);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->cut_ts_ms, 9);

  EXPECT_EQ(split->train_table.seq, (std::vector<uint64_t>{0, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(V(split->train_sequences.items_of(0)), (Items{kA}));
  EXPECT_EQ(V(split->train_sequences.items_of(1)), (Items{kD}));
  EXPECT_EQ(V(split->train_sequences.items_of(2)), (Items{kF, kG}));
  EXPECT_EQ(V(split->train_sequences.items_of(3)), (Items{kA, kB}));
  EXPECT_EQ(split->validation_targets, (Items{kB, kNoId, kNoId, kNoId}));
  EXPECT_EQ(split->validation_users, 1u);

  ASSERT_EQ(split->test.size(), 2u);
  EXPECT_EQ(split->test.users, (std::vector<UserId>{0, 1}));
  EXPECT_EQ(V(split->test.history(0)), (Items{kA, kB}));
  EXPECT_EQ(V(split->test.targets(0)), (Items{kC}));
  EXPECT_EQ(V(split->test.history(1)), (Items{kD}));
  EXPECT_EQ(V(split->test.targets(1)), (Items{kE}));
}

TEST(SplitTest, TemporalTargetsAreDistinctNewItemsInFirstSeenOrder) {
  store::EventTable t;
  t.num_users = 2;
  t.num_items = 10;
  // user 0 before the cut: 1 2; after: 3 1 4 3 5 -> targets 3 4 5.
  for (auto [item, ts] : std::vector<std::pair<ItemId, int64_t>>{
           {1, 1}, {2, 2}, {3, 10}, {1, 11}, {4, 12}, {3, 13}, {5, 14}}) {
    AddEvent(t, 0, item, ts);
  }
  // user 1: five interactions, all before the cut, so training-only.
  for (int64_t ts = 3; ts <= 7; ++ts) AddEvent(t, 1, static_cast<ItemId>(ts), ts);
  t.SortByTime();
  // 12 interactions; temporal:0.4 -> index floor(0.6 * 12) = 7 of the sorted timestamps
  // 1..7, 10..14: ts 10.
  auto split = MakeSplit(t, *ParseProtocol("temporal:0.4"));
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->cut_ts_ms, 10);
  ASSERT_EQ(split->test.size(), 1u);
  EXPECT_EQ(V(split->test.history(0)), (Items{1, 2}));
  EXPECT_EQ(V(split->test.targets(0)), (Items{3, 4, 5}));
  EXPECT_EQ(split->validation_targets[0], 2u);
  EXPECT_EQ(V(split->train_sequences.items_of(0)), (Items{1}));
  EXPECT_EQ(split->train_sequences.length(1), 5u);
}

TEST(SplitTest, ReportsWhyASplitIsImpossible) {
  store::EventTable unsorted;
  unsorted.num_users = 1;
  unsorted.num_items = 2;
  AddEvent(unsorted, 0, 0, 5);
  AddEvent(unsorted, 0, 1, 4);
  auto s = MakeSplit(unsorted, Protocol{});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kFailedPrecondition);

  store::EventTable empty;
  empty.num_users = 1;
  empty.num_items = 1;
  EXPECT_FALSE(MakeSplit(empty, Protocol{}).ok());

  store::EventTable short_users;
  short_users.num_users = 2;
  short_users.num_items = 3;
  AddEvent(short_users, 0, 0, 1);
  AddEvent(short_users, 0, 1, 2);
  AddEvent(short_users, 1, 2, 3);
  s = MakeSplit(short_users, Protocol{});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("3 interactions"), std::string::npos);

  store::EventTable same_time;
  same_time.num_users = 2;
  same_time.num_items = 3;
  AddEvent(same_time, 0, 0, 7);
  AddEvent(same_time, 1, 1, 7);
  AddEvent(same_time, 1, 2, 7);
  s = MakeSplit(same_time, *ParseProtocol("temporal"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kFailedPrecondition);
}

TEST(SplitTest, TrainingTableRebuildsTheTrainingSequences) {
  const store::EventTable t = testing::RandomTable(200, 50, 12, 7);
  for (const char* name : {"loo", "temporal", "temporal:0.4"}) {
    auto split = MakeSplit(t, *ParseProtocol(name));
    ASSERT_TRUE(split.ok()) << name;
    const model::UserSequences all = model::BuildSequences(t);
    for (size_t c = 0; c < split->test.size(); ++c) {
      const UserId u = split->test.users[c];
      const auto train = split->train_sequences.items_of(u);
      const auto history = split->test.history(c);
      // Training is a prefix of the history, which is a prefix of the user's sequence; the
      // validation target (when any) is the one item between them.
      ASSERT_LE(train.size(), history.size());
      EXPECT_TRUE(std::equal(train.begin(), train.end(), history.begin())) << name;
      EXPECT_TRUE(std::equal(history.begin(), history.end(), all.items_of(u).begin())) << name;
      if (split->validation_targets[u] != kNoId) {
        ASSERT_EQ(train.size() + 1, history.size());
        EXPECT_EQ(split->validation_targets[u], history.back());
      }
    }
    // Nothing at or after the temporal cut is trained on.
    if (split->protocol.kind == ProtocolKind::kTemporal) {
      for (int64_t ts : split->train_table.ts_ms) ASSERT_LT(ts, split->cut_ts_ms) << name;
    }
  }
}

}  // namespace
}  // namespace freshet::eval
