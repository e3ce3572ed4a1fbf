#include "nn/loss.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <type_traits>

#include "nn/bf16_kernels.h"

namespace freshet::nn {
namespace {

// log(1 + exp(x)) without overflow for large x or cancellation for very negative x.
// Softmax rows are exponentiated and summed in blocks of this many logits (16 KB of float: stays
// in L1 between the exp and the sum).
constexpr Eigen::Index kExpBlock = 4096;

double Softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
double Sigmoid(double x) {
  // Evaluated on the side where exp cannot overflow.
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

}  // namespace

template <typename T>
LossValue SampledBinaryCrossEntropy(ConstMatrixRef<T> hidden, std::span<const ItemId> positives,
                                    std::span<const ItemId> negatives, ConstMatrixRef<T> items,
                                    T grad_scale, MatrixRef<T> d_hidden, MatrixRef<T> d_items) {
  const Eigen::Index rows = hidden.rows();
  assert(positives.size() == static_cast<size_t>(rows));
  assert(rows == 0 || negatives.size() % static_cast<size_t>(rows) == 0);
  assert(d_hidden.rows() == rows && d_hidden.cols() == hidden.cols());
  assert(d_items.rows() == items.rows() && d_items.cols() == items.cols());
  const size_t k = rows == 0 ? 0 : negatives.size() / static_cast<size_t>(rows);
  LossValue loss;
  for (Eigen::Index r = 0; r < rows; ++r) {
    auto dh = d_hidden.row(r);
    dh.setZero();
    const ItemId pos = positives[r];
    if (pos == kNoId) continue;
    assert(pos < items.rows());
    const auto h = hidden.row(r);
    const double s_pos = h.dot(items.row(pos));
    loss.sum += Softplus(-s_pos);
    ++loss.count;
    // d softplus(-s) / ds = sigmoid(s) - 1.
    const T g_pos = static_cast<T>(Sigmoid(s_pos) - 1.0) * grad_scale;
    dh += g_pos * items.row(pos);
    d_items.row(pos) += g_pos * h;
    for (size_t j = 0; j < k; ++j) {
      const ItemId neg = negatives[r * k + j];
      if (neg == kNoId) continue;
      assert(neg < items.rows());
      const double s_neg = h.dot(items.row(neg));
      loss.sum += Softplus(s_neg);
      const T g_neg = static_cast<T>(Sigmoid(s_neg)) * grad_scale;
      dh += g_neg * items.row(neg);
      d_items.row(neg) += g_neg * h;
    }
  }
  return loss;
}

template <typename T>
LossValue SampledSoftmaxLoss<T>::Compute(ConstMatrixRef<T> hidden,
                                         std::span<const ItemId> positives,
                                         std::span<const ItemId> negatives, ConstMatrixRef<T> items,
                                         std::span<const T> log_q, T grad_scale,
                                         MatrixRef<T> d_hidden, MatrixRef<T> d_items,
                                         Workspace& ws) const {
  const Eigen::Index rows = hidden.rows();
  assert(positives.size() == static_cast<size_t>(rows));
  assert(rows == 0 || negatives.size() % static_cast<size_t>(rows) == 0);
  assert(log_q.empty() || log_q.size() == static_cast<size_t>(items.rows()));
  assert(d_hidden.rows() == rows && d_hidden.cols() == hidden.cols());
  assert(d_items.rows() == items.rows() && d_items.cols() == items.cols());
  const size_t k = rows == 0 ? 0 : negatives.size() / static_cast<size_t>(rows);
  if (ws.logits.size() < k + 1) ws.logits.resize(k + 1);
  T* logit = ws.logits.data();
  // Candidate c of a row: c == 0 the positive, else negative c - 1.
  auto candidate = [&](Eigen::Index r, size_t c) {
    return c == 0 ? positives[r] : negatives[r * k + c - 1];
  };
  LossValue loss;
  for (Eigen::Index r = 0; r < rows; ++r) {
    auto dh = d_hidden.row(r);
    dh.setZero();
    const ItemId pos = positives[r];
    if (pos == kNoId) continue;
    const auto h = hidden.row(r);
    // An excluded candidate (accidental hit or kNoId) gets logit -inf: weight exactly zero.
    T mx = std::numeric_limits<T>::lowest();
    for (size_t c = 0; c <= k; ++c) {
      const ItemId id = candidate(r, c);
      if (id == kNoId || (c > 0 && options_.remove_accidental_hits && id == pos)) {
        logit[c] = -std::numeric_limits<T>::infinity();
        continue;
      }
      assert(id < items.rows());
      logit[c] = h.dot(items.row(id)) - (log_q.empty() ? T(0) : log_q[id]);
      mx = std::max(mx, logit[c]);
    }
    double sum = 0;
    for (size_t c = 0; c <= k; ++c) sum += std::exp(static_cast<double>(logit[c] - mx));
    const double lse = mx + std::log(sum);
    loss.sum += lse - logit[0];
    ++loss.count;
    for (size_t c = 0; c <= k; ++c) {
      const ItemId id = candidate(r, c);
      if (logit[c] == -std::numeric_limits<T>::infinity()) continue;
      const double p = std::exp(static_cast<double>(logit[c]) - lse);
      const T g = static_cast<T>(p - (c == 0 ? 1.0 : 0.0)) * grad_scale;
      dh += g * items.row(id);
      d_items.row(id) += g * h;
    }
  }
  return loss;
}

namespace {

// The chunked softmax losses score only rows that have a target: copies the next up to `chunk` of
// them, from *next on, into h's first rows and their indexes into rows, and advances *next past
// them. Returns how many were copied (0 at the end). REQUIRES: h and rows hold `chunk` entries.
template <typename T>
int GatherTargetRows(ConstMatrixRef<T> hidden, std::span<const ItemId> targets,
                     Eigen::Index num_items, int chunk, Eigen::Index* next, Matrix<T>& h,
                     std::vector<Eigen::Index>& rows) {
  int m = 0;
  for (; *next < hidden.rows() && m < chunk; ++*next) {
    if (targets[*next] == kNoId) continue;
    assert(targets[*next] < num_items);
    rows[m] = *next;
    h.row(m) = hidden.row(*next);
    ++m;
  }
  return m;
}

}  // namespace

template <typename T>
FullSoftmaxLoss<T>::Workspace::Workspace(const FullSoftmaxLoss& loss, int num_items, int dim)
    : logits(loss.options().chunk_rows, num_items),
      h(loss.options().chunk_rows, dim),
      dh(loss.options().chunk_rows, dim),
      hs(loss.options().chunk_rows, dim),
      rows(static_cast<size_t>(loss.options().chunk_rows)),
      factor(static_cast<size_t>(loss.options().chunk_rows)) {}

template <typename T>
LossValue FullSoftmaxLoss<T>::Compute(ConstMatrixRef<T> hidden, std::span<const ItemId> targets,
                                      ConstMatrixRef<T> items, T grad_scale, MatrixRef<T> d_hidden,
                                      MatrixRef<T> d_items, Workspace& ws) const {
  const Eigen::Index n = hidden.rows();
  const Eigen::Index num_items = items.rows();
  const Eigen::Index dim = hidden.cols();
  assert(targets.size() == static_cast<size_t>(n) && items.cols() == dim);
  assert(d_hidden.rows() == n && d_hidden.cols() == dim);
  assert(d_items.rows() == num_items && d_items.cols() == dim);
  const int chunk = options_.chunk_rows;
  assert(chunk > 0);
  if (ws.logits.cols() < num_items) ws.logits.resize(chunk, num_items);
  if (ws.h.cols() != dim) {
    ws.h.resize(chunk, dim);
    ws.dh.resize(chunk, dim);
    ws.hs.resize(chunk, dim);
  }
  LossValue loss;
  d_hidden.setZero();
  Eigen::Index next = 0;
  while (next < n) {
    const int m = GatherTargetRows(hidden, targets, num_items, chunk, &next, ws.h, ws.rows);
    if (m == 0) break;
    auto h = ws.h.topRows(m);
    auto logits = ws.logits.topLeftCorner(m, num_items);
    logits.noalias() = h * items.transpose();
    for (int i = 0; i < m; ++i) {
      auto row = logits.row(i);
      const T target_logit = row(targets[ws.rows[i]]);
      const T mx = row.maxCoeff();
      // exp in place, summed block by block while the block is still in L1. The row is left
      // unnormalised: the 1 / sum factor is applied to the [m x dim] products below instead of
      // to the [m x num_items] row, which saves a pass over the catalog per row.
      T sum = 0;
      for (Eigen::Index c = 0; c < num_items; c += kExpBlock) {
        auto block = row.segment(c, std::min<Eigen::Index>(kExpBlock, num_items - c)).array();
        block = (block - mx).exp();
        sum += block.sum();
      }
      loss.sum += static_cast<double>(mx) + std::log(static_cast<double>(sum)) -
                  static_cast<double>(target_logit);
      ws.factor[i] = grad_scale / sum;
    }
    loss.count += m;
    // With U the exp rows, f_i = grad_scale / sum_i and G = diag(f) U - grad_scale onehot(targets):
    // d_hidden = G items = diag(f) (U items) - grad_scale items[targets];
    // d_items += G^T H = U^T (diag(f) H) - grad_scale scatter(H rows to their targets).
    auto dh = ws.dh.topRows(m);
    dh.noalias() = logits * items;
    auto hs = ws.hs.topRows(m);
    for (int i = 0; i < m; ++i) hs.row(i) = ws.factor[i] * h.row(i);
    d_items.noalias() += logits.transpose() * hs;
    for (int i = 0; i < m; ++i) {
      const ItemId target = targets[ws.rows[i]];
      d_hidden.row(ws.rows[i]) = ws.factor[i] * dh.row(i) - grad_scale * items.row(target);
      d_items.row(target) -= grad_scale * h.row(i);
    }
  }
  return loss;
}

namespace {

constexpr int RoundUp(int x, int to) { return (x + to - 1) / to * to; }

// SharedNegativeSoftmaxLoss<float>::Compute with its three products in bf16
// (FullSoftmaxOptions::bf16_products): the float path's steps, with K padded to a multiple of 32
// by zero rows with bias -inf (their entries of U are zero) and each chunk's rows to a multiple of
// 8 by zero rows with zero U and zero scaled rows, so the padding adds nothing to any gradient.
// The logits' bias, each row's max and the exponentials are fused into the kernels, so the
// [rows x K] logits are written once and read once. The positive's logit stays a float dot
// product.
// REQUIRES: bf16::Supported(), hidden.cols() % 32 == 0.
LossValue SharedNegativeBf16(int chunk, ConstMatrixRef<float> hidden,
                             std::span<const ItemId> targets, std::span<const ItemId> negatives,
                             std::span<const float> log_weights, ConstMatrixRef<float> items,
                             float grad_scale, MatrixRef<float> d_hidden,
                             MatrixRef<float> d_items,
                             SharedNegativeSoftmaxLoss<float>::Workspace& ws) {
  const auto dim = static_cast<int>(hidden.cols());
  const auto k = static_cast<int>(negatives.size());
  const int kp = RoundUp(std::max(k, 1), 32);
  const int cap = RoundUp(chunk, 8);
  assert(dim % 32 == 0);
  ws.negatives.resize(kp, dim);
  if (ws.first_copy.size() < static_cast<size_t>(items.rows())) {
    ws.first_copy.resize(static_cast<size_t>(items.rows()), -1);
  }
  ws.next_copy.resize(static_cast<size_t>(k));
  ws.bias.resize(static_cast<size_t>(kp));
  for (int j = k - 1; j >= 0; --j) {
    const ItemId id = negatives[j];
    assert(id < items.rows());
    ws.negatives.row(j) = items.row(id);
    ws.next_copy[j] = ws.first_copy[id];
    ws.first_copy[id] = j;
    ws.bias[j] = log_weights[j];
  }
  ws.negatives.bottomRows(kp - k).setZero();
  std::fill(ws.bias.begin() + k, ws.bias.end(), -std::numeric_limits<float>::infinity());
  const size_t neg_size = static_cast<size_t>(kp) * dim;
  ws.neg_rows.resize(neg_size);
  ws.neg_blocks.resize(neg_size);
  ws.neg_pairs.resize(neg_size);
  bf16::PackRows(ws.negatives.data(), dim, kp, dim, ws.neg_rows.data());
  bf16::TransposeToColumnBlocks(ws.neg_rows.data(), kp, dim, ws.neg_blocks.data());
  bf16::PackRowPairs(ws.negatives.data(), dim, kp, dim, ws.neg_pairs.data());
  ws.d_negatives.setZero(kp, dim);
  if (ws.logits.rows() < cap || ws.logits.cols() < kp) ws.logits.resize(cap, kp);
  if (ws.h.rows() < cap || ws.h.cols() != dim) {
    ws.h.resize(cap, dim);
    ws.dh.resize(cap, dim);
    ws.hs.resize(cap, dim);
  }
  ws.rows.resize(static_cast<size_t>(cap));
  ws.factor.resize(static_cast<size_t>(cap));
  ws.pos_grad.resize(static_cast<size_t>(cap));
  ws.row_max.resize(static_cast<size_t>(cap) * 16);
  ws.exp_sums.resize(static_cast<size_t>(cap));
  ws.h_rows.resize(static_cast<size_t>(cap) * dim);
  ws.hs_pairs.resize(static_cast<size_t>(cap) * dim);
  ws.u_rows.resize(static_cast<size_t>(cap) * kp);
  ws.u_pairs.resize(static_cast<size_t>(cap) * kp);
  const int64_t ldl = ws.logits.cols();
  constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
  LossValue loss;
  d_hidden.setZero();
  Eigen::Index next = 0;
  while (next < hidden.rows()) {
    const int m = GatherTargetRows(hidden, targets, items.rows(), chunk, &next, ws.h, ws.rows);
    if (m == 0) break;
    const int mp = RoundUp(m, 8);
    ws.h.middleRows(m, mp - m).setZero();
    bf16::PackRows(ws.h.data(), dim, mp, dim, ws.h_rows.data());
    bf16::Logits(ws.h_rows.data(), mp, dim, ws.neg_blocks.data(), kp, ws.bias.data(),
                 ws.logits.data(), ldl, ws.row_max.data());
    // The shift is the row's max over the positive and every negative, accidental hits
    // included (an upper bound is all the exp needs); padded rows get +inf, so their U is 0.
    for (int i = 0; i < m; ++i) {
      const ItemId target = targets[ws.rows[i]];
      float* row = ws.logits.data() + i * ldl;
      // Accidental hits: every copy of the target among the negatives leaves this row's softmax.
      for (int32_t j = ws.first_copy[target]; j >= 0; j = ws.next_copy[j]) row[j] = kMinusInf;
      const float positive = ws.h.row(i).dot(items.row(target));
      ws.pos_grad[i] = positive;  // the logit for now; its gradient below
      ws.row_max[i] = std::max(positive, ws.row_max[i]);
    }
    std::fill(ws.row_max.begin() + m, ws.row_max.begin() + mp,
              std::numeric_limits<float>::infinity());
    bf16::ExpRows(ws.logits.data(), ldl, mp, k, kp, ws.row_max.data(), ws.exp_sums.data(),
                  ws.u_rows.data(), ws.u_pairs.data());
    for (int i = 0; i < m; ++i) {
      const ItemId target = targets[ws.rows[i]];
      const float positive = ws.pos_grad[i];
      const float mx = ws.row_max[i];
      const float e_pos = std::exp(positive - mx);
      const float sum = ws.exp_sums[i] + e_pos;
      loss.sum += static_cast<double>(mx) + std::log(static_cast<double>(sum)) -
                  static_cast<double>(positive);
      const float f = grad_scale / sum;
      ws.factor[i] = f;
      const float g_pos = f * e_pos - grad_scale;
      d_items.row(target) += g_pos * ws.h.row(i);
      ws.hs.row(i) = f * ws.h.row(i);
      ws.pos_grad[i] = g_pos;
    }
    ws.hs.middleRows(m, mp - m).setZero();
    loss.count += m;
    bf16::PackRowPairs(ws.hs.data(), dim, mp, dim, ws.hs_pairs.data());
    // d_hidden = diag(f) (U negatives) + g_pos e_target; d_negatives += U^T (diag(f) H).
    bf16::RowsTimesPairs(ws.u_rows.data(), mp, kp, ws.neg_pairs.data(), dim, ws.dh.data());
    bf16::PairsTransposedTimesPairs(ws.u_pairs.data(), mp, kp, ws.hs_pairs.data(), dim,
                                    ws.d_negatives.data());
    for (int i = 0; i < m; ++i) {
      d_hidden.row(ws.rows[i]) =
          ws.factor[i] * ws.dh.row(i) + ws.pos_grad[i] * items.row(targets[ws.rows[i]]);
    }
  }
  for (int j = 0; j < k; ++j) {
    d_items.row(negatives[j]) += ws.d_negatives.row(j);
    ws.first_copy[negatives[j]] = -1;
  }
  return loss;
}

}  // namespace

template <typename T>
LossValue SharedNegativeSoftmaxLoss<T>::Compute(ConstMatrixRef<T> hidden,
                                                std::span<const ItemId> targets,
                                                std::span<const ItemId> negatives,
                                                std::span<const T> log_weights,
                                                ConstMatrixRef<T> items, T grad_scale,
                                                MatrixRef<T> d_hidden, MatrixRef<T> d_items,
                                                Workspace& ws) const {
  const Eigen::Index n = hidden.rows();
  const Eigen::Index dim = hidden.cols();
  const auto k = static_cast<Eigen::Index>(negatives.size());
  assert(targets.size() == static_cast<size_t>(n) && items.cols() == dim);
  assert(log_weights.size() == negatives.size());
  assert(d_hidden.rows() == n && d_hidden.cols() == dim);
  assert(d_items.rows() == items.rows() && d_items.cols() == dim);
  const int chunk = options_.chunk_rows;
  assert(chunk > 0);
  if constexpr (std::is_same_v<T, float>) {
    // The variant is chosen once per call, outside every loop.
    if (options_.bf16_products && dim % 32 == 0 && bf16::Supported()) {
      return SharedNegativeBf16(chunk, hidden, targets, negatives, log_weights, items, grad_scale,
                                d_hidden, d_items, ws);
    }
  }
  const Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>> weights(log_weights.data(), k);
  ws.negatives.resize(k, dim);
  ws.sorted.resize(static_cast<size_t>(k));
  for (Eigen::Index j = 0; j < k; ++j) {
    assert(negatives[j] < items.rows());
    ws.negatives.row(j) = items.row(negatives[j]);
    ws.sorted[j] = {negatives[j], j};
  }
  std::sort(ws.sorted.begin(), ws.sorted.end());
  ws.d_negatives.setZero(k, dim);
  if (ws.logits.rows() < chunk || ws.logits.cols() < k) ws.logits.resize(chunk, k);
  if (ws.h.rows() < chunk || ws.h.cols() != dim) {
    ws.h.resize(chunk, dim);
    ws.dh.resize(chunk, dim);
    ws.hs.resize(chunk, dim);
  }
  ws.rows.resize(static_cast<size_t>(chunk));
  ws.factor.resize(static_cast<size_t>(chunk));
  ws.pos_grad.resize(static_cast<size_t>(chunk));
  constexpr T kMinusInf = -std::numeric_limits<T>::infinity();
  LossValue loss;
  d_hidden.setZero();
  Eigen::Index next = 0;
  while (next < n) {
    const int m = GatherTargetRows(hidden, targets, items.rows(), chunk, &next, ws.h, ws.rows);
    if (m == 0) break;
    auto h = ws.h.topRows(m);
    auto logits = ws.logits.topLeftCorner(m, k);
    logits.noalias() = h * ws.negatives.transpose();
    auto dh = ws.dh.topRows(m);
    for (int i = 0; i < m; ++i) {
      const ItemId target = targets[ws.rows[i]];
      auto row = logits.row(i);
      row.array() += weights;
      // Accidental hits: every copy of the target among the negatives leaves this row's softmax.
      for (auto it = std::lower_bound(ws.sorted.begin(), ws.sorted.end(),
                                      std::pair<ItemId, Eigen::Index>{target, 0});
           it != ws.sorted.end() && it->first == target; ++it) {
        row(it->second) = kMinusInf;
      }
      const T positive = h.row(i).dot(items.row(target));
      const T mx = std::max(positive, row.maxCoeff());
      row = (row.array() - mx).exp();  // exp(-inf) = 0: the dropped column weighs nothing
      const T e_pos = std::exp(positive - mx);
      const T sum = row.sum() + e_pos;
      loss.sum += static_cast<double>(mx) + std::log(static_cast<double>(sum)) -
                  static_cast<double>(positive);
      // G = softmax * grad_scale, minus grad_scale at the target. The row stays unnormalised:
      // its factor f = grad_scale / sum is applied to the [m x dim] sides below, which saves a
      // pass over the [m x K] logits.
      const T f = grad_scale / sum;
      ws.factor[i] = f;
      const T g_pos = f * e_pos - grad_scale;
      d_items.row(target) += g_pos * h.row(i);
      ws.hs.row(i) = f * h.row(i);
      ws.pos_grad[i] = g_pos;
    }
    loss.count += m;
    // d_hidden = diag(f) (U negatives) + g_pos e_target; d_negatives += U^T (diag(f) H).
    dh.noalias() = logits * ws.negatives;
    ws.d_negatives.noalias() += logits.transpose() * ws.hs.topRows(m);
    for (int i = 0; i < m; ++i) {
      d_hidden.row(ws.rows[i]) =
          ws.factor[i] * dh.row(i) + ws.pos_grad[i] * items.row(targets[ws.rows[i]]);
    }
  }
  for (Eigen::Index j = 0; j < k; ++j) d_items.row(negatives[j]) += ws.d_negatives.row(j);
  return loss;
}

#define FRESHET_NN_INSTANTIATE(T)                                                                \
  template LossValue SampledBinaryCrossEntropy<T>(ConstMatrixRef<T>, std::span<const ItemId>,    \
                                                  std::span<const ItemId>, ConstMatrixRef<T>, T, \
                                                  MatrixRef<T>, MatrixRef<T>);                   \
  template class SampledSoftmaxLoss<T>;                                                          \
  template class FullSoftmaxLoss<T>;                                                             \
  template class SharedNegativeSoftmaxLoss<T>;
FRESHET_NN_INSTANTIATE(float)
FRESHET_NN_INSTANTIATE(double)
#undef FRESHET_NN_INSTANTIATE

}  // namespace freshet::nn
