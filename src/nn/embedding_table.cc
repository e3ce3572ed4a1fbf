#include "nn/embedding_table.h"

#include <cassert>
#include <cmath>
#include <string>

#include "core/ids.h"
#include "nn/random.h"

namespace freshet::nn {
namespace {

float Load(const float& x) {
  // atomic_ref needs a non-const referent; the load does not modify it.
  return std::atomic_ref<float>(const_cast<float&>(x)).load(std::memory_order_relaxed);
}
void Store(float& x, float v) { std::atomic_ref<float>(x).store(v, std::memory_order_relaxed); }

static_assert(std::atomic_ref<float>::is_always_lock_free,
              "Hogwild rows assume lock-free float atomics");
static_assert(std::atomic_ref<float>::required_alignment == alignof(float),
              "vector<float> elements must be valid atomic_ref referents");

}  // namespace

// ---- SparseGrad

std::span<float> SparseGrad::Row(uint32_t id) {
  assert(id != kNoId);
  if (id >= slot_of_.size()) slot_of_.resize(static_cast<size_t>(id) + 1, -1);
  int32_t slot = slot_of_[id];
  if (slot < 0) {
    slot = static_cast<int32_t>(ids_.size());
    slot_of_[id] = slot;
    ids_.push_back(id);
    grads_.resize(grads_.size() + static_cast<size_t>(dim_), 0.0f);
  }
  return {grads_.data() + static_cast<size_t>(slot) * dim_, static_cast<size_t>(dim_)};
}

void SparseGrad::Add(uint32_t id, std::span<const float> g, float scale) {
  assert(g.size() == static_cast<size_t>(dim_));
  std::span<float> row = Row(id);
  for (int j = 0; j < dim_; ++j) row[j] += scale * g[j];
}

void SparseGrad::Clear() {
  for (uint32_t id : ids_) slot_of_[id] = -1;
  ids_.clear();
  grads_.clear();
}

// ---- EmbeddingTable

Result<std::unique_ptr<EmbeddingTable>> EmbeddingTable::Create(const EmbeddingTableOptions& options,
                                                               uint32_t rows) {
  if (options.dim <= 0) {
    return Status::InvalidArgument("embedding dim must be positive, got " +
                                   std::to_string(options.dim));
  }
  if (!(options.learning_rate >= 0) || !(options.weight_decay >= 0)) {
    return Status::InvalidArgument("embedding learning_rate and weight_decay must be >= 0");
  }
  if (!(options.beta1 >= 0 && options.beta1 < 1) || !(options.beta2 >= 0 && options.beta2 < 1)) {
    return Status::InvalidArgument("embedding Adam betas must be in [0, 1)");
  }
  if (!(options.eps > 0) || !(options.adagrad_initial_accumulator >= 0)) {
    return Status::InvalidArgument(
        "embedding eps must be > 0 and adagrad_initial_accumulator >= 0");
  }
  auto table = std::make_unique<EmbeddingTable>(PrivateTag(), options);
  FRESHET_RETURN_IF_ERROR(table->Grow(rows));
  return table;
}

Status EmbeddingTable::Grow(uint32_t new_rows) {
  if (new_rows <= rows_) return Status::OK();
  if (options_.max_rows != 0 && new_rows > options_.max_rows) {
    return Status::ResourceExhausted(
        "embedding table is full: " + std::to_string(new_rows) +
        " rows requested, max_rows = " + std::to_string(options_.max_rows));
  }
  const size_t n = static_cast<size_t>(new_rows) * options_.dim;
  values_.resize(n);
  switch (options_.optimizer) {
    case SparseOptimizer::kSgd:
      break;
    case SparseOptimizer::kAdagrad:
      state1_.resize(n, options_.adagrad_initial_accumulator);
      break;
    case SparseOptimizer::kAdam:
      state1_.resize(n, 0.0f);
      state2_.resize(n, 0.0f);
      break;
  }
  steps_.resize(new_rows, 0);
  const uint32_t old_rows = rows_;
  rows_ = new_rows;
  for (uint32_t r = old_rows; r < new_rows; ++r) InitRow(r);
  return Status::OK();
}

void EmbeddingTable::InitRow(uint32_t row) {
  Rng rng(options_.seed, /*stream=*/row);
  float* w = values_.data() + static_cast<size_t>(row) * options_.dim;
  for (int j = 0; j < options_.dim; ++j) {
    w[j] = static_cast<float>(options_.init_stddev * rng.Normal());
  }
}

void EmbeddingTable::ReadRow(uint32_t row, std::span<float> out) const {
  assert(row < rows_ && out.size() == static_cast<size_t>(options_.dim));
  const float* w = values_.data() + static_cast<size_t>(row) * options_.dim;
  for (int j = 0; j < options_.dim; ++j) out[j] = Load(w[j]);
}

float EmbeddingTable::Dot(uint32_t row, std::span<const float> x) const {
  assert(row < rows_ && x.size() == static_cast<size_t>(options_.dim));
  const float* w = values_.data() + static_cast<size_t>(row) * options_.dim;
  float s = 0;
  for (int j = 0; j < options_.dim; ++j) s += Load(w[j]) * x[j];
  return s;
}

void EmbeddingTable::WriteRow(uint32_t row, std::span<const float> values) {
  assert(row < rows_ && values.size() == static_cast<size_t>(options_.dim));
  float* w = values_.data() + static_cast<size_t>(row) * options_.dim;
  for (int j = 0; j < options_.dim; ++j) Store(w[j], values[j]);
}

uint32_t EmbeddingTable::update_count(uint32_t row) const {
  assert(row < rows_);
  return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(steps_[row]))
      .load(std::memory_order_relaxed);
}

void EmbeddingTable::ApplyGradient(uint32_t row, std::span<const float> grad) {
  assert(row < rows_ && grad.size() == static_cast<size_t>(options_.dim));
  const size_t base = static_cast<size_t>(row) * options_.dim;
  float* w = values_.data() + base;
  const float lr = options_.learning_rate;
  const float wd = options_.weight_decay;
  const uint32_t t =
      std::atomic_ref<uint32_t>(steps_[row]).fetch_add(1, std::memory_order_relaxed) + 1;
  switch (options_.optimizer) {
    case SparseOptimizer::kSgd:
      for (int j = 0; j < options_.dim; ++j) {
        const float wj = Load(w[j]);
        Store(w[j], wj - lr * (grad[j] + wd * wj));
      }
      break;
    case SparseOptimizer::kAdagrad: {
      float* acc = state1_.data() + base;
      for (int j = 0; j < options_.dim; ++j) {
        const float wj = Load(w[j]);
        const float a = Load(acc[j]) + grad[j] * grad[j];
        Store(acc[j], a);
        Store(w[j], wj - lr * (grad[j] / (std::sqrt(a) + options_.eps) + wd * wj));
      }
      break;
    }
    case SparseOptimizer::kAdam: {
      float* m = state1_.data() + base;
      float* v = state2_.data() + base;
      const float b1 = options_.beta1;
      const float b2 = options_.beta2;
      // The row's own step count: see SparseOptimizer::kAdam.
      const float bc1 = static_cast<float>(1.0 - std::pow(static_cast<double>(b1), t));
      const float bc2 = static_cast<float>(1.0 - std::pow(static_cast<double>(b2), t));
      for (int j = 0; j < options_.dim; ++j) {
        const float wj = Load(w[j]);
        const float mj = b1 * Load(m[j]) + (1.0f - b1) * grad[j];
        const float vj = b2 * Load(v[j]) + (1.0f - b2) * grad[j] * grad[j];
        Store(m[j], mj);
        Store(v[j], vj);
        Store(w[j], wj - lr * ((mj / bc1) / (std::sqrt(vj / bc2) + options_.eps) + wd * wj));
      }
      break;
    }
  }
}

void EmbeddingTable::ApplyGradients(const SparseGrad& grads) {
  assert(grads.dim() == options_.dim);
  for (size_t i = 0; i < grads.size(); ++i) ApplyGradient(grads.id(i), grads.grad(i));
}

}  // namespace freshet::nn
