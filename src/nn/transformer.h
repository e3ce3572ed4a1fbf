#pragma once

// Transformer blocks and the SASRec encoder built from them (Kang & McAuley, ICDM 2018):
// item embedding + learned position embedding, dropout, `blocks` x [causal multi-head
// self-attention, point-wise feed-forward, each with a residual connection and layer norm], a final
// layer norm. The model step on top of it stays thin: ids in, hidden states out, a loss from
// loss.h, hidden-state gradients back in.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/ids.h"
#include "nn/attention.h"
#include "nn/ops.h"
#include "nn/random.h"
#include "nn/tensor.h"

namespace freshet::nn {

// Where layer norm sits relative to the residual connections. Persisted by models: never renumber.
enum class NormPlacement : uint8_t {
  // x + Sublayer(LN(x)), and a final LN after the last block, as in GPT-2; trains stably
  // without warm-up. (The SASRec reference code differs: it normalises only the attention
  // queries, adds the normalised input as the residual, drops out attention probabilities and
  // has no output projection.)
  kPre = 0,
  // LN(x + Sublayer(x)), the original Transformer.
  kPost = 1,
};

struct TransformerOptions {
  int hidden = 64;       // model width; quality on Amazon-sized catalogs saturates near 64
  int heads = 1;         // REQUIRES: divides hidden
  int ffn_inner = 0;     // feed-forward inner width; 0 = hidden (SASRec); 4 * hidden is BERT's
  int blocks = 2;        // SASRec's default; a third rarely helps on sparse data
  float dropout = 0.2f;  // residual branches and feed-forward inner activations
  float attention_dropout = 0.0f;             // attention probabilities
  Activation activation = Activation::kRelu;  // SASRec uses ReLU; GELU is BERT4Rec's
  NormPlacement norm = NormPlacement::kPre;
  bool final_norm = true;        // LN after the last block; keep it with kPre, optional with kPost
  float layer_norm_eps = 1e-8f;  // as the reference SASRec code; larger is safer in float16
  bool causal = true;            // false for bidirectional attention
};

// One block over the [rows, hidden] activations of a batch of sequences laid out as `layout` says
// (padded windows with a validity mask, or packed; see SequenceLayout in attention.h).
// kPre:  h = x + drop(attn(LN1(x)));  y = h + drop(ffn(LN2(h)))
// kPost: h = LN1(x + drop(attn(x)));  y = LN2(h + drop(ffn(h)))
template <typename T>
class TransformerBlock {
 public:
  struct Workspace {
    Workspace(const TransformerBlock& block, int max_batch, int max_len);
    typename LayerNorm<T>::Workspace ln1;
    typename LayerNorm<T>::Workspace ln2;
    typename MultiHeadSelfAttention<T>::Workspace attention;
    typename FeedForward<T>::Workspace ffn;
    typename Dropout<T>::Workspace drop1;
    typename Dropout<T>::Workspace drop2;
    Matrix<T> a;           // attention input (kPre: LN1(x)) / kPost: pre-LN1 sum
    Matrix<T> att;         // attention output
    Matrix<T> h;           // between the two sublayers
    Matrix<T> f;           // feed-forward input (kPre: LN2(h)) / kPost: pre-LN2 sum
    Matrix<T> z;           // feed-forward output
    Matrix<T> d1, d2, d3;  // Backward scratch
  };

  // Registers "<name>.ln1", "<name>.attn", "<name>.ln2", "<name>.ffn".
  TransformerBlock(ParamSet<T>& params, const std::string& name, const TransformerOptions& options,
                   Rng& rng);

  const TransformerOptions& options() const { return options_; }

  // REQUIRES: x and y are [layout.rows(), hidden], distinct; the layout within the workspace's
  // maxima. x must stay unchanged until Backward.
  void Forward(ConstMatrixRef<T> x, const SequenceLayout& layout, MatrixRef<T> y, Workspace& ws,
               Rng& rng, bool training) const;
  // x is Forward's input, dy the gradient of its output; dx must not alias dy.
  void Backward(ConstMatrixRef<T> x, ConstMatrixRef<T> dy, GradSink<T>& grads, MatrixRef<T> dx,
                Workspace& ws) const;

 private:
  TransformerOptions options_;
  LayerNorm<T> ln1_;
  MultiHeadSelfAttention<T> attention_;
  LayerNorm<T> ln2_;
  FeedForward<T> ffn_;
  Dropout<T> dropout_;
};

// A stack of blocks and the optional final layer norm.
template <typename T>
class TransformerEncoder {
 public:
  struct Workspace {
    Workspace(const TransformerEncoder& encoder, int max_batch, int max_len);
    std::vector<typename TransformerBlock<T>::Workspace> blocks;
    std::vector<Matrix<T>> outputs;  // outputs[k] = output of block k
    typename LayerNorm<T>::Workspace final_ln;
    Matrix<T> y;        // the encoder's output
    Matrix<T> dbuf[2];  // Backward: gradients flowing between blocks
  };

  TransformerEncoder(ParamSet<T>& params, const std::string& name,
                     const TransformerOptions& options, Rng& rng);

  const TransformerOptions& options() const { return options_; }
  int num_blocks() const { return static_cast<int>(blocks_.size()); }

  // Returns the output [layout.rows(), hidden], a view of ws valid until the next Forward on it.
  // REQUIRES: as TransformerBlock::Forward; x stays unchanged until Backward.
  ConstMatrixRef<T> Forward(ConstMatrixRef<T> x, const SequenceLayout& layout, Workspace& ws,
                            Rng& rng, bool training) const;
  // dy is the gradient of Forward's output; dx receives the gradient of x (assigned).
  void Backward(ConstMatrixRef<T> x, ConstMatrixRef<T> dy, GradSink<T>& grads, MatrixRef<T> dx,
                Workspace& ws) const;

 private:
  TransformerOptions options_;
  std::vector<std::unique_ptr<TransformerBlock<T>>> blocks_;
  std::unique_ptr<LayerNorm<T>> final_ln_;
};

struct SasrecEncoderOptions {
  int num_items = 0;               // catalog size: item ids are [0, num_items)
  int max_len = 50;                // longest history window; training cost is linear in it
  float embedding_dropout = 0.2f;  // on the summed item + position embeddings
  bool scale_items = true;         // item vectors * sqrt(hidden) before adding positions
  double init_stddev = 0.02;       // N(0, s^2) initial embeddings
  TransformerOptions transformer;
};

// SASRec's encoder: ids of left-padded windows in, one hidden vector per position out. The item
// table ("sasrec.emb.items", [num_items, hidden]) is meant to be shared with the output layer
// (logits = hidden items^T), as in the paper.
//
// Internally the real tokens are packed (SequenceLayout::Packed) before the embedding, so padding
// costs nothing anywhere in the stack: a batch of short histories in a long window trains at the
// cost of its real tokens. The result is identical to running the padded windows with a key
// padding mask, since padded keys are masked and padded queries are never read.
template <typename T>
class SasrecEncoder {
 public:
  struct Workspace {
    Workspace(const SasrecEncoder& encoder, int max_batch);
    int max_batch;
    // The packing of the last Forward: packed row i is window row src_row[i], an item at
    // position index positions[i]; sequence b is packed rows [offsets[b], offsets[b + 1]).
    std::vector<ItemId> ids;
    std::vector<int32_t> positions;
    std::vector<int32_t> src_row;
    std::vector<int32_t> offsets;
    Matrix<T> x;  // packed embeddings after dropout: the blocks' input
    typename Dropout<T>::Workspace drop;
    typename TransformerEncoder<T>::Workspace encoder;
    Matrix<T> out;  // the output in window layout, padded rows zero
    Matrix<T> dy;   // Backward scratch (packed)
    Matrix<T> dx;
    int batch = 0;
    int len = 0;
    Eigen::Index tokens = 0;  // packed rows
  };

  // All parameters go into `params` under "sasrec."; initial values derive from `seed`.
  SasrecEncoder(ParamSet<T>& params, const SasrecEncoderOptions& options, uint64_t seed)
      : SasrecEncoder(params, options, Rng(seed, /*stream=*/0x5a5)) {}

  const SasrecEncoderOptions& options() const { return options_; }
  int hidden() const { return options_.transformer.hidden; }
  Param<T>& item_embedding() const { return embedding_.items(); }
  Param<T>& position_embedding() const { return embedding_.positions(); }

  // ids holds `batch` windows of `len` ids (row b * len + t), padded with kNoId (left padding;
  // a kNoId inside a window is skipped as well, the items around it keep their positions).
  // Returns the hidden states [batch * len, hidden] (a view of ws, valid until its next Forward);
  // padded rows are zero. Position index of slot t: max_len - len + t, so the newest item always
  // has the last position whatever the window length. Inference: training = false (no dropout);
  // the newest position of window b is row b * len + len - 1.
  // REQUIRES: 0 < batch <= ws.max_batch; 0 < len <= max_len; ids below the item table's rows or
  // kNoId (map unknown items to kNoId first).
  ConstMatrixRef<T> Forward(std::span<const ItemId> ids, int batch, int len, Workspace& ws,
                            Rng& rng, bool training) const;
  // d_hidden is the gradient of Forward's output ([batch * len, hidden]; padded rows ignored).
  // Adds every parameter gradient, the item table's included, to grads.
  void Backward(ConstMatrixRef<T> d_hidden, Workspace& ws, GradSink<T>& grads) const;

 private:
  SasrecEncoder(ParamSet<T>& params, const SasrecEncoderOptions& options, Rng&& rng);

  SasrecEncoderOptions options_;
  SequenceEmbedding<T> embedding_;
  Dropout<T> dropout_;
  TransformerEncoder<T> encoder_;
};

}  // namespace freshet::nn
