#pragma once

// Dense tensors, trainable parameters and where their gradients go.
//
// Every tensor is a row-major matrix: one row per example or sequence position, columns are
// features, so a batch is one contiguous block and the big products are single Eigen GEMMs.
// A [batch, len, hidden] activation is a [batch * len, hidden] matrix whose row b * len + t is
// position t of sequence b.
//
// The kernels are templates over the scalar type. Models use float; the tests instantiate double
// as well so that numerical gradient checks are exact to many digits (see tests/nn). Both are
// explicitly instantiated in the .cc files; nothing else is.
//
// Eigen types appear in these headers on purpose: src/nn is internal to model code, and model code
// does not expose it further (Eigen stays out of the engine's public headers).

#include <cassert>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

namespace freshet::nn {

template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// Views accepted by every kernel: a Matrix, a Map over owned memory, or a block of rows / columns
// of either (any outer stride, inner stride 1). A const view of an expression that is not such a
// block makes Eigen evaluate it into a temporary, which allocates: pass blocks, not expressions.
template <typename T>
using MatrixRef = Eigen::Ref<Matrix<T>>;
template <typename T>
using ConstMatrixRef = Eigen::Ref<const Matrix<T>>;

// How a Backward writes the gradient with respect to its input: kAssign overwrites the output
// buffer, kAdd adds to it (the input also feeds a residual branch whose gradient is already there).
enum class InputGrad { kAssign, kAdd };

// A trainable tensor. The value is read by Forward; gradients reach `grad` through a GradSink.
template <typename T>
struct Param {
  std::string name;
  Matrix<T> value;
  Matrix<T> grad;     // same shape as value; what optimizers read
  bool decay = true;  // whether weight decay applies (off for biases and normalisation gains)
  int index = -1;     // position in the owning ParamSet; private gradient buffers use it
};

// Owns the parameters of one model. Params have stable addresses for the set's lifetime, so
// layers keep plain pointers to theirs. Not thread-safe; Add only while building the model.
template <typename T>
class ParamSet {
 public:
  ParamSet() = default;
  ParamSet(const ParamSet&) = delete;
  ParamSet& operator=(const ParamSet&) = delete;

  // Adds a zero-valued parameter with a zero gradient. REQUIRES: rows, cols > 0; the name is
  // unique.
  Param<T>& Add(std::string name, int rows, int cols, bool decay = true);

  int size() const { return static_cast<int>(params_.size()); }
  Param<T>& operator[](int i) const { return *params_[i]; }
  // nullptr when absent.
  Param<T>* Find(std::string_view name) const;
  // Total number of scalars over all parameters.
  int64_t NumValues() const;
  void ZeroGrad();

 private:
  std::vector<std::unique_ptr<Param<T>>> params_;
};

// Appends zero rows to a parameter (value and grad) so that a catalog can grow without touching the
// rows it already has. Optimizer state follows lazily (Adam extends its moments on the next Step);
// a private GradSink must be Reshape()d. REQUIRES: new_rows >= p.value.rows().
template <typename T>
void GrowRows(Param<T>& p, int new_rows);

// Where Backward accumulates parameter gradients. A shared sink writes into each Param's own grad;
// a private sink owns buffers shaped like the params, so that data-parallel workers never write
// the same memory (see data_parallel.h for the reduction). A sink is used by one thread at a time.
template <typename T>
class GradSink {
 public:
  static GradSink Shared(ParamSet<T>& params) { return GradSink(params, false); }
  static GradSink Private(ParamSet<T>& params) { return GradSink(params, true); }

  // The gradient buffer of `p`. REQUIRES: p belongs to this sink's ParamSet (and, for a private
  // sink, existed when it was made or last reshaped).
  Matrix<T>& operator[](Param<T>& p) {
    if (!owns_) return p.grad;
    assert(p.index >= 0 && p.index < static_cast<int>(buffers_.size()));
    return buffers_[p.index];
  }
  Matrix<T>& buffer(int index) { return owns_ ? buffers_[index] : (*params_)[index].grad; }

  bool is_private() const { return owns_; }
  ParamSet<T>& params() const { return *params_; }
  // Sets every gradient this sink writes to zero.
  void Zero();
  // Private sinks: matches the buffers to the params' current shapes (after GrowRows or Add); a
  // buffer whose shape changed restarts at zero. No-op for a shared sink.
  void Reshape();

 private:
  GradSink(ParamSet<T>& params, bool owns);

  ParamSet<T>* params_;
  bool owns_;
  std::vector<Matrix<T>> buffers_;
};

}  // namespace freshet::nn
