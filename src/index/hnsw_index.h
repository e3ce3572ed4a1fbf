#pragma once

// Approximate top-k by inner product on a hierarchical navigable small-world graph (Malkov and
// Yashunin 2018). hnswlib (Debian's libhnswlib-dev 0.6.2, header-only) builds and maintains the
// graph; the search is ours, a beam search over hnswlib's layers that reads its link lists and
// vectors directly, because:
//   - hnswlib 0.6.2 has no filtered search (BaseFilterFunctor arrived in 0.7), and a filter
//     applied after an unfiltered search loses results when it is selective;
//   - hnswlib's searchKnn keeps ef in a shared field (setEf) and bumps two shared atomic counters
//     per search, which makes concurrent searches with different k race or contend;
//   - ours allocates nothing per search (pooled scratch) and scores with the same kernel as
//     ExactIndex, so every score is the exact inner product, bit for bit (hnswlib's
//     InnerProductSpace would return 1 - distance, rounded);
//   - the graph is not built in an inner-product space (below), so hnswlib's own search would
//     rank by the wrong distance.
//
// The graph's space. The search always ranks by the exact inner product with the query; what the
// graph's distance decides is which items get linked. hnswlib's InnerProductSpace
// (distance = 1 - <a, b>) links every item to the few largest-norm items near it, and its pruning
// heuristic then leaves many smaller-norm items with no incoming link at all (21% of a clustered
// 20k table): no search can reach them. Top-10 recall barely notices (those items rarely rank
// first), but deeper and filtered searches do: on SASRec's item table for Amazon Beauty, an
// inner-product graph finds 48% of the true top 100 and 59% of the top 10 under a filter passing
// 10% of items, hardly more at higher ef. So the graph is built instead on the Möbius transform
// x -> x / |x|^2 with Euclidean distance (Zhou et al., "Möbius Transformation for Fast Inner Product
// Search on Graph", NeurIPS 2019, which relates the inner-product Delaunay graph of the vectors to
// the ordinary Euclidean one of their images): every item is reachable, and the same table gives
// 99.4% top-10, 98.6% top-100 and 99.9% filtered recall at ef 64 (docs/benchmarks.md,
// "Retrieval index").
// Each hnswlib record holds the item's vector and 1 / |x|^2 (one float more), so the graph
// distance costs one inner product, and the search reads the vector as it is.
// Caveat, measured: on isotropic Gaussian vectors with log-normal norms (no low-dimensional
// structure, unlike trained embeddings) the Möbius graph's top-10 recall is 0.83 at ef 64 and 0.91
// at ef 128, against 0.96 at ef 64 for an inner-product graph.
//
// Threads. hnswlib's own rule: concurrent insertions are safe except for the very first one, and
// searching is safe concurrently with searching but not with inserting (searchKnn reads link lists
// without their locks; the insert path rewrites them, moves the entry point and, when full,
// reallocates everything). Build inserts the first item alone, then the rest from
// options.threads threads. After that, Search holds a shared lock and Add an exclusive one
// (writer-priority, rw_mutex.h); see Add for what that costs.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "core/status.h"
#include "index/rw_mutex.h"
#include "index/vector_index.h"

namespace hnswlib {
template <typename dist_t>
class HierarchicalNSW;
}  // namespace hnswlib

namespace freshet::index {

class HnswIndex final : public VectorIndex {
 public:
  // The index over rows of `rows` (num_items x dim row-major), row i being item i; copies them into
  // hnswlib's storage, inserting with options.threads threads. Leaves room for num_items / 8 (at
  // least 1024) later Adds before the first reallocation.
  // Returns InvalidArgument naming the field for dim == 0, a size mismatch, num_items >= kNoId, a
  // non-finite component, options.M outside [2, 2048] or a zero ef_construction / ef_search;
  // ResourceExhausted when memory cannot be had.
  static Result<std::unique_ptr<HnswIndex>> Build(const HnswOptions& options, uint32_t dim,
                                                  std::span<const float> rows, size_t num_items);
  ~HnswIndex() override;

  uint32_t dim() const override { return dim_; }
  size_t size() const override;
  std::string_view kind() const override { return "hnsw"; }
  // A copy of the options in force. Thread-safe.
  HnswOptions options() const;

  // Changes the search-time knobs (HnswOptions::ef_search, filter_exact_passing_per_ef) for the
  // searches that start after it returns; the graph is unchanged. Returns InvalidArgument naming
  // the field if ef_search == 0. Thread-safe; waits like Add.
  Status SetSearchOptions(size_t ef_search, size_t filter_exact_passing_per_ef);

  // See VectorIndex::Search. Walks the graph with a beam of ef = max(options.ef_search, k):
  // approximate (a true top-k item can be missed), and every hit's score is its exact inner
  // product. How it never returns fewer than min(k, passing) hits:
  //   - Unfiltered: if the walk reaches fewer than min(k, size()) items (k near size(), or items
  //     the graph cannot reach), the answer is an exact scan instead.
  //   - Filtered: the filter is checked during the walk, so the beam holds only passing items and
  //     the walk keeps going until it has ef of them. First the number of passing items is
  //     estimated from up to 512 items spread over the index; below
  //     options.filter_exact_passing_per_ef x ef the answer is an exact scan of the passing items
  //     (exact results; cost ~ size() filter calls + one inner product per passing item).
  //     Otherwise the walk runs with a budget of inner products: twice what the estimated pass
  //     rate calls for (4 M ef size() / passing), at most size(). If it ends with fewer than k
  //     passing items (the passing items are far from the query in the graph, or unreachable),
  //     the answer is again the exact scan. So a selective filter gives exact results, and a
  //     misleading estimate costs at most the budget on top of the scan.
  // Holds the shared lock for the whole search.
  void Search(std::span<const float> query, size_t k, FilterFn filter,
              std::vector<Hit>* out) const override;

  // See VectorIndex::Add. A new item is inserted with hnswlib's addPoint (an ef_construction
  // beam: ~0.15 ms at 100k x 64 with the defaults); a known item's vector is replaced and its
  // neighbourhood repaired (hnswlib's updatePoint, dearer). Holds the exclusive lock throughout,
  // so searches that start meanwhile wait for it (the lock prefers writers: at most the searches
  // already running delay the Add). When the graph's capacity is full, Add first grows it by half:
  // hnswlib's resizeIndex reallocates every record (~400 bytes per item at M = 16 and 64 floats)
  // and a mutex per record, while searches wait.
  Status Add(ItemId item, std::span<const float> vec) override;

 private:
  struct Scratch;
  class Space;
  class ScratchLease;

  HnswIndex(const HnswOptions& options, uint32_t dim);

  // Walks the graph for `query` with beam width ef, leaving up to ef (passing) candidates in
  // scratch.found. Stops early once `budget` inner products have been computed on the bottom
  // layer. REQUIRES: mu_ held, the graph not empty.
  template <bool kHasFilter>
  void Walk(const float* query, size_t ef, FilterFn filter, size_t budget, Scratch& scratch) const;
  // Estimated number of items that pass. REQUIRES: mu_ held.
  size_t EstimatePassing(FilterFn filter) const;
  // Exact top-k over every item. REQUIRES: mu_ held.
  void ScanExact(std::span<const float> query, size_t k, FilterFn filter,
                 std::vector<Hit>* out) const;
  // Writes hnswlib's record for `vec` to record[0, dim + 1): vec, then 1 / |vec|^2.
  void ToRecord(std::span<const float> vec, float* record) const;
  // Inserts rows [0, num_items): the first alone (hnswlib inserts concurrently only into a graph
  // that has a node), the rest from `threads` threads. REQUIRES: an empty graph, no other user.
  Status InsertParallel(std::span<const float> rows, size_t num_items, size_t threads);

  const uint32_t dim_;
  std::unique_ptr<Space> space_;  // referenced by graph_: declared first, destroyed last
  mutable internal::WriterPriorityMutex mu_;
  // Guarded by mu_: the options (only the search-time fields change); the graph; labels_[internal
  // id] is its item (sized to the graph's capacity, kNoId past the last record); internal_of_[item]
  // is its internal id or kNoId.
  HnswOptions options_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
  std::vector<ItemId> labels_;
  std::vector<uint32_t> internal_of_;
  std::atomic<size_t> size_{0};  // the graph's record count, readable without the lock

  // Per-search scratch (visited marks, beam heaps), reused across searches like hnswlib's
  // VisitedListPool: a search takes one or makes one, and returns it.
  mutable std::mutex scratch_mu_;
  mutable std::vector<std::unique_ptr<Scratch>> scratch_pool_;  // guarded by scratch_mu_
};

}  // namespace freshet::index
