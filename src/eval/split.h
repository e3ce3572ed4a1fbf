#pragma once

// Offline evaluation protocols: how the event log is cut into what a model is fitted on, what it
// may validate on while training, and what it is tested on. The definitions here are the ones
// docs/models.md quotes; change them only together.
//
// Both protocols work on interactions as model::BuildSequences defines them (view, click, cart,
// fav, buy, rate; an immediate repeat of the same item collapsed into one interaction).
//
// leave-last-out ("loo", the SASRec / ICLRec protocol). For every user with at least 3
// interactions, sequence s[0..L):
//   - test:       history = s[0..L-1) (it includes the validation item), target = s[L-1];
//   - validation: target s[L-2], asked after the training sequence s[0..L-2);
//   - training:   s[0..L-2). In the training EventTable every event of that user from the first
//                 event of interaction s[L-2] onwards (in processing order, whatever its type,
//                 impressions and searches included) is dropped.
//   Users with 1 or 2 interactions are training-only: all their events stay in training and they
//   are neither validated nor tested.
//
// global temporal ("temporal:F", F in (0, 1), default 0.2). The cut time T is the (1-F) quantile
// of all interaction timestamps: the timestamp at index floor((1-F) * m) of the m interaction
// timestamps sorted ascending. An interaction is pre-cut when ts < T. With many equal timestamps
// (day-granular data) the post-cut share can differ from F.
//   - training:   every event with ts < T, minus the validation hold-out below. Events at or after
//                 T are never trained on, whoever they belong to.
//   - test users: users with at least one pre-cut and one post-cut interaction whose post-cut
//                 interactions include at least one item absent from their pre-cut sequence.
//                 history = the whole pre-cut sequence; targets = the distinct items of their
//                 post-cut interactions that are not in that history, in first-seen order (a
//                 repeat of a known item is not a discovery the recommender could be credited
//                 with, and full ranking excludes history items anyway).
//   - validation: for each test user with at least 2 pre-cut interactions, the last pre-cut
//                 interaction is held out of training (events of that user from its first event
//                 onwards are dropped from the training table) and becomes the validation target,
//                 asked after the remaining pre-cut sequence. A test user with one pre-cut
//                 interaction keeps it in training and has no validation target, so no
//                 validation query is asked with an empty history.
//   As with loo, the test history includes the held-out validation item: the final model is
//   evaluated without being refitted.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "core/status.h"
#include "model/recommender.h"
#include "model/sequences.h"
#include "store/event_table.h"

namespace freshet::eval {

enum class ProtocolKind { kLeaveLastOut, kTemporal };

struct Protocol {
  ProtocolKind kind = ProtocolKind::kLeaveLastOut;
  // temporal only: the share of interactions (by time) after the cut. Larger means more test
  // users and targets but older training data relative to the test period.
  double test_fraction = 0.2;

  // "loo" or "temporal:<F>" (shortest form that parses back to the same value, e.g.
  // "temporal:0.2").
  std::string Name() const;
};

// Parses "loo", "temporal" (= "temporal:0.2") and "temporal:F" with 0 < F < 1.
// Returns InvalidArgument naming the accepted forms for anything else.
Result<Protocol> ParseProtocol(std::string_view text);

// The test cases of a split, one per test user, in ascending user order, in CSR layout so that
// hundreds of thousands of users cost three arrays rather than a vector each.
// Invariant: every item a test user ever interacted with is in history(i) or targets(i) (both
// protocols guarantee it), which is what sampled negatives exclude.
struct TestCases {
  std::vector<UserId> users;
  std::vector<uint64_t> history_offsets{0};  // size() + 1
  std::vector<ItemId> history_items;         // oldest first
  std::vector<uint64_t> target_offsets{0};   // size() + 1
  std::vector<ItemId> target_items;          // distinct within a case

  size_t size() const { return users.size(); }
  std::span<const ItemId> history(size_t i) const {
    return {history_items.data() + history_offsets[i],
            history_items.data() + history_offsets[i + 1]};
  }
  std::span<const ItemId> targets(size_t i) const {
    return {target_items.data() + target_offsets[i], target_items.data() + target_offsets[i + 1]};
  }
  // Appends a case. REQUIRES: targets non-empty and distinct.
  void Add(UserId user, std::span<const ItemId> history, std::span<const ItemId> targets);
};

// Everything one protocol produces from one event table. Movable; train_data() points into it.
struct Split {
  Protocol protocol;
  uint32_t num_users = 0;  // the source table's dictionary sizes
  uint32_t num_items = 0;

  // What the model is fitted on: the source rows that survive the protocol, in the same order
  // (so still sorted by time), and their sequences (= model::BuildSequences(train_table)).
  store::EventTable train_table;
  model::UserSequences train_sequences;
  // Per user (size num_users): the held-out item that follows train_sequences.items_of(u), for
  // early stopping; kNoId for users without one.
  std::vector<ItemId> validation_targets;

  TestCases test;

  // temporal: the cut time T (first post-cut millisecond); loo: 0.
  int64_t cut_ts_ms = 0;
  uint32_t users_with_interactions = 0;  // users with at least one interaction in the source
  uint32_t validation_users = 0;         // users with a validation target

  // The view a model's Fit takes. Valid while this Split lives and is not moved.
  model::TrainData train_data() const {
    model::TrainData data;
    data.table = &train_table;
    data.sequences = &train_sequences;
    data.validation_targets = validation_targets;
    return data;
  }
};

// Applies `protocol` to `table` (REQUIRES: ids below the table's num_users / num_items).
// Returns FailedPrecondition when the table is not sorted by time (call SortByTime), and
// FailedPrecondition naming the reason when the protocol yields no test user (no interactions,
// no user with 3 interactions for loo, no user on both sides of the cut for temporal, or every
// interaction on one timestamp). `table` is only read and may be discarded afterwards.
Result<Split> MakeSplit(const store::EventTable& table, const Protocol& protocol);

// The validation queries of a split, for early stopping: one case per user with a validation
// target, history = the user's training sequence, target = the validation item.
TestCases ValidationCases(const Split& split);

}  // namespace freshet::eval
