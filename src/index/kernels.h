#pragma once

// Internal to src/index: the inner-product kernel, the bounded top-k and the filtered scan that
// ExactIndex and HnswIndex share, so both score with the same arithmetic and order results the
// same way. Not part of the module's interface.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "core/status.h"
#include "index/vector_index.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace freshet::index::internal {

// Inner product of a[0, dim) and b[0, dim). With AVX2 + FMA (the release build targets x86-64-v3):
// four 8-wide FMA chains over 32-float blocks, so a 64-float product is two dependent FMAs per
// chain, then 8-float blocks and a scalar tail. Loads are unaligned: hnswlib's rows sit at 4-byte
// offsets. Without AVX2 a plain loop (no -ffast-math, so it is not reassociated or vectorised).
inline float Dot(const float* a, const float* b, size_t dim) {
#if defined(__AVX2__) && defined(__FMA__)
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps();
  __m256 acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= dim; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  const __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  float sum = _mm_cvtss_f32(s);
  for (; i < dim; ++i) sum += a[i] * b[i];
  return sum;
#else
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) sum += a[i] * b[i];
  return sum;
#endif
}

inline bool AllFinite(std::span<const float> v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

// InvalidArgument naming the field when `rows` is not num_items x dim finite floats, dim == 0 or
// num_items >= kNoId (defined in vector_index.cc).
Status CheckRows(uint32_t dim, std::span<const float> rows, size_t num_items);
// InvalidArgument naming the field when Add's arguments break VectorIndex::Add's contract.
Status CheckVector(uint32_t dim, ItemId item, std::span<const float> vec);

// The k best hits pushed so far under BetterHit, kept as a heap whose front is the worst of them,
// in caller-owned storage (Search's output vector), so a search allocates nothing once that
// vector has held k hits.
class TopK {
 public:
  // REQUIRES: k > 0. Clears *storage.
  TopK(size_t k, std::vector<Hit>* storage) : k_(k), heap_(*storage) {
    heap_.clear();
    heap_.reserve(k);
  }

  // The lowest score that can still enter: -inf until k hits are held (then ties go by item id).
  // Scans compare against it first, so most rows cost one comparison after the dot product.
  float threshold() const { return threshold_; }
  bool full() const { return heap_.size() == k_; }

  void Push(ItemId item, float score) {
    if (score < threshold_) return;
    const Hit hit{item, score};
    if (heap_.size() < k_) {
      heap_.push_back(hit);
      std::push_heap(heap_.begin(), heap_.end(), BetterHit);
      if (heap_.size() == k_) threshold_ = heap_.front().score;
      return;
    }
    if (!BetterHit(hit, heap_.front())) return;
    std::pop_heap(heap_.begin(), heap_.end(), BetterHit);
    heap_.back() = hit;
    std::push_heap(heap_.begin(), heap_.end(), BetterHit);
    threshold_ = heap_.front().score;
  }

  // Push(items[i], scores[i]) for every i in [0, n) with keep == nullptr or keep[i] != 0. With
  // AVX2, eight scores at a time are compared with the threshold first, so once the heap is full
  // a block of eight losers costs one comparison (most blocks, when scores come from a matrix
  // product and only the heap update is left per item).
  void PushAll(const float* scores, const ItemId* items, const uint8_t* keep, size_t n) {
    size_t i = 0;
#if defined(__AVX2__)
    for (; i + 8 <= n; i += 8) {
      unsigned mask = static_cast<unsigned>(_mm256_movemask_ps(
          _mm256_cmp_ps(_mm256_loadu_ps(scores + i), _mm256_set1_ps(threshold_), _CMP_GE_OQ)));
      while (mask != 0) {
        const size_t j = i + static_cast<size_t>(__builtin_ctz(mask));
        mask &= mask - 1;
        if (keep == nullptr || keep[j] != 0) Push(items[j], scores[j]);
      }
    }
#endif
    for (; i < n; ++i) {
      if (keep == nullptr || keep[i] != 0) Push(items[i], scores[i]);
    }
  }

  // Sorts the held hits best first. The TopK must not be used afterwards.
  void Finish() { std::sort_heap(heap_.begin(), heap_.end(), BetterHit); }

 private:
  size_t k_;
  std::vector<Hit>& heap_;
  float threshold_ = -std::numeric_limits<float>::infinity();
};

// Rows of an index in memory: row r is `dim` floats at base + r * stride bytes and belongs to
// item labels[r]. ExactIndex's rows are packed (stride = 4 * dim); HnswIndex's are hnswlib's
// bottom-layer records (links, vector, label).
struct RowView {
  const char* base = nullptr;
  size_t stride = 0;
  const ItemId* labels = nullptr;
  size_t rows = 0;

  const float* row(size_t r) const { return reinterpret_cast<const float*>(base + r * stride); }
};

// Pushes every row whose item passes the filter into `top`. The filter is checked before the
// inner product, so a selective filter also saves the row's memory traffic.
template <bool kHasFilter>
void ScanRows(const float* query, size_t dim, const RowView& view, FilterFn filter, TopK& top) {
  for (size_t r = 0; r < view.rows; ++r) {
    const ItemId item = view.labels[r];
    if constexpr (kHasFilter) {
      if (!filter(item)) continue;
    }
    top.Push(item, Dot(query, view.row(r), dim));
  }
}

// Exact top-k over `view` into *out (sorted best first); chooses the loop once, by whether a
// filter is set.
inline void ExactSearch(std::span<const float> query, size_t k, FilterFn filter,
                        const RowView& view, std::vector<Hit>* out) {
  if (k == 0) {
    out->clear();
    return;
  }
  TopK top(k, out);
  if (filter) {
    ScanRows<true>(query.data(), query.size(), view, filter, top);
  } else {
    ScanRows<false>(query.data(), query.size(), view, filter, top);
  }
  top.Finish();
}

}  // namespace freshet::index::internal
