#pragma once

// Shared by the index test binaries: random data and the comparison against the naive oracle.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <span>
#include <vector>

#include "index/vector_index.h"
#include "testing/naive_topk.h"

namespace freshet::index {

// n x dim floats uniform in [-1, 1].
inline std::vector<float> UniformRows(size_t n, size_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n * dim);
  for (float& x : v) x = u(rng);
  return v;
}

// n unit vectors of dim floats in uniformly random directions. Scaled by the same factor, each is
// the unique exact top-1 of the query along its own direction among them.
inline std::vector<float> UnitRows(size_t n, size_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n * dim);
  for (size_t i = 0; i < n; ++i) {
    double norm = 0.0;
    for (size_t d = 0; d < dim; ++d) {
      v[i * dim + d] = normal(rng);
      norm += double{v[i * dim + d]} * v[i * dim + d];
    }
    for (size_t d = 0; d < dim; ++d) v[i * dim + d] /= static_cast<float>(std::sqrt(norm));
  }
  return v;
}

// Absolute tolerance for a float inner product of `dim` terms against the double oracle.
inline double ScoreTolerance(double score, size_t dim) {
  return 1e-5 * static_cast<double>(dim) * (1.0 + std::abs(score));
}

// `hits` must be what an exact search returns: the oracle's length, position i holding the
// oracle's score i (within rounding) and, where that score is not within rounding of a neighbour,
// the oracle's item; sorted by BetterHit, no item twice.
inline void ExpectMatchesOracle(const std::vector<Hit>& hits,
                                const std::vector<testing::NaiveHit>& truth, size_t dim) {
  ASSERT_EQ(hits.size(), truth.size());
  std::set<ItemId> seen;
  for (size_t i = 0; i < hits.size(); ++i) {
    const double tol = ScoreTolerance(truth[i].score, dim);
    EXPECT_NEAR(hits[i].score, truth[i].score, tol) << "position " << i;
    const bool tied_before = i > 0 && truth[i - 1].score - truth[i].score <= 2 * tol;
    const bool tied_after = i + 1 < truth.size() && truth[i].score - truth[i + 1].score <= 2 * tol;
    if (!tied_before && !tied_after) {
      EXPECT_EQ(hits[i].item, truth[i].item) << "position " << i;
    }
    if (i > 0) {
      EXPECT_FALSE(BetterHit(hits[i], hits[i - 1])) << "unsorted at " << i;
    }
    EXPECT_TRUE(seen.insert(hits[i].item).second) << "item " << hits[i].item << " twice";
  }
}

// Fraction of the oracle's items that `hits` contains.
inline double Overlap(const std::vector<Hit>& hits, const std::vector<testing::NaiveHit>& truth) {
  if (truth.empty()) return 1.0;
  std::set<ItemId> want;
  for (const auto& t : truth) want.insert(t.item);
  size_t common = 0;
  for (const Hit& h : hits) common += want.count(h.item);
  return static_cast<double>(common) / static_cast<double>(truth.size());
}

}  // namespace freshet::index
