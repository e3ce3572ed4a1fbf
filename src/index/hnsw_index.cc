#include "index/hnsw_index.h"

// NO_MANUAL_VECTORIZATION turns off hnswlib's SSE/AVX code. We lose nothing by it: distances are
// computed by our Space. And we need it: (1) with SSE on, hnswlib 0.6.2's searchBaseLayer (used
// by addPoint) prefetches the entry one past the end of every link list, a heap read out of
// bounds for a full upper-layer list (AddressSanitizer reports it in the build); (2) it would
// define non-inline functions (cpuid, xgetbv, AVXCapable) in the header, so that a second
// translation unit including hnswlib.h would break the link.
#define NO_MANUAL_VECTORIZATION
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <string>
#include <thread>

#include "index/kernels.h"

namespace freshet::index {
namespace {

using Graph = hnswlib::HierarchicalNSW<float>;

// hnswlib draws node levels from an RNG seeded with this; a single-threaded build is reproducible.
constexpr size_t kGraphSeed = 100;
// Items on which a filtered search tries the filter to estimate how many pass.
constexpr size_t kFilterSamples = 512;
// Items inserted per grab from the shared counter in a parallel build: large enough that the
// counter is not contended, small enough that threads finish together.
constexpr size_t kBuildChunk = 64;
// Squared norms are clamped to at least this before inverting, so that a zero (or tiny) vector
// becomes a record far from all others instead of an infinity, and products of two inverses stay
// finite in float (<= 1e24).
constexpr double kMinSquaredNorm = 1e-12;

size_t InitialCapacity(size_t num_items) {
  return num_items + std::max<size_t>(1024, num_items / 8);
}
size_t GrownCapacity(size_t capacity) { return capacity + std::max<size_t>(1024, capacity / 2); }

// A beam entry: an internal id and its inner product with the query.
struct Candidate {
  float score;
  uint32_t id;
};
// Heap orders: the frontier pops its best candidate, the found set its worst.
bool FrontierOrder(const Candidate& a, const Candidate& b) { return a.score < b.score; }
bool FoundOrder(const Candidate& a, const Candidate& b) { return a.score > b.score; }

Status CheckOptions(const HnswOptions& options) {
  if (options.M < 2 || options.M > 2048) {
    return Status::InvalidArgument("hnsw.M: " + std::to_string(options.M) +
                                   " is outside [2, 2048]");
  }
  if (options.ef_construction == 0) {
    return Status::InvalidArgument("hnsw.ef_construction: must be > 0");
  }
  if (options.ef_search == 0) return Status::InvalidArgument("hnsw.ef_search: must be > 0");
  return Status::OK();
}

}  // namespace

// The graph's distance: squared Euclidean distance between the Möbius images x / |x|^2 of two
// stored records (see the header), from the records' vectors and inverse squared norms:
//   |a / |a|^2 - b / |b|^2|^2 = 1/|a|^2 + 1/|b|^2 - 2 <a, b> / (|a|^2 |b|^2).
class HnswIndex::Space final : public hnswlib::SpaceInterface<float> {
 public:
  explicit Space(size_t dim) : dim_(dim) {}
  size_t get_data_size() override { return (dim_ + 1) * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &Distance; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  static float Distance(const void* a, const void* b, const void* dim_ptr) {
    const auto* x = static_cast<const float*>(a);
    const auto* y = static_cast<const float*>(b);
    const size_t dim = *static_cast<const size_t*>(dim_ptr);
    const float ix = x[dim];
    const float iy = y[dim];
    return ix + iy - 2.0f * internal::Dot(x, y, dim) * ix * iy;
  }
  size_t dim_;
};

// One search's working memory. `visited[id] == tag` marks a visited record; bumping the tag clears
// every mark at once, and the array is zeroed only when the 16-bit tag wraps (every 65535
// searches), as hnswlib's VisitedList does.
struct HnswIndex::Scratch {
  std::vector<uint16_t> visited;
  uint16_t tag = 0;
  std::vector<Candidate> frontier;  // heap by FrontierOrder
  std::vector<Candidate> found;     // heap by FoundOrder, at most ef entries

  void BeginSearch(size_t records) {
    if (visited.size() < records) visited.resize(records, 0);
    if (++tag == 0) {
      std::fill(visited.begin(), visited.end(), 0);
      tag = 1;
    }
    frontier.clear();
    found.clear();
  }
};

// Borrows a Scratch from the index's pool for one search and gives it back.
class HnswIndex::ScratchLease {
 public:
  explicit ScratchLease(const HnswIndex& index) : index_(index) {
    {
      std::lock_guard lock(index_.scratch_mu_);
      if (!index_.scratch_pool_.empty()) {
        scratch_ = std::move(index_.scratch_pool_.back());
        index_.scratch_pool_.pop_back();
      }
    }
    if (scratch_ == nullptr) scratch_ = std::make_unique<Scratch>();
  }
  ~ScratchLease() {
    std::lock_guard lock(index_.scratch_mu_);
    index_.scratch_pool_.push_back(std::move(scratch_));
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  Scratch& operator*() { return *scratch_; }

 private:
  const HnswIndex& index_;
  std::unique_ptr<Scratch> scratch_;
};

HnswIndex::HnswIndex(const HnswOptions& options, uint32_t dim)
    : dim_(dim), space_(std::make_unique<Space>(dim)), options_(options) {}

void HnswIndex::ToRecord(std::span<const float> vec, float* record) const {
  std::copy(vec.begin(), vec.end(), record);
  double norm2 = 0.0;
  for (float x : vec) norm2 += double{x} * x;
  record[dim_] = static_cast<float>(1.0 / std::max(norm2, kMinSquaredNorm));
}

HnswIndex::~HnswIndex() = default;

Result<std::unique_ptr<HnswIndex>> HnswIndex::Build(const HnswOptions& options, uint32_t dim,
                                                    std::span<const float> rows, size_t num_items) {
  FRESHET_RETURN_IF_ERROR(internal::CheckRows(dim, rows, num_items));
  FRESHET_RETURN_IF_ERROR(CheckOptions(options));
  std::unique_ptr<HnswIndex> index(new HnswIndex(options, dim));
  const size_t capacity = InitialCapacity(num_items);
  try {
    index->graph_ = std::make_unique<Graph>(index->space_.get(), capacity, options.M,
                                            options.ef_construction, kGraphSeed);
    index->labels_.assign(capacity, kNoId);
    index->internal_of_.assign(num_items, kNoId);
  } catch (const std::exception& e) {  // std::bad_alloc, or hnswlib's "Not enough memory"
    return Status::ResourceExhausted("hnsw index: cannot allocate " + std::to_string(capacity) +
                                     " records: " + e.what());
  }
  if (num_items > 0) {
    size_t threads = options.threads;
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    threads = std::min(threads, std::max<size_t>(1, (num_items - 1) / kBuildChunk));
    FRESHET_RETURN_IF_ERROR(index->InsertParallel(rows, num_items, threads));
  }
  index->size_.store(index->graph_->cur_element_count, std::memory_order_relaxed);
  return index;
}

Status HnswIndex::InsertParallel(std::span<const float> rows, size_t num_items, size_t threads) {
  Graph& graph = *graph_;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::string error;  // guarded by error_mu: the first failure
  // Thread entry point: hnswlib reports failures by throwing; they become a Status here.
  auto insert = [&](size_t begin, size_t end) {
    try {
      std::vector<float> record(size_t{dim_} + 1);
      for (size_t i = begin; i < end && !failed.load(std::memory_order_relaxed); ++i) {
        ToRecord(rows.subspan(i * dim_, dim_), record.data());
        const auto internal = static_cast<uint32_t>(
            graph.addPoint(record.data(), static_cast<hnswlib::labeltype>(i), -1));
        // Distinct threads write distinct slots; the join below publishes them.
        labels_[internal] = static_cast<ItemId>(i);
        internal_of_[i] = internal;
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(error_mu);
      if (!failed.exchange(true)) error = e.what();
    }
  };
  auto worker = [&] {
    for (;;) {
      const size_t begin = next.fetch_add(kBuildChunk, std::memory_order_relaxed);
      if (begin >= num_items || failed.load(std::memory_order_relaxed)) return;
      insert(begin, std::min(num_items, begin + kBuildChunk));
    }
  };
  // hnswlib inserts concurrently only once the graph has its first node.
  insert(0, 1);
  next.store(1, std::memory_order_relaxed);
  std::vector<std::thread> pool;
  try {
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  } catch (const std::system_error&) {
    // Fewer threads than asked for: the ones running (and this one) do all the work.
  }
  worker();
  for (auto& t : pool) t.join();
  if (failed.load()) return Status::ResourceExhausted("hnsw index: build failed: " + error);
  return Status::OK();
}

size_t HnswIndex::size() const { return size_.load(std::memory_order_relaxed); }

HnswOptions HnswIndex::options() const {
  std::shared_lock lock(mu_);
  return options_;
}

Status HnswIndex::SetSearchOptions(size_t ef_search, size_t filter_exact_passing_per_ef) {
  if (ef_search == 0) return Status::InvalidArgument("ef_search: must be > 0");
  std::unique_lock lock(mu_);
  options_.ef_search = ef_search;
  options_.filter_exact_passing_per_ef = filter_exact_passing_per_ef;
  return Status::OK();
}

size_t HnswIndex::EstimatePassing(FilterFn filter) const {
  const size_t n = graph_->cur_element_count;
  const size_t samples = std::min(n, kFilterSamples);
  size_t passed = 0;
  for (size_t s = 0; s < samples; ++s) passed += filter(labels_[s * n / samples]) ? 1 : 0;
  return samples == 0 ? 0 : passed * n / samples;
}

void HnswIndex::ScanExact(std::span<const float> query, size_t k, FilterFn filter,
                          std::vector<Hit>* out) const {
  const Graph& graph = *graph_;
  const internal::RowView view{graph.data_level0_memory_ + graph.offsetData_,
                               graph.size_data_per_element_, labels_.data(),
                               graph.cur_element_count};
  internal::ExactSearch(query, k, filter, view, out);
}

template <bool kHasFilter>
void HnswIndex::Walk(const float* query, size_t ef, FilterFn filter, size_t budget,
                     Scratch& scratch) const {
  const Graph& graph = *graph_;
  auto vec = [&graph](uint32_t id) {
    return reinterpret_cast<const float*>(graph.getDataByInternalId(id));
  };
  scratch.BeginSearch(graph.cur_element_count);

  // Upper layers: greedy descent to the bottom layer's entry point, as in hnswlib's searchKnn.
  uint32_t entry = graph.enterpoint_node_;
  float entry_score = internal::Dot(query, vec(entry), dim_);
  for (int level = graph.maxlevel_; level > 0; --level) {
    for (bool moved = true; moved;) {
      moved = false;
      unsigned* list = graph.get_linklist(entry, level);
      const size_t count = graph.getListCount(list);
      for (size_t j = 1; j <= count; ++j) {
        const float score = internal::Dot(query, vec(list[j]), dim_);
        if (score > entry_score) {
          entry_score = score;
          entry = list[j];
          moved = true;
        }
      }
    }
  }

  // Bottom layer: beam search. `found` holds the best ef items that pass the filter; every item
  // reached enters the frontier while it could still improve `found`, passing or not, so a
  // selective filter widens the walk until ef passing items are held.
  std::vector<Candidate>& frontier = scratch.frontier;
  std::vector<Candidate>& found = scratch.found;
  uint16_t* visited = scratch.visited.data();
  const uint16_t tag = scratch.tag;
  visited[entry] = tag;
  frontier.push_back({entry_score, entry});
  if (!kHasFilter || filter(labels_[entry])) found.push_back({entry_score, entry});
  size_t products = 0;
  while (!frontier.empty() && products < budget) {
    const Candidate current = frontier.front();
    if (found.size() >= ef && current.score < found.front().score) break;
    std::pop_heap(frontier.begin(), frontier.end(), FrontierOrder);
    frontier.pop_back();
    unsigned* list = graph.get_linklist0(current.id);
    const size_t count = graph.getListCount(list);
    for (size_t j = 1; j <= count; ++j) {
      const uint32_t id = list[j];
      // The next neighbour's vector is a random access into a large array: start loading it now.
      if (j < count) __builtin_prefetch(vec(list[j + 1]));
      if (visited[id] == tag) continue;
      visited[id] = tag;
      const float score = internal::Dot(query, vec(id), dim_);
      ++products;
      if (found.size() < ef || score > found.front().score) {
        frontier.push_back({score, id});
        std::push_heap(frontier.begin(), frontier.end(), FrontierOrder);
        if (!kHasFilter || filter(labels_[id])) {
          found.push_back({score, id});
          std::push_heap(found.begin(), found.end(), FoundOrder);
          if (found.size() > ef) {
            std::pop_heap(found.begin(), found.end(), FoundOrder);
            found.pop_back();
          }
        }
      }
    }
  }
}

void HnswIndex::Search(std::span<const float> query, size_t k, FilterFn filter,
                       std::vector<Hit>* out) const {
  assert(query.size() == dim_ && internal::AllFinite(query) && out != nullptr);
  out->clear();
  if (k == 0) return;
  std::shared_lock lock(mu_);
  const size_t n = graph_->cur_element_count;
  if (n == 0) return;
  const size_t ef = std::max(options_.ef_search, k);
  size_t passing = n;
  if (filter) {
    passing = EstimatePassing(filter);
    if (passing < options_.filter_exact_passing_per_ef * ef) {
      ScanExact(query, k, filter, out);
      return;
    }
  }
  {
    ScratchLease scratch(*this);
    if (filter) {
      // A walk holding ef passing items visits about ef * n / passing nodes and computes at most
      // 2M products per node; the budget is twice that, so it stops only when the estimate was
      // wrong (passing items far from the query in the graph), bounding the cost of being wrong.
      const double expected = 2.0 * static_cast<double>(options_.M * ef) * static_cast<double>(n) /
                              static_cast<double>(std::max<size_t>(passing, 1));
      const size_t budget = static_cast<size_t>(std::min(2.0 * expected, static_cast<double>(n)));
      Walk<true>(query.data(), ef, filter, budget, *scratch);
    } else {
      Walk<false>(query.data(), ef, filter, std::numeric_limits<size_t>::max(), *scratch);
    }
    internal::TopK top(k, out);
    for (const Candidate& c : (*scratch).found) top.Push(labels_[c.id], c.score);
    top.Finish();
  }
  if (out->size() < (filter ? k : std::min(k, n))) ScanExact(query, k, filter, out);
}

Status HnswIndex::Add(ItemId item, std::span<const float> vec) {
  FRESHET_RETURN_IF_ERROR(internal::CheckVector(dim_, item, vec));
  std::unique_lock lock(mu_);
  Graph& graph = *graph_;
  const bool known = item < internal_of_.size() && internal_of_[item] != kNoId;
  try {
    std::vector<float> record(size_t{dim_} + 1);
    ToRecord(vec, record.data());
    if (!known) {
      // Everything that can fail for lack of memory happens before the graph changes, so a
      // failed Add leaves the index as it was.
      if (graph.cur_element_count == graph.max_elements_) {
        const size_t capacity = GrownCapacity(graph.max_elements_);
        labels_.resize(capacity, kNoId);
        graph.resizeIndex(capacity);
      }
      if (item >= internal_of_.size()) internal_of_.resize(size_t{item} + 1, kNoId);
      // With one writer hnswlib gives a new item the next record, cur_element_count.
      const auto internal = static_cast<uint32_t>(graph.cur_element_count);
      labels_[internal] = item;
      internal_of_[item] = internal;
    }
    [[maybe_unused]] const auto internal = static_cast<uint32_t>(
        graph.addPoint(record.data(), static_cast<hnswlib::labeltype>(item), -1));
    assert(internal == internal_of_[item]);
  } catch (const std::exception& e) {  // std::bad_alloc, or hnswlib's runtime_error
    // Undo the mapping unless hnswlib got as far as creating the record.
    if (!known && item < internal_of_.size() && internal_of_[item] != kNoId &&
        graph.cur_element_count <= internal_of_[item]) {
      internal_of_[item] = kNoId;
    }
    size_.store(graph.cur_element_count, std::memory_order_relaxed);
    return Status::ResourceExhausted("hnsw index: cannot add item " + std::to_string(item) + ": " +
                                     e.what());
  }
  size_.store(graph.cur_element_count, std::memory_order_relaxed);
  return Status::OK();
}

}  // namespace freshet::index
