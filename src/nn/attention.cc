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
  // A packed batch of sequences of length 1 has the most sequences: one per row.
  block_begin.resize(static_cast<size_t>(rows));
  block_len.resize(static_cast<size_t>(rows));
  block_holes.resize(static_cast<size_t>(rows));
  valid.resize(static_cast<size_t>(rows));
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
void MultiHeadSelfAttention<T>::Forward(ConstMatrixRef<T> x, const SequenceLayout& layout,
                                        MatrixRef<T> y, Workspace& ws, Rng& rng,
                                        bool training) const {
  const int hidden = options_.hidden;
  const int heads = options_.heads;
  const Eigen::Index rows = layout.rows();
  assert(x.rows() == rows && x.cols() == hidden && y.rows() == rows && y.cols() == hidden);
  assert(rows <= ws.qkv.rows() && layout.len <= ws.probs.cols());
  assert(static_cast<size_t>(layout.batch) <= ws.block_begin.size());
  ws.rows = rows;
  ws.blocks = layout.batch;
  ws.dropout_active = training && options_.dropout > 0.0f;

  // The block each sequence is scored over.
  if (layout.packed()) {
    for (int b = 0; b < layout.batch; ++b) {
      ws.block_begin[b] = layout.offsets[b];
      ws.block_len[b] = layout.offsets[b + 1] - layout.offsets[b];
      assert(ws.block_len[b] >= 0 && ws.block_len[b] <= layout.len);
      ws.block_holes[b] = 0;
    }
  } else {
    assert(layout.valid.size() == static_cast<size_t>(rows));
    std::copy(layout.valid.begin(), layout.valid.end(), ws.valid.begin());
    for (int b = 0; b < layout.batch; ++b) {
      const uint8_t* v = layout.valid.data() + static_cast<size_t>(b) * layout.len;
      int s = 0;
      while (s < layout.len && !v[s]) ++s;
      bool holes = false;
      for (int t = s; t < layout.len; ++t) holes |= !v[t];
      ws.block_begin[b] = b * layout.len + s;
      ws.block_len[b] = layout.len - s;
      ws.block_holes[b] = holes;
    }
  }

  auto qkv = ws.qkv.topRows(rows);
  auto ctx = ws.ctx.topRows(rows);
  qkv_.Forward(x, qkv);
  // Rows outside every block (left padding) keep a zero context.
  if (!layout.packed()) ctx.setZero();
  const T scale = T(1) / std::sqrt(static_cast<T>(d_head_));
  const T keep_scale = Dropout<T>::KeepScale(options_.dropout);
  const Eigen::Index pstride = ws.probs.cols();

  for (int b = 0; b < ws.blocks; ++b) {
    const Eigen::Index r0 = ws.block_begin[b];
    const int n = ws.block_len[b];
    if (n == 0) continue;
    const bool holes = ws.block_holes[b];
    const uint8_t* v = holes ? ws.valid.data() + r0 : nullptr;
    for (int h = 0; h < heads; ++h) {
      const auto q = qkv.block(r0, h * d_head_, n, d_head_);
      const auto k = qkv.block(r0, hidden + h * d_head_, n, d_head_);
      const auto vv = qkv.block(r0, 2 * hidden + h * d_head_, n, d_head_);
      const Eigen::Index prow = heads * r0 + static_cast<Eigen::Index>(h) * n;
      auto p = ws.probs.block(prow, 0, n, n);
      p.noalias() = (q * k.transpose()) * scale;
      for (int i = 0; i < n; ++i) {
        if (holes && !v[i]) {  // a padded query: no keys, output zero
          p.row(i).setZero();
          continue;
        }
        const int m = options_.causal ? i + 1 : n;  // keys [0, m) of the block are visible
        auto seg = p.row(i).head(m).array();
        if (holes) {
          for (int j = 0; j < m; ++j) {
            if (!v[j]) seg(j) = std::numeric_limits<T>::lowest();
          }
        }
        const T mx = seg.maxCoeff();
        seg = (seg - mx).exp();
        if (holes) {
          for (int j = 0; j < m; ++j) {
            if (!v[j]) seg(j) = T(0);
          }
        }
        seg /= seg.sum();  // >= 1: the maximum contributes exp(0)
        p.row(i).tail(n - m).setZero();
      }
      auto head_ctx = ctx.block(r0, h * d_head_, n, d_head_);
      if (ws.dropout_active) {
        auto pd = ws.dropped.block(prow, 0, n, n);
        for (int i = 0; i < n; ++i) {
          uint8_t* kr = ws.keep.data() + (prow + i) * pstride;
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
  const Eigen::Index rows = ws.rows;
  assert(x.rows() == rows && dy.rows() == rows && dx.rows() == rows);
  auto qkv = ws.qkv.topRows(rows);
  auto dqkv = ws.dqkv.topRows(rows);
  auto dctx = ws.dctx.topRows(rows);
  out_.Backward(ws.ctx.topRows(rows), dy, grads, dctx);
  // Rows outside every block had a constant (zero) context: no gradient reaches their Q, K, V.
  dqkv.setZero();
  const T scale = T(1) / std::sqrt(static_cast<T>(d_head_));
  const T keep_scale = Dropout<T>::KeepScale(options_.dropout);
  const Eigen::Index pstride = ws.probs.cols();

  for (int b = 0; b < ws.blocks; ++b) {
    const Eigen::Index r0 = ws.block_begin[b];
    const int n = ws.block_len[b];
    if (n == 0) continue;
    for (int h = 0; h < heads; ++h) {
      const auto q = qkv.block(r0, h * d_head_, n, d_head_);
      const auto k = qkv.block(r0, hidden + h * d_head_, n, d_head_);
      const auto vv = qkv.block(r0, 2 * hidden + h * d_head_, n, d_head_);
      auto dq = dqkv.block(r0, h * d_head_, n, d_head_);
      auto dk = dqkv.block(r0, hidden + h * d_head_, n, d_head_);
      auto dv = dqkv.block(r0, 2 * hidden + h * d_head_, n, d_head_);
      const auto dc = dctx.block(r0, h * d_head_, n, d_head_);
      const Eigen::Index prow = heads * r0 + static_cast<Eigen::Index>(h) * n;
      const auto p = ws.probs.block(prow, 0, n, n);
      auto dp = ws.dp.topLeftCorner(n, n);
      dp.noalias() = dc * vv.transpose();
      if (ws.dropout_active) {
        dv.noalias() = ws.dropped.block(prow, 0, n, n).transpose() * dc;
        for (int i = 0; i < n; ++i) {
          const uint8_t* kr = ws.keep.data() + (prow + i) * pstride;
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
