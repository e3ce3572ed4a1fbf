// FeatureMap::Lookup, the id -> row step of ranking: serving looks up every feature of every
// candidate (200 candidates x ~20 features per recommend), training encodes once.
//
//   build/bench/feature_map_bench [--benchmark_filter=...]
//
// A map of N admitted ids (hashed, of 20 fields, as a feature spec makes them) and random
// lookups of admitted ids (hits) or of unseen ones (misses, which fall back to the rare row).
// Results: docs/benchmarks.md, "Feature map lookups".

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "rank/dataset.h"
#include "rank/feature_map.h"

namespace {

using freshet::rank::FeatureMap;
using freshet::rank::HashFeature;

constexpr int kFields = 20;

struct Setup {
  FeatureMap map{kFields, {.min_count = 1}};
  std::vector<uint64_t> hits, misses;
  explicit Setup(size_t n) {
    std::mt19937_64 rng(7);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t id = HashFeature(static_cast<int>(i % kFields), std::to_string(rng()));
      map.Count(id);
      hits.push_back(id);
    }
    map.AdmitCounted();
    for (size_t i = 0; i < 4096; ++i) {
      misses.push_back(HashFeature(static_cast<int>(i % kFields), "unseen" + std::to_string(i)));
    }
    std::shuffle(hits.begin(), hits.end(), rng);
    hits.resize(std::min<size_t>(hits.size(), 1 << 16));
  }
};

void BM_LookupHit(benchmark::State& state) {
  Setup s(static_cast<size_t>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.map.Lookup(s.hits[i]));
    if (++i == s.hits.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LookupHit)->Arg(10000)->Arg(500000)->Arg(5000000);

void BM_LookupMiss(benchmark::State& state) {
  Setup s(static_cast<size_t>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.map.Lookup(s.misses[i]));
    if (++i == s.misses.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LookupMiss)->Arg(500000);

}  // namespace

BENCHMARK_MAIN();
