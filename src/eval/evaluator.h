#pragma once

// Offline evaluation of a fitted Recommender on a Split's test cases: candidates, ranks of the
// targets (tie rule and metric definitions in eval/metrics.h), and the aggregate report.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "eval/split.h"
#include "model/recommender.h"

namespace freshet::eval {

// Which items a test case's targets are ranked against.
//
// full: the whole catalog [0, num_items). With EvalOptions::exclude_history, the items of the
//   case's history are not candidates (as if scored -infinity, below everything): next-item
//   datasets such as Amazon reviews have no repeats, and ranking what the user already has would
//   only measure how well a model avoids it. A target that is itself a history item (a repeat
//   interaction under loo) is then excluded too and counts as a miss: keeping only that one
//   history item would hand every model that favours history items the answer.
// sampled:N: the targets plus N negatives drawn uniformly without replacement from the items the
//   user never interacted with in all their data (history and targets), by a generator seeded
//   from EvalOptions::seed and the user id alone, so that every model, thread count and order
//   sees the same candidates. A user with fewer than N such items gets all of them.
struct Candidates {
  enum class Kind { kFull, kSampled };
  Kind kind = Kind::kFull;
  uint32_t num_negatives = 100;  // sampled only; 100 is the SASRec protocol

  // "full" or "sampled:<N>".
  std::string Name() const;
};

// Parses "full", "sampled" (= "sampled:100") and "sampled:N" with N a positive integer.
// Returns InvalidArgument naming the accepted forms for anything else.
Result<Candidates> ParseCandidates(std::string_view text);

struct EvalOptions {
  Candidates candidates;              // full ranking by default: the honest protocol, at model cost
  std::vector<int> ks = {5, 10, 20};  // cutoffs of HR / NDCG / Recall / Coverage; each >= 1
  int threads = 0;     // worker threads over test users; 0 = one per core. Results do not
                       // depend on it.
  uint64_t seed = 42;  // sampled negatives derive from it and the user id
  // full only: history items are not candidates (see Candidates). Turn off for datasets where
  // users repeatedly come back to the same items and recommending them is wanted.
  bool exclude_history = true;
  std::string dataset;  // names for the report; the model name defaults to recommender.kind()
  std::string model;
  bool progress = false;  // progress line on stderr for long evaluations
};

// Metrics of the test users whose history length falls in one bucket (eval/metrics.h).
struct HistoryLengthStat {
  std::string label;  // "1-2", ...
  uint64_t users = 0;
  std::vector<std::pair<std::string, double>> metrics;  // HR@k, NDCG@k, Recall@k..., MRR
};

struct EvalResult {
  std::string dataset;
  std::string model;
  std::string protocol;    // Protocol::Name()
  std::string candidates;  // Candidates::Name()
  std::string note;        // one sentence on the candidate rule, for people reading the report
  uint64_t users_evaluated = 0;
  uint32_t num_items = 0;
  uint64_t targets = 0;
  uint64_t targets_in_history = 0;  // full + exclude_history: targets counted as misses
  // Means over test users, in order: HR@k, NDCG@k, Recall@k for each k, MRR, then Coverage@k for
  // each k (distinct items in all users' top-k lists / num_items).
  std::vector<std::pair<std::string, double>> metrics;
  // Buckets with at least one user, in increasing history length.
  std::vector<HistoryLengthStat> by_history_length;
  model::Params params;  // the model's options, from Recommender::params()
  // The model's training report; Evaluate leaves it empty, the caller attaches Fit's.
  model::TrainReport train;
  double seconds = 0;  // wall time of Evaluate

  // The metric called `name` ("NDCG@10"), or NaN when there is none.
  double Metric(std::string_view name) const;
};

// Evaluates `recommender` on `split.test`. Calls recommender.ScoreAll (full) or ScoreItems
// (sampled) concurrently from options.threads threads, once per test user; per-thread scratch is
// reused across users. The result is bit-identical for every thread count: each user's values
// are computed alone and summed in user order.
// Returns InvalidArgument when recommender.num_items() != split.num_items (fit it on this split)
// or options.ks holds a value below 1; Internal when a worker thread fails (the exception's
// message included). `recommender` and `split` must outlive the call and not change during it.
Result<EvalResult> Evaluate(const model::Recommender& recommender, const Split& split,
                            const EvalOptions& options);

// As above, over `cases` instead of split.test (e.g. ValidationCases(split) after each epoch).
Result<EvalResult> Evaluate(const model::Recommender& recommender, const Split& split,
                            const TestCases& cases, const EvalOptions& options);

}  // namespace freshet::eval
