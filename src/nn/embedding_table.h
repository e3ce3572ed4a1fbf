#pragma once

// Recsys-grade embedding tables: rows addressed by dense id (the store's dictionaries hand them
// out), growable for new ids without touching existing rows, an optimizer state per row, and
// sparse updates that touch only the rows an example uses, from several threads at once (Hogwild,
// Recht et al. 2011). For BPR, FM / DeepFM / DCN-v2 feature embeddings and online learning.
//
// Hogwild safety. Every element of a row (value and optimizer state) is read and written through
// std::atomic_ref<float> with relaxed ordering, so concurrent ReadRow / Dot / WriteRow /
// ApplyGradient calls on any rows, the same row included, are free of data races in the C++ sense
// and ThreadSanitizer stays quiet. Relaxed element-wise atomics do not make a row update atomic:
// a reader may see a row half-updated, and two concurrent updates of one row may interleave so
// that part of one is lost; SGD-style training tolerates both (that is the Hogwild argument).
// On x86-64 a relaxed float load or store is a plain mov, so the cost is only that the compiler
// does not vectorise these loops.
//
// Everything that reallocates or reads without atomics (Grow, values(), set_learning_rate) needs
// exclusive access: no other call on the table may run concurrently.
//
// Storage. With an optimizer state (Adagrad, Adam) a row's values and its state sit side by side in
// one block, [values (dim) | state1 (dim) | state2 (dim)], and the row's step count too where the
// block's padding has room (a dim-1 Adam table: [w, m, v, t], 16 bytes). Blocks are padded to a
// power of two below 16 floats and to whole 64-byte cache lines above, and the storage is 64-byte
// aligned, so a dim-16 Adam row update touches three adjacent cache lines (three arrays of
// 16-byte-offset rows touched six lines on three pages), and the forward gather one. Tables of
// 2 MB and more are mapped with transparent huge pages (madvise), so that random rows do not each
// miss the TLB. SGD tables keep bare rows, [rows, dim] contiguous.

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"

namespace freshet::nn {

// Persisted by models in their options: never renumber.
enum class SparseOptimizer : uint8_t {
  kSgd = 0,      // w -= lr * g. No state; the classic choice for BPR.
  kAdagrad = 1,  // acc += g^2; w -= lr * g / (sqrt(acc) + eps). Per-row rates, frequent rows cool.
  // Lazy Adam: a row's moments change only when the row gets a gradient, and its bias correction
  // uses the row's OWN update count t_row: m_hat = m / (1 - beta1^t_row). TF's LazyAdam also
  // leaves untouched rows' moments alone but corrects with the global step, so a row first seen at
  // step 10000 gets no correction: its first move is (1 - beta1) / sqrt(1 - beta2) ~ 3.2 lr and
  // its next few grow larger still while m and v warm up at different speeds. With per-row counts
  // every row, rare or new, starts as a fresh Adam would: the first update moves each coordinate
  // by about lr. That is what new items arriving online need. Costs one uint32 per row.
  kAdam = 2,
};

struct EmbeddingTableOptions {
  int dim = 64;  // REQUIRES: > 0
  SparseOptimizer optimizer = SparseOptimizer::kAdam;
  float learning_rate = 1e-3f;  // Adam ~1e-3; SGD / Adagrad for BPR ~0.05
  // Decoupled and lazy: a row's weights shrink by lr * weight_decay * w when that row is updated,
  // never in between. For SGD this is the usual L2 regularisation of the rows in a sample.
  float weight_decay = 0.0f;
  float beta1 = 0.9f;                        // Adam
  float beta2 = 0.999f;                      // Adam
  float eps = 1e-8f;                         // Adam and Adagrad denominators
  float adagrad_initial_accumulator = 0.1f;  // TF's default: the first steps are not huge
  // New rows start N(0, init_stddev^2); the values of row r depend only on (seed, r), so a table
  // grown in any number of steps, or rebuilt, starts identical.
  float init_stddev = 0.01f;
  uint64_t seed = 42;
  uint32_t max_rows = 0;  // 0 = unlimited; Grow beyond it fails (bounds memory under id churn)
};

// Gradients for a batch of rows, summed per id (a row used twice in a batch gets one update with
// the summed gradient, so lazy Adam counts it once). Reused across batches: Clear keeps capacity,
// so steady-state training does not allocate. Not thread-safe: one per worker.
class SparseGrad {
 public:
  explicit SparseGrad(int dim) : dim_(dim) {}

  int dim() const { return dim_; }
  size_t size() const { return ids_.size(); }
  uint32_t id(size_t i) const { return ids_[i]; }
  std::span<const float> grad(size_t i) const {
    return {grads_.data() + i * static_cast<size_t>(dim_), static_cast<size_t>(dim_)};
  }

  // The accumulator of row `id`, zero when first touched since Clear. The span is invalidated by
  // the next call that touches a new id. REQUIRES: id != kNoId (memory grows with the largest id).
  std::span<float> Row(uint32_t id);
  // Row(id) += scale * g. REQUIRES: g.size() == dim().
  void Add(uint32_t id, std::span<const float> g, float scale = 1.0f);
  void Clear();

 private:
  int dim_;
  std::vector<uint32_t> ids_;
  std::vector<float> grads_;      // size() rows of dim_
  std::vector<int32_t> slot_of_;  // id -> index into ids_, -1 if absent; grows to the largest id
};

namespace internal {
// Frees EmbeddingTable's row storage: unmaps a mapping, frees an aligned allocation.
struct BlockFree {
  size_t bytes = 0;
  bool mapped = false;
  void operator()(float* p) const;
};
}  // namespace internal

class EmbeddingTable {
  // Keeps construction to Create while letting it use make_unique.
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // InvalidArgument for dim <= 0, a negative rate or decay, betas outside [0, 1) or eps <= 0;
  // ResourceExhausted for rows above max_rows.
  static Result<std::unique_ptr<EmbeddingTable>> Create(const EmbeddingTableOptions& options,
                                                        uint32_t rows);
  // For Create only (PrivateTag cannot be named outside the class).
  EmbeddingTable(PrivateTag, const EmbeddingTableOptions& options) : options_(options) {}
  EmbeddingTable(const EmbeddingTable&) = delete;
  EmbeddingTable& operator=(const EmbeddingTable&) = delete;

  const EmbeddingTableOptions& options() const { return options_; }
  int dim() const { return options_.dim; }
  uint32_t rows() const { return rows_; }

  // Appends rows up to new_rows (no-op if already that large): existing rows, values and optimizer
  // state, are untouched; new rows get their (seed, row) initial values and fresh state.
  // ResourceExhausted beyond options.max_rows. Exclusive: may reallocate.
  Status Grow(uint32_t new_rows);

  // Hogwild-safe (see the file comment). REQUIRES: row < rows(); spans of size dim().
  void ReadRow(uint32_t row, std::span<float> out) const;
  float Dot(uint32_t row, std::span<const float> x) const;
  void WriteRow(uint32_t row, std::span<const float> values);
  // Row `row` starts over: `values`, and the optimizer state and update count of a row never
  // updated (a row reused for another id). Exclusive.
  void ResetRow(uint32_t row, std::span<const float> values);
  // One optimizer step of `row` with gradient `grad` (plus weight decay).
  void ApplyGradient(uint32_t row, std::span<const float> grad);
  // ApplyGradient for every row of `grads`, fetching rows a few ahead into the cache (a table
  // larger than the cache makes each row update wait on memory otherwise).
  // REQUIRES: grads.dim() == dim().
  void ApplyGradients(const SparseGrad& grads);
  // ApplyGradient for a caller that knows no other thread updates `row` meanwhile (it
  // partitions rows between threads; reads may still run): the step count is bumped with a
  // relaxed load and store rather than an atomic add.
  void ApplyGradientExclusive(uint32_t row, std::span<const float> grad);
  // ApplyGradients for a caller that knows no other thread updates these rows meanwhile (it
  // partitions rows between threads; reads may still run). The same update, but the row's step
  // count is bumped with a relaxed load and store rather than an atomic add, whose lock would
  // wait for the previous row's stores on every row.
  void ApplyGradientsExclusive(const SparseGrad& grads);
  // For a training phase that owns the table outright (its workers separated by barriers: every
  // row read in one phase, updated in the next, each row by one thread): the same read and the same
  // update, with plain vector loads and stores instead of element-wise atomics (the atomics keep
  // the compiler from vectorising: DeepFM's row phase took half the time without them,
  // docs/benchmarks.md). REQUIRES, besides the sizes: no other thread writes the table during
  // ReadRowUnshared, and no other thread reads or writes `row` during ApplyGradientUnshared.
  void ReadRowUnshared(uint32_t row, std::span<float> out) const;
  void ApplyGradientUnshared(uint32_t row, std::span<const float> grad);
  // A hint that `row` (values, and with `for_update` its optimizer state) is about to be used:
  // starts fetching it into the cache. Changes nothing; any thread. REQUIRES: row < rows().
  // Inline: training calls it for every (sample, field) entry.
  void Prefetch(uint32_t row, bool for_update = false) const {
    assert(row < rows_);
    // For an update the whole block (values and state); to read, the values.
    const size_t bytes = (for_update ? stride_ : static_cast<size_t>(options_.dim)) * sizeof(float);
    const char* p = reinterpret_cast<const char*>(Block(row));
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b);
    if (bytes % 64 != 0 || reinterpret_cast<uintptr_t>(p) % 64 != 0) {
      __builtin_prefetch(p + bytes - 1);  // a row not on line boundaries may end in one more line
    }
    if (for_update && !steps_in_block_) __builtin_prefetch(steps_.data() + row);
  }
  // Times the row has been updated (lazy Adam's t_row; counted for every optimizer).
  uint32_t update_count(uint32_t row) const;

  // All values, row-major [rows(), dim()], for GEMMs (scoring the catalog) and snapshots.
  // Exclusive with every other call: reads without atomics. For an SGD table a view of the rows
  // themselves; otherwise (values interleaved with optimizer state, see Storage) a copy made by
  // this call into a buffer the table keeps. Either way invalidated by Grow, by the next values()
  // and by any update: take it, use or copy it, then train on.
  std::span<const float> values() const;

  // Exclusive.
  void set_learning_rate(float lr) { options_.learning_rate = lr; }

 private:
  void InitRow(uint32_t row);
  void Apply(uint32_t row, std::span<const float> grad, bool exclusive);
  void ApplyAll(const SparseGrad& grads, bool exclusive);
  // 1 - beta^t as a float, from `table` (built by MakeCorrections for beta) where it reaches t.
  static float Correction(const std::vector<float>& table, float beta, uint32_t t);

  // The 64-byte aligned, zero-filled allocation of the row blocks (huge pages when large).
  using Blocks = std::unique_ptr<float[], internal::BlockFree>;
  static Blocks AllocateBlocks(size_t floats);

  float* Block(uint32_t row) const { return blocks_.get() + static_cast<size_t>(row) * stride_; }
  // The row's step count: in the block's padding, or in steps_.
  uint32_t* Steps(uint32_t row) const;

  EmbeddingTableOptions options_;
  uint32_t rows_ = 0;
  uint32_t capacity_ = 0;  // rows the blocks have room for; Grow at least doubles it
  int slots_ = 1;          // dim-wide parts of a block: values, then 0, 1 or 2 optimizer states
  size_t stride_ = 0;      // floats per row block
  bool steps_in_block_ = false;
  Blocks blocks_;                 // capacity_ blocks of stride_ floats, row r at r * stride_
  std::vector<uint32_t> steps_;   // when !steps_in_block_
  mutable std::vector<float> values_copy_;  // values() of an interleaved table
  // Adam's bias corrections 1 - beta^t as floats for t = 1, 2, ...: entry t - 1, computed once
  // (two std::pow per row update cost as much as the update itself). A table stops where the
  // float reaches 1 (beta^t below 2^-25: it stays 1 for every later t) or at kMaxCorrections.
  std::vector<float> correction1_, correction2_;
};

}  // namespace freshet::nn
