#include "rank/layers.h"

#include <cassert>

namespace freshet::rank {

template <typename T>
void FmInteraction<T>::Forward(nn::ConstMatrixRef<T> x, int fields, int dim, nn::MatrixRef<T> y) {
  assert(x.cols() == static_cast<Eigen::Index>(fields) * dim && y.rows() == x.rows());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const T* e = x.row(r).data();
    T total = 0;
    for (int d = 0; d < dim; ++d) {
      T s = 0, sq = 0;
      for (int f = 0; f < fields; ++f) {
        const T v = e[static_cast<size_t>(f) * dim + d];
        s += v;
        sq += v * v;
      }
      total += s * s - sq;
    }
    y(r, 0) = T(0.5) * total;
  }
}

template <typename T>
void FmInteraction<T>::Backward(nn::ConstMatrixRef<T> x, int fields, int dim,
                                nn::ConstMatrixRef<T> dy, nn::MatrixRef<T> dx, nn::InputGrad mode) {
  assert(dx.rows() == x.rows() && dx.cols() == x.cols() && dy.rows() == x.rows());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const T* e = x.row(r).data();
    T* de = dx.row(r).data();
    const T g = dy(r, 0);
    for (int d = 0; d < dim; ++d) {
      T s = 0;
      for (int f = 0; f < fields; ++f) s += e[static_cast<size_t>(f) * dim + d];
      for (int f = 0; f < fields; ++f) {
        const size_t i = static_cast<size_t>(f) * dim + d;
        const T v = g * (s - e[i]);
        if (mode == nn::InputGrad::kAdd) {
          de[i] += v;
        } else {
          de[i] = v;
        }
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
