// Ingest and scan throughput of the event store (issue 2 targets: CSV ingest >= 300,000 events/s
// with batch durability on one thread; full scan to the columnar table >= 5,000,000 events/s).
//
//   build/bench/store_bench [--benchmark_filter=...]   (FRESHET_BENCH_EVENTS=N to resize)
//
// The input is a generated CSV shaped like a shop log: 100k users, 50k items with a Zipf-like
// popularity, unique event ids, increasing timestamps.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "ingest/ingest.h"
#include "store/event_store.h"

namespace freshet {
namespace {

namespace fs = std::filesystem;

size_t NumEvents() {
  const char* env = std::getenv("FRESHET_BENCH_EVENTS");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 1000000;
}

fs::path BenchDir() {
  static const fs::path dir = fs::temp_directory_path() /
                              ("freshet-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

// Writes the benchmark CSV once per process.
const std::string& CsvFile() {
  static const std::string path = [] {
    std::string p = (BenchDir() / "events.csv").string();
    std::ofstream out(p);
    out << "event_id,ts,user,item,type,value,session\n";
    std::mt19937_64 rng(42);
    const char* types[] = {"view", "view", "view", "view", "click", "cart", "buy"};
    std::uniform_int_distribution<int> type_dist(0, 6);
    std::uniform_int_distribution<int> user_dist(0, 99999);
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    int64_t ts = 1700000000000;
    for (size_t i = 0; i < NumEvents(); ++i) {
      ts += 37;
      // Approximately Zipf over 50k items: popular items recur, as in real logs.
      auto item = static_cast<int>(50000 * std::pow(u01(rng), 3.0));
      int user = user_dist(rng);
      out << 'e' << i << ',' << ts << ",u" << user << ",i" << item << ','
          << types[type_dist(rng)] << ",1,s" << (user * 7 + i / 50) << '\n';
    }
    return p;
  }();
  return path;
}

void BM_IngestCsvBatchDurability(benchmark::State& state) {
  const std::string& csv = CsvFile();
  uint64_t events = 0;
  int run = 0;
  for (auto _ : state) {
    state.PauseTiming();
    fs::path data = BenchDir() / ("ingest-" + std::to_string(run++));
    fs::remove_all(data);
    store::StoreOptions options;
    options.durability = store::Durability::kBatch;
    auto store = store::EventStore::Open(options, data.string());
    if (!store.ok()) {
      state.SkipWithError(store.status().ToString().c_str());
      return;
    }
    ingest::IngestOptions ingest_options;
    ingest_options.format = io::Format::kCsv;
    ingest_options.progress = false;
    std::ostringstream errors;
    ingest::IngestSummary summary;
    state.ResumeTiming();
    Status s = ingest::IngestEvents(**store, {csv}, ingest_options, errors, &summary);
    if (s.ok()) s = (*store)->Sync();
    state.PauseTiming();
    if (!s.ok() || summary.accepted != NumEvents()) {
      state.SkipWithError(s.ok() ? "not every event was accepted" : s.ToString().c_str());
      return;
    }
    events += summary.accepted;
    store->reset();
    fs::remove_all(data);
    state.ResumeTiming();
  }
  state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(events),
                                                      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_IngestCsvBatchDurability)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

void BM_ScanToEventTable(benchmark::State& state) {
  fs::path data = BenchDir() / "scan";
  static bool loaded = false;
  store::StoreOptions options;
  options.durability = store::Durability::kNone;
  auto store = store::EventStore::Open(options, data.string());
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  if (!loaded) {
    ingest::IngestOptions ingest_options;
    ingest_options.progress = false;
    std::ostringstream errors;
    ingest::IngestSummary summary;
    Status s = ingest::IngestEvents(**store, {CsvFile()}, ingest_options, errors, &summary);
    if (s.ok()) s = (*store)->Sync();
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
    loaded = true;
  }
  store::EventTable table;
  uint64_t events = 0;
  for (auto _ : state) {
    Status s = (*store)->LoadEventTable(&table);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
    events += table.size();
  }
  state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(events),
                                                      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ScanToEventTable)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

}  // namespace
}  // namespace freshet

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove_all(freshet::BenchDir());
  return 0;
}
