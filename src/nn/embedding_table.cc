#include "nn/embedding_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include <Eigen/Core>

#include "core/ids.h"
#include "nn/random.h"

namespace freshet::nn {
namespace {

float Load(const float& x) {
  // atomic_ref needs a non-const referent; the load does not modify it.
  return std::atomic_ref<float>(const_cast<float&>(x)).load(std::memory_order_relaxed);
}
void Store(float& x, float v) { std::atomic_ref<float>(x).store(v, std::memory_order_relaxed); }

// One lazy-Adam step of n values w with moments m and v, bias corrections bc1 and bc2 (the row's
// own step count): the formula of both update paths, on a thread's own copies (Apply) or on the
// row itself (ApplyGradientUnshared). N: n at compile time where known.
template <int N>
void AdamRow(float* w, float* m, float* v, const float* grad, int n,
             const EmbeddingTableOptions& o, float bc1, float bc2) {
  using Array = Eigen::Array<float, N, 1>;
  Eigen::Map<Array> wa(w, n), ma(m, n), va(v, n);
  const Eigen::Map<const Array> g(grad, n);
  const float b1 = o.beta1, b2 = o.beta2;
  ma = b1 * ma + (1.0f - b1) * g;
  va = b2 * va + (1.0f - b2) * g.square();
  wa -= o.learning_rate * ((ma / bc1) / ((va / bc2).sqrt() + o.eps) + o.weight_decay * wa);
}

// Longest bias-correction table: 256 KB, reached only for beta2 above ~0.9996.
constexpr uint32_t kMaxCorrections = 1u << 16;

float CorrectionOf(float beta, uint32_t t) {
  return static_cast<float>(1.0 - std::pow(static_cast<double>(beta), t));
}

std::vector<float> MakeCorrections(float beta) {
  std::vector<float> table;
  for (uint32_t t = 1; t <= kMaxCorrections; ++t) {
    table.push_back(CorrectionOf(beta, t));
    if (table.back() == 1.0f) break;
  }
  return table;
}

// Floats of a row block holding `n`: a power of two up to 16 (a block never straddles a cache
// line), whole 64-byte lines above.
size_t BlockFloats(size_t n) { return n <= 16 ? std::bit_ceil(n) : (n + 15) / 16 * 16; }

constexpr size_t kHugePage = size_t{2} << 20;

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
  if (options.optimizer == SparseOptimizer::kAdam) {
    table->correction1_ = MakeCorrections(options.beta1);
    table->correction2_ = MakeCorrections(options.beta2);
  }
  FRESHET_RETURN_IF_ERROR(table->Grow(rows));
  return table;
}

void internal::BlockFree::operator()(float* p) const {
  if (mapped) {
    munmap(p, bytes);
  } else {
    std::free(p);
  }
}

EmbeddingTable::Blocks EmbeddingTable::AllocateBlocks(size_t floats) {
  const size_t bytes = std::max<size_t>(floats * sizeof(float), 64);
  if (bytes >= kHugePage) {
    // Map a huge page more than asked and keep the 2 MB-aligned part, so that every huge page of
    // the table can be a real one. Mapped memory reads as zero.
    const size_t size = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto begin = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (begin + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > begin) munmap(raw, aligned - begin);
    const uintptr_t end = begin + size + kHugePage;
    if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
    void* p = reinterpret_cast<void*>(aligned);
    // A hint: where the kernel has no huge page to give, the table works on small ones.
    madvise(p, size, MADV_HUGEPAGE);
    return Blocks(static_cast<float*>(p), internal::BlockFree{size, true});
  }
  const size_t size = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, size);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, size);
  return Blocks(static_cast<float*>(p), internal::BlockFree{size, false});
}

Status EmbeddingTable::Grow(uint32_t new_rows) {
  if (new_rows <= rows_) return Status::OK();
  if (options_.max_rows != 0 && new_rows > options_.max_rows) {
    return Status::ResourceExhausted(
        "embedding table is full: " + std::to_string(new_rows) +
        " rows requested, max_rows = " + std::to_string(options_.max_rows));
  }
  const auto dim = static_cast<size_t>(options_.dim);
  if (stride_ == 0) {
    slots_ = options_.optimizer == SparseOptimizer::kSgd       ? 1
             : options_.optimizer == SparseOptimizer::kAdagrad ? 2
                                                               : 3;
    // Bare rows for SGD, so that values() is a view; blocks for the others (the file comment).
    stride_ = slots_ == 1 ? dim : BlockFloats(slots_ * dim);
    steps_in_block_ = slots_ > 1 && stride_ > slots_ * dim;
  }
  if (new_rows > capacity_) {
    // Geometric growth, as a vector's: tables grown one id at a time (online learning) copy each
    // row O(1) times.
    uint64_t capacity = std::max<uint64_t>(new_rows, uint64_t{capacity_} * 2);
    if (options_.max_rows != 0) capacity = std::min<uint64_t>(capacity, options_.max_rows);
    capacity = std::min<uint64_t>(capacity, UINT32_MAX);
    Blocks blocks = AllocateBlocks(static_cast<size_t>(capacity) * stride_);
    if (rows_ > 0) {
      const size_t bytes = static_cast<size_t>(rows_) * stride_ * sizeof(float);
      std::memcpy(blocks.get(), blocks_.get(), bytes);
    }
    blocks_ = std::move(blocks);
    capacity_ = static_cast<uint32_t>(capacity);
  }
  if (!steps_in_block_) steps_.resize(new_rows, 0);
  const uint32_t old_rows = rows_;
  rows_ = new_rows;
  for (uint32_t r = old_rows; r < new_rows; ++r) InitRow(r);
  return Status::OK();
}

void EmbeddingTable::InitRow(uint32_t row) {
  Rng rng(options_.seed, /*stream=*/row);
  float* w = Block(row);
  const int dim = options_.dim;
  for (int j = 0; j < dim; ++j) {
    w[j] = static_cast<float>(options_.init_stddev * rng.Normal());
  }
  // The rest of the block: fresh optimizer state, step count 0, padding 0.
  std::fill(w + dim, w + stride_, 0.0f);
  if (options_.optimizer == SparseOptimizer::kAdagrad) {
    std::fill(w + dim, w + 2 * dim, options_.adagrad_initial_accumulator);
  }
}

uint32_t* EmbeddingTable::Steps(uint32_t row) const {
  if (steps_in_block_) {
    // The slot after the state holds a uint32 (the storage is raw memory: it holds whatever
    // objects are written there, and this slot is only ever accessed as a uint32).
    return reinterpret_cast<uint32_t*>(Block(row) + slots_ * options_.dim);
  }
  return const_cast<uint32_t*>(steps_.data()) + row;
}

std::span<const float> EmbeddingTable::values() const {
  const auto dim = static_cast<size_t>(options_.dim);
  if (stride_ == dim) return {blocks_.get(), static_cast<size_t>(rows_) * dim};
  values_copy_.resize(static_cast<size_t>(rows_) * dim);
  for (uint32_t r = 0; r < rows_; ++r) {
    std::copy_n(Block(r), dim, values_copy_.data() + r * dim);
  }
  return values_copy_;
}

void EmbeddingTable::ReadRow(uint32_t row, std::span<float> out) const {
  assert(row < rows_ && out.size() == static_cast<size_t>(options_.dim));
  const float* w = Block(row);
  for (int j = 0; j < options_.dim; ++j) out[j] = Load(w[j]);
}

float EmbeddingTable::Dot(uint32_t row, std::span<const float> x) const {
  assert(row < rows_ && x.size() == static_cast<size_t>(options_.dim));
  const float* w = Block(row);
  float s = 0;
  for (int j = 0; j < options_.dim; ++j) s += Load(w[j]) * x[j];
  return s;
}

void EmbeddingTable::WriteRow(uint32_t row, std::span<const float> values) {
  assert(row < rows_ && values.size() == static_cast<size_t>(options_.dim));
  float* w = Block(row);
  for (int j = 0; j < options_.dim; ++j) Store(w[j], values[j]);
}

void EmbeddingTable::ResetRow(uint32_t row, std::span<const float> values) {
  assert(row < rows_ && values.size() == static_cast<size_t>(options_.dim));
  float* w = Block(row);
  const int dim = options_.dim;
  std::copy(values.begin(), values.end(), w);
  // The rest of the block as InitRow leaves it: fresh state, step count 0, padding 0.
  std::fill(w + dim, w + stride_, 0.0f);
  if (options_.optimizer == SparseOptimizer::kAdagrad) {
    std::fill(w + dim, w + 2 * dim, options_.adagrad_initial_accumulator);
  }
  if (!steps_in_block_) steps_[row] = 0;
}

uint32_t EmbeddingTable::update_count(uint32_t row) const {
  assert(row < rows_);
  return std::atomic_ref<uint32_t>(*Steps(row)).load(std::memory_order_relaxed);
}

void EmbeddingTable::ApplyGradient(uint32_t row, std::span<const float> grad) {
  Apply(row, grad, /*exclusive=*/false);
}

void EmbeddingTable::ApplyGradientExclusive(uint32_t row, std::span<const float> grad) {
  Apply(row, grad, /*exclusive=*/true);
}

void EmbeddingTable::Apply(uint32_t row, std::span<const float> grad, bool exclusive) {
  assert(row < rows_ && grad.size() == static_cast<size_t>(options_.dim));
  float* w = Block(row);
  const float lr = options_.learning_rate;
  const float wd = options_.weight_decay;
  std::atomic_ref<uint32_t> steps(*Steps(row));
  uint32_t t;
  if (exclusive) {
    t = steps.load(std::memory_order_relaxed) + 1;
    steps.store(t, std::memory_order_relaxed);
  } else {
    t = steps.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  switch (options_.optimizer) {
    case SparseOptimizer::kSgd:
      for (int j = 0; j < options_.dim; ++j) {
        const float wj = Load(w[j]);
        Store(w[j], wj - lr * (grad[j] + wd * wj));
      }
      break;
    case SparseOptimizer::kAdagrad: {
      float* acc = w + options_.dim;
      for (int j = 0; j < options_.dim; ++j) {
        const float wj = Load(w[j]);
        const float a = Load(acc[j]) + grad[j] * grad[j];
        Store(acc[j], a);
        Store(w[j], wj - lr * (grad[j] / (std::sqrt(a) + options_.eps) + wd * wj));
      }
      break;
    }
    case SparseOptimizer::kAdam: {
      float* m = w + options_.dim;
      float* v = w + 2 * options_.dim;
      // The row's own step count: see SparseOptimizer::kAdam.
      const float bc1 = Correction(correction1_, options_.beta1, t);
      const float bc2 = Correction(correction2_, options_.beta2, t);
      // The row goes in and out element by element through the relaxed atomics; the arithmetic
      // runs on local copies in between, where it vectorises (sqrt included, which a scalar loop
      // would not: std::sqrt may set errno).
      constexpr int kChunk = 64;
      float wc[kChunk], mc[kChunk], vc[kChunk];
      for (int j0 = 0; j0 < options_.dim; j0 += kChunk) {
        const int n = std::min(kChunk, options_.dim - j0);
        for (int j = 0; j < n; ++j) {
          wc[j] = Load(w[j0 + j]);
          mc[j] = Load(m[j0 + j]);
          vc[j] = Load(v[j0 + j]);
        }
        AdamRow<Eigen::Dynamic>(wc, mc, vc, grad.data() + j0, n, options_, bc1, bc2);
        for (int j = 0; j < n; ++j) {
          Store(m[j0 + j], mc[j]);
          Store(v[j0 + j], vc[j]);
          Store(w[j0 + j], wc[j]);
        }
      }
      break;
    }
  }
}

void EmbeddingTable::ReadRowUnshared(uint32_t row, std::span<float> out) const {
  assert(row < rows_ && out.size() == static_cast<size_t>(options_.dim));
  std::memcpy(out.data(), Block(row), out.size() * sizeof(float));
}

void EmbeddingTable::ApplyGradientUnshared(uint32_t row, std::span<const float> grad) {
  assert(row < rows_ && grad.size() == static_cast<size_t>(options_.dim));
  if (options_.optimizer != SparseOptimizer::kAdam) {
    Apply(row, grad, /*exclusive=*/true);
    return;
  }
  const uint32_t t = ++*Steps(row);
  const float bc1 = Correction(correction1_, options_.beta1, t);
  const float bc2 = Correction(correction2_, options_.beta2, t);
  // The block is [w | m | v]; widths 16 and 1 (FM / DeepFM rows and linear weights) unrolled.
  const int n = options_.dim;
  float* w = Block(row);
  if (n == 16) {
    AdamRow<16>(w, w + n, w + 2 * n, grad.data(), n, options_, bc1, bc2);
  } else if (n == 1) {
    AdamRow<1>(w, w + n, w + 2 * n, grad.data(), n, options_, bc1, bc2);
  } else {
    AdamRow<Eigen::Dynamic>(w, w + n, w + 2 * n, grad.data(), n, options_, bc1, bc2);
  }
}

float EmbeddingTable::Correction(const std::vector<float>& table, float beta, uint32_t t) {
  if (t <= table.size()) return table[t - 1];
  return !table.empty() && table.back() == 1.0f ? 1.0f : CorrectionOf(beta, t);
}

void EmbeddingTable::ApplyGradients(const SparseGrad& grads) { ApplyAll(grads, false); }

void EmbeddingTable::ApplyGradientsExclusive(const SparseGrad& grads) { ApplyAll(grads, true); }

void EmbeddingTable::ApplyAll(const SparseGrad& grads, bool exclusive) {
  assert(grads.dim() == options_.dim);
  // Far enough ahead to cover a memory latency with the updates between, near enough that the
  // prefetched lines are still in L1.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < grads.size(); ++i) {
    if (i + kAhead < grads.size()) Prefetch(grads.id(i + kAhead), /*for_update=*/true);
    Apply(grads.id(i), grads.grad(i), exclusive);
  }
}

}  // namespace freshet::nn
