// Catalog search latency and index build time (issue 4).
//
//   build/bench/search_bench [--benchmark_filter=...]   (FRESHET_BENCH_ITEMS=N to resize)
//
// The catalog is synthetic and seeded: 100,000 items whose titles hold 3 to 10 words drawn from a
// 20,000-word vocabulary with a Zipf(1) distribution (the most common word is in about 46% of the
// titles, as "black" or "men" are in a real shop), a model number in one title in five, 30
// categories and 500 brands. Queries draw their words from the same distribution, so common
// words (long postings lists) appear as often as they would in a log.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "search/text_index.h"

namespace freshet {
namespace {

size_t NumItems() {
  const char* env = std::getenv("FRESHET_BENCH_ITEMS");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 100000;
}

struct Corpus {
  std::vector<std::string> vocabulary;
  std::discrete_distribution<size_t> zipf;
  std::vector<Item> items;
};

// Pronounceable words of 2 to 4 consonant-vowel syllables; they never end in "s" or "y", so
// plural stemming leaves them alone and the vocabulary size is what it says.
std::string RandomWord(std::mt19937_64& rng) {
  static const char kConsonants[] = "bcdfghklmnprtvz";
  static const char kVowels[] = "aeiou";
  std::string w;
  for (int s = 2 + static_cast<int>(rng() % 3); s > 0; --s) {
    w.push_back(kConsonants[rng() % (sizeof(kConsonants) - 1)]);
    w.push_back(kVowels[rng() % (sizeof(kVowels) - 1)]);
  }
  return w;
}

const Corpus& TheCorpus() {
  static const Corpus corpus = [] {
    Corpus c;
    std::mt19937_64 rng(42);
    std::set<std::string> seen;
    while (c.vocabulary.size() < 20000) {
      std::string w = RandomWord(rng);
      if (seen.insert(w).second) c.vocabulary.push_back(std::move(w));
    }
    std::vector<double> weights(c.vocabulary.size());
    for (size_t r = 0; r < weights.size(); ++r) weights[r] = 1.0 / static_cast<double>(r + 1);
    c.zipf = std::discrete_distribution<size_t>(weights.begin(), weights.end());
    std::vector<std::string> categories;
    for (int i = 0; i < 30; ++i) {
      std::string category = RandomWord(rng);
      if (i % 2 == 0) category.append(" ").append(RandomWord(rng));
      categories.push_back(std::move(category));
    }
    std::vector<std::string> brands;
    for (int i = 0; i < 500; ++i) brands.push_back(RandomWord(rng));
    const size_t n = NumItems();
    c.items.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      Item item;
      item.id = std::string("sku-").append(std::to_string(i));
      for (int w = 3 + static_cast<int>(rng() % 8); w > 0; --w) {
        if (!item.title.empty()) item.title += ' ';
        item.title += c.vocabulary[c.zipf(rng)];
      }
      if (rng() % 5 == 0) item.title.append(" ").append(std::to_string(rng() % 1000));
      item.category = categories[rng() % categories.size()];
      item.brand = brands[rng() % brands.size()];
      c.items.push_back(std::move(item));
    }
    return c;
  }();
  return corpus;
}

const search::TextIndex& TheIndex() {
  static const std::unique_ptr<search::TextIndex> index = [] {
    auto created = search::TextIndex::Create({});
    if (!created.ok()) std::abort();
    std::unique_ptr<search::TextIndex> ix = std::move(*created);
    const Corpus& c = TheCorpus();
    for (size_t i = 0; i < c.items.size(); ++i) ix->Add(static_cast<ItemId>(i), c.items[i]);
    return ix;
  }();
  return *index;
}

enum class Style { kComplete, kAsTyped, kTypeAhead };

// 1,000 queries of `words` words. kComplete ends each with a space (exact terms only); kAsTyped
// has no trailing space, so the last word is also expanded to its completions (the default);
// kTypeAhead cuts the last word to its first 3 letters, as while typing.
std::vector<std::string> Queries(int words, Style style) {
  const Corpus& c = TheCorpus();
  std::mt19937_64 rng(1000 + static_cast<uint64_t>(words));
  std::discrete_distribution<size_t> zipf = c.zipf;
  std::vector<std::string> queries;
  for (int i = 0; i < 1000; ++i) {
    std::string q;
    for (int w = 0; w < words; ++w) {
      if (!q.empty()) q += ' ';
      std::string word = c.vocabulary[zipf(rng)];
      if (style == Style::kTypeAhead && w == words - 1) word.resize(3);
      q += word;
    }
    if (style == Style::kComplete) q += ' ';
    queries.push_back(std::move(q));
  }
  return queries;
}

void RunQueries(benchmark::State& state, Style style) {
  const search::TextIndex& index = TheIndex();
  const std::vector<std::string> queries = Queries(static_cast<int>(state.range(0)), style);
  std::vector<search::Hit> hits;
  size_t i = 0;
  size_t total_hits = 0;
  for (auto _ : state) {
    if (!index.Search(queries[i], 10, nullptr, &hits).ok()) {
      state.SkipWithError("search failed");
      return;
    }
    total_hits += hits.size();
    benchmark::DoNotOptimize(hits.data());
    i = (i + 1) % queries.size();
  }
  state.counters["hits"] =
      benchmark::Counter(static_cast<double>(total_hits) / static_cast<double>(state.iterations()));
  state.counters["qps"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_SearchComplete(benchmark::State& state) { RunQueries(state, Style::kComplete); }
void BM_SearchAsTyped(benchmark::State& state) { RunQueries(state, Style::kAsTyped); }
void BM_SearchTypeAhead(benchmark::State& state) { RunQueries(state, Style::kTypeAhead); }
BENCHMARK(BM_SearchComplete)
    ->ArgName("words")
    ->Arg(1)
    ->Arg(2)
    ->Arg(3)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SearchAsTyped)
    ->ArgName("words")
    ->Arg(1)
    ->Arg(2)
    ->Arg(3)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SearchTypeAhead)
    ->ArgName("words")
    ->Arg(1)
    ->Arg(2)
    ->Arg(3)
    ->Unit(benchmark::kMicrosecond);

// Building the index from items already in memory (tokenising and inserting every item): what
// BuildTextIndex costs on top of the store's catalog scan.
void BM_Build(benchmark::State& state) {
  const Corpus& c = TheCorpus();
  size_t terms = 0;
  for (auto _ : state) {
    auto created = search::TextIndex::Create({});
    if (!created.ok()) {
      state.SkipWithError("create failed");
      return;
    }
    for (size_t i = 0; i < c.items.size(); ++i) (*created)->Add(static_cast<ItemId>(i), c.items[i]);
    terms = (*created)->num_terms();
    benchmark::DoNotOptimize(terms);
  }
  state.counters["items"] = static_cast<double>(c.items.size());
  state.counters["terms"] = static_cast<double>(terms);
  state.counters["items_per_s"] = benchmark::Counter(
      static_cast<double>(c.items.size() * state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Build)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace freshet

BENCHMARK_MAIN();
