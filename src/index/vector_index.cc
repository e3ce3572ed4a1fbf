#include "index/vector_index.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <string>

#include "index/exact_index.h"
#include "index/hnsw_index.h"
#include "index/kernels.h"

namespace freshet::index {
namespace internal {

Status CheckRows(uint32_t dim, std::span<const float> rows, size_t num_items) {
  if (dim == 0) return Status::InvalidArgument("dim: must be > 0");
  if (num_items >= kNoId) {
    return Status::InvalidArgument("num_items: " + std::to_string(num_items) +
                                   " does not fit an ItemId");
  }
  if (rows.size() != num_items * dim) {
    return Status::InvalidArgument("rows: " + std::to_string(rows.size()) +
                                   " floats, expected num_items x dim = " +
                                   std::to_string(num_items) + " x " + std::to_string(dim));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!std::isfinite(rows[i])) {
      return Status::InvalidArgument("rows: item " + std::to_string(i / dim) + ", component " +
                                     std::to_string(i % dim) + " is not finite");
    }
  }
  return Status::OK();
}

Status CheckVector(uint32_t dim, ItemId item, std::span<const float> vec) {
  if (item == kNoId) return Status::InvalidArgument("item: kNoId is not an item");
  if (vec.size() != dim) {
    return Status::InvalidArgument("vec: " + std::to_string(vec.size()) +
                                   " floats, the index holds " + std::to_string(dim));
  }
  for (size_t i = 0; i < vec.size(); ++i) {
    if (!std::isfinite(vec[i])) {
      return Status::InvalidArgument("vec: component " + std::to_string(i) + " is not finite");
    }
  }
  return Status::OK();
}

}  // namespace internal

Result<std::unique_ptr<VectorIndex>> BuildIndex(const IndexOptions& options, uint32_t dim,
                                                std::span<const float> rows, size_t num_items) {
  std::string_view kind = options.kind;
  if (kind == "auto") kind = num_items < options.exact_below ? "exact" : "hnsw";
  if (kind == "exact") {
    auto index = ExactIndex::Build(dim, rows, num_items);
    if (!index.ok()) return index.status();
    return std::unique_ptr<VectorIndex>(std::move(*index));
  }
  if (kind == "hnsw") {
    auto index = HnswIndex::Build(options.hnsw, dim, rows, num_items);
    if (!index.ok()) return index.status();
    return std::unique_ptr<VectorIndex>(std::move(*index));
  }
  return Status::InvalidArgument("kind: unknown '" + options.kind +
                                 "' (expected auto, exact or hnsw)");
}

double RecallAtK(const VectorIndex& approx, const VectorIndex& exact,
                 std::span<const float> queries, size_t num_queries, size_t k) {
  const size_t dim = exact.dim();
  assert(approx.dim() == dim && queries.size() == num_queries * dim && num_queries > 0 && k > 0);
  std::vector<Hit> approx_hits;
  std::vector<Hit> exact_hits;
  std::vector<ItemId> truth;
  double sum = 0.0;
  for (size_t q = 0; q < num_queries; ++q) {
    const std::span<const float> query = queries.subspan(q * dim, dim);
    exact.Search(query, k, FilterFn(), &exact_hits);
    approx.Search(query, k, FilterFn(), &approx_hits);
    if (exact_hits.empty()) {
      sum += 1.0;
      continue;
    }
    truth.clear();
    for (const Hit& h : exact_hits) truth.push_back(h.item);
    std::sort(truth.begin(), truth.end());
    size_t common = 0;
    for (const Hit& h : approx_hits) {
      common += std::binary_search(truth.begin(), truth.end(), h.item) ? 1 : 0;
    }
    sum += static_cast<double>(common) / static_cast<double>(exact_hits.size());
  }
  return sum / static_cast<double>(num_queries);
}

}  // namespace freshet::index
