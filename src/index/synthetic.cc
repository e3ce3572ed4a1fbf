#include "index/synthetic.h"

#include <cassert>
#include <random>

namespace freshet::index {

SyntheticEmbeddings MakeClusteredEmbeddings(size_t num_items, size_t num_queries, uint32_t dim,
                                            size_t clusters, uint64_t seed) {
  assert(dim > 0 && clusters > 0);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<size_t> pick(0, clusters - 1);
  std::uniform_real_distribution<float> scale(0.5f, 1.5f);
  std::vector<float> centres(clusters * dim);
  for (float& x : centres) x = normal(rng);

  SyntheticEmbeddings out;
  out.items.resize(num_items * dim);
  for (size_t i = 0; i < num_items; ++i) {
    const float* c = centres.data() + pick(rng) * dim;
    const float s = scale(rng);
    for (uint32_t d = 0; d < dim; ++d) out.items[i * dim + d] = s * (c[d] + 0.5f * normal(rng));
  }
  out.queries.resize(num_queries * dim);
  for (size_t q = 0; q < num_queries; ++q) {
    const float* c = centres.data() + pick(rng) * dim;
    for (uint32_t d = 0; d < dim; ++d) out.queries[q * dim + d] = c[d] + normal(rng);
  }
  return out;
}

}  // namespace freshet::index
