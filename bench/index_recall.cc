// HNSW recall@k against exact top-k on a trained model's own vectors: the item embeddings of a
// model file, queried with the query vectors of real users (their recent interactions in the
// store, read as `freshet serve` reads them). The figure the serving load benchmark reports.
//
//   build/bench/index_recall DATA_DIR MODEL_FILE [USERS=2000] [K=10] [EF=64] [M=16]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "feature/feature_state.h"
#include "index/vector_index.h"
#include "model/registry.h"
#include "store/event_store.h"

int main(int argc, char** argv) {
  using namespace freshet;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DATA_DIR MODEL_FILE [USERS] [K] [EF] [M]\n", argv[0]);
    return 2;
  }
  const size_t users = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 2000;
  const size_t k = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 10;
  store::StoreOptions so;
  so.must_exist = true;
  auto store = store::EventStore::Open(so, argv[1]);
  if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
  auto loaded = model::LoadModel(argv[2]);
  if (!loaded.ok()) return std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str()), 1;
  const model::Recommender& m = *loaded->model;
  const int dim = m.vector_dim();
  if (dim == 0) return std::fprintf(stderr, "%s is not a vector model\n", argv[2]), 1;
  std::vector<float> items;
  m.ItemVectors(&items);
  index::IndexOptions exact_o, hnsw_o;
  exact_o.kind = "exact";
  hnsw_o.kind = "hnsw";
  if (argc > 5) hnsw_o.hnsw.ef_search = std::strtoul(argv[5], nullptr, 10);
  if (argc > 6) hnsw_o.hnsw.M = std::strtoul(argv[6], nullptr, 10);
  auto exact = index::BuildIndex(exact_o, dim, items, m.num_items());
  const auto t0 = std::chrono::steady_clock::now();
  auto hnsw = index::BuildIndex(hnsw_o, dim, items, m.num_items());
  const double build_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!exact.ok() || !hnsw.ok()) return std::fprintf(stderr, "cannot build the indexes\n"), 1;
  // Query vectors of the first `users` users with a history, as the server builds them.
  store::EventTable table;
  if (!(*store)->LoadEventTable(&table).ok()) return 1;
  feature::FeatureState state;
  state.Replay(table);
  std::vector<float> queries, q(dim);
  std::vector<ItemId> history;
  size_t n = 0;
  for (UserId u = 0; u < table.num_users && n < users; ++u) {
    state.Recent(u, 200, &history);
    if (history.empty() || !m.QueryVector(u, history, q)) continue;
    queries.insert(queries.end(), q.begin(), q.end());
    ++n;
  }
  if (n == 0) return std::fprintf(stderr, "no user has a history\n"), 1;
  const double recall = index::RecallAtK(**hnsw, **exact, queries, n, k);
  std::printf("items %u, dim %d, users %zu, k %zu, hnsw M %zu ef_search %zu (build %.1f s): "
              "recall@%zu %.4f\n",
              m.num_items(), dim, n, k, hnsw_o.hnsw.M, hnsw_o.hnsw.ef_search, build_s, k, recall);
  return 0;
}
