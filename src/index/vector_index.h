#pragma once

// Top-k retrieval by inner product: the serving layer's candidate generator. A user vector
// (SASRec's last hidden state, a BPR user factor) is scored against every item vector of the same
// model and the k best items come back, optionally restricted by a filter (not seen before, one
// category, in stock). Two implementations sit behind one interface:
//
//   ExactIndex (exact_index.h)  a contiguous row-major matrix scanned with an AVX2/FMA kernel and
//                               a bounded heap. Exact; cost linear in the catalog.
//   HnswIndex  (hnsw_index.h)   hnswlib's graph, searched by our own filter-aware beam search.
//                               Approximate (recall@10 ~0.95-0.99 with the defaults); cost roughly
//                               logarithmic in the catalog.
//
// BuildIndex picks one from the catalog size. Indexes are not persisted: a model rebuilds its index
// when it is loaded. Online learning adds items (and replaces their vectors) with Add while
// searches run; see each class for the exact guarantee.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/ids.h"
#include "core/status.h"

namespace freshet::index {

// One search result: an item and its inner product with the query.
struct Hit {
  ItemId item = kNoId;
  float score = 0.0f;

  friend bool operator==(const Hit&, const Hit&) = default;
};

// The result order: higher score first, ties broken by the lower item id. Every search returns its
// hits sorted by it, exact and approximate alike.
inline bool BetterHit(const Hit& a, const Hit& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}

class FilterFn;

// What a FilterFn can refer to: a callable object (not a pointer: wrap a function in a lambda)
// taking an ItemId and returning something convertible to bool.
template <typename F>
concept ItemPredicate = !std::is_same_v<std::remove_cvref_t<F>, FilterFn> &&
                        !std::is_pointer_v<std::remove_cvref_t<F>> && !std::is_function_v<F> &&
                        std::is_invocable_r_v<bool, const F&, ItemId>;

// A non-owning reference to a predicate `bool(ItemId)`: true keeps the item. Two words, called
// through one function pointer, so the per-item cost in a scan is an indirect call (~1-2 ns) and
// nothing is allocated (std::function may allocate and adds a second indirection). A
// default-constructed FilterFn is "no filter", which the indexes detect once per search and then
// run a loop without the check.
//
// Lifetime: it refers to the callable, like std::function_ref. Passing a temporary lambda straight
// to Search is fine (it lives until the call returns); storing a FilterFn made from a temporary
// dangles.
// The callable is invoked on the searching thread only, any number of times, in any order, and
// must return the same answer for an item throughout one search.
class FilterFn {
 public:
  FilterFn() = default;        // no filter
  FilterFn(std::nullptr_t) {}  // NOLINT(google-explicit-constructor): no filter
  template <ItemPredicate F>
  FilterFn(const F& f)  // NOLINT(google-explicit-constructor)
      : callable_(&f), call_([](const void* c, ItemId item) -> bool {
          return (*static_cast<const F*>(c))(item);
        }) {}

  // True when a predicate is set.
  explicit operator bool() const { return call_ != nullptr; }
  // REQUIRES: a predicate is set.
  bool operator()(ItemId item) const { return call_(callable_, item); }

 private:
  const void* callable_ = nullptr;
  bool (*call_)(const void*, ItemId) = nullptr;
};

// The interface the serving layer calls. Implementations are not copyable.
class VectorIndex {
 public:
  virtual ~VectorIndex() = default;
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  // Length of every vector; fixed at construction.
  virtual uint32_t dim() const = 0;
  // Number of distinct items in the index. Thread-safe; a concurrent Add may or may not be counted.
  virtual size_t size() const = 0;
  // "exact" or "hnsw".
  virtual std::string_view kind() const = 0;

  // Writes to *out the top min(k, number of items passing `filter`) items by inner product with
  // `query`, sorted by BetterHit (best first, ties to the lower id). *out is cleared first; its
  // capacity is reused, so a caller that keeps one vector per thread allocates nothing in steady
  // state. k == 0 or an empty index gives an empty result. Approximate indexes may miss some of
  // the true top k (see HnswIndex) but never return fewer hits than stated here, never an item
  // twice, never an item the filter rejects, and every score is the exact inner product.
  // REQUIRES: query.size() == dim(), every component finite; out != nullptr.
  // Thread-safe: any number of concurrent Search calls, and Search concurrent with Add (each
  // search sees every Add entirely or not at all; see the implementations for what that costs).
  virtual void Search(std::span<const float> query, size_t k, FilterFn filter,
                      std::vector<Hit>* out) const = 0;

  // Inserts item `item` with vector `vec`, or replaces the vector of an item already present. Once
  // Add returns, every search that starts afterwards sees the item with the new vector.
  // Returns InvalidArgument (nothing changed) if vec.size() != dim(), a component is not finite,
  // or item == kNoId; ResourceExhausted if memory for the item cannot be had. Memory for the
  // id -> position map is proportional to the largest id (ids are dense, core/ids.h).
  // Thread-safe: concurrent with Search and with other Add calls (Adds are serialised).
  virtual Status Add(ItemId item, std::span<const float> vec) = 0;

 protected:
  VectorIndex() = default;
};

// hnswlib's graph parameters and our search-time knobs. With the defaults, on 64-float embeddings:
// recall@10 0.99 at ~40 us per search for 100k items, 6-12 s to build them on 2 cores, and
// 0.987-0.999 on trained SASRec / BPR item tables (docs/benchmarks.md).
struct HnswOptions {
  // Links per node on the upper layers (2 * M on the bottom layer). More links: higher recall at a
  // given ef and better behaviour on hard (clustered, high-dimensional) data, but memory grows by
  // 8 * M bytes per item and build and search time grow about linearly. 12-48 is the useful range.
  size_t M = 16;
  // Beam width while inserting. Larger builds a better graph (recall saturates around 200 for
  // M = 16) at a build time roughly proportional to it; search cost does not change.
  size_t ef_construction = 200;
  // Beam width while searching, raised to k when k is larger. The recall / latency knob: latency
  // grows about linearly with it; recall@10 gains little beyond 128 for M = 16.
  size_t ef_search = 64;
  // Threads inserting items in BuildIndex; 0 = one per hardware thread. Build time scales nearly
  // linearly; the graph (and so exact results) differs between runs when > 1.
  size_t threads = 0;
  // A filtered search estimates how many items pass (by trying the filter on up to 512 items
  // spread over the index) and scans the passing items exactly, instead of walking the graph,
  // when fewer than filter_exact_passing_per_ef * ef are expected. The walk must visit about
  // ef / pass_rate nodes to hold ef passing items, while the scan costs one filter call per item
  // plus one inner product per passing item, so the break-even number of passing items is about
  // ef times (cost of visiting a node / cost of a filter call), whatever the catalog size:
  // 120-160 x ef on 100k x 64 (docs/benchmarks.md). Lower favours the walk (approximate); higher
  // the scan (exact); 0 never scans first (the search still falls back to the scan when the walk
  // comes up short).
  size_t filter_exact_passing_per_ef = 150;
};

struct IndexOptions {
  // "exact", "hnsw", or "auto": exact below `exact_below` items, hnsw from there on. The kind is
  // fixed at build time; items added later never switch it.
  std::string kind = "auto";
  // Below ~20k items of 64 floats an exact scan takes <= ~0.12 ms: HNSW would be ~5x faster, but
  // the scan is exact, needs no graph (no build time, no extra memory) and has SearchBatch.
  // Lower it when search latency matters more than those.
  size_t exact_below = 20000;
  HnswOptions hnsw;
};

// Builds an index over `num_items` items whose vectors are the rows of `rows` (num_items x dim,
// row-major); row i is item i. `rows` is copied: the caller may free it once this returns.
// Returns InvalidArgument naming the field for: dim == 0; rows.size() != num_items * dim;
// num_items >= kNoId; a non-finite component ("rows: item 12, component 3 is not finite"); an
// unknown kind; hnsw.M outside [2, 2048]; hnsw.ef_construction or hnsw.ef_search == 0.
// ResourceExhausted if memory cannot be had. Thread-safe (uses hnsw.threads threads for hnsw).
Result<std::unique_ptr<VectorIndex>> BuildIndex(const IndexOptions& options, uint32_t dim,
                                                std::span<const float> rows, size_t num_items);

// Mean over the queries of |approx top-k ∩ exact top-k| / |exact top-k|, by item id; a query
// whose exact result is empty counts as 1. |exact top-k| is k whenever the index holds >= k items.
// `queries` is num_queries x dim row-major.
// REQUIRES: approx.dim() == exact.dim(); queries.size() == num_queries * dim; num_queries > 0;
// k > 0; both indexes hold the same items. Unfiltered.
double RecallAtK(const VectorIndex& approx, const VectorIndex& exact,
                 std::span<const float> queries, size_t num_queries, size_t k);

}  // namespace freshet::index
