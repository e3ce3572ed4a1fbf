// Retrieval latency of the exact and HNSW indexes (issue 4): single-query top-10 by inner product
// over 100,000 items of 64 floats, with and without filters, HNSW recall@10 against the exact
// index as a counter; the ef / recall trade-off; where a filtered graph walk stops paying
// (calibrates HnswOptions::filter_exact_passing_per_ef); batched exact search; HNSW Add.
//
//   build/bench/index_bench [--benchmark_filter=...]   (FRESHET_BENCH_ITEMS=N to resize)
//
// Data: MakeClusteredEmbeddings(N, 1000 queries, 64, 100 clusters, seed 42). Both indexes are
// built once per process; the HNSW build time is printed to stderr and reported as a counter.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "index/exact_index.h"
#include "index/hnsw_index.h"
#include "index/synthetic.h"
#include "index/vector_index.h"

namespace freshet::index {
namespace {

constexpr uint32_t kDim = 64;
constexpr size_t kQueries = 1000;
constexpr size_t kK = 10;

size_t NumItems() {
  const char* env = std::getenv("FRESHET_BENCH_ITEMS");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 100000;
}

// Items kept back from the build for BM_HnswAdd: the same distribution as the indexed ones.
constexpr size_t kSpareItems = 2000;

struct World {
  SyntheticEmbeddings data;  // NumItems() + kSpareItems items
  std::unique_ptr<ExactIndex> exact;
  std::unique_ptr<HnswIndex> hnsw;
  double build_seconds = 0.0;

  std::span<const float> query(size_t q) const {
    return std::span<const float>(data.queries).subspan((q % kQueries) * kDim, kDim);
  }
};

World& GetWorld() {
  static World* world = [] {
    auto* w = new World;
    const size_t n = NumItems();
    w->data = MakeClusteredEmbeddings(n + kSpareItems, kQueries, kDim, 100, 42);
    const auto rows = std::span<const float>(w->data.items).first(n * kDim);
    w->exact = std::move(*ExactIndex::Build(kDim, rows, n));
    HnswOptions options;  // defaults; threads = all cores
    const auto start = std::chrono::steady_clock::now();
    w->hnsw = std::move(*HnswIndex::Build(options, kDim, rows, n));
    w->build_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "hnsw build: %zu x %u, M %zu, ef_construction %zu, %zu threads: %.1f s\n",
                 n, kDim, options.M, options.ef_construction,
                 static_cast<size_t>(std::thread::hardware_concurrency()), w->build_seconds);
    return w;
  }();
  return *world;
}

// Filters by pass rate: item % modulus < kept. 0 = no filter.
struct FilterSpec {
  uint32_t kept;
  uint32_t modulus;
  bool operator()(ItemId item) const { return item % modulus < kept; }
};
FilterSpec SpecFor(int64_t per_mille) { return {static_cast<uint32_t>(per_mille), 1000}; }

// Mean overlap of the HNSW top-k with the exact top-k over all queries, under one filter.
double Recall(const World& w, const FilterSpec* spec) {
  std::vector<Hit> approx;
  std::vector<Hit> truth;
  double sum = 0.0;
  for (size_t q = 0; q < kQueries; ++q) {
    const FilterFn filter = spec != nullptr ? FilterFn(*spec) : FilterFn();
    w.hnsw->Search(w.query(q), kK, filter, &approx);
    w.exact->Search(w.query(q), kK, filter, &truth);
    std::set<ItemId> want;
    for (const Hit& h : truth) want.insert(h.item);
    size_t common = 0;
    for (const Hit& h : approx) common += want.count(h.item);
    sum += truth.empty() ? 1.0 : static_cast<double>(common) / static_cast<double>(truth.size());
  }
  return sum / kQueries;
}

// Args: {kind (0 exact, 1 hnsw), filter pass rate per mille (1000 = no filter)}.
void BM_Search(benchmark::State& state) {
  World& w = GetWorld();
  const bool hnsw = state.range(0) == 1;
  const int64_t per_mille = state.range(1);
  const FilterSpec spec = SpecFor(per_mille);
  const FilterFn filter = per_mille < 1000 ? FilterFn(spec) : FilterFn();
  const VectorIndex& index = hnsw ? static_cast<const VectorIndex&>(*w.hnsw) : *w.exact;
  std::vector<Hit> hits;
  size_t q = 0;
  for (auto _ : state) {
    index.Search(w.query(q++), kK, filter, &hits);
    benchmark::DoNotOptimize(hits.data());
  }
  state.SetLabel(
      std::string(hnsw ? "hnsw" : "exact") +
      (per_mille < 1000 ? " filter " + std::to_string(per_mille / 10.0) + "%" : " no filter"));
  if (hnsw) state.counters["recall@10"] = Recall(w, per_mille < 1000 ? &spec : nullptr);
  state.counters["items"] = static_cast<double>(index.size());
}
BENCHMARK(BM_Search)->ArgsProduct({{0, 1}, {1000, 500, 100, 10}})->Unit(benchmark::kMicrosecond);

// The ef trade-off, unfiltered. Arg: ef_search.
void BM_HnswEf(benchmark::State& state) {
  World& w = GetWorld();
  const HnswOptions saved = w.hnsw->options();
  (void)w.hnsw->SetSearchOptions(state.range(0), saved.filter_exact_passing_per_ef);
  std::vector<Hit> hits;
  size_t q = 0;
  for (auto _ : state) {
    w.hnsw->Search(w.query(q++), kK, nullptr, &hits);
    benchmark::DoNotOptimize(hits.data());
  }
  state.counters["recall@10"] = Recall(w, nullptr);
  (void)w.hnsw->SetSearchOptions(saved.ef_search, saved.filter_exact_passing_per_ef);
}
BENCHMARK(BM_HnswEf)->Arg(16)->Arg(32)->Arg(64)->Arg(128)->Arg(256)->Unit(benchmark::kMicrosecond);

// Where the filtered graph walk stops paying: the walk forced for every filter (threshold 0)
// against the exact scan. Arg: pass rate per mille.
void BM_HnswFilteredWalk(benchmark::State& state) {
  World& w = GetWorld();
  const HnswOptions saved = w.hnsw->options();
  (void)w.hnsw->SetSearchOptions(saved.ef_search, 0);
  const FilterSpec spec = SpecFor(state.range(0));
  std::vector<Hit> hits;
  size_t q = 0;
  for (auto _ : state) {
    w.hnsw->Search(w.query(q++), kK, spec, &hits);
    benchmark::DoNotOptimize(hits.data());
  }
  state.counters["passing"] = static_cast<double>(w.hnsw->size() * state.range(0) / 1000);
  state.counters["recall@10"] = Recall(w, &spec);
  (void)w.hnsw->SetSearchOptions(saved.ef_search, saved.filter_exact_passing_per_ef);
}
BENCHMARK(BM_HnswFilteredWalk)
    ->Arg(200)
    ->Arg(100)
    ->Arg(50)
    ->Arg(20)
    ->Arg(10)
    ->Arg(5)
    ->Unit(benchmark::kMicrosecond);

void BM_ExactFiltered(benchmark::State& state) {
  World& w = GetWorld();
  const FilterSpec spec = SpecFor(state.range(0));
  std::vector<Hit> hits;
  size_t q = 0;
  for (auto _ : state) {
    w.exact->Search(w.query(q++), kK, spec, &hits);
    benchmark::DoNotOptimize(hits.data());
  }
}
BENCHMARK(BM_ExactFiltered)
    ->Arg(200)
    ->Arg(100)
    ->Arg(50)
    ->Arg(20)
    ->Arg(10)
    ->Arg(5)
    ->Unit(benchmark::kMicrosecond);

// Exact search of 256 queries at once (ExactIndex::SearchBatch); time per query.
void BM_ExactSearchBatch(benchmark::State& state) {
  World& w = GetWorld();
  const size_t batch = 256;
  std::vector<std::vector<Hit>> out;
  size_t first = 0;
  for (auto _ : state) {
    const size_t start = (first++ % (kQueries / batch)) * batch;
    w.exact->SearchBatch(std::span<const float>(w.data.queries).subspan(start * kDim, batch * kDim),
                         batch, kK, nullptr, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}
BENCHMARK(BM_ExactSearchBatch)->Unit(benchmark::kMillisecond);

void BM_HnswBuildTime(benchmark::State& state) {
  World& w = GetWorld();
  for (auto _ : state) benchmark::DoNotOptimize(w.hnsw.get());
  state.counters["build_s"] = w.build_seconds;
}
BENCHMARK(BM_HnswBuildTime)->Iterations(1);

// Adding new items to the graph, one at a time (hnswlib's addPoint under the exclusive lock).
// Runs last: it grows the HNSW index, so a recall measured afterwards would compare unlike sets.
void BM_HnswAdd(benchmark::State& state) {
  World& w = GetWorld();
  const size_t n = NumItems();
  size_t i = 0;
  for (auto _ : state) {
    const size_t row = n + (i++ % kSpareItems);
    const auto vec = std::span<const float>(w.data.items).subspan(row * kDim, kDim);
    if (!w.hnsw->Add(static_cast<ItemId>(row), vec).ok()) state.SkipWithError("Add failed");
  }
}
BENCHMARK(BM_HnswAdd)->Iterations(kSpareItems)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace freshet::index

BENCHMARK_MAIN();
