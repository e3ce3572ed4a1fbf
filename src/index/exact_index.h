#pragma once

// Exact top-k by inner product: every item's vector is one row of a contiguous row-major matrix,
// and a search scans all rows with the AVX2/FMA kernel (kernels.h), keeping a bounded heap of the
// k best. A filter is applied during the scan, before the row's inner product. Cost per search:
// size() x dim multiply-adds and, with a filter, size() filter calls: ~0.6 ms for 100k x 64 on the
// team's 2-core VM (docs/benchmarks.md; Eigen's matrix-vector product was no faster). The oracle
// for HnswIndex and the right choice below ~20k items.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "core/status.h"
#include "index/rw_mutex.h"
#include "index/vector_index.h"

namespace freshet::index {
namespace internal {
struct RowView;  // kernels.h
}  // namespace internal

class ExactIndex final : public VectorIndex {
 public:
  // An empty index of `dim`-float vectors. REQUIRES: dim > 0.
  explicit ExactIndex(uint32_t dim);

  // The index over rows of `rows` (num_items x dim row-major), row i being item i; copies them.
  // Returns InvalidArgument naming the field for dim == 0, a size mismatch, num_items >= kNoId or a
  // non-finite component; ResourceExhausted when the matrix cannot be allocated.
  static Result<std::unique_ptr<ExactIndex>> Build(uint32_t dim, std::span<const float> rows,
                                                   size_t num_items);

  uint32_t dim() const override { return dim_; }
  size_t size() const override;
  std::string_view kind() const override { return "exact"; }

  // See VectorIndex::Search. Exact: the result equals sorting all passing items by BetterHit and
  // keeping the first k. Searches share a lock; each holds it for one scan.
  void Search(std::span<const float> query, size_t k, FilterFn filter,
              std::vector<Hit>* out) const override;

  // Searches `num_queries` queries (the rows of `queries`, num_queries x dim row-major) with one
  // filter: (*out)[q] holds the top min(k, passing) items for query q sorted by BetterHit, as
  // Search would return them, except that the scores come from a blocked matrix product (Eigen's
  // GEMM) whose summation order differs from Search's kernel: they may differ in the last bits, so
  // items whose scores are within rounding of each other may order differently. Reads each block
  // of rows once for all queries; several times faster than num_queries searches (benchmarks.md).
  // out is resized to num_queries; its vectors' capacity is reused.
  // REQUIRES: queries.size() == num_queries * dim(), all finite; out != nullptr.
  // Thread-safe like Search. The filter is called at most once per item.
  void SearchBatch(std::span<const float> queries, size_t num_queries, size_t k, FilterFn filter,
                   std::vector<std::vector<Hit>>* out) const;

  // See VectorIndex::Add. A new item appends a row (amortised O(dim); when the matrix's capacity
  // is exhausted it is reallocated, copying size() x dim floats while holding the lock); a known
  // item's row is overwritten in place. Waits for running searches to finish, and searches that
  // start meanwhile wait for it (the lock prefers writers, rw_mutex.h): an Add stalls searches for
  // at most one scan plus its own copy.
  Status Add(ItemId item, std::span<const float> vec) override;

 private:
  internal::RowView View() const;  // REQUIRES: mu_ held (either mode)

  const uint32_t dim_;
  mutable internal::WriterPriorityMutex mu_;
  // Guarded by mu_: row r of rows_ is item ids_[r]; row_of_[item] is its row or kNoId.
  std::vector<float> rows_;
  std::vector<ItemId> ids_;
  std::vector<uint32_t> row_of_;
  std::atomic<size_t> size_{0};  // == ids_.size(), readable without the lock
};

}  // namespace freshet::index
