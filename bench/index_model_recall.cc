// HNSW recall against the exact index on a trained model's item table (docs/benchmarks.md,
// "Retrieval index"): synthetic vectors say little about how a graph behaves on learned
// embeddings, so this reads the real ones.
//
//   build-idx/bench/index_model_recall MODEL.fmdl [queries=1000]
//
// BPR: items are [factors, bias] and queries [user factors, 1] for randomly drawn users, so the
// inner product is BPR's score. SASRec: items are the item-embedding table; as queries (the
// encoder's hidden states are not in the file) the sum of two random items' embeddings. Prints,
// for ef 32 / 64 / 128, recall@10, recall@100, and recall@10 under a filter passing 10% of items
// (walk forced: filter_exact_passing_per_ef = 0).

#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "index/exact_index.h"
#include "index/hnsw_index.h"
#include "model/model_file.h"

namespace freshet::index {
namespace {

struct Table {
  uint32_t dim = 0;
  size_t items = 0;
  std::vector<float> rows;
  std::vector<float> queries;
};

Result<Table> Load(const std::string& path, size_t num_queries) {
  FRESHET_ASSIGN_OR_RETURN(model::ModelReader reader, model::ModelReader::Open(path));
  FRESHET_ASSIGN_OR_RETURN(std::string kind, reader.Bytes("kind"));
  std::mt19937_64 rng(1);
  Table t;
  if (kind == "bpr") {
    FRESHET_ASSIGN_OR_RETURN(auto shape, reader.Shape("bpr.items"));
    FRESHET_ASSIGN_OR_RETURN(auto items, reader.F32("bpr.items"));
    FRESHET_ASSIGN_OR_RETURN(auto bias, reader.F32("bpr.bias"));
    FRESHET_ASSIGN_OR_RETURN(auto user_shape, reader.Shape("bpr.users"));
    FRESHET_ASSIGN_OR_RETURN(auto users, reader.F32("bpr.users"));
    const size_t d = shape[1];
    t.items = shape[0];
    t.dim = static_cast<uint32_t>(d + 1);
    for (size_t i = 0; i < t.items; ++i) {
      t.rows.insert(t.rows.end(), items.begin() + i * d, items.begin() + (i + 1) * d);
      t.rows.push_back(bias[i]);
    }
    for (size_t q = 0; q < num_queries; ++q) {
      const size_t u = rng() % user_shape[0];
      t.queries.insert(t.queries.end(), users.begin() + u * d, users.begin() + (u + 1) * d);
      t.queries.push_back(1.0f);
    }
  } else if (kind == "sasrec") {
    const std::string name = "sasrec.param.sasrec.emb.items";
    FRESHET_ASSIGN_OR_RETURN(auto shape, reader.Shape(name));
    FRESHET_ASSIGN_OR_RETURN(t.rows, reader.F32(name));
    t.items = shape[0];
    t.dim = static_cast<uint32_t>(shape[1]);
    for (size_t q = 0; q < num_queries; ++q) {
      const size_t a = rng() % t.items;
      const size_t b = rng() % t.items;
      for (size_t j = 0; j < t.dim; ++j) {
        t.queries.push_back(t.rows[a * t.dim + j] + t.rows[b * t.dim + j]);
      }
    }
  } else {
    return Status::InvalidArgument("model: kind '" + kind + "' has no item vectors");
  }
  return t;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.fmdl [queries]\n", argv[0]);
    return 2;
  }
  const size_t num_queries = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1000;
  auto table = Load(argv[1], num_queries);
  if (!table.ok()) {
    std::fprintf(stderr, "%s\n", table.status().ToString().c_str());
    return 1;
  }
  auto exact = ExactIndex::Build(table->dim, table->rows, table->items);
  auto hnsw = HnswIndex::Build(HnswOptions(), table->dim, table->rows, table->items);
  if (!exact.ok() || !hnsw.ok()) {
    std::fprintf(stderr, "%s\n", (exact.ok() ? hnsw.status() : exact.status()).ToString().c_str());
    return 1;
  }
  std::printf("%s: %zu items x %u, %zu queries, HnswOptions defaults\n", argv[1], table->items,
              table->dim, num_queries);
  auto tenth = [](ItemId item) { return item % 10 == 3; };
  std::vector<Hit> approx;
  std::vector<Hit> truth;
  for (size_t ef : {32, 64, 128}) {
    if (!(*hnsw)->SetSearchOptions(ef, 0).ok()) return 1;
    double filtered = 0.0;
    for (size_t q = 0; q < num_queries; ++q) {
      const auto query = std::span<const float>(table->queries).subspan(q * table->dim, table->dim);
      (*hnsw)->Search(query, 10, tenth, &approx);
      (*exact)->Search(query, 10, tenth, &truth);
      std::set<ItemId> want;
      for (const Hit& h : truth) want.insert(h.item);
      for (const Hit& h : approx) filtered += want.count(h.item) / 10.0;
    }
    std::printf("ef %3zu  recall@10 %.4f  recall@100 %.4f  recall@10 filter 10%% %.4f\n", ef,
                RecallAtK(**hnsw, **exact, table->queries, num_queries, 10),
                RecallAtK(**hnsw, **exact, table->queries, num_queries, 100),
                filtered / static_cast<double>(num_queries));
  }
  return 0;
}

}  // namespace
}  // namespace freshet::index

int main(int argc, char** argv) { return freshet::index::Main(argc, argv); }
