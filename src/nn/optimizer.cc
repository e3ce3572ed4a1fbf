#include "nn/optimizer.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "nn/data_parallel.h"

namespace freshet::nn {

template <typename T>
Adam<T>::Adam(ParamSet<T>& params, const AdamOptions& options)
    : params_(&params), options_(options) {}

template <typename T>
void Adam<T>::Step(ThreadPool* pool) {
  BeginStep();
  ForEachValueRange(*params_, pool, [&](Param<T>& p, size_t begin, size_t end) {
    Update(p, begin, end, p.grad.data() + begin);
  });
}

template <typename T>
void Adam<T>::BeginStep() {
  m_.resize(params_->size());
  v_.resize(params_->size());
  for (int i = 0; i < params_->size(); ++i) {
    const Param<T>& p = (*params_)[i];
    for (Matrix<T>* s : {&m_[i], &v_[i]}) {
      if (s->cols() != p.value.cols()) {
        *s = Matrix<T>::Zero(p.value.rows(), p.value.cols());
      } else if (s->rows() < p.value.rows()) {
        const Eigen::Index old_rows = s->rows();
        s->conservativeResize(p.value.rows(), Eigen::NoChange);
        s->bottomRows(p.value.rows() - old_rows).setZero();
      }
    }
  }
  ++steps_;
  const double b1 = options_.beta1;
  const double b2 = options_.beta2;
  // Bias corrections folded into the step size and epsilon: lr * m_hat / (sqrt(v_hat) + eps) ==
  // lr_t * m / (sqrt(v) + eps_t) with lr_t = lr sqrt(bc2) / bc1 and eps_t = eps sqrt(bc2).
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(steps_));
  const double bc2 = 1.0 - std::pow(b2, static_cast<double>(steps_));
  lr_t_ = static_cast<T>(options_.learning_rate * std::sqrt(bc2) / bc1);
  eps_t_ = static_cast<T>(options_.eps * std::sqrt(bc2));
}

template <typename T>
void Adam<T>::StepPart(int part, int parts) {
  ForEachValueRangePart(*params_, part, parts, [&](Param<T>& p, size_t begin, size_t end) {
    Update(p, begin, end, p.grad.data() + begin);
  });
}

template <typename T>
void Adam<T>::StepRangeSummed(Param<T>& p, size_t begin, size_t end, std::span<T* const> grads) {
  // Chunks small enough that the summed gradient stays in L1 between the sum and the update.
  constexpr size_t kChunk = 512;
  T sum[kChunk];
  for (size_t b = begin; b < end; b += kChunk) {
    const size_t n = std::min(kChunk, end - b);
    std::copy_n(grads[0] + b, n, sum);
    for (size_t w = 1; w < grads.size(); ++w) {
      const T* g = grads[w] + b;
      for (size_t i = 0; i < n; ++i) sum[i] += g[i];
    }
    Update(p, b, b + n, sum);
    for (T* g : grads) std::fill_n(g + b, n, T(0));
  }
}

template <typename T>
void Adam<T>::Update(Param<T>& p, size_t begin, size_t end, const T* grad) {
  const T lr_t = lr_t_;
  const T eps_t = eps_t_;
  const T lr = options_.learning_rate;
  const T wd = options_.weight_decay;
  const bool decoupled = options_.decoupled_weight_decay;
  const T beta1 = options_.beta1;
  const T beta2 = options_.beta2;
  const auto n = static_cast<Eigen::Index>(end - begin);
  auto w = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(p.value.data() + begin, n);
  auto g = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(grad, n);
  auto m = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(m_[p.index].data() + begin, n);
  auto v = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(v_[p.index].data() + begin, n);
  const T decay = p.decay ? wd : T(0);
  if (decay != T(0) && !decoupled) {
    m = beta1 * m + (T(1) - beta1) * (g + decay * w);
    v = beta2 * v + (T(1) - beta2) * (g + decay * w).square();
    w -= lr_t * m / (v.sqrt() + eps_t);
  } else {
    m = beta1 * m + (T(1) - beta1) * g;
    v = beta2 * v + (T(1) - beta2) * g.square();
    // The decoupled decay uses the weights before this step, as AdamW does.
    w -= lr_t * m / (v.sqrt() + eps_t) + (lr * decay) * w;
  }
}

template <typename T>
double ClipGradNorm(ParamSet<T>& params, double max_norm) {
  assert(max_norm > 0);
  double sq = 0;
  for (int i = 0; i < params.size(); ++i) {
    const Matrix<T>& g = params[i].grad;
    for (Eigen::Index j = 0; j < g.size(); ++j)
      sq += static_cast<double>(g.data()[j]) * g.data()[j];
  }
  const double norm = std::sqrt(sq);
  if (norm > max_norm) {
    const T s = static_cast<T>(max_norm / norm);
    for (int i = 0; i < params.size(); ++i) params[i].grad *= s;
  }
  return norm;
}

template class Adam<float>;
template class Adam<double>;
template double ClipGradNorm(ParamSet<float>&, double);
template double ClipGradNorm(ParamSet<double>&, double);

}  // namespace freshet::nn
