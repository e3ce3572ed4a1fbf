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
TransformerBlock<T>::Workspace::Workspace(const TransformerBlock& block, int max_batch,
                                          int max_len)
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
void TransformerBlock<T>::Forward(ConstMatrixRef<T> x, std::span<const uint8_t> valid, int batch,
                                  int len, MatrixRef<T> y, Workspace& ws, Rng& rng,
                                  bool training) const {
  const Eigen::Index rows = static_cast<Eigen::Index>(batch) * len;
  assert(x.rows() == rows && y.rows() == rows && rows <= ws.a.rows());
  auto a = ws.a.topRows(rows);
  auto att = ws.att.topRows(rows);
  auto h = ws.h.topRows(rows);
  auto f = ws.f.topRows(rows);
  auto z = ws.z.topRows(rows);
  if (options_.norm == NormPlacement::kPre) {
    ln1_.Forward(x, a, ws.ln1);
    attention_.Forward(a, valid, batch, len, att, ws.attention, rng, training);
    dropout_.ForwardAdd(att, x, h, ws.drop1, rng, training);
    ln2_.Forward(h, f, ws.ln2);
    ffn_.Forward(f, z, ws.ffn, rng, training);
    dropout_.ForwardAdd(z, h, y, ws.drop2, rng, training);
  } else {
    attention_.Forward(x, valid, batch, len, att, ws.attention, rng, training);
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
ConstMatrixRef<T> TransformerEncoder<T>::Forward(ConstMatrixRef<T> x,
                                                 std::span<const uint8_t> valid, int batch,
                                                 int len, Workspace& ws, Rng& rng,
                                                 bool training) const {
  const Eigen::Index rows = static_cast<Eigen::Index>(batch) * len;
  assert(x.rows() == rows && rows <= ws.y.rows());
  for (size_t k = 0; k < blocks_.size(); ++k) {
    ConstMatrixRef<T> in = k == 0 ? x : ConstMatrixRef<T>(ws.outputs[k - 1].topRows(rows));
    blocks_[k]->Forward(in, valid, batch, len, ws.outputs[k].topRows(rows), ws.blocks[k], rng,
                        training);
  }
  ConstMatrixRef<T> last =
      blocks_.empty() ? x : ConstMatrixRef<T>(ws.outputs.back().topRows(rows));
  auto y = ws.y.topRows(rows);
  if (final_ln_) {
    final_ln_->Forward(last, y, ws.final_ln);
  } else {
    y = last;
  }
  return y;
}

template <typename T>
void TransformerEncoder<T>::Backward(ConstMatrixRef<T> x, ConstMatrixRef<T> dy,
                                     GradSink<T>& grads, MatrixRef<T> dx, Workspace& ws) const {
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
      valid(ids.size()),
      x(static_cast<Eigen::Index>(ids.size()), encoder.hidden()),
      drop(ids.size() * encoder.hidden()),
      encoder(encoder.encoder_, max_batch, encoder.options().max_len),
      out(static_cast<Eigen::Index>(ids.size()), encoder.hidden()),
      dy(static_cast<Eigen::Index>(ids.size()), encoder.hidden()),
      dx(static_cast<Eigen::Index>(ids.size()), encoder.hidden()) {}

template <typename T>
SasrecEncoder<T>::SasrecEncoder(ParamSet<T>& params, const SasrecEncoderOptions& options,
                                Rng&& rng)
    : options_(options),
      embedding_(params, "sasrec.emb", EmbeddingOf(options), rng),
      dropout_(options.embedding_dropout),
      encoder_(params, "sasrec", options.transformer, rng) {}

template <typename T>
ConstMatrixRef<T> SasrecEncoder<T>::Forward(std::span<const ItemId> ids, int batch, int len,
                                            Workspace& ws, Rng& rng, bool training) const {
  assert(batch > 0 && batch <= ws.max_batch && len > 0 && len <= options_.max_len);
  const size_t n = static_cast<size_t>(batch) * len;
  assert(ids.size() == n);
  const auto rows = static_cast<Eigen::Index>(n);
  ws.batch = batch;
  ws.len = len;
  std::copy(ids.begin(), ids.end(), ws.ids.begin());
  for (size_t r = 0; r < n; ++r) ws.valid[r] = ids[r] != kNoId;
  const std::span<const uint8_t> valid(ws.valid.data(), n);

  auto x = ws.x.topRows(rows);
  embedding_.Forward(ids, batch, len, x);
  // Padded rows are zero from the lookup and stay zero: dropout only scales.
  dropout_.Forward(x, x, ws.drop, rng, training);
  ConstMatrixRef<T> y = encoder_.Forward(x, valid, batch, len, ws.encoder, rng, training);
  auto out = ws.out.topRows(rows);
  // Padded positions compute garbage-but-finite values that no valid position ever reads (keys
  // are masked); zero them so callers see clean rows, as the reference code's `seq *= mask`.
  for (Eigen::Index r = 0; r < rows; ++r) {
    if (ws.valid[r]) {
      out.row(r) = y.row(r);
    } else {
      out.row(r).setZero();
    }
  }
  return out;
}

template <typename T>
void SasrecEncoder<T>::Backward(ConstMatrixRef<T> d_hidden, Workspace& ws,
                                GradSink<T>& grads) const {
  const int batch = ws.batch;
  const int len = ws.len;
  const auto rows = static_cast<Eigen::Index>(batch) * len;
  assert(d_hidden.rows() == rows && d_hidden.cols() == hidden());
  auto dy = ws.dy.topRows(rows);
  for (Eigen::Index r = 0; r < rows; ++r) {
    if (ws.valid[r]) {
      dy.row(r) = d_hidden.row(r);
    } else {
      dy.row(r).setZero();
    }
  }
  auto dx = ws.dx.topRows(rows);
  encoder_.Backward(ws.x.topRows(rows), dy, grads, dx, ws.encoder);
  dropout_.Backward(dx, dx, ws.drop);
  embedding_.Backward(std::span<const ItemId>(ws.ids.data(), static_cast<size_t>(rows)), batch,
                      len, dx, grads);
}

template class TransformerBlock<float>;
template class TransformerBlock<double>;
template class TransformerEncoder<float>;
template class TransformerEncoder<double>;
template class SasrecEncoder<float>;
template class SasrecEncoder<double>;

}  // namespace freshet::nn
