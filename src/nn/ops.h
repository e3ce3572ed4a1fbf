#pragma once

// The element-wise and point-wise layers of the nn module, each with Forward and an explicit
// Backward. Conventions shared by every op here:
// - Activations are [rows, features] row-major (see tensor.h); rows = x.rows() of the call, at most
//   the max_rows a Workspace was made for.
// - Forward keeps in a caller-owned Workspace exactly what Backward needs; Backward must be called
//   with the same workspace before the next Forward on it. Layers themselves are const during
//   Forward / Backward, so one layer serves many threads, each with its own workspace.
// - Backward adds parameter gradients to a GradSink and writes the input gradient as InputGrad
//   says. Unless stated, outputs must not alias inputs.
// - No allocation in Forward or Backward.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/ids.h"
#include "nn/random.h"
#include "nn/tensor.h"

namespace freshet::nn {

// y = x W + b with W [in, out] ("<name>.weight", Glorot-uniform) and b [1, out] ("<name>.bias",
// zero, no weight decay).
template <typename T>
class Linear {
 public:
  Linear(ParamSet<T>& params, const std::string& name, int in, int out, Rng& rng);

  int in() const { return in_; }
  int out() const { return out_; }
  Param<T>& weight() const { return *w_; }
  Param<T>& bias() const { return *b_; }

  // REQUIRES: x is [rows, in], y is [rows, out].
  void Forward(ConstMatrixRef<T> x, MatrixRef<T> y) const;
  // x is Forward's input, dy the gradient of its output. grads[W] += x^T dy, grads[b] += sum of
  // dy's rows, dx = dy W^T (or += with InputGrad::kAdd).
  void Backward(ConstMatrixRef<T> x, ConstMatrixRef<T> dy, GradSink<T>& grads, MatrixRef<T> dx,
                InputGrad mode = InputGrad::kAssign) const;
  // Parameter gradients only, for an input that needs none.
  void BackwardParams(ConstMatrixRef<T> x, ConstMatrixRef<T> dy, GradSink<T>& grads) const;

 private:
  int in_;
  int out_;
  Param<T>* w_;
  Param<T>* b_;
};

// Layer normalisation over each row (Ba, Kiros, Hinton 2016): y = gamma * (x - mean) / sqrt(var +
// eps) + beta, with the biased variance. gamma ("<name>.gamma") starts at 1, beta ("<name>.beta")
// at 0; neither decays.
template <typename T>
class LayerNorm {
 public:
  struct Workspace {
    Workspace(const LayerNorm& norm, int max_rows) : Workspace(norm.dim(), max_rows) {}
    Workspace(int dim, int max_rows) : xhat(max_rows, dim), rstd(static_cast<size_t>(max_rows)) {}
    Matrix<T> xhat;       // normalised input, what the gradient is expressed in
    std::vector<T> rstd;  // 1 / sqrt(var + eps) per row
  };

  // REQUIRES: dim > 0, eps > 0.
  LayerNorm(ParamSet<T>& params, const std::string& name, int dim, T eps);

  int dim() const { return dim_; }
  Param<T>& gamma() const { return *gamma_; }
  Param<T>& beta() const { return *beta_; }

  // REQUIRES: x and y are [rows, dim]. y may alias x.
  void Forward(ConstMatrixRef<T> x, MatrixRef<T> y, Workspace& ws) const;
  // dy is the gradient of Forward's output. dx must not alias dy.
  void Backward(ConstMatrixRef<T> dy, GradSink<T>& grads, MatrixRef<T> dx, const Workspace& ws,
                InputGrad mode = InputGrad::kAssign) const;

 private:
  int dim_;
  T eps_;
  Param<T>* gamma_;
  Param<T>* beta_;
};

// Persisted by models in their options: never renumber.
enum class Activation : uint8_t {
  kRelu = 0,
  // GELU in the tanh approximation of Hendrycks & Gimpel (2016), as BERT and GPT-2 use:
  // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). Not the exact erf form.
  kGelu = 1,
};

// a = act(z). REQUIRES: same shapes. a may alias z.
template <typename T>
void ActivationForward(Activation act, ConstMatrixRef<T> z, MatrixRef<T> a);
// dz = act'(z) * da, from the pre-activation z. dz may alias da (not z).
template <typename T>
void ActivationBackward(Activation act, ConstMatrixRef<T> z, ConstMatrixRef<T> da, MatrixRef<T> dz);

// Inverted dropout: in training each element is zeroed with probability `rate` and survivors are
// scaled by 1 / (1 - rate), so inference is the identity and needs no rescaling. The mask is drawn
// with 16 bits per element (rates are exact to 1/65536) and kept for Backward.
template <typename T>
class Dropout {
 public:
  struct Workspace {
    explicit Workspace(size_t max_elements) : keep(max_elements) {}
    std::vector<uint8_t> keep;  // row-major over [rows, cols] of the last Forward
    bool active = false;        // false: the last Forward was the identity
    Eigen::Index rows = 0;
    Eigen::Index cols = 0;
  };

  // REQUIRES: 0 <= rate < 1.
  explicit Dropout(float rate);
  float rate() const { return rate_; }

  // y = dropout(x); the identity when !training or rate == 0. y may alias x.
  void Forward(ConstMatrixRef<T> x, MatrixRef<T> y, Workspace& ws, Rng& rng, bool training) const;
  // y = residual + dropout(x), fused: the residual connection around a dropped-out sublayer.
  // y may alias residual.
  void ForwardAdd(ConstMatrixRef<T> x, ConstMatrixRef<T> residual, MatrixRef<T> y, Workspace& ws,
                  Rng& rng, bool training) const;
  // dx = dy masked and scaled as in the last Forward. dx may alias dy.
  void Backward(ConstMatrixRef<T> dy, MatrixRef<T> dx, const Workspace& ws,
                InputGrad mode = InputGrad::kAssign) const;

  // Draws n keep flags (1 with probability 1 - rate). Used by attention for its probabilities.
  static void DrawKeep(float rate, Rng& rng, uint8_t* keep, size_t n);
  // The scale survivors get: 1 / (1 - the rate the 16-bit threshold actually realises).
  static T KeepScale(float rate);

 private:
  void DrawMask(Eigen::Index rows, Eigen::Index cols, Workspace& ws, Rng& rng, bool training) const;

  float rate_;
};

// y = a + b, the residual connection; its Backward hands dy to both branches.
template <typename T>
struct ResidualAdd {
  // y may alias a or b.
  static void Forward(ConstMatrixRef<T> a, ConstMatrixRef<T> b, MatrixRef<T> y) { y = a + b; }
  static void Backward(ConstMatrixRef<T> dy, MatrixRef<T> da, MatrixRef<T> db, InputGrad mode) {
    if (mode == InputGrad::kAdd) {
      da += dy;
      db += dy;
    } else {
      da = dy;
      db = dy;
    }
  }
};

// Item embedding lookup plus a learned absolute position embedding (SASRec's input layer).
struct SequenceEmbeddingOptions {
  int num_items = 0;  // rows of the item table; ids must be below it
  int max_len = 50;   // rows of the position table: the longest window the model reads
  int dim = 64;       // embedding width = model width
  // Multiply item vectors by sqrt(dim) before adding the position vector, as the reference SASRec
  // code does, so the item signal is not drowned by the positions at init.
  bool scale_items = true;
  double init_stddev = 0.02;  // N(0, s^2) initial values of both tables
};

template <typename T>
class SequenceEmbedding {
 public:
  // Registers "<name>.items" [num_items, dim] and "<name>.positions" [max_len, dim].
  SequenceEmbedding(ParamSet<T>& params, const std::string& name,
                    const SequenceEmbeddingOptions& options, Rng& rng);

  const SequenceEmbeddingOptions& options() const { return options_; }
  Param<T>& items() const { return *items_; }
  Param<T>& positions() const { return *positions_; }
  T item_scale() const { return item_scale_; }

  // ids holds `batch` windows of `len` item ids, row b * len + t, padded with kNoId (left padding:
  // the newest item last). Row r of x becomes item_scale * items[ids[r]] + positions[p] with
  // p = max_len - len + t, so the newest slot always uses the last position row whatever the
  // window length of the batch; padded rows become zero.
  // REQUIRES: len <= max_len; every id is kNoId or below items().value.rows(); x is
  // [batch * len, dim].
  void Forward(std::span<const ItemId> ids, int batch, int len, MatrixRef<T> x) const;
  // Adds the gradient of x into grads[items] (rows of the ids) and grads[positions].
  void Backward(std::span<const ItemId> ids, int batch, int len, ConstMatrixRef<T> dx,
                GradSink<T>& grads) const;

  // The same with an explicit position index per row (for packed sequences): row r becomes
  // item_scale * items[ids[r]] + positions[pos[r]], or zero for kNoId.
  // REQUIRES: pos.size() == ids.size(); every pos below max_len.
  void Forward(std::span<const ItemId> ids, std::span<const int32_t> pos, MatrixRef<T> x) const;
  void Backward(std::span<const ItemId> ids, std::span<const int32_t> pos, ConstMatrixRef<T> dx,
                GradSink<T>& grads) const;

 private:
  SequenceEmbeddingOptions options_;
  T item_scale_;
  Param<T>* items_;
  Param<T>* positions_;
};

// The point-wise feed-forward network of a transformer block: y = Linear2(drop(act(Linear1(x)))),
// applied to each row independently. Linear1 is [dim, inner] ("<name>.fc1"), Linear2 [inner, dim]
// ("<name>.fc2").
struct FeedForwardOptions {
  int dim = 64;
  int inner = 64;  // SASRec uses inner == dim; BERT-style models use 4 * dim
  Activation activation = Activation::kRelu;
  float dropout = 0.0f;  // on the inner activations
};

template <typename T>
class FeedForward {
 public:
  struct Workspace {
    Workspace(const FeedForward& ffn, int max_rows);
    Matrix<T> z1;  // Linear1 output (pre-activation)
    Matrix<T> a1;  // after activation and dropout: Linear2's input
    Matrix<T> d1;  // Backward scratch, gradient of a1 then of z1
    typename Dropout<T>::Workspace drop;
  };

  FeedForward(ParamSet<T>& params, const std::string& name, const FeedForwardOptions& options,
              Rng& rng);

  const FeedForwardOptions& options() const { return options_; }
  const Linear<T>& fc1() const { return fc1_; }
  const Linear<T>& fc2() const { return fc2_; }

  // REQUIRES: x and y are [rows, dim]; y must not alias x.
  void Forward(ConstMatrixRef<T> x, MatrixRef<T> y, Workspace& ws, Rng& rng, bool training) const;
  // x is Forward's input.
  void Backward(ConstMatrixRef<T> x, ConstMatrixRef<T> dy, GradSink<T>& grads, MatrixRef<T> dx,
                Workspace& ws, InputGrad mode = InputGrad::kAssign) const;

 private:
  FeedForwardOptions options_;
  Linear<T> fc1_;
  Linear<T> fc2_;
  Dropout<T> dropout_;
};

}  // namespace freshet::nn
