#include "eval/prequential.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <memory>

#include "core/event.h"
#include "core/progress.h"
#include "core/time.h"
#include "eval/evaluator.h"
#include "eval/split.h"
#include "model/registry.h"
#include "nn/thread_pool.h"

namespace freshet::eval {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// One test case: the target's rank (0 = best) among the candidates, and when it happened.
struct CaseResult {
  int64_t ts_ms = 0;
  uint32_t rank = 0;
};

void Add(PrequentialMetrics& m, uint32_t rank) {
  ++m.cases;
  if (rank < 10) {
    m.hr10 += 1;
    m.ndcg10 += 1.0 / std::log2(rank + 2.0);
  }
  if (rank < 20) m.recall20 += 1;
}

void Finish(PrequentialMetrics& m) {
  if (m.cases == 0) return;
  const double n = static_cast<double>(m.cases);
  m.hr10 /= n;
  m.ndcg10 /= n;
  m.recall20 /= n;
}

// The interactions after the cut, in table order (time, then arrival).
struct Stream {
  std::vector<size_t> rows;
};

// Per-user recent interaction items, newest last, collapsed like training sequences (an item
// repeating the previous one is not appended), at most `max` of them.
class Histories {
 public:
  Histories(uint32_t num_users, size_t max) : items_(num_users), max_(max) {}
  const std::deque<ItemId>& of(UserId u) const { return items_[u]; }
  // Returns false when the item repeats the user's last one (nothing appended).
  bool Append(UserId u, ItemId item) {
    std::deque<ItemId>& h = items_[u];
    if (!h.empty() && h.back() == item) return false;
    h.push_back(item);
    if (h.size() > max_) h.pop_front();
    return true;
  }

 private:
  std::vector<std::deque<ItemId>> items_;
  size_t max_;
};

// Walks the stream once. With `learn`, the model learns from each micro-batch after scoring it.
Status Walk(model::Recommender& model, bool learn, const store::EventTable& table,
            const std::vector<size_t>& pre_rows, const Stream& stream,
            const PrequentialOptions& options, nn::ThreadPool& pool, std::string_view label,
            std::vector<CaseResult>* results) {
  Histories histories(table.num_users, options.max_history);
  for (size_t r : pre_rows) histories.Append(table.user[r], table.item[r]);

  struct Case {
    UserId user;
    ItemId item;
    int64_t ts_ms;
    std::vector<ItemId> history;
  };
  std::vector<Case> cases;
  std::vector<Case> examples;  // what the online model learns from (cases and non-cases)
  std::vector<model::OnlineExample> batch;
  std::vector<uint32_t> ranks;
  Progress progress(std::string(label), stream.rows.size(), "events", options.progress);
  const size_t step = std::max<size_t>(1, options.batch);
  for (size_t start = 0; start < stream.rows.size(); start += step) {
    const size_t end = std::min(stream.rows.size(), start + step);
    cases.clear();
    examples.clear();
    // Histories as they stood before each event; events of one batch see the earlier ones of
    // the same batch (serving applies an event to the feature state as it arrives), but the
    // model only changes after the batch.
    for (size_t k = start; k < end; ++k) {
      const size_t r = stream.rows[k];
      const UserId u = table.user[r];
      const ItemId item = table.item[r];
      const std::deque<ItemId>& h = histories.of(u);
      Case c{u, item, table.ts_ms[r], std::vector<ItemId>(h.begin(), h.end())};
      const bool repeat = std::find(h.begin(), h.end(), item) != h.end();
      if (!histories.Append(u, item)) continue;  // an immediate repeat: nothing happens
      if (!repeat) cases.push_back(c);
      examples.push_back(std::move(c));
    }
    // Rank every case against the whole catalog as the model stands now.
    ranks.assign(cases.size(), 0);
    const uint32_t n = model.num_items();
    pool.ParallelFor(cases.size(), [&](int, size_t begin, size_t finish) {
      std::vector<float> scores(n);
      for (size_t i = begin; i < finish; ++i) {
        const Case& c = cases[i];
        uint32_t rank = n;  // an item the model cannot score: a miss
        if (c.item < n) {
          model.ScoreAll(c.user, c.history, scores);
          for (ItemId h : c.history) {
            if (h < n) scores[h] = -std::numeric_limits<float>::infinity();
          }
          const float target = scores[c.item];
          rank = 0;
          for (uint32_t j = 0; j < n; ++j) rank += scores[j] > target ? 1 : 0;
          // An inactive target (kInactiveScore) ties with the other inactive items: a miss.
          if (target <= model::Recommender::kInactiveScore) rank = n;
        }
        ranks[i] = rank;
      }
    });
    for (size_t i = 0; i < cases.size(); ++i) results->push_back({cases[i].ts_ms, ranks[i]});
    if (learn && !examples.empty()) {
      batch.clear();
      for (const Case& c : examples) batch.push_back({c.user, c.item, c.history, c.ts_ms});
      FRESHET_RETURN_IF_ERROR(model.Learn(batch, table.num_items, options.online));
    }
    progress.Update(end, end);
  }
  progress.Finish();
  return Status::OK();
}

// The offline part of the replay: the interactions before the cut time (the (1 - holdout)
// quantile of interaction times), each user's last one held out for early stopping. Unlike the
// temporal evaluation split, no user needs events on both sides: a stream of new users is fine.
Result<Split> PreCutSplit(const store::EventTable& table, double holdout) {
  if (!table.IsSortedByTime()) return Status::FailedPrecondition("the event table is not sorted by time");
  std::vector<int64_t> times;
  for (size_t r = 0; r < table.size(); ++r) {
    if (IsInteraction(table.type[r]) && table.item[r] != kNoId) times.push_back(table.ts_ms[r]);
  }
  if (times.empty()) return Status::FailedPrecondition("no interactions to replay");
  const size_t index =
      std::min(times.size() - 1, static_cast<size_t>((1.0 - holdout) * static_cast<double>(times.size())));
  const int64_t cut = times[index];  // sorted: the table is
  if (cut <= times.front()) {
    return Status::FailedPrecondition(
        "the cut at " + FormatTimestamp(cut) +
        " leaves no interaction before it (too many share the earliest time); use a larger "
        "--holdout");
  }
  Split split;
  split.protocol.kind = ProtocolKind::kTemporal;
  split.protocol.test_fraction = holdout;
  split.num_users = table.num_users;
  split.num_items = table.num_items;
  split.cut_ts_ms = cut;
  // Per user, the last run of interactions with one item (a view, a cart and a buy of the same
  // item are one sequence step, as BuildSequences collapses them): its item is held out, its rows
  // leave training, when an earlier step remains.
  constexpr size_t kNone = ~size_t{0};
  std::vector<ItemId> last_item(table.num_users, kNoId);
  std::vector<size_t> run_start(table.num_users, kNone), prev_start(table.num_users, kNone);
  for (size_t r = 0; r < table.size() && table.ts_ms[r] < cut; ++r) {
    if (!IsInteraction(table.type[r]) || table.item[r] == kNoId) continue;
    const UserId u = table.user[r];
    if (table.item[r] != last_item[u]) {
      prev_start[u] = run_start[u];
      run_start[u] = r;
      last_item[u] = table.item[r];
    }
  }
  split.validation_targets.assign(table.num_users, kNoId);
  for (UserId u = 0; u < table.num_users; ++u) {
    if (prev_start[u] == kNone) continue;  // a single step: it all trains
    split.validation_targets[u] = last_item[u];
    ++split.validation_users;
  }
  store::EventTable& train = split.train_table;
  train.num_users = table.num_users;
  train.num_items = table.num_items;
  for (size_t r = 0; r < table.size() && table.ts_ms[r] < cut; ++r) {
    const UserId u = table.user[r];
    if (split.validation_targets[u] != kNoId && r >= run_start[u] &&
        table.item[r] == last_item[u] && IsInteraction(table.type[r])) {
      continue;
    }
    train.seq.push_back(table.seq[r]);
    train.ts_ms.push_back(table.ts_ms[r]);
    train.user.push_back(u);
    train.item.push_back(table.item[r]);
    train.type.push_back(table.type[r]);
    train.value.push_back(table.value[r]);
  }
  std::vector<uint8_t> any(table.num_users, 0);
  for (UserId u = 0; u < table.num_users; ++u) any[u] = run_start[u] != kNone;
  for (uint8_t a : any) split.users_with_interactions += a;
  split.train_sequences = model::BuildSequences(train);
  return split;
}

}  // namespace

Result<PrequentialResult> RunPrequential(const store::EventTable& table, std::string_view kind,
                                         const model::Params& params,
                                         const PrequentialOptions& options) {
  if (!(options.holdout > 0 && options.holdout < 1)) {
    return Status::InvalidArgument("holdout must be between 0 and 1 (exclusive), got " +
                                   fmt::format("{}", options.holdout));
  }
  FRESHET_ASSIGN_OR_RETURN(std::unique_ptr<model::Recommender> fitted,
                           model::CreateModel(kind, params));
  FRESHET_ASSIGN_OR_RETURN(Split split, PreCutSplit(table, options.holdout));

  PrequentialResult result;
  result.dataset = options.dataset;
  result.model = std::string(fitted->kind());
  result.params = fitted->params();
  result.holdout = options.holdout;
  result.batch = options.batch;
  result.cut_ts_ms = split.cut_ts_ms;

  // The offline fit, with early stopping on each user's last pre-cut item (as `freshet train`).
  model::FitOptions fit;
  fit.threads = options.threads;
  fit.seed = options.seed;
  fit.progress = options.progress;
  const TestCases validation = ValidationCases(split);
  if (validation.size() > 0) {
    fit.validate = [&](const model::Recommender& m) {
      EvalOptions eo;
      eo.ks = {10};
      eo.threads = options.threads;
      auto r = Evaluate(m, split, validation, eo);
      std::vector<std::pair<std::string, double>> out;
      if (r.ok()) out = {{"NDCG@10", r->Metric("NDCG@10")}, {"HR@10", r->Metric("HR@10")}};
      return out;
    };
  }
  FRESHET_RETURN_IF_ERROR(fitted->Fit(split.train_data(), fit, &result.train));

  std::vector<size_t> pre_rows;
  Stream stream;
  std::vector<uint8_t> trained(table.num_items, 0);
  for (size_t r = 0; r < table.size(); ++r) {
    if (!IsInteraction(table.type[r]) || table.item[r] == kNoId) continue;
    if (table.ts_ms[r] < split.cut_ts_ms) {
      pre_rows.push_back(r);
      trained[table.item[r]] = 1;
    } else {
      stream.rows.push_back(r);
    }
  }
  // The fit sized the model to the whole dictionary, future items included; a model trained at
  // the cut would not know them. They start untrained, as items new to a served model do.
  std::vector<ItemId> unknown;
  for (ItemId i = 0; i < table.num_items; ++i) {
    if (!trained[i]) unknown.push_back(i);
  }
  fitted->Forget(unknown);
  std::unique_ptr<model::Recommender> online = fitted->Clone();
  if (!online) {
    return Status(Status::Code::kUnimplemented,
                  std::string(kind) + " models cannot be copied for online learning");
  }
  if (stream.rows.empty()) {
    return Status::FailedPrecondition("no interactions after the holdout cut");
  }
  result.events = stream.rows.size();

  nn::ThreadPool pool(options.threads);
  std::vector<CaseResult> frozen_cases, online_cases;
  auto start = Clock::now();
  FRESHET_RETURN_IF_ERROR(Walk(*fitted, false, table, pre_rows, stream, options, pool,
                               "replay frozen", &frozen_cases));
  result.frozen_seconds = Seconds(start);
  start = Clock::now();
  FRESHET_RETURN_IF_ERROR(Walk(*online, true, table, pre_rows, stream, options, pool,
                               "replay online", &online_cases));
  result.online_seconds = Seconds(start);
  if (frozen_cases.size() != online_cases.size()) {
    return Status::Internal("the two walks saw different cases");
  }

  // Whole-walk metrics and windows of equal case counts.
  const size_t total = frozen_cases.size();
  const int windows = total == 0 ? 0 : static_cast<int>(std::min<size_t>(
                                           std::max(1, options.windows), total));
  result.windows.resize(windows);
  for (size_t i = 0; i < total; ++i) {
    Add(result.frozen, frozen_cases[i].rank);
    Add(result.online, online_cases[i].rank);
    PrequentialWindow& w = result.windows[i * windows / total];
    if (w.frozen.cases == 0) w.from_ts_ms = frozen_cases[i].ts_ms;
    w.to_ts_ms = frozen_cases[i].ts_ms;
    Add(w.frozen, frozen_cases[i].rank);
    Add(w.online, online_cases[i].rank);
  }
  Finish(result.frozen);
  Finish(result.online);
  for (PrequentialWindow& w : result.windows) {
    Finish(w.frozen);
    Finish(w.online);
  }
  for (size_t r : stream.rows) result.new_item_events += trained[table.item[r]] ? 0 : 1;
  return result;
}

}  // namespace freshet::eval
