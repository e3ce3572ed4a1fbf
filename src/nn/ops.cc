#include "nn/ops.h"

#include <cassert>
#include <cmath>

namespace freshet::nn {
namespace {

// Survivors of dropout are the draws at or above this 16-bit threshold.
uint32_t DropThreshold(float rate) {
  return static_cast<uint32_t>(std::lround(static_cast<double>(rate) * 65536.0));
}

}  // namespace

// ---- Linear

template <typename T>
Linear<T>::Linear(ParamSet<T>& params, const std::string& name, int in, int out, Rng& rng)
    : in_(in), out_(out) {
  w_ = &params.Add(name + ".weight", in, out);
  b_ = &params.Add(name + ".bias", 1, out, /*decay=*/false);
  InitGlorot(w_->value, rng);
}

template <typename T>
void Linear<T>::Forward(ConstMatrixRef<T> x, MatrixRef<T> y) const {
  assert(x.cols() == in_ && y.cols() == out_ && y.rows() == x.rows());
  y.noalias() = x * w_->value;
  y.rowwise() += b_->value.row(0);
}

template <typename T>
void Linear<T>::BackwardParams(ConstMatrixRef<T> x, ConstMatrixRef<T> dy,
                               GradSink<T>& grads) const {
  assert(x.cols() == in_ && dy.cols() == out_ && dy.rows() == x.rows());
  grads[*w_].noalias() += x.transpose() * dy;
  grads[*b_].row(0) += dy.colwise().sum();
}

template <typename T>
void Linear<T>::Backward(ConstMatrixRef<T> x, ConstMatrixRef<T> dy, GradSink<T>& grads,
                         MatrixRef<T> dx, InputGrad mode) const {
  BackwardParams(x, dy, grads);
  assert(dx.rows() == x.rows() && dx.cols() == in_);
  if (mode == InputGrad::kAdd) {
    dx.noalias() += dy * w_->value.transpose();
  } else {
    dx.noalias() = dy * w_->value.transpose();
  }
}

// ---- LayerNorm

template <typename T>
LayerNorm<T>::LayerNorm(ParamSet<T>& params, const std::string& name, int dim, T eps)
    : dim_(dim), eps_(eps) {
  assert(dim > 0 && eps > 0);
  gamma_ = &params.Add(name + ".gamma", 1, dim, /*decay=*/false);
  beta_ = &params.Add(name + ".beta", 1, dim, /*decay=*/false);
  gamma_->value.setOnes();
}

template <typename T>
void LayerNorm<T>::Forward(ConstMatrixRef<T> x, MatrixRef<T> y, Workspace& ws) const {
  const Eigen::Index rows = x.rows();
  assert(x.cols() == dim_ && y.cols() == dim_ && y.rows() == rows && rows <= ws.xhat.rows());
  const auto gamma = gamma_->value.row(0).array();
  const auto beta = beta_->value.row(0).array();
  for (Eigen::Index r = 0; r < rows; ++r) {
    auto xhat = ws.xhat.row(r).array();
    // Two passes over the row (mean, then centred squares): one-pass E[x^2] - E[x]^2 cancels
    // catastrophically in float when the mean is large against the spread.
    const T mean = x.row(r).mean();
    xhat = x.row(r).array() - mean;
    const T var = xhat.square().mean();
    const T rstd = T(1) / std::sqrt(var + eps_);
    ws.rstd[r] = rstd;
    xhat *= rstd;
    y.row(r).array() = gamma * xhat + beta;
  }
}

template <typename T>
void LayerNorm<T>::Backward(ConstMatrixRef<T> dy, GradSink<T>& grads, MatrixRef<T> dx,
                            const Workspace& ws, InputGrad mode) const {
  const Eigen::Index rows = dy.rows();
  assert(dy.cols() == dim_ && dx.cols() == dim_ && dx.rows() == rows);
  auto dgamma = grads[*gamma_].row(0).array();
  auto dbeta = grads[*beta_].row(0).array();
  const auto gamma = gamma_->value.row(0).array();
  const T inv_n = T(1) / static_cast<T>(dim_);
  for (Eigen::Index r = 0; r < rows; ++r) {
    const auto g = dy.row(r).array();
    const auto xhat = ws.xhat.row(r).array();
    dgamma += g * xhat;
    dbeta += g;
    // With gx = g * gamma (the gradient of xhat):
    // dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)).
    const T mean_gx = (g * gamma).sum() * inv_n;
    const T mean_gx_xhat = (g * gamma * xhat).sum() * inv_n;
    const T rstd = ws.rstd[r];
    if (mode == InputGrad::kAdd) {
      dx.row(r).array() += rstd * (g * gamma - mean_gx - xhat * mean_gx_xhat);
    } else {
      dx.row(r).array() = rstd * (g * gamma - mean_gx - xhat * mean_gx_xhat);
    }
  }
}

// ---- Activations

namespace {

template <typename T>
constexpr T kGeluC = T(0.7978845608028654);  // sqrt(2 / pi)
template <typename T>
constexpr T kGeluK = T(0.044715);

}  // namespace

template <typename T>
void ActivationForward(Activation act, ConstMatrixRef<T> z, MatrixRef<T> a) {
  assert(z.rows() == a.rows() && z.cols() == a.cols());
  for (Eigen::Index r = 0; r < z.rows(); ++r) {
    const auto x = z.row(r).array();
    if (act == Activation::kRelu) {
      a.row(r).array() = x.max(T(0));
    } else {
      a.row(r).array() = T(0.5) * x * (T(1) + (kGeluC<T> * (x + kGeluK<T> * x * x * x)).tanh());
    }
  }
}

template <typename T>
void ActivationBackward(Activation act, ConstMatrixRef<T> z, ConstMatrixRef<T> da,
                        MatrixRef<T> dz) {
  assert(z.rows() == da.rows() && z.cols() == da.cols());
  assert(dz.rows() == da.rows() && dz.cols() == da.cols());
  for (Eigen::Index r = 0; r < z.rows(); ++r) {
    const auto x = z.row(r).array();
    if (act == Activation::kRelu) {
      dz.row(r).array() = (x > T(0)).select(da.row(r).array(), T(0));
    } else {
      // d/dx of 0.5 x (1 + t), t = tanh(u), u = c (x + k x^3):
      // 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 k x^2).
      const auto t = (kGeluC<T> * (x + kGeluK<T> * x * x * x)).tanh();
      dz.row(r).array() =
          da.row(r).array() * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * kGeluC<T> *
                                                         (T(1) + T(3) * kGeluK<T> * x * x));
    }
  }
}

// ---- Dropout

template <typename T>
Dropout<T>::Dropout(float rate) : rate_(rate) {
  assert(rate >= 0.0f && rate < 1.0f);
}

template <typename T>
void Dropout<T>::DrawKeep(float rate, Rng& rng, uint8_t* keep, size_t n) {
  const uint32_t threshold = DropThreshold(rate);
  size_t i = 0;
  // Four 16-bit draws per 64-bit number: the mask is drawn for every activation of every batch.
  for (; i + 4 <= n; i += 4) {
    const uint64_t bits = rng.NextU64();
    keep[i] = (bits & 0xffff) >= threshold;
    keep[i + 1] = ((bits >> 16) & 0xffff) >= threshold;
    keep[i + 2] = ((bits >> 32) & 0xffff) >= threshold;
    keep[i + 3] = (bits >> 48) >= threshold;
  }
  if (i < n) {
    uint64_t bits = rng.NextU64();
    for (; i < n; ++i, bits >>= 16) keep[i] = (bits & 0xffff) >= threshold;
  }
}

template <typename T>
T Dropout<T>::KeepScale(float rate) {
  return static_cast<T>(65536.0 / (65536.0 - DropThreshold(rate)));
}

template <typename T>
void Dropout<T>::DrawMask(Eigen::Index rows, Eigen::Index cols, Workspace& ws, Rng& rng,
                          bool training) const {
  ws.rows = rows;
  ws.cols = cols;
  ws.active = training && DropThreshold(rate_) > 0;
  if (!ws.active) return;
  const auto n = static_cast<size_t>(rows * cols);
  assert(n <= ws.keep.size());
  DrawKeep(rate_, rng, ws.keep.data(), n);
}

template <typename T>
void Dropout<T>::Forward(ConstMatrixRef<T> x, MatrixRef<T> y, Workspace& ws, Rng& rng,
                         bool training) const {
  assert(x.rows() == y.rows() && x.cols() == y.cols());
  DrawMask(x.rows(), x.cols(), ws, rng, training);
  if (!ws.active) {
    if (x.data() != y.data()) y = x;
    return;
  }
  const T scale = KeepScale(rate_);
  const Eigen::Index cols = x.cols();
  // Multiplying by keep * scale rather than branching lets the compiler vectorise the loop.
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const uint8_t* keep = ws.keep.data() + r * cols;
    const T* xr = x.row(r).data();
    T* yr = y.row(r).data();
    for (Eigen::Index c = 0; c < cols; ++c) yr[c] = xr[c] * (static_cast<T>(keep[c]) * scale);
  }
}

template <typename T>
void Dropout<T>::ForwardAdd(ConstMatrixRef<T> x, ConstMatrixRef<T> residual, MatrixRef<T> y,
                            Workspace& ws, Rng& rng, bool training) const {
  assert(x.rows() == y.rows() && x.cols() == y.cols());
  assert(residual.rows() == y.rows() && residual.cols() == y.cols());
  DrawMask(x.rows(), x.cols(), ws, rng, training);
  if (!ws.active) {
    y = residual + x;
    return;
  }
  const T scale = KeepScale(rate_);
  const Eigen::Index cols = x.cols();
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const uint8_t* keep = ws.keep.data() + r * cols;
    const T* xr = x.row(r).data();
    const T* rr = residual.row(r).data();
    T* yr = y.row(r).data();
    for (Eigen::Index c = 0; c < cols; ++c) {
      yr[c] = rr[c] + xr[c] * (static_cast<T>(keep[c]) * scale);
    }
  }
}

template <typename T>
void Dropout<T>::Backward(ConstMatrixRef<T> dy, MatrixRef<T> dx, const Workspace& ws,
                          InputGrad mode) const {
  assert(dy.rows() == ws.rows && dy.cols() == ws.cols);
  assert(dx.rows() == dy.rows() && dx.cols() == dy.cols());
  if (!ws.active) {
    if (mode == InputGrad::kAdd) {
      dx += dy;
    } else if (dx.data() != dy.data()) {
      dx = dy;
    }
    return;
  }
  const T scale = KeepScale(rate_);
  const Eigen::Index cols = dy.cols();
  for (Eigen::Index r = 0; r < dy.rows(); ++r) {
    const uint8_t* keep = ws.keep.data() + r * cols;
    const T* g = dy.row(r).data();
    T* out = dx.row(r).data();
    if (mode == InputGrad::kAdd) {
      for (Eigen::Index c = 0; c < cols; ++c) out[c] += g[c] * (static_cast<T>(keep[c]) * scale);
    } else {
      for (Eigen::Index c = 0; c < cols; ++c) out[c] = g[c] * (static_cast<T>(keep[c]) * scale);
    }
  }
}

// ---- SequenceEmbedding

template <typename T>
SequenceEmbedding<T>::SequenceEmbedding(ParamSet<T>& params, const std::string& name,
                                        const SequenceEmbeddingOptions& options, Rng& rng)
    : options_(options),
      item_scale_(options.scale_items ? static_cast<T>(std::sqrt(options.dim)) : T(1)) {
  assert(options.num_items > 0 && options.max_len > 0 && options.dim > 0);
  items_ = &params.Add(name + ".items", options.num_items, options.dim);
  positions_ = &params.Add(name + ".positions", options.max_len, options.dim);
  InitNormal(items_->value, options.init_stddev, rng);
  InitNormal(positions_->value, options.init_stddev, rng);
}

template <typename T>
void SequenceEmbedding<T>::Forward(std::span<const ItemId> ids, int batch, int len,
                                   MatrixRef<T> x) const {
  assert(len > 0 && len <= options_.max_len);
  assert(ids.size() == static_cast<size_t>(batch) * len);
  assert(x.rows() == static_cast<Eigen::Index>(ids.size()) && x.cols() == options_.dim);
  const int first_pos = options_.max_len - len;
  for (int b = 0; b < batch; ++b) {
    for (int t = 0; t < len; ++t) {
      const Eigen::Index r = static_cast<Eigen::Index>(b) * len + t;
      const ItemId id = ids[r];
      if (id == kNoId) {
        x.row(r).setZero();
        continue;
      }
      assert(id < items_->value.rows());
      x.row(r) = item_scale_ * items_->value.row(id) + positions_->value.row(first_pos + t);
    }
  }
}

template <typename T>
void SequenceEmbedding<T>::Backward(std::span<const ItemId> ids, int batch, int len,
                                    ConstMatrixRef<T> dx, GradSink<T>& grads) const {
  assert(ids.size() == static_cast<size_t>(batch) * len && dx.rows() == Eigen::Index(ids.size()));
  Matrix<T>& d_items = grads[*items_];
  Matrix<T>& d_positions = grads[*positions_];
  const int first_pos = options_.max_len - len;
  for (int b = 0; b < batch; ++b) {
    for (int t = 0; t < len; ++t) {
      const Eigen::Index r = static_cast<Eigen::Index>(b) * len + t;
      const ItemId id = ids[r];
      if (id == kNoId) continue;
      d_items.row(id) += item_scale_ * dx.row(r);
      d_positions.row(first_pos + t) += dx.row(r);
    }
  }
}

template <typename T>
void SequenceEmbedding<T>::Forward(std::span<const ItemId> ids, std::span<const int32_t> pos,
                                   MatrixRef<T> x) const {
  assert(pos.size() == ids.size() && x.rows() == static_cast<Eigen::Index>(ids.size()));
  assert(x.cols() == options_.dim);
  for (size_t r = 0; r < ids.size(); ++r) {
    if (ids[r] == kNoId) {
      x.row(r).setZero();
      continue;
    }
    assert(ids[r] < items_->value.rows() && pos[r] >= 0 && pos[r] < options_.max_len);
    x.row(r) = item_scale_ * items_->value.row(ids[r]) + positions_->value.row(pos[r]);
  }
}

template <typename T>
void SequenceEmbedding<T>::Backward(std::span<const ItemId> ids, std::span<const int32_t> pos,
                                    ConstMatrixRef<T> dx, GradSink<T>& grads) const {
  assert(pos.size() == ids.size() && dx.rows() == static_cast<Eigen::Index>(ids.size()));
  Matrix<T>& d_items = grads[*items_];
  Matrix<T>& d_positions = grads[*positions_];
  for (size_t r = 0; r < ids.size(); ++r) {
    if (ids[r] == kNoId) continue;
    d_items.row(ids[r]) += item_scale_ * dx.row(r);
    d_positions.row(pos[r]) += dx.row(r);
  }
}

// ---- FeedForward

template <typename T>
FeedForward<T>::Workspace::Workspace(const FeedForward& ffn, int max_rows)
    : z1(max_rows, ffn.options().inner),
      a1(max_rows, ffn.options().inner),
      d1(max_rows, ffn.options().inner),
      drop(static_cast<size_t>(max_rows) * ffn.options().inner) {}

template <typename T>
FeedForward<T>::FeedForward(ParamSet<T>& params, const std::string& name,
                            const FeedForwardOptions& options, Rng& rng)
    : options_(options),
      fc1_(params, name + ".fc1", options.dim, options.inner, rng),
      fc2_(params, name + ".fc2", options.inner, options.dim, rng),
      dropout_(options.dropout) {}

template <typename T>
void FeedForward<T>::Forward(ConstMatrixRef<T> x, MatrixRef<T> y, Workspace& ws, Rng& rng,
                             bool training) const {
  const Eigen::Index rows = x.rows();
  assert(rows <= ws.z1.rows());
  auto z1 = ws.z1.topRows(rows);
  auto a1 = ws.a1.topRows(rows);
  fc1_.Forward(x, z1);
  ActivationForward<T>(options_.activation, z1, a1);
  dropout_.Forward(a1, a1, ws.drop, rng, training);
  fc2_.Forward(a1, y);
}

template <typename T>
void FeedForward<T>::Backward(ConstMatrixRef<T> x, ConstMatrixRef<T> dy, GradSink<T>& grads,
                              MatrixRef<T> dx, Workspace& ws, InputGrad mode) const {
  const Eigen::Index rows = x.rows();
  auto d1 = ws.d1.topRows(rows);
  fc2_.Backward(ws.a1.topRows(rows), dy, grads, d1);
  dropout_.Backward(d1, d1, ws.drop);
  ActivationBackward<T>(options_.activation, ws.z1.topRows(rows), d1, d1);
  fc1_.Backward(x, d1, grads, dx, mode);
}

#define FRESHET_NN_INSTANTIATE(T)                                                       \
  template class Linear<T>;                                                             \
  template class LayerNorm<T>;                                                          \
  template class Dropout<T>;                                                            \
  template class SequenceEmbedding<T>;                                                  \
  template class FeedForward<T>;                                                        \
  template void ActivationForward<T>(Activation, ConstMatrixRef<T>, MatrixRef<T>);      \
  template void ActivationBackward<T>(Activation, ConstMatrixRef<T>, ConstMatrixRef<T>, \
                                      MatrixRef<T>);
FRESHET_NN_INSTANTIATE(float)
FRESHET_NN_INSTANTIATE(double)
#undef FRESHET_NN_INSTANTIATE

}  // namespace freshet::nn
