#include "eval/evaluator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include "eval/metrics.h"
#include "fixtures.h"

namespace freshet::eval {
namespace {

using testing::AddEvent;
using testing::FakeRecommender;
using testing::HashRecommender;
using testing::RandomTable;

Split MustSplit(const store::EventTable& t, std::string_view protocol) {
  auto p = ParseProtocol(protocol);
  EXPECT_TRUE(p.ok());
  auto s = MakeSplit(t, *p);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(*s);
}

EvalResult MustEvaluate(const model::Recommender& rec, const Split& split,
                        const EvalOptions& options) {
  auto r = Evaluate(rec, split, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : EvalResult{};
}

EvalOptions Options(std::string_view candidates, std::vector<int> ks = {1, 5, 10}) {
  EvalOptions o;
  o.candidates = *ParseCandidates(candidates);
  o.ks = std::move(ks);
  o.threads = 2;
  return o;
}

// Knows the answer: scores each test user's targets 1 and everything else 0.
class OracleRecommender : public FakeRecommender {
 public:
  explicit OracleRecommender(const Split& split) : FakeRecommender(split.num_items) {
    targets_.resize(split.num_users);
    for (size_t c = 0; c < split.test.size(); ++c) {
      const auto t = split.test.targets(c);
      targets_[split.test.users[c]].assign(t.begin(), t.end());
    }
  }
  std::string_view kind() const override { return "oracle"; }
  void ScoreAll(UserId user, std::span<const ItemId>, std::span<float> out) const override {
    std::fill(out.begin(), out.end(), 0.0f);
    for (ItemId t : targets_[user]) out[t] = 1.0f;
  }

 private:
  std::vector<std::vector<ItemId>> targets_;
};

class ConstantRecommender : public FakeRecommender {
 public:
  using FakeRecommender::FakeRecommender;
  void ScoreAll(UserId, std::span<const ItemId>, std::span<float> out) const override {
    std::fill(out.begin(), out.end(), 0.5f);
  }
};

// Prefers low item ids, whoever asks.
class LowIdsRecommender : public FakeRecommender {
 public:
  using FakeRecommender::FakeRecommender;
  void ScoreAll(UserId, std::span<const ItemId>, std::span<float> out) const override {
    for (size_t i = 0; i < out.size(); ++i) out[i] = -static_cast<float>(i);
  }
};

// Records the candidate lists it is asked to score.
class RecordingRecommender : public HashRecommender {
 public:
  explicit RecordingRecommender(uint32_t num_items) : HashRecommender(num_items, 3) {}
  void ScoreItems(UserId user, std::span<const ItemId> history, std::span<const ItemId> items,
                  std::span<float> out) const override {
    HashRecommender::ScoreItems(user, history, items, out);
    std::lock_guard<std::mutex> lock(mu_);
    seen_[user].assign(items.begin(), items.end());
  }
  std::map<UserId, std::vector<ItemId>> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(seen_);
  }

 private:
  mutable std::mutex mu_;
  mutable std::map<UserId, std::vector<ItemId>> seen_;  // guarded by mu_
};

class ThrowingRecommender : public FakeRecommender {
 public:
  using FakeRecommender::FakeRecommender;
  void ScoreAll(UserId, std::span<const ItemId>, std::span<float>) const override {
    throw std::runtime_error("model exploded");
  }
};

TEST(CandidatesTest, ParsesTheAcceptedForms) {
  auto full = ParseCandidates("full");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->kind, Candidates::Kind::kFull);
  EXPECT_EQ(full->Name(), "full");
  auto sampled = ParseCandidates("sampled:100");
  ASSERT_TRUE(sampled.ok());
  EXPECT_EQ(sampled->kind, Candidates::Kind::kSampled);
  EXPECT_EQ(sampled->num_negatives, 100u);
  EXPECT_EQ(sampled->Name(), "sampled:100");
  auto bare = ParseCandidates("sampled");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->num_negatives, 100u);
  EXPECT_EQ(ParseCandidates("sampled:7")->num_negatives, 7u);
}

TEST(CandidatesTest, RejectsMalformedStringsWithInvalidArgument) {
  for (const char* bad : {"", "Full", "all", "full:10", "sampled:", "sampled:0", "sampled:-5",
                          "sampled:abc", "sampled:10x", "sampled 100", "sampled:99999999999"}) {
    auto c = ParseCandidates(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_TRUE(c.status().IsInvalidArgument()) << bad;
    EXPECT_NE(c.status().message().find("expected \"full\""), std::string::npos);
  }
}

TEST(EvaluatorTest, OracleHitsFirstUnderEveryProtocolAndCandidateSet) {
  const store::EventTable table = RandomTable(300, 80, 15, 1);
  for (const char* protocol : {"loo", "temporal"}) {
    const Split split = MustSplit(table, protocol);
    const OracleRecommender oracle(split);
    for (const char* candidates : {"full", "sampled:20"}) {
      const EvalResult r = MustEvaluate(oracle, split, Options(candidates));
      SCOPED_TRACE(std::string(protocol) + " " + candidates);
      EXPECT_EQ(r.users_evaluated, split.test.size());
      EXPECT_EQ(r.Metric("HR@1"), 1.0);
      EXPECT_DOUBLE_EQ(r.Metric("NDCG@1"), 1.0);
      EXPECT_DOUBLE_EQ(r.Metric("NDCG@10"), 1.0);
      EXPECT_DOUBLE_EQ(r.Metric("MRR"), 1.0);
      EXPECT_EQ(r.targets_in_history, 0u);
    }
  }
}

TEST(EvaluatorTest, ConstantScoresEarnNoHits) {
  const store::EventTable table = RandomTable(200, 80, 15, 2);
  const Split split = MustSplit(table, "loo");
  const ConstantRecommender constant(80);
  for (const char* candidates : {"full", "sampled:50"}) {
    const EvalResult r = MustEvaluate(constant, split, Options(candidates));
    EXPECT_EQ(r.Metric("HR@10"), 0.0) << candidates;
    EXPECT_EQ(r.Metric("NDCG@10"), 0.0) << candidates;
    EXPECT_GT(r.Metric("MRR"), 0.0) << candidates;
  }
}

TEST(EvaluatorTest, RandomScoresHitAtChanceOnSampledCandidates) {
  const store::EventTable table = RandomTable(3000, 500, 10, 3);
  const Split split = MustSplit(table, "loo");
  const HashRecommender random(500, 11);
  const EvalResult r = MustEvaluate(random, split, Options("sampled:100"));
  ASSERT_EQ(r.users_evaluated, 3000u);
  // One target among 101 candidates in random order: P(rank <= 10) = 10/101; sd ~ 0.0055.
  EXPECT_NEAR(r.Metric("HR@10"), 10.0 / 101, 0.02);
  EXPECT_NEAR(r.Metric("HR@1"), 1.0 / 101, 0.006);
}

TEST(EvaluatorTest, ResultDoesNotDependOnThreadCount) {
  const store::EventTable table = RandomTable(500, 200, 25, 4);
  // Coarse scores force ties, some NaNs: every path of the ranking is exercised.
  const HashRecommender rec(200, 5, /*levels=*/40, /*nan_every=*/17);
  for (const char* protocol : {"loo", "temporal:0.3"}) {
    const Split split = MustSplit(table, protocol);
    for (const char* candidates : {"full", "sampled:30"}) {
      EvalOptions one = Options(candidates);
      one.threads = 1;
      EvalOptions four = one;
      four.threads = 4;
      const EvalResult a = MustEvaluate(rec, split, one);
      const EvalResult b = MustEvaluate(rec, split, four);
      SCOPED_TRACE(std::string(protocol) + " " + candidates);
      EXPECT_EQ(a.metrics, b.metrics);  // bit-identical, not merely close
      ASSERT_EQ(a.by_history_length.size(), b.by_history_length.size());
      for (size_t i = 0; i < a.by_history_length.size(); ++i) {
        EXPECT_EQ(a.by_history_length[i].users, b.by_history_length[i].users);
        EXPECT_EQ(a.by_history_length[i].metrics, b.by_history_length[i].metrics);
      }
    }
  }
}

TEST(EvaluatorTest, SampledCandidatesAvoidTheUsersItemsAndAreReproducible) {
  const store::EventTable table = RandomTable(300, 120, 20, 5);
  const Split split = MustSplit(table, "loo");
  RecordingRecommender rec(120);
  EvalOptions options = Options("sampled:25");
  options.threads = 1;
  ASSERT_TRUE(Evaluate(rec, split, options).ok());
  const auto single = rec.Take();
  options.threads = 4;
  ASSERT_TRUE(Evaluate(rec, split, options).ok());
  EXPECT_EQ(rec.Take(), single);  // independent of threads and order
  ASSERT_TRUE(Evaluate(rec, split, options).ok());
  EXPECT_EQ(rec.Take(), single);  // and of the run

  ASSERT_EQ(single.size(), split.test.size());
  for (size_t c = 0; c < split.test.size(); ++c) {
    const auto& cands = single.at(split.test.users[c]);
    const auto history = split.test.history(c);
    const auto targets = split.test.targets(c);
    ASSERT_EQ(cands.size(), targets.size() + 25);
    EXPECT_TRUE(std::equal(targets.begin(), targets.end(), cands.begin()));
    std::set<ItemId> user_items(history.begin(), history.end());
    user_items.insert(targets.begin(), targets.end());
    std::set<ItemId> negatives(cands.begin() + static_cast<ptrdiff_t>(targets.size()), cands.end());
    EXPECT_EQ(negatives.size(), 25u);  // without replacement
    for (ItemId n : negatives) {
      EXPECT_LT(n, 120u);
      EXPECT_EQ(user_items.count(n), 0u) << "user " << split.test.users[c] << " item " << n;
    }
  }

  // Another seed draws other negatives.
  options.seed = 43;
  ASSERT_TRUE(Evaluate(rec, split, options).ok());
  EXPECT_NE(rec.Take(), single);
}

TEST(EvaluatorTest, SampledTakesEveryUnseenItemWhenThereAreTooFew) {
  store::EventTable t;
  t.num_users = 1;
  t.num_items = 6;
  for (ItemId i = 0; i < 5; ++i) AddEvent(t, 0, i, i + 1);
  const Split split = MustSplit(t, "loo");
  RecordingRecommender rec(6);
  ASSERT_TRUE(Evaluate(rec, split, Options("sampled:3")).ok());
  EXPECT_EQ(rec.Take().at(0), (std::vector<ItemId>{4, 5}));
}

// The evaluator's one-pass full ranking against the reference RankTargets over an explicit
// candidate list, including coverage.
TEST(EvaluatorTest, FullRankingMatchesTheReferenceRanks) {
  const store::EventTable table = RandomTable(150, 40, 12, 6);
  const HashRecommender rec(40, 9, /*levels=*/6, /*nan_every=*/7);
  const std::vector<int> ks = {1, 3, 10};
  for (const char* protocol : {"loo", "temporal:0.35"}) {
    const Split split = MustSplit(table, protocol);
    const EvalResult r = MustEvaluate(rec, split, Options("full", ks));
    SCOPED_TRACE(protocol);

    const auto names = CaseMetricNames(ks);
    std::vector<double> sums(names.size(), 0.0);
    std::set<std::pair<int, ItemId>> listed;  // (k, item) pairs in some top-k list
    size_t multi_target_cases = 0;
    for (size_t c = 0; c < split.test.size(); ++c) {
      const auto history = split.test.history(c);
      const auto targets = split.test.targets(c);
      multi_target_cases += targets.size() > 1;
      std::vector<float> all(40);
      rec.ScoreAll(split.test.users[c], history, all);
      std::vector<ItemId> cands(targets.begin(), targets.end());
      for (ItemId i = 0; i < 40; ++i) {
        const bool in_history = std::find(history.begin(), history.end(), i) != history.end();
        const bool target = std::find(targets.begin(), targets.end(), i) != targets.end();
        if (!in_history && !target) cands.push_back(i);
      }
      std::vector<float> scores;
      for (ItemId i : cands) scores.push_back(all[i]);
      std::vector<uint64_t> ranks(targets.size());
      RankTargets(scores, targets.size(), ranks);
      std::vector<double> values(names.size());
      CaseMetrics(ranks, ks, values);
      for (size_t m = 0; m < names.size(); ++m) sums[m] += values[m];

      // Top lists: score (NaN lowest) descending, non-targets before targets, then item id.
      std::vector<size_t> order(cands.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      auto key = [&](size_t i) {
        const float s = std::isnan(scores[i]) ? -INFINITY : scores[i];
        return std::make_tuple(-s, i < targets.size(), cands[i]);
      };
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
      for (int k : ks) {
        for (size_t p = 0; p < std::min<size_t>(k, order.size()); ++p) {
          listed.insert({k, cands[order[p]]});
        }
      }
    }
    for (size_t m = 0; m < names.size(); ++m) {
      EXPECT_NEAR(r.Metric(names[m]), sums[m] / split.test.size(), 1e-12) << names[m];
    }
    for (int k : ks) {
      const auto n =
          std::count_if(listed.begin(), listed.end(), [k](const auto& e) { return e.first == k; });
      EXPECT_DOUBLE_EQ(r.Metric("Coverage@" + std::to_string(k)), n / 40.0) << k;
    }
    if (std::string_view(protocol) != "loo") {
      EXPECT_GT(multi_target_cases, 0u);
    }
  }
}

TEST(EvaluatorTest, TargetRepeatingAHistoryItemIsAMissWhenHistoryIsExcluded) {
  store::EventTable t;
  t.num_users = 2;
  t.num_items = 6;
  AddEvent(t, 0, 1, 1);
  AddEvent(t, 0, 2, 2);
  AddEvent(t, 0, 1, 3);  // user 0's target, item 1, is already in its history
  AddEvent(t, 1, 3, 4);
  AddEvent(t, 1, 4, 5);
  AddEvent(t, 1, 5, 6);
  const Split split = MustSplit(t, "loo");
  const OracleRecommender oracle(split);
  EvalResult r = MustEvaluate(oracle, split, Options("full"));
  EXPECT_EQ(r.targets_in_history, 1u);
  EXPECT_EQ(r.Metric("HR@1"), 0.5);
  EXPECT_NE(r.note.find("1 of 2 targets"), std::string::npos) << r.note;

  EvalOptions keep = Options("full");
  keep.exclude_history = false;
  r = MustEvaluate(oracle, split, keep);
  EXPECT_EQ(r.targets_in_history, 0u);
  EXPECT_EQ(r.Metric("HR@1"), 1.0);
}

TEST(EvaluatorTest, CoverageCountsDistinctItemsInTheTopLists) {
  const store::EventTable table = RandomTable(100, 60, 10, 8);
  const Split split = MustSplit(table, "loo");
  const LowIdsRecommender low(60);
  EvalOptions options = Options("full", {5, 10});
  options.exclude_history = false;
  EvalResult r = MustEvaluate(low, split, options);
  // Everyone gets items 0..4 (and 0..9), except that a target among them sorts the same way.
  EXPECT_DOUBLE_EQ(r.Metric("Coverage@5"), 5.0 / 60);
  EXPECT_DOUBLE_EQ(r.Metric("Coverage@10"), 10.0 / 60);
  // Excluding history pushes other low ids into the lists.
  options.exclude_history = true;
  r = MustEvaluate(low, split, options);
  EXPECT_GT(r.Metric("Coverage@5"), 5.0 / 60);
}

TEST(EvaluatorTest, ReportsNamesMetricsAndHistoryBuckets) {
  const store::EventTable table = RandomTable(200, 100, 30, 9);
  const Split split = MustSplit(table, "loo");
  const HashRecommender rec(100, 1);
  EvalOptions options;  // defaults: full, K = 5, 10, 20
  options.dataset = "synthetic";
  const EvalResult r = MustEvaluate(rec, split, options);
  EXPECT_EQ(r.dataset, "synthetic");
  EXPECT_EQ(r.model, "hash");
  EXPECT_EQ(r.protocol, "loo");
  EXPECT_EQ(r.candidates, "full");
  EXPECT_EQ(r.num_items, 100u);
  std::vector<std::string> names;
  for (const auto& [name, value] : r.metrics) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"HR@5", "NDCG@5", "Recall@5", "HR@10", "NDCG@10",
                                             "Recall@10", "HR@20", "NDCG@20", "Recall@20", "MRR",
                                             "Coverage@5", "Coverage@10", "Coverage@20"}));
  uint64_t users = 0;
  for (const HistoryLengthStat& b : r.by_history_length) {
    EXPECT_GT(b.users, 0u);
    users += b.users;
  }
  EXPECT_EQ(users, r.users_evaluated);
  EXPECT_GE(r.by_history_length.size(), 4u);
  EXPECT_TRUE(std::isnan(r.Metric("HR@7")));

  options.model = "renamed";
  EXPECT_EQ(MustEvaluate(rec, split, options).model, "renamed");
}

TEST(EvaluatorTest, RejectsAModelOfAnotherCatalogAndBadCutoffs) {
  const store::EventTable table = RandomTable(20, 30, 6, 10);
  const Split split = MustSplit(table, "loo");
  auto r = Evaluate(HashRecommender(31, 1), split, EvalOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("31 items"), std::string::npos);
  for (const std::vector<int>& ks : {std::vector<int>{}, {0}, {5, -1}, {10, 10}}) {
    EvalOptions o;
    o.ks = ks;
    EXPECT_TRUE(Evaluate(HashRecommender(30, 1), split, o).status().IsInvalidArgument());
  }
}

TEST(EvaluatorTest, ModelExceptionBecomesAnInternalError) {
  const store::EventTable table = RandomTable(50, 30, 6, 11);
  const Split split = MustSplit(table, "loo");
  EvalOptions o;
  o.threads = 3;
  auto r = Evaluate(ThrowingRecommender(30), split, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInternal);
  EXPECT_NE(r.status().message().find("model exploded"), std::string::npos);
}

}  // namespace
}  // namespace freshet::eval
