#pragma once

// Seeded synthetic embedding tables for tests, benchmarks and recall checks: shaped like trained
// item and user vectors (clustered by taste, item norms spread like popularity), so that recall
// measured on them is not the easy case of uniform random vectors.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace freshet::index {

struct SyntheticEmbeddings {
  std::vector<float> items;    // num_items x dim, row-major
  std::vector<float> queries;  // num_queries x dim, row-major
};

// `clusters` centres with N(0, 1) components. Item i is a uniformly chosen centre plus N(0, 0.5^2)
// noise per component, scaled by a factor uniform in [0.5, 1.5]; query q is a centre plus
// N(0, 1) noise (users are broader than items). The same arguments give the same floats on every
// run and machine with the same standard library.
// REQUIRES: dim > 0, clusters > 0.
SyntheticEmbeddings MakeClusteredEmbeddings(size_t num_items, size_t num_queries, uint32_t dim,
                                            size_t clusters, uint64_t seed);

}  // namespace freshet::index
