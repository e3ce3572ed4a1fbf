#include "index/exact_index.h"

#include <Eigen/Core>
#include <algorithm>
#include <cassert>
#include <mutex>
#include <new>
#include <shared_mutex>

#include "index/kernels.h"

namespace freshet::index {
namespace {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// SearchBatch multiplies blocks of kQueryBlock queries by blocks of kRowBlock rows: a
// 128 x 256 score block is 128 KiB, and a 256-row block of 64-float items 64 KiB, so both stay in
// L2 while every query's heap walks its row of scores.
constexpr size_t kQueryBlock = 128;
constexpr size_t kRowBlock = 256;

}  // namespace

ExactIndex::ExactIndex(uint32_t dim) : dim_(dim) { assert(dim > 0); }

Result<std::unique_ptr<ExactIndex>> ExactIndex::Build(uint32_t dim, std::span<const float> rows,
                                                      size_t num_items) {
  FRESHET_RETURN_IF_ERROR(internal::CheckRows(dim, rows, num_items));
  try {
    auto index = std::make_unique<ExactIndex>(dim);
    index->rows_.assign(rows.begin(), rows.end());
    index->ids_.resize(num_items);
    index->row_of_.resize(num_items);
    for (size_t i = 0; i < num_items; ++i) {
      index->ids_[i] = static_cast<ItemId>(i);
      index->row_of_[i] = static_cast<uint32_t>(i);
    }
    index->size_.store(num_items, std::memory_order_relaxed);
    return index;
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("exact index: cannot allocate " + std::to_string(num_items) +
                                     " x " + std::to_string(dim) + " floats");
  }
}

size_t ExactIndex::size() const { return size_.load(std::memory_order_relaxed); }

internal::RowView ExactIndex::View() const {
  return {reinterpret_cast<const char*>(rows_.data()), dim_ * sizeof(float), ids_.data(),
          ids_.size()};
}

void ExactIndex::Search(std::span<const float> query, size_t k, FilterFn filter,
                        std::vector<Hit>* out) const {
  assert(query.size() == dim_ && internal::AllFinite(query) && out != nullptr);
  std::shared_lock lock(mu_);
  internal::ExactSearch(query, k, filter, View(), out);
}

void ExactIndex::SearchBatch(std::span<const float> queries, size_t num_queries, size_t k,
                             FilterFn filter, std::vector<std::vector<Hit>>* out) const {
  assert(queries.size() == num_queries * dim_ && internal::AllFinite(queries) && out != nullptr);
  out->resize(num_queries);
  if (k == 0) {
    for (auto& hits : *out) hits.clear();
    return;
  }
  std::shared_lock lock(mu_);
  const size_t n = ids_.size();
  RowMajorMatrix scores(std::min(num_queries, kQueryBlock), kRowBlock);
  std::vector<uint8_t> passes(filter ? n : 0);
  for (size_t i = 0; i < passes.size(); ++i) passes[i] = filter(ids_[i]) ? 1 : 0;

  for (size_t q0 = 0; q0 < num_queries; q0 += kQueryBlock) {
    const size_t nq = std::min(kQueryBlock, num_queries - q0);
    std::vector<internal::TopK> tops;
    tops.reserve(nq);
    for (size_t q = 0; q < nq; ++q) tops.emplace_back(k, &(*out)[q0 + q]);
    const Eigen::Map<const RowMajorMatrix> query_block(queries.data() + q0 * dim_,
                                                       static_cast<Eigen::Index>(nq), dim_);
    for (size_t r0 = 0; r0 < n; r0 += kRowBlock) {
      const size_t nr = std::min(kRowBlock, n - r0);
      const Eigen::Map<const RowMajorMatrix> row_block(rows_.data() + r0 * dim_,
                                                       static_cast<Eigen::Index>(nr), dim_);
      scores.topLeftCorner(static_cast<Eigen::Index>(nq), static_cast<Eigen::Index>(nr)).noalias() =
          query_block * row_block.transpose();
      const uint8_t* keep = filter ? passes.data() + r0 : nullptr;
      for (size_t q = 0; q < nq; ++q) {
        tops[q].PushAll(scores.row(static_cast<Eigen::Index>(q)).data(), ids_.data() + r0, keep,
                        nr);
      }
    }
    for (auto& top : tops) top.Finish();
  }
}

Status ExactIndex::Add(ItemId item, std::span<const float> vec) {
  FRESHET_RETURN_IF_ERROR(internal::CheckVector(dim_, item, vec));
  std::unique_lock lock(mu_);
  if (item < row_of_.size() && row_of_[item] != kNoId) {
    std::copy(vec.begin(), vec.end(), rows_.begin() + size_t{row_of_[item]} * dim_);
    return Status::OK();
  }
  try {
    // Each step either completes or leaves the index as it was: growing row_of_ with kNoId
    // changes nothing visible, and a failed rows_ insert is undone by popping ids_.
    if (item >= row_of_.size()) row_of_.resize(size_t{item} + 1, kNoId);
    ids_.push_back(item);
    try {
      rows_.insert(rows_.end(), vec.begin(), vec.end());
    } catch (...) {
      ids_.pop_back();
      throw;
    }
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("exact index: cannot grow to " +
                                     std::to_string(ids_.size() + 1) + " items");
  }
  row_of_[item] = static_cast<uint32_t>(ids_.size() - 1);
  size_.store(ids_.size(), std::memory_order_relaxed);
  return Status::OK();
}

}  // namespace freshet::index
