#include "nn/transformer.h"

#include <algorithm>
#include <cassert>

namespace freshet::nn {
namespace {

AttentionOptions AttentionOf(const TransformerOptions& o) {
  AttentionOptions a;
  a.hidden = o.hidden;
  a.heads = o.heads;
  a.dropout = o.attention_dropout;
  a.causal = o.causal;
  return a;
}

FeedForwardOptions FeedForwardOf(const TransformerOptions& o) {
  FeedForwardOptions f;
  f.dim = o.hidden;
  f.inner = o.ffn_inner > 0 ? o.ffn_inner : o.hidden;
  f.activation = o.activation;
  f.dropout = o.dropout;
  return f;
}

}  // namespace

// ---- TransformerBlock

template <typename T>
TransformerBlock<T>::Workspace::Workspace(const TransformerBlock& block, int max_batch, int max_len)
    : ln1(block.ln1_, max_batch * max_len),
      ln2(block.ln2_, max_batch * max_len),
      attention(block.attention_, max_batch, max_len),
      ffn(block.ffn_, max_batch * max_len),
      drop1(static_cast<size_t>(max_batch) * max_len * block.options().hidden),
      drop2(static_cast<size_t>(max_batch) * max_len * block.options().hidden) {
  const Eigen::Index rows = static_cast<Eigen::Index>(max_batch) * max_len;
  const int hidden = block.options().hidden;
  for (Matrix<T>* m : {&a, &att, &h, &f, &z, &d1, &d2, &d3}) m->resize(rows, hidden);
}

template <typename T>
TransformerBlock<T>::TransformerBlock(ParamSet<T>& params, const std::string& name,
                                      const TransformerOptions& options, Rng& rng)
    : options_(options),
      ln1_(params, name + ".ln1", options.hidden, static_cast<T>(options.layer_norm_eps)),
      attention_(params, name + ".attn", AttentionOf(options), rng),
      ln2_(params, name + ".ln2", options.hidden, static_cast<T>(options.layer_norm_eps)),
      ffn_(params, name + ".ffn", FeedForwardOf(options), rng),
      dropout_(options.dropout) {}

template <typename T>
void TransformerBlock<T>::Forward(ConstMatrixRef<T> x, const SequenceLayout& layout, MatrixRef<T> y,
                                  Workspace& ws, Rng& rng, bool training) const {
  const Eigen::Index rows = layout.rows();
  assert(x.rows() == rows && y.rows() == rows && rows <= ws.a.rows());
  auto a = ws.a.topRows(rows);
  auto att = ws.att.topRows(rows);
  auto h = ws.h.topRows(rows);
  auto f = ws.f.topRows(rows);
  auto z = ws.z.topRows(rows);
  if (options_.norm == NormPlacement::kPre) {
    ln1_.Forward(x, a, ws.ln1);
    attention_.Forward(a, layout, att, ws.attention, rng, training);
    dropout_.ForwardAdd(att, x, h, ws.drop1, rng, training);
    ln2_.Forward(h, f, ws.ln2);
    ffn_.Forward(f, z, ws.ffn, rng, training);
    dropout_.ForwardAdd(z, h, y, ws.drop2, rng, training);
  } else {
    attention_.Forward(x, layout, att, ws.attention, rng, training);
    dropout_.ForwardAdd(att, x, a, ws.drop1, rng, training);
    ln1_.Forward(a, h, ws.ln1);
    ffn_.Forward(h, z, ws.ffn, rng, training);
    dropout_.ForwardAdd(z, h, f, ws.drop2, rng, training);
    ln2_.Forward(f, y, ws.ln2);
  }
}

template <typename T>
void TransformerBlock<T>::Backward(ConstMatrixRef<T> x, ConstMatrixRef<T> dy, GradSink<T>& grads,
                                   MatrixRef<T> dx, Workspace& ws) const {
  const Eigen::Index rows = dy.rows();
  auto d1 = ws.d1.topRows(rows);
  auto d2 = ws.d2.topRows(rows);
  auto d3 = ws.d3.topRows(rows);
  if (options_.norm == NormPlacement::kPre) {
    // y = h + drop(ffn(LN2(h))): dh = dy + LN2'(ffn'(drop'(dy))).
    dropout_.Backward(dy, d1, ws.drop2);
    ffn_.Backward(ws.f.topRows(rows), d1, grads, d2, ws.ffn);
    ln2_.Backward(d2, grads, d3, ws.ln2);
    d3 += dy;
    // h = x + drop(attn(LN1(x))): dx = dh + LN1'(attn'(drop'(dh))).
    dropout_.Backward(d3, d1, ws.drop1);
    attention_.Backward(ws.a.topRows(rows), d1, grads, d2, ws.attention);
    ln1_.Backward(d2, grads, dx, ws.ln1);
    dx += d3;
  } else {
    // y = LN2(f), f = h + drop(ffn(h)).
    ln2_.Backward(dy, grads, d1, ws.ln2);
    dropout_.Backward(d1, d2, ws.drop2);
    ffn_.Backward(ws.h.topRows(rows), d2, grads, d3, ws.ffn);
    d3 += d1;
    // h = LN1(a), a = x + drop(attn(x)).
    ln1_.Backward(d3, grads, d1, ws.ln1);
    dropout_.Backward(d1, d2, ws.drop1);
    attention_.Backward(x, d2, grads, dx, ws.attention);
    dx += d1;
  }
}

// ---- TransformerEncoder

template <typename T>
TransformerEncoder<T>::Workspace::Workspace(const TransformerEncoder& encoder, int max_batch,
                                            int max_len)
    : final_ln(encoder.options().hidden, max_batch * max_len) {
  const Eigen::Index rows = static_cast<Eigen::Index>(max_batch) * max_len;
  const int hidden = encoder.options().hidden;
  blocks.reserve(encoder.blocks_.size());
  for (const auto& block : encoder.blocks_) blocks.emplace_back(*block, max_batch, max_len);
  outputs.resize(encoder.blocks_.size());
  for (auto& o : outputs) o.resize(rows, hidden);
  y.resize(rows, hidden);
  for (auto& d : dbuf) d.resize(rows, hidden);
}

template <typename T>
TransformerEncoder<T>::TransformerEncoder(ParamSet<T>& params, const std::string& name,
                                          const TransformerOptions& options, Rng& rng)
    : options_(options) {
  assert(options.blocks >= 0);
  for (int k = 0; k < options.blocks; ++k) {
    blocks_.push_back(std::make_unique<TransformerBlock<T>>(
        params, name + ".block" + std::to_string(k), options, rng));
  }
  if (options.final_norm) {
    final_ln_ = std::make_unique<LayerNorm<T>>(params, name + ".final_ln", options.hidden,
                                               static_cast<T>(options.layer_norm_eps));
  }
}

template <typename T>
ConstMatrixRef<T> TransformerEncoder<T>::Forward(ConstMatrixRef<T> x, const SequenceLayout& layout,
                                                 Workspace& ws, Rng& rng, bool training) const {
  const Eigen::Index rows = layout.rows();
  assert(x.rows() == rows && rows <= ws.y.rows());
  for (size_t k = 0; k < blocks_.size(); ++k) {
    ConstMatrixRef<T> in = k == 0 ? x : ConstMatrixRef<T>(ws.outputs[k - 1].topRows(rows));
    blocks_[k]->Forward(in, layout, ws.outputs[k].topRows(rows), ws.blocks[k], rng, training);
  }
  ConstMatrixRef<T> last = blocks_.empty() ? x : ConstMatrixRef<T>(ws.outputs.back().topRows(rows));
  auto y = ws.y.topRows(rows);
  if (final_ln_) {
    final_ln_->Forward(last, y, ws.final_ln);
  } else {
    y = last;
  }
  return y;
}

template <typename T>
void TransformerEncoder<T>::Backward(ConstMatrixRef<T> x, ConstMatrixRef<T> dy, GradSink<T>& grads,
                                     MatrixRef<T> dx, Workspace& ws) const {
  const Eigen::Index rows = dy.rows();
  if (blocks_.empty()) {
    if (final_ln_) {
      final_ln_->Backward(dy, grads, dx, ws.final_ln);
    } else {
      dx = dy;
    }
    return;
  }
  // The gradient ping-pongs between two buffers on its way down the stack; the last block writes
  // straight into dx.
  int cur = 0;
  if (final_ln_) {
    final_ln_->Backward(dy, grads, ws.dbuf[cur].topRows(rows), ws.final_ln);
  } else {
    ws.dbuf[cur].topRows(rows) = dy;
  }
  for (size_t k = blocks_.size(); k-- > 0;) {
    ConstMatrixRef<T> in = k == 0 ? x : ConstMatrixRef<T>(ws.outputs[k - 1].topRows(rows));
    if (k == 0) {
      blocks_[k]->Backward(in, ws.dbuf[cur].topRows(rows), grads, dx, ws.blocks[k]);
    } else {
      blocks_[k]->Backward(in, ws.dbuf[cur].topRows(rows), grads, ws.dbuf[1 - cur].topRows(rows),
                           ws.blocks[k]);
      cur = 1 - cur;
    }
  }
}

// ---- SasrecEncoder

namespace {

SequenceEmbeddingOptions EmbeddingOf(const SasrecEncoderOptions& o) {
  SequenceEmbeddingOptions e;
  e.num_items = o.num_items;
  e.max_len = o.max_len;
  e.dim = o.transformer.hidden;
  e.scale_items = o.scale_items;
  e.init_stddev = o.init_stddev;
  return e;
}

}  // namespace

template <typename T>
SasrecEncoder<T>::Workspace::Workspace(const SasrecEncoder& encoder, int max_batch)
    : max_batch(max_batch),
      ids(static_cast<size_t>(max_batch) * encoder.options().max_len),
      positions(ids.size()),
      src_row(ids.size()),
      offsets(static_cast<size_t>(max_batch) + 1),
      x(static_cast<Eigen::Index>(ids.size()), encoder.hidden()),
      drop(ids.size() * encoder.hidden()),
      encoder(encoder.encoder_, max_batch, encoder.options().max_len),
      out(static_cast<Eigen::Index>(ids.size()), encoder.hidden()),
      dy(static_cast<Eigen::Index>(ids.size()), encoder.hidden()),
      dx(static_cast<Eigen::Index>(ids.size()), encoder.hidden()) {}

template <typename T>
SasrecEncoder<T>::SasrecEncoder(ParamSet<T>& params, const SasrecEncoderOptions& options, Rng&& rng)
    : options_(options),
      embedding_(params, "sasrec.emb", EmbeddingOf(options), rng),
      dropout_(options.embedding_dropout),
      encoder_(params, "sasrec", options.transformer, rng) {}

template <typename T>
ConstMatrixRef<T> SasrecEncoder<T>::Forward(std::span<const ItemId> ids, int batch, int len,
                                            Workspace& ws, Rng& rng, bool training) const {
  assert(batch > 0 && batch <= ws.max_batch && len > 0 && len <= options_.max_len);
  assert(ids.size() == static_cast<size_t>(batch) * len);
  ws.batch = batch;
  ws.len = len;
  // Pack the real tokens.
  const int first_pos = options_.max_len - len;
  int32_t n = 0;
  ws.offsets[0] = 0;
  for (int b = 0; b < batch; ++b) {
    for (int t = 0; t < len; ++t) {
      const int32_t row = b * len + t;
      if (ids[row] == kNoId) continue;
      ws.ids[n] = ids[row];
      ws.positions[n] = first_pos + t;
      ws.src_row[n] = row;
      ++n;
    }
    ws.offsets[b + 1] = n;
  }
  ws.tokens = n;
  auto out = ws.out.topRows(static_cast<Eigen::Index>(batch) * len);
  out.setZero();
  if (n == 0) return out;

  auto x = ws.x.topRows(n);
  embedding_.Forward(std::span<const ItemId>(ws.ids.data(), n),
                     std::span<const int32_t>(ws.positions.data(), n), x);
  dropout_.Forward(x, x, ws.drop, rng, training);
  const auto layout = SequenceLayout::Packed(
      std::span<const int32_t>(ws.offsets.data(), static_cast<size_t>(batch) + 1), len);
  ConstMatrixRef<T> y = encoder_.Forward(x, layout, ws.encoder, rng, training);
  for (int32_t i = 0; i < n; ++i) out.row(ws.src_row[i]) = y.row(i);
  return out;
}

template <typename T>
void SasrecEncoder<T>::Backward(ConstMatrixRef<T> d_hidden, Workspace& ws,
                                GradSink<T>& grads) const {
  assert(d_hidden.rows() == static_cast<Eigen::Index>(ws.batch) * ws.len);
  assert(d_hidden.cols() == hidden());
  const Eigen::Index n = ws.tokens;
  if (n == 0) return;
  auto dy = ws.dy.topRows(n);
  for (Eigen::Index i = 0; i < n; ++i) dy.row(i) = d_hidden.row(ws.src_row[i]);
  auto dx = ws.dx.topRows(n);
  encoder_.Backward(ws.x.topRows(n), dy, grads, dx, ws.encoder);
  dropout_.Backward(dx, dx, ws.drop);
  embedding_.Backward(std::span<const ItemId>(ws.ids.data(), static_cast<size_t>(n)),
                      std::span<const int32_t>(ws.positions.data(), static_cast<size_t>(n)), dx,
                      grads);
}

template class TransformerBlock<float>;
template class TransformerBlock<double>;
template class TransformerEncoder<float>;
template class TransformerEncoder<double>;
template class SasrecEncoder<float>;
template class SasrecEncoder<double>;

}  // namespace freshet::nn
