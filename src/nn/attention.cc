#include "nn/attention.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace freshet::nn {

template <typename T>
MultiHeadSelfAttention<T>::Workspace::Workspace(const MultiHeadSelfAttention& attention,
                                                int max_batch, int max_len) {
  const int hidden = attention.options().hidden;
  const int heads = attention.options().heads;
  const Eigen::Index rows = static_cast<Eigen::Index>(max_batch) * max_len;
  qkv.resize(rows, 3 * hidden);
  ctx.resize(rows, hidden);
  probs.resize(rows * heads, max_len);
  if (attention.options().dropout > 0.0f) {
    dropped.resize(rows * heads, max_len);
    keep.resize(static_cast<size_t>(rows * heads * max_len));
  }
  dqkv.resize(rows, 3 * hidden);
  dctx.resize(rows, hidden);
  dp.resize(max_len, max_len);
  valid.resize(static_cast<size_t>(rows));
  start.resize(static_cast<size_t>(max_batch));
  holes.resize(static_cast<size_t>(max_batch));
}

template <typename T>
MultiHeadSelfAttention<T>::MultiHeadSelfAttention(ParamSet<T>& params, const std::string& name,
                                                  const AttentionOptions& options, Rng& rng)
    : options_(options),
      d_head_(options.hidden / options.heads),
      qkv_(params, name + ".qkv", options.hidden, 3 * options.hidden, rng),
      out_(params, name + ".out", options.hidden, options.hidden, rng) {
  assert(options.heads > 0 && options.hidden % options.heads == 0);
  assert(options.dropout >= 0.0f && options.dropout < 1.0f);
}

template <typename T>
void MultiHeadSelfAttention<T>::Forward(ConstMatrixRef<T> x, std::span<const uint8_t> valid,
                                        int batch, int len, MatrixRef<T> y, Workspace& ws,
                                        Rng& rng, bool training) const {
  const int hidden = options_.hidden;
  const int heads = options_.heads;
  const Eigen::Index rows = static_cast<Eigen::Index>(batch) * len;
  assert(x.rows() == rows && x.cols() == hidden && y.rows() == rows && y.cols() == hidden);
  assert(valid.size() == static_cast<size_t>(rows));
  assert(len <= ws.probs.cols() && rows <= ws.qkv.rows());
  ws.batch = batch;
  ws.len = len;
  ws.dropout_active = training && options_.dropout > 0.0f;
  std::copy(valid.begin(), valid.end(), ws.valid.begin());

  auto qkv = ws.qkv.topRows(rows);
  auto ctx = ws.ctx.topRows(rows);
  qkv_.Forward(x, qkv);
  const T scale = T(1) / std::sqrt(static_cast<T>(d_head_));
  const T keep_scale = Dropout<T>::KeepScale(options_.dropout);

  for (int b = 0; b < batch; ++b) {
    const Eigen::Index row0 = static_cast<Eigen::Index>(b) * len;
    const uint8_t* v = valid.data() + row0;
    int s = 0;
    while (s < len && !v[s]) ++s;
    bool holes = false;
    for (int t = s; t < len; ++t) holes |= !v[t];
    ws.start[b] = s;
    ws.holes[b] = holes;
    ctx.middleRows(row0, s).setZero();
    const int n = len - s;
    if (n == 0) continue;
    for (int h = 0; h < heads; ++h) {
      const auto q = qkv.block(row0 + s, h * d_head_, n, d_head_);
      const auto k = qkv.block(row0 + s, hidden + h * d_head_, n, d_head_);
      const auto vv = qkv.block(row0 + s, 2 * hidden + h * d_head_, n, d_head_);
      const Eigen::Index prow = (static_cast<Eigen::Index>(b) * heads + h) * len + s;
      auto p = ws.probs.block(prow, s, n, n);
      p.noalias() = (q * k.transpose()) * scale;
      for (int i = 0; i < n; ++i) {
        if (!v[s + i]) {  // a padded query: no keys, output zero
          p.row(i).setZero();
          continue;
        }
        const int m = options_.causal ? i + 1 : n;  // keys [0, m) of the suffix are visible
        auto seg = p.row(i).head(m).array();
        if (holes) {
          for (int j = 0; j < m; ++j) {
            if (!v[s + j]) seg(j) = std::numeric_limits<T>::lowest();
          }
        }
        const T mx = seg.maxCoeff();
        seg = (seg - mx).exp();
        if (holes) {
          for (int j = 0; j < m; ++j) {
            if (!v[s + j]) seg(j) = T(0);
          }
        }
        seg /= seg.sum();  // >= 1: the maximum contributes exp(0)
        p.row(i).tail(n - m).setZero();
      }
      auto head_ctx = ctx.block(row0 + s, h * d_head_, n, d_head_);
      if (ws.dropout_active) {
        auto pd = ws.dropped.block(prow, s, n, n);
        uint8_t* keep = ws.keep.data() + prow * ws.probs.cols();
        for (int i = 0; i < n; ++i) {
          uint8_t* kr = keep + i * ws.probs.cols() + s;
          Dropout<T>::DrawKeep(options_.dropout, rng, kr, static_cast<size_t>(n));
          for (int j = 0; j < n; ++j) pd(i, j) = kr[j] ? p(i, j) * keep_scale : T(0);
        }
        head_ctx.noalias() = pd * vv;
      } else {
        head_ctx.noalias() = p * vv;
      }
    }
  }
  out_.Forward(ctx, y);
}

template <typename T>
void MultiHeadSelfAttention<T>::Backward(ConstMatrixRef<T> x, ConstMatrixRef<T> dy,
                                         GradSink<T>& grads, MatrixRef<T> dx, Workspace& ws,
                                         InputGrad mode) const {
  const int hidden = options_.hidden;
  const int heads = options_.heads;
  const int batch = ws.batch;
  const int len = ws.len;
  const Eigen::Index rows = static_cast<Eigen::Index>(batch) * len;
  assert(x.rows() == rows && dy.rows() == rows && dx.rows() == rows);
  auto qkv = ws.qkv.topRows(rows);
  auto dqkv = ws.dqkv.topRows(rows);
  auto dctx = ws.dctx.topRows(rows);
  out_.Backward(ws.ctx.topRows(rows), dy, grads, dctx);
  const T scale = T(1) / std::sqrt(static_cast<T>(d_head_));
  const T keep_scale = Dropout<T>::KeepScale(options_.dropout);

  for (int b = 0; b < batch; ++b) {
    const Eigen::Index row0 = static_cast<Eigen::Index>(b) * len;
    const int s = ws.start[b];
    const int n = len - s;
    // Padded queries had a constant output and padded keys no weight: no gradient reaches them.
    dqkv.middleRows(row0, s).setZero();
    if (n == 0) continue;
    for (int h = 0; h < heads; ++h) {
      const auto q = qkv.block(row0 + s, h * d_head_, n, d_head_);
      const auto k = qkv.block(row0 + s, hidden + h * d_head_, n, d_head_);
      const auto vv = qkv.block(row0 + s, 2 * hidden + h * d_head_, n, d_head_);
      auto dq = dqkv.block(row0 + s, h * d_head_, n, d_head_);
      auto dk = dqkv.block(row0 + s, hidden + h * d_head_, n, d_head_);
      auto dv = dqkv.block(row0 + s, 2 * hidden + h * d_head_, n, d_head_);
      const auto dc = dctx.block(row0 + s, h * d_head_, n, d_head_);
      const Eigen::Index prow = (static_cast<Eigen::Index>(b) * heads + h) * len + s;
      const auto p = ws.probs.block(prow, s, n, n);
      auto dp = ws.dp.topLeftCorner(n, n);
      dp.noalias() = dc * vv.transpose();
      if (ws.dropout_active) {
        dv.noalias() = ws.dropped.block(prow, s, n, n).transpose() * dc;
        const uint8_t* keep = ws.keep.data() + prow * ws.probs.cols();
        for (int i = 0; i < n; ++i) {
          const uint8_t* kr = keep + i * ws.probs.cols() + s;
          for (int j = 0; j < n; ++j) dp(i, j) = kr[j] ? dp(i, j) * keep_scale : T(0);
        }
      } else {
        dv.noalias() = p.transpose() * dc;
      }
      // Softmax backward per row: dS = P * (dP - sum(P * dP)). Masked entries have P = 0 and so
      // get no gradient, as do padded queries (an all-zero row).
      for (int i = 0; i < n; ++i) {
        const T dot = (p.row(i).array() * dp.row(i).array()).sum();
        dp.row(i).array() = p.row(i).array() * (dp.row(i).array() - dot);
      }
      dq.noalias() = (dp * k) * scale;
      dk.noalias() = (dp.transpose() * q) * scale;
    }
  }
  qkv_.Backward(x, dqkv, grads, dx, mode);
}

template class MultiHeadSelfAttention<float>;
template class MultiHeadSelfAttention<double>;

}  // namespace freshet::nn
