#include "eval/split.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_set>

#include "core/time.h"

namespace freshet::eval {
namespace {

constexpr uint64_t kNoCut = std::numeric_limits<uint64_t>::max();

Status BadProtocol(std::string_view text, std::string_view why) {
  return Status::InvalidArgument("protocol \"" + std::string(text) + "\": " + std::string(why) +
                                 "; expected \"loo\", \"temporal\" or \"temporal:F\" with "
                                 "0 < F < 1 (e.g. \"temporal:0.1\")");
}

// Builds the training table: keeps row i of user u when it comes before u's cut row (the first
// event of the interaction at index cut_index[u] of u's sequence) and, when max_ts is set, when
// its ts is below max_ts.
//
// The interaction counting below must agree with model::BuildSequences (interaction types only,
// item present, an immediate repeat of the same item collapsed); MakeSplit asserts that the
// sequences rebuilt from the result have the expected lengths.
store::EventTable RestrictTable(const store::EventTable& table,
                                const std::vector<uint64_t>& cut_index, int64_t max_ts) {
  const uint32_t num_users = table.num_users;
  std::vector<uint64_t> count(num_users, 0);
  std::vector<ItemId> last(num_users, kNoId);
  std::vector<size_t> cut_row(num_users, std::numeric_limits<size_t>::max());
  for (size_t i = 0; i < table.size(); ++i) {
    const ItemId item = table.item[i];
    if (item == kNoId || !IsInteraction(table.type[i])) continue;
    const UserId u = table.user[i];
    if (last[u] == item) continue;
    last[u] = item;
    if (count[u] == cut_index[u]) cut_row[u] = i;
    ++count[u];
  }

  store::EventTable out;
  out.num_users = table.num_users;
  out.num_items = table.num_items;
  out.Reserve(table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    if (i >= cut_row[table.user[i]] || table.ts_ms[i] >= max_ts) continue;
    out.seq.push_back(table.seq[i]);
    out.ts_ms.push_back(table.ts_ms[i]);
    out.user.push_back(table.user[i]);
    out.item.push_back(table.item[i]);
    out.type.push_back(table.type[i]);
    out.value.push_back(table.value[i]);
  }
  return out;
}

void SplitLeaveLastOut(const model::UserSequences& seqs, Split& split,
                       std::vector<uint64_t>& cut_index) {
  for (UserId u = 0; u < seqs.num_users(); ++u) {
    const auto items = seqs.items_of(u);
    const size_t len = items.size();
    if (len < 3) continue;
    cut_index[u] = len - 2;
    split.validation_targets[u] = items[len - 2];
    ++split.validation_users;
    split.test.Add(u, items.first(len - 1), items.subspan(len - 1));
  }
}

// Returns the cut time, or FailedPrecondition when no interaction lies before it.
Result<int64_t> TemporalCut(const model::UserSequences& seqs, double fraction) {
  std::vector<int64_t> ts(seqs.ts_ms.begin(), seqs.ts_ms.end());
  const auto m = ts.size();
  // floor((1-F) * m) is below m for F > 0; the clamp guards rounding at tiny m.
  size_t index = static_cast<size_t>(std::floor((1.0 - fraction) * static_cast<double>(m)));
  index = std::min(index, m - 1);
  std::nth_element(ts.begin(), ts.begin() + static_cast<ptrdiff_t>(index), ts.end());
  const int64_t cut = ts[index];
  const int64_t earliest = *std::min_element(ts.begin(), ts.end());
  if (cut <= earliest) {
    return Status::FailedPrecondition(
        "temporal split: the cut at " + FormatTimestamp(cut) +
        " leaves no interaction before it (too many interactions share the earliest "
        "timestamp); use a larger fraction or \"loo\"");
  }
  return cut;
}

void SplitTemporal(const model::UserSequences& seqs, int64_t cut, Split& split,
                   std::vector<uint64_t>& cut_index) {
  std::unordered_set<ItemId> seen;
  std::vector<ItemId> targets;
  for (UserId u = 0; u < seqs.num_users(); ++u) {
    const auto items = seqs.items_of(u);
    const auto ts = seqs.ts_of(u);
    // Sequences are in time order, so the pre-cut interactions are a prefix.
    const size_t pre =
        static_cast<size_t>(std::lower_bound(ts.begin(), ts.end(), cut) - ts.begin());
    if (pre == 0 || pre == items.size()) continue;
    seen.clear();
    seen.insert(items.begin(), items.begin() + static_cast<ptrdiff_t>(pre));
    targets.clear();
    for (size_t i = pre; i < items.size(); ++i) {
      // insert() also deduplicates the targets themselves.
      if (seen.insert(items[i]).second) targets.push_back(items[i]);
    }
    if (targets.empty()) continue;
    split.test.Add(u, items.first(pre), targets);
    if (pre >= 2) {
      cut_index[u] = pre - 1;
      split.validation_targets[u] = items[pre - 1];
      ++split.validation_users;
    }
  }
}

}  // namespace

std::string Protocol::Name() const {
  if (kind == ProtocolKind::kLeaveLastOut) return "loo";
  // %.15g prints 0.2 as "0.2" and round-trips every fraction a user would type.
  char buf[40];
  std::snprintf(buf, sizeof(buf), "temporal:%.15g", test_fraction);
  return buf;
}

Result<Protocol> ParseProtocol(std::string_view text) {
  Protocol p;
  if (text == "loo") return p;
  constexpr std::string_view kTemporal = "temporal";
  if (text.substr(0, kTemporal.size()) != kTemporal) return BadProtocol(text, "unknown protocol");
  p.kind = ProtocolKind::kTemporal;
  std::string_view rest = text.substr(kTemporal.size());
  if (rest.empty()) return p;
  if (rest[0] != ':' || rest.size() == 1)
    return BadProtocol(text, "expected \":F\" after temporal");
  rest.remove_prefix(1);
  double f = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), f);
  if (ec != std::errc() || end != rest.data() + rest.size()) {
    return BadProtocol(text, "the fraction is not a number");
  }
  if (!(f > 0 && f < 1)) return BadProtocol(text, "the fraction must lie strictly between 0 and 1");
  p.test_fraction = f;
  return p;
}

void TestCases::Add(UserId user, std::span<const ItemId> history, std::span<const ItemId> targets) {
  assert(!targets.empty());
  users.push_back(user);
  history_items.insert(history_items.end(), history.begin(), history.end());
  history_offsets.push_back(history_items.size());
  target_items.insert(target_items.end(), targets.begin(), targets.end());
  target_offsets.push_back(target_items.size());
}

Result<Split> MakeSplit(const store::EventTable& table, const Protocol& protocol) {
  if (!table.IsSortedByTime()) {
    return Status::FailedPrecondition("event table is not in time order (call SortByTime)");
  }
  const model::UserSequences seqs = model::BuildSequences(table);
  if (seqs.items.empty()) {
    return Status::FailedPrecondition(
        "no interactions to split (views, clicks, carts, favs, "
        "buys or ratings with an item)");
  }

  Split split;
  split.protocol = protocol;
  split.num_users = table.num_users;
  split.num_items = table.num_items;
  split.validation_targets.assign(table.num_users, kNoId);
  for (UserId u = 0; u < seqs.num_users(); ++u) split.users_with_interactions += seqs.length(u) > 0;
  std::vector<uint64_t> cut_index(table.num_users, kNoCut);

  int64_t max_ts = std::numeric_limits<int64_t>::max();
  if (protocol.kind == ProtocolKind::kLeaveLastOut) {
    SplitLeaveLastOut(seqs, split, cut_index);
    if (split.test.size() == 0) {
      return Status::FailedPrecondition(
          "leave-last-out: no user has the 3 interactions it needs (train, validation, test); "
          "use \"temporal\" or more data");
    }
  } else {
    FRESHET_ASSIGN_OR_RETURN(const int64_t cut, TemporalCut(seqs, protocol.test_fraction));
    split.cut_ts_ms = cut;
    max_ts = cut;
    SplitTemporal(seqs, cut, split, cut_index);
    if (split.test.size() == 0) {
      return Status::FailedPrecondition(
          "temporal split at " + FormatTimestamp(cut) +
          ": no user interacts with a new item on both sides of the cut; use \"loo\"");
    }
  }

  split.train_table = RestrictTable(table, cut_index, max_ts);
  split.train_sequences = model::BuildSequences(split.train_table);
#ifndef NDEBUG
  // RestrictTable's counting must agree with BuildSequences: a held-out user keeps exactly the
  // interactions before the validation item.
  for (UserId u = 0; u < seqs.num_users(); ++u) {
    if (cut_index[u] != kNoCut) assert(split.train_sequences.length(u) == cut_index[u]);
  }
#endif
  return split;
}

TestCases ValidationCases(const Split& split) {
  TestCases cases;
  for (UserId u = 0; u < split.validation_targets.size(); ++u) {
    const ItemId target = split.validation_targets[u];
    if (target == kNoId) continue;
    cases.Add(u, split.train_sequences.items_of(u), {&target, 1});
  }
  return cases;
}

}  // namespace freshet::eval
