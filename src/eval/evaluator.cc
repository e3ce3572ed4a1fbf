#include "eval/evaluator.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include "core/progress.h"
#include "eval/metrics.h"

namespace freshet::eval {
namespace {

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
constexpr uint32_t kNeverListed = std::numeric_limits<uint32_t>::max();
// Cases a worker claims at once: enough to keep the shared counter cold, few enough to balance
// users of very different history lengths.
constexpr size_t kChunk = 8;
// Full ranking scores a chunk of users with one Recommender::ScoreBatch call: up to 64 users, and
// at most 4M scores (16 MB) per worker for large catalogs.
size_t FullChunk(uint32_t num_items) {
  return std::clamp<size_t>((size_t{1} << 22) / std::max<uint32_t>(num_items, 1), 1, 64);
}

float Sanitize(float s) { return std::isnan(s) ? kMinusInf : s; }

// splitmix64's finaliser: spreads (seed, user) over 64 bits so neighbouring users get unrelated
// streams.
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The negative sampler's generator: a splitmix64 stream seeded from (seed, user) alone, so a
// user's candidates depend on nothing else (not the thread, not the order, not the model).
class CaseRng {
 public:
  CaseRng(uint64_t seed, UserId user)
      : state_(Mix64(seed + 0x9e3779b97f4a7c15ULL) ^
               Mix64(uint64_t{user} + 0x632be59bd9b4e019ULL)) {}

  // Uniform in [0, n) by multiply-shift. The bias is below n / 2^64 (< 2^-32 for 32-bit ids),
  // far under any sampling noise, so no rejection step is needed.
  uint32_t Below(uint32_t n) {
    state_ += 0x9e3779b97f4a7c15ULL;
    return static_cast<uint32_t>((static_cast<unsigned __int128>(Mix64(state_)) * n) >> 64);
  }

 private:
  uint64_t state_;
};

// One entry of a top-k list, ordered by the tie rule of eval/metrics.h with item id as the final
// tie-break so that the lists (and so coverage) are deterministic.
struct Listed {
  float score;
  bool target;
  ItemId item;
};
// A function object rather than a function, so that the heap and sort algorithms inline it.
struct AheadOf {
  bool operator()(const Listed& a, const Listed& b) const {
    if (a.score != b.score) return a.score > b.score;
    if (a.target != b.target) return !a.target;
    return a.item < b.item;
  }
};
constexpr AheadOf kAhead;

// The k best entries seen so far. Kept as a heap whose front is the worst kept entry, so most
// items are rejected by one comparison against `threshold`.
class TopK {
 public:
  void Reset(size_t k) {
    k_ = k;
    heap_.clear();
    threshold_ = kMinusInf;
  }
  float threshold() const { return threshold_; }
  void Push(const Listed& e) {
    if (k_ == 0) return;
    if (heap_.size() < k_) {
      heap_.push_back(e);
      std::push_heap(heap_.begin(), heap_.end(), kAhead);
    } else if (kAhead(e, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), kAhead);
      heap_.back() = e;
      std::push_heap(heap_.begin(), heap_.end(), kAhead);
    }
    if (heap_.size() == k_) threshold_ = heap_.front().score;
  }
  // Best first. Invalidates the heap.
  std::span<const Listed> Sorted() {
    std::sort_heap(heap_.begin(), heap_.end(), kAhead);
    return heap_;
  }

 private:
  size_t k_ = 0;
  std::vector<Listed> heap_;
  float threshold_ = kMinusInf;
};

// Per-thread state, allocated once: nothing is allocated per user after the first few.
struct Scratch {
  std::vector<float> scores;  // num_items (full) or the candidate count (sampled)
  // Full ranking: ScoreBatch's rows for cases [batch_begin, batch_begin + rows).
  std::vector<float> batch_scores;
  std::vector<std::span<const ItemId>> batch_histories;
  size_t batch_begin = 0;
  std::vector<uint8_t> mask;  // num_items; all zero between cases
  std::vector<ItemId> candidates;
  std::vector<uint64_t> ranks;
  std::vector<float> sorted_target_scores;
  std::vector<uint64_t> buckets;
  std::vector<uint32_t> order;
  std::vector<Listed> listed;
  TopK top;
  // Per item: the best position (0-based) it reached in any top-k list this thread produced.
  std::vector<uint32_t> best_position;
};

struct Shared {
  const model::Recommender& recommender;
  const TestCases& cases;
  const EvalOptions& options;
  uint32_t num_items;
  size_t max_k;
  size_t num_metrics;
  std::vector<double>& values;      // cases.size() * num_metrics
  std::vector<uint32_t>& excluded;  // per case: targets excluded as history items
};

// The number of scores >= t; NaN never counts. Branch-free so that it vectorises: this loop and
// SelectTop are all the evaluator adds to the model's ScoreAll per user in the loo case.
uint32_t CountAtLeast(std::span<const float> scores, float t) {
  uint32_t count = 0;  // ItemId is 32-bit, so the catalog size fits
  for (float v : scores) count += v >= t;
  return count;
}

// For several targets: buckets[m] counts the unmasked non-targets with exactly m targets scoring
// at or below them (`sorted` holds the targets' scores ascending).
void CountPerTarget(const Scratch& s, std::span<const float> scores, std::span<const float> sorted,
                    std::vector<uint64_t>& buckets) {
  const uint8_t* mask = s.mask.data();
  const auto n = static_cast<ItemId>(scores.size());
  for (ItemId i = 0; i < n; ++i) {
    if (mask[i]) continue;
    const float v = Sanitize(scores[i]);
    ++buckets[static_cast<size_t>(std::upper_bound(sorted.begin(), sorted.end(), v) -
                                  sorted.begin())];
  }
}

// Adds the unmasked non-targets to `top`. Almost every item scores below the threshold once the
// list is full, so whole blocks are tested at once (a vectorised any-of) and only a block with a
// contender is walked item by item. NaN passes the test (NaN < x is false) and is handled, like
// masked items, on the slow path.
constexpr ItemId kBlock = 16;

// Whether some of block[0, kBlock) is not below t (NaN included). A fixed-length loop over a
// plain pointer compiles to a few vector compares, but GCC 12 turns it back into scalar compares
// once inlined into SelectTop's loop; a call per 16 items costs far less than that.
[[gnu::noinline]] bool AnyNotBelow(const float* block, float t) {
  int any = 0;
  for (int j = 0; j < static_cast<int>(kBlock); ++j) any |= !(block[j] < t);
  return any != 0;
}

void SelectTop(const Scratch& s, std::span<const float> scores, TopK& top) {
  const uint8_t* mask = s.mask.data();
  const float* v = scores.data();
  const auto n = static_cast<ItemId>(scores.size());
  float threshold = top.threshold();
  auto walk = [&](ItemId begin, ItemId end) {
    for (ItemId i = begin; i < end; ++i) {
      if (v[i] < threshold || mask[i]) continue;
      top.Push({Sanitize(v[i]), false, i});
      threshold = top.threshold();
    }
  };
  ItemId i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    if (AnyNotBelow(v + i, threshold)) walk(i, i + kBlock);
  }
  walk(i, n);
}

// Ranks the case's targets against the whole catalog, minus the masked history.
void RankFull(Shared& sh, Scratch& s, size_t c, std::span<const ItemId> history,
              std::span<const ItemId> targets) {
  const uint32_t n = sh.num_items;
  const float* row = s.batch_scores.data() + (c - s.batch_begin) * n;
  std::copy(row, row + n, s.scores.begin());
  uint32_t masked = 0;  // distinct items that are not non-target candidates
  auto mark = [&](ItemId i) {
    masked += s.mask[i] == 0;
    s.mask[i] = 1;
  };
  if (sh.options.exclude_history) {
    for (ItemId h : history) {
      if (h < n) mark(h);
    }
  }
  // Targets that survive are ranked apart from the scan: they are the ones being counted.
  s.order.clear();
  uint32_t excluded = 0;
  for (size_t j = 0; j < targets.size(); ++j) {
    assert(targets[j] < n);
    s.ranks[j] = kNotRanked;
    if (s.mask[targets[j]]) {
      ++excluded;
    } else {
      s.order.push_back(static_cast<uint32_t>(j));
    }
  }
  for (ItemId t : targets) mark(t);
  sh.excluded[c] = excluded;

  s.top.Reset(sh.max_k);
  if (s.order.size() == 1) {
    const ItemId target = targets[s.order[0]];
    const float t0 = Sanitize(s.scores[target]);
    // Masked items are no candidates: NaN makes CountAtLeast skip them without a mask lookup.
    // The buffer is scratch; ScoreAll rewrites all of it for the next user.
    for (ItemId t : targets) s.scores[t] = std::numeric_limits<float>::quiet_NaN();
    if (sh.options.exclude_history) {
      for (ItemId h : history) {
        if (h < n) s.scores[h] = std::numeric_limits<float>::quiet_NaN();
      }
    }
    // Against a -inf target every candidate counts (NaN included, as -inf), which the NaN
    // trick cannot express; it is also the whole candidate count.
    const uint64_t ahead = t0 == kMinusInf ? n - masked : CountAtLeast(s.scores, t0);
    s.ranks[s.order[0]] = ahead + 1;
    SelectTop(s, s.scores, s.top);
    s.top.Push({t0, true, target});
  } else if (s.order.size() > 1) {
    s.sorted_target_scores.clear();
    for (uint32_t j : s.order) s.sorted_target_scores.push_back(Sanitize(s.scores[targets[j]]));
    std::sort(s.sorted_target_scores.begin(), s.sorted_target_scores.end());
    const auto& ts = s.sorted_target_scores;
    s.buckets.assign(s.order.size() + 1, 0);
    CountPerTarget(s, s.scores, ts, s.buckets);
    // Suffix sums: buckets[m] = non-targets with at least m targets at or below them, which
    // for a target whose score has upper_bound m are exactly those scoring >= it.
    for (size_t m = s.buckets.size() - 1; m > 0; --m) s.buckets[m - 1] += s.buckets[m];
    // Targets among themselves: score descending, then case order (std::sort, unlike
    // stable_sort, allocates nothing; the index makes the order total).
    std::sort(s.order.begin(), s.order.end(), [&](uint32_t a, uint32_t b) {
      const float sa = Sanitize(s.scores[targets[a]]);
      const float sb = Sanitize(s.scores[targets[b]]);
      return sa != sb ? sa > sb : a < b;
    });
    for (size_t p = 0; p < s.order.size(); ++p) {
      const float t = Sanitize(s.scores[targets[s.order[p]]]);
      const auto m = static_cast<size_t>(std::upper_bound(ts.begin(), ts.end(), t) - ts.begin());
      s.ranks[s.order[p]] = 1 + s.buckets[m] + p;
    }
    SelectTop(s, s.scores, s.top);
    for (uint32_t j : s.order) s.top.Push({Sanitize(s.scores[targets[j]]), true, targets[j]});
  } else {
    // Every target was excluded: nothing to rank, but the user's top-k list still counts for
    // coverage.
    SelectTop(s, s.scores, s.top);
  }

  for (ItemId h : history) {
    if (h < n) s.mask[h] = 0;
  }
  for (ItemId t : targets) s.mask[t] = 0;
}

// Ranks the case's targets against N sampled negatives the user never interacted with.
void RankSampled(Shared& sh, Scratch& s, size_t c, std::span<const ItemId> history,
                 std::span<const ItemId> targets) {
  const uint32_t n = sh.num_items;
  const UserId user = sh.cases.users[c];
  // Mark everything the user interacted with (TestCases' invariant: history plus targets).
  uint32_t seen = 0;
  auto mark = [&](ItemId i) {
    if (i < n && !s.mask[i]) {
      s.mask[i] = 1;
      ++seen;
    }
  };
  for (ItemId h : history) mark(h);
  for (ItemId t : targets) mark(t);
  s.candidates.assign(targets.begin(), targets.end());
  const uint32_t available = n - seen;
  const uint32_t wanted = sh.options.candidates.num_negatives;
  if (wanted >= available) {
    for (ItemId i = 0; i < n; ++i) {
      if (!s.mask[i]) s.candidates.push_back(i);
    }
  } else {
    // Rejection sampling; the expected number of draws is at most about n * (1 + ln wanted)
    // even when few items are available, and close to `wanted` in the usual sparse case.
    CaseRng rng(sh.options.seed, user);
    for (uint32_t got = 0; got < wanted;) {
      const ItemId i = rng.Below(n);
      if (s.mask[i]) continue;
      s.mask[i] = 1;
      s.candidates.push_back(i);
      ++got;
    }
  }
  for (ItemId h : history) {
    if (h < n) s.mask[h] = 0;
  }
  for (ItemId i : s.candidates) s.mask[i] = 0;

  const size_t num = s.candidates.size();
  s.scores.resize(num);
  sh.recommender.ScoreItems(user, history, s.candidates, s.scores);
  RankTargets(s.scores, targets.size(), std::span<uint64_t>(s.ranks.data(), targets.size()));
  sh.excluded[c] = 0;

  s.listed.clear();
  for (size_t i = 0; i < num; ++i) {
    s.listed.push_back({Sanitize(s.scores[i]), i < targets.size(), s.candidates[i]});
  }
  const size_t k = std::min(sh.max_k, num);
  std::partial_sort(s.listed.begin(), s.listed.begin() + static_cast<ptrdiff_t>(k), s.listed.end(),
                    kAhead);
  s.top.Reset(sh.max_k);
  for (size_t i = 0; i < k; ++i) s.top.Push(s.listed[i]);
}

void EvaluateCase(Shared& sh, Scratch& s, size_t c) {
  const auto history = sh.cases.history(c);
  const auto targets = sh.cases.targets(c);
  if (s.ranks.size() < targets.size()) s.ranks.resize(targets.size());
  if (sh.options.candidates.kind == Candidates::Kind::kFull) {
    RankFull(sh, s, c, history, targets);
  } else {
    RankSampled(sh, s, c, history, targets);
  }
  const auto listed = s.top.Sorted();
  for (size_t p = 0; p < listed.size(); ++p) {
    uint32_t& best = s.best_position[listed[p].item];
    best = std::min(best, static_cast<uint32_t>(p));
  }
  CaseMetrics(std::span<const uint64_t>(s.ranks.data(), targets.size()), sh.options.ks,
              std::span<double>(sh.values.data() + c * sh.num_metrics, sh.num_metrics));
}

Status CheckKs(const std::vector<int>& ks) {
  if (ks.empty()) return Status::InvalidArgument("no cutoffs K given for the metrics");
  for (size_t i = 0; i < ks.size(); ++i) {
    if (ks[i] < 1) {
      return Status::InvalidArgument("metric cutoff K = " + std::to_string(ks[i]) +
                                     " is not positive");
    }
    if (std::find(ks.begin(), ks.begin() + static_cast<ptrdiff_t>(i), ks[i]) !=
        ks.begin() + static_cast<ptrdiff_t>(i)) {
      return Status::InvalidArgument("metric cutoff K = " + std::to_string(ks[i]) +
                                     " is listed twice");
    }
  }
  return Status::OK();
}

std::string Note(const EvalOptions& options, const EvalResult& r) {
  std::string note;
  if (options.candidates.kind == Candidates::Kind::kFull) {
    note = "Full ranking over all " + std::to_string(r.num_items) + " items. ";
    if (options.exclude_history) {
      note +=
          "Items already in the user's history are excluded from the ranking (next-item "
          "datasets such as Amazon reviews have no repeats); a target the user had already "
          "interacted with therefore counts as a miss (" +
          std::to_string(r.targets_in_history) + " of " + std::to_string(r.targets) + " targets).";
    } else {
      note += "History items stay in the ranking.";
    }
  } else {
    note = "Each user's targets are ranked against " +
           std::to_string(options.candidates.num_negatives) +
           " negatives drawn uniformly without replacement from the items that user never "
           "interacted with (seed " +
           std::to_string(options.seed) +
           ", derived per user: every model sees the same "
           "candidates).";
  }
  note += " Ties count against the target.";
  return note;
}

}  // namespace

std::string Candidates::Name() const {
  return kind == Kind::kFull ? "full" : "sampled:" + std::to_string(num_negatives);
}

Result<Candidates> ParseCandidates(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("candidates \"" + std::string(text) + "\": " + std::string(why) +
                                   "; expected \"full\", \"sampled\" or \"sampled:N\" with N a "
                                   "positive integer (e.g. \"sampled:100\")");
  };
  Candidates c;
  if (text == "full") return c;
  constexpr std::string_view kSampled = "sampled";
  if (text.substr(0, kSampled.size()) != kSampled) return bad("unknown candidate set");
  c.kind = Candidates::Kind::kSampled;
  std::string_view rest = text.substr(kSampled.size());
  if (rest.empty()) return c;
  if (rest[0] != ':' || rest.size() == 1) return bad("expected \":N\" after sampled");
  rest.remove_prefix(1);
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
  if (ec != std::errc() || end != rest.data() + rest.size()) {
    return bad("the number of negatives is not a positive integer");
  }
  if (n == 0) return bad("the number of negatives must be at least 1");
  c.num_negatives = n;
  return c;
}

double EvalResult::Metric(std::string_view name) const {
  for (const auto& [key, value] : metrics) {
    if (key == name) return value;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

Result<EvalResult> Evaluate(const model::Recommender& recommender, const Split& split,
                            const EvalOptions& options) {
  return Evaluate(recommender, split, split.test, options);
}

Result<EvalResult> Evaluate(const model::Recommender& recommender, const Split& split,
                            const TestCases& cases, const EvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  FRESHET_RETURN_IF_ERROR(CheckKs(options.ks));
  if (recommender.num_items() != split.num_items) {
    return Status::InvalidArgument("the model scores " + std::to_string(recommender.num_items()) +
                                   " items but the split's catalog has " +
                                   std::to_string(split.num_items) +
                                   "; fit the model on this split's training data");
  }
  const uint32_t n = split.num_items;
  const size_t max_k = static_cast<size_t>(*std::max_element(options.ks.begin(), options.ks.end()));
  const std::vector<std::string> names = CaseMetricNames(options.ks);
  const size_t num_metrics = names.size();

  std::vector<double> values(cases.size() * num_metrics, 0.0);
  std::vector<uint32_t> excluded(cases.size(), 0);
  Shared shared{recommender, cases, options, n, max_k, num_metrics, values, excluded};

  size_t threads = options.threads > 0 ? static_cast<size_t>(options.threads)
                                       : std::max(1u, std::thread::hardware_concurrency());
  const bool full = options.candidates.kind == Candidates::Kind::kFull;
  const size_t chunk = full ? FullChunk(n) : kChunk;
  threads = std::max<size_t>(1, std::min(threads, (cases.size() + chunk - 1) / chunk));
  std::vector<Scratch> scratch(threads);
  for (Scratch& s : scratch) {
    if (full) {
      s.scores.resize(n);
      s.batch_scores.resize(chunk * n);
    }
    s.mask.assign(n, 0);
    s.best_position.assign(n, kNeverListed);
  }

  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  Status error;  // guarded by error_mu
  Progress progress("evaluate", cases.size(), "users", options.progress);

  // Thread entry point: exceptions from the model end the evaluation as an Internal error.
  auto work = [&](size_t w) {
    try {
      while (!failed.load(std::memory_order_relaxed)) {
        const size_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
        if (begin >= cases.size()) break;
        const size_t end = std::min(cases.size(), begin + chunk);
        Scratch& s = scratch[w];
        if (full) {
          s.batch_histories.clear();
          for (size_t c = begin; c < end; ++c) s.batch_histories.push_back(cases.history(c));
          s.batch_begin = begin;
          recommender.ScoreBatch({cases.users.data() + begin, end - begin}, s.batch_histories,
                                 {s.batch_scores.data(), (end - begin) * n});
        }
        for (size_t c = begin; c < end; ++c) EvaluateCase(shared, s, c);
        const size_t finished =
            done.fetch_add(end - begin, std::memory_order_relaxed) + end - begin;
        if (w == 0) progress.Update(finished, finished);
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (error.ok()) error = Status::Internal(std::string("evaluation failed: ") + e.what());
      failed = true;
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (error.ok()) error = Status::Internal("evaluation failed: unknown exception");
      failed = true;
    }
  };
  std::vector<std::thread> pool;
  try {
    for (size_t w = 1; w < threads; ++w) pool.emplace_back(work, w);
  } catch (const std::exception& e) {
    failed = true;
    for (std::thread& t : pool) t.join();
    return Status::Internal(std::string("cannot start evaluation threads: ") + e.what());
  }
  work(0);
  for (std::thread& t : pool) t.join();
  if (failed) return error;
  progress.Finish();

  EvalResult r;
  r.dataset = options.dataset;
  r.model = options.model.empty() ? std::string(recommender.kind()) : options.model;
  r.params = recommender.params();
  r.protocol = split.protocol.Name();
  r.candidates = options.candidates.Name();
  r.users_evaluated = cases.size();
  r.num_items = n;
  r.targets = cases.target_items.size();
  for (uint32_t e : excluded) r.targets_in_history += e;

  // Sums in case order, whatever the thread count: the result is bit-identical.
  const auto buckets = HistoryBuckets();
  std::vector<double> total(num_metrics, 0.0);
  std::vector<double> bucket_sum(buckets.size() * num_metrics, 0.0);
  std::vector<uint64_t> bucket_users(buckets.size(), 0);
  for (size_t c = 0; c < cases.size(); ++c) {
    const size_t b = HistoryBucketIndex(cases.history(c).size());
    ++bucket_users[b];
    for (size_t m = 0; m < num_metrics; ++m) {
      total[m] += values[c * num_metrics + m];
      bucket_sum[b * num_metrics + m] += values[c * num_metrics + m];
    }
  }
  const double users = static_cast<double>(std::max<size_t>(1, cases.size()));
  for (size_t m = 0; m < num_metrics; ++m) r.metrics.emplace_back(names[m], total[m] / users);
  // An item's best position over all threads decides which top-k lists it was in.
  std::vector<uint32_t> best(n, kNeverListed);
  for (const Scratch& s : scratch) {
    for (uint32_t i = 0; i < n; ++i) best[i] = std::min(best[i], s.best_position[i]);
  }
  for (int k : options.ks) {
    const auto covered = std::count_if(best.begin(), best.end(),
                                       [k](uint32_t p) { return p < static_cast<uint32_t>(k); });
    r.metrics.emplace_back("Coverage@" + std::to_string(k),
                           static_cast<double>(covered) / static_cast<double>(std::max(1u, n)));
  }
  for (size_t b = 0; b < buckets.size(); ++b) {
    if (bucket_users[b] == 0) continue;
    HistoryLengthStat stat;
    stat.label = std::string(buckets[b].label);
    stat.users = bucket_users[b];
    for (size_t m = 0; m < num_metrics; ++m) {
      stat.metrics.emplace_back(
          names[m], bucket_sum[b * num_metrics + m] / static_cast<double>(bucket_users[b]));
    }
    r.by_history_length.push_back(std::move(stat));
  }
  r.note = Note(options, r);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace freshet::eval
