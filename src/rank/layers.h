#pragma once

// The two layers CTR models add to the nn kernels, with explicit backward passes and the nn
// conventions (src/nn/README.md): row-major [rows, features] activations, const layers,
// caller-owned workspaces, parameter gradients into a GradSink, float and double instantiations
// (double for the numerical gradient checks in tests/rank).

#include <string>

#include "nn/random.h"
#include "nn/tensor.h"

namespace freshet::rank {

// The factorization machine's pairwise term (Rendle 2010) over `fields` embeddings of width `dim`
// concatenated in each row of x: y = sum_{f < g} <e_f, e_g> = 1/2 sum_d ((sum_f e_fd)^2 -
// sum_f e_fd^2), O(fields * dim) per row instead of O(fields^2 * dim).
template <typename T>
struct FmInteraction {
  // REQUIRES: x is [rows, fields * dim], y is [rows, 1].
  static void Forward(nn::ConstMatrixRef<T> x, int fields, int dim, nn::MatrixRef<T> y);
  // dx_fd = dy * (sum_g e_gd - e_fd), assigned or added per `mode`. No parameters.
  static void Backward(nn::ConstMatrixRef<T> x, int fields, int dim, nn::ConstMatrixRef<T> dy,
                       nn::MatrixRef<T> dx, nn::InputGrad mode);
};

// A full-rank DCN-v2 cross layer (Wang et al. 2021): x_{l+1} = x0 .* (x_l W + b) + x_l with W
// [dim, dim] ("<name>.weight", Glorot-uniform) and b [1, dim] ("<name>.bias", zero, no decay).
// The paper writes W x_l for column vectors; with row vectors that is x_l W.
template <typename T>
class CrossLayer {
 public:
  struct Workspace {
    Workspace(int dim, int max_rows) : u(max_rows, dim), g(max_rows, dim) {}
    nn::Matrix<T> u;  // x_l W + b, kept for the gradient of x0
    nn::Matrix<T> g;  // Backward scratch: dy .* x0
  };

  CrossLayer(nn::ParamSet<T>& params, const std::string& name, int dim, nn::Rng& rng);

  int dim() const { return dim_; }
  nn::Param<T>& weight() const { return *w_; }
  nn::Param<T>& bias() const { return *b_; }

  // REQUIRES: x0, xl, y are [rows, dim], rows <= the workspace's max_rows; y must not alias x0 or
  // xl.
  void Forward(nn::ConstMatrixRef<T> x0, nn::ConstMatrixRef<T> xl, nn::MatrixRef<T> y,
               Workspace& ws) const;
  // dy is the gradient of Forward's output. grads[W] += xl^T (dy .* x0), grads[b] += column sums
  // of dy .* x0; dx0 += dy .* u (always added: x0 feeds every layer of the stack); dxl = dy +
  // (dy .* x0) W^T. dxl must not alias dy or dx0.
  void Backward(nn::ConstMatrixRef<T> x0, nn::ConstMatrixRef<T> xl, nn::ConstMatrixRef<T> dy,
                nn::GradSink<T>& grads, nn::MatrixRef<T> dx0, nn::MatrixRef<T> dxl,
                Workspace& ws) const;

 private:
  int dim_;
  nn::Param<T>* w_;
  nn::Param<T>* b_;
};

}  // namespace freshet::rank
