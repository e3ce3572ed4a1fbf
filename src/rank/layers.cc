#include "rank/layers.h"

#include <cassert>
#include <vector>

namespace freshet::rank {

// Both passes walk each row field by field, the embedding coordinates d innermost: contiguous,
// so the loops over d vectorise.

template <typename T>
void FmInteraction<T>::Forward(nn::ConstMatrixRef<T> x, int fields, int dim, nn::MatrixRef<T> y) {
  assert(x.cols() == static_cast<Eigen::Index>(fields) * dim && y.rows() == x.rows());
  // Embedding widths are small (16 by default); the scratch lives on the stack up to this.
  constexpr int kStack = 256;
  T sum_stack[kStack], sq_stack[kStack];
  std::vector<T> heap;
  T* sum = sum_stack;
  T* sq = sq_stack;
  if (dim > kStack) {
    heap.resize(2 * static_cast<size_t>(dim));
    sum = heap.data();
    sq = heap.data() + dim;
  }
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const T* e = x.row(r).data();
    for (int d = 0; d < dim; ++d) sum[d] = sq[d] = 0;
    for (int f = 0; f < fields; ++f) {
      const T* ef = e + static_cast<size_t>(f) * dim;
      for (int d = 0; d < dim; ++d) {
        sum[d] += ef[d];
        sq[d] += ef[d] * ef[d];
      }
    }
    T total = 0;
    for (int d = 0; d < dim; ++d) total += sum[d] * sum[d] - sq[d];
    y(r, 0) = T(0.5) * total;
  }
}

template <typename T>
void FmInteraction<T>::Backward(nn::ConstMatrixRef<T> x, int fields, int dim,
                                nn::ConstMatrixRef<T> dy, nn::MatrixRef<T> dx, nn::InputGrad mode) {
  assert(dx.rows() == x.rows() && dx.cols() == x.cols() && dy.rows() == x.rows());
  constexpr int kStack = 256;
  T sum_stack[kStack];
  std::vector<T> heap;
  T* sum = sum_stack;
  if (dim > kStack) {
    heap.resize(static_cast<size_t>(dim));
    sum = heap.data();
  }
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const T* e = x.row(r).data();
    T* de = dx.row(r).data();
    const T g = dy(r, 0);
    for (int d = 0; d < dim; ++d) sum[d] = 0;
    for (int f = 0; f < fields; ++f) {
      const T* ef = e + static_cast<size_t>(f) * dim;
      for (int d = 0; d < dim; ++d) sum[d] += ef[d];
    }
    for (int f = 0; f < fields; ++f) {
      const T* ef = e + static_cast<size_t>(f) * dim;
      T* gf = de + static_cast<size_t>(f) * dim;
      if (mode == nn::InputGrad::kAdd) {
        for (int d = 0; d < dim; ++d) gf[d] += g * (sum[d] - ef[d]);
      } else {
        for (int d = 0; d < dim; ++d) gf[d] = g * (sum[d] - ef[d]);
      }
    }
  }
}

template <typename T>
CrossLayer<T>::CrossLayer(nn::ParamSet<T>& params, const std::string& name, int dim, nn::Rng& rng)
    : dim_(dim) {
  w_ = &params.Add(name + ".weight", dim, dim);
  b_ = &params.Add(name + ".bias", 1, dim, /*decay=*/false);
  nn::InitGlorot(w_->value, rng);
}

template <typename T>
void CrossLayer<T>::Forward(nn::ConstMatrixRef<T> x0, nn::ConstMatrixRef<T> xl, nn::MatrixRef<T> y,
                            Workspace& ws) const {
  const Eigen::Index rows = xl.rows();
  assert(rows <= ws.u.rows() && x0.rows() == rows && y.rows() == rows);
  auto u = ws.u.topRows(rows);
  u.noalias() = xl * w_->value;
  u.rowwise() += b_->value.row(0);
  y = x0.cwiseProduct(u) + xl;
}

template <typename T>
void CrossLayer<T>::Backward(nn::ConstMatrixRef<T> x0, nn::ConstMatrixRef<T> xl,
                             nn::ConstMatrixRef<T> dy, nn::GradSink<T>& grads, nn::MatrixRef<T> dx0,
                             nn::MatrixRef<T> dxl, Workspace& ws) const {
  const Eigen::Index rows = xl.rows();
  auto u = ws.u.topRows(rows);
  auto g = ws.g.topRows(rows);
  g = dy.cwiseProduct(x0);
  grads[*w_].noalias() += xl.transpose() * g;
  grads[*b_] += g.colwise().sum();
  dx0 += dy.cwiseProduct(u);
  dxl = dy;
  dxl.noalias() += g * w_->value.transpose();
}

template struct FmInteraction<float>;
template struct FmInteraction<double>;
template class CrossLayer<float>;
template class CrossLayer<double>;

}  // namespace freshet::rank
