#include "nn/tensor.h"

#include <utility>

namespace freshet::nn {

template <typename T>
Param<T>& ParamSet<T>::Add(std::string name, int rows, int cols, bool decay) {
  assert(rows > 0 && cols > 0);
  assert(Find(name) == nullptr);
  auto p = std::make_unique<Param<T>>();
  p->name = std::move(name);
  p->value = Matrix<T>::Zero(rows, cols);
  p->grad = Matrix<T>::Zero(rows, cols);
  p->decay = decay;
  p->index = size();
  params_.push_back(std::move(p));
  return *params_.back();
}

template <typename T>
Param<T>* ParamSet<T>::Find(std::string_view name) const {
  for (const auto& p : params_) {
    if (p->name == name) return p.get();
  }
  return nullptr;
}

template <typename T>
int64_t ParamSet<T>::NumValues() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p->value.size();
  return n;
}

template <typename T>
void ParamSet<T>::ZeroGrad() {
  for (auto& p : params_) p->grad.setZero();
}

template <typename T>
void GrowRows(Param<T>& p, int new_rows) {
  const auto old_rows = static_cast<int>(p.value.rows());
  assert(new_rows >= old_rows);
  if (new_rows == old_rows) return;
  // conservativeResize keeps the existing rows' values; the new rows start at zero.
  p.value.conservativeResize(new_rows, Eigen::NoChange);
  p.value.bottomRows(new_rows - old_rows).setZero();
  p.grad.conservativeResize(new_rows, Eigen::NoChange);
  p.grad.bottomRows(new_rows - old_rows).setZero();
}

template <typename T>
GradSink<T>::GradSink(ParamSet<T>& params, bool owns) : params_(&params), owns_(owns) {
  Reshape();
}

template <typename T>
void GradSink<T>::Zero() {
  if (!owns_) {
    params_->ZeroGrad();
    return;
  }
  for (auto& b : buffers_) b.setZero();
}

template <typename T>
void GradSink<T>::Reshape() {
  if (!owns_) return;
  buffers_.resize(params_->size());
  for (int i = 0; i < params_->size(); ++i) {
    const Param<T>& p = (*params_)[i];
    if (buffers_[i].rows() != p.value.rows() || buffers_[i].cols() != p.value.cols()) {
      buffers_[i] = Matrix<T>::Zero(p.value.rows(), p.value.cols());
    }
  }
}

template class ParamSet<float>;
template class ParamSet<double>;
template class GradSink<float>;
template class GradSink<double>;
template void GrowRows(Param<float>&, int);
template void GrowRows(Param<double>&, int);

}  // namespace freshet::nn
