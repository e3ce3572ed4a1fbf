#pragma once

// The slow oracle for src/index: scores every item with a plain double-precision loop and sorts
// all of them, so nothing about it shares code or arithmetic with the indexes under test.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace freshet::testing {

struct NaiveHit {
  uint32_t item;
  double score;
};

// Item i is row i of `rows` (n x dim row-major); rows with present[i] == false (when `present` is
// not empty) are not in the index. Returns the first min(k, passing) items by score descending,
// ties by lower item id.
inline std::vector<NaiveHit> NaiveTopK(std::span<const float> rows, size_t dim,
                                       std::span<const float> query, size_t k,
                                       const std::function<bool(uint32_t)>& keep = nullptr,
                                       const std::vector<bool>& present = {}) {
  std::vector<NaiveHit> all;
  const size_t n = rows.size() / dim;
  for (size_t i = 0; i < n; ++i) {
    const auto item = static_cast<uint32_t>(i);
    if (!present.empty() && !present[i]) continue;
    if (keep && !keep(item)) continue;
    double s = 0.0;
    for (size_t d = 0; d < dim; ++d) s += double{rows[i * dim + d]} * double{query[d]};
    all.push_back({item, s});
  }
  std::sort(all.begin(), all.end(), [](const NaiveHit& a, const NaiveHit& b) {
    return a.score > b.score || (a.score == b.score && a.item < b.item);
  });
  all.resize(std::min(k, all.size()));
  return all;
}

}  // namespace freshet::testing
