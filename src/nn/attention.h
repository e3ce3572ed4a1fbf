#pragma once

// Multi-head self-attention over a batch of sequences (Vaswani et al. 2017, as SASRec uses it):
// Q, K, V = x Wqkv + bqkv split into heads; per head softmax(Q K^T / sqrt(d_head) + mask) V; heads
// concatenated and projected by Wo, bo.
//
// The mask combines a causal mask (position i attends to j <= i; optional) with a key padding mask.
// Sequences come in one of two layouts (SequenceLayout): padded windows with a validity mask, or
// packed rows with no padding at all. In a padded window the valid positions are expected to be a
// suffix (left padding), and scores are computed only over that suffix, which for short histories
// in a long window is most of the work saved; holes inside the suffix are still masked correctly,
// only without saving. A padded query position has no key to attend to: its attention output is
// defined as zero (the output projection then yields the bias).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nn/ops.h"
#include "nn/random.h"
#include "nn/tensor.h"

namespace freshet::nn {

// Where the sequences of a batch sit in the rows of an activation matrix. Non-owning: the spans
// must outlive the Forward call that takes the layout (Backward does not need them).
struct SequenceLayout {
  // `batch` windows of `len` rows (row b * len + t); valid[b * len + t] is 1 for a real token,
  // 0 for padding.
  static SequenceLayout Padded(std::span<const uint8_t> valid, int batch, int len) {
    return {valid, {}, batch, len};
  }
  // Sequence b is rows [offsets[b], offsets[b + 1]), every row a real token: no padding to
  // compute. `max_len` bounds offsets[b + 1] - offsets[b]. REQUIRES: offsets[0] == 0,
  // non-decreasing.
  static SequenceLayout Packed(std::span<const int32_t> offsets, int max_len) {
    return {{}, offsets, static_cast<int>(offsets.size()) - 1, max_len};
  }

  bool packed() const { return !offsets.empty(); }
  Eigen::Index rows() const {
    return packed() ? offsets.back() : static_cast<Eigen::Index>(batch) * len;
  }

  std::span<const uint8_t> valid;    // padded layout
  std::span<const int32_t> offsets;  // packed layout
  int batch = 0;
  int len = 0;  // padded: the window length; packed: the longest sequence allowed
};

struct AttentionOptions {
  int hidden = 64;  // model width; REQUIRES: divisible by heads
  // Heads split the width (d_head = hidden / heads). SASRec reports one head is enough at width
  // 50-64; more heads cost almost nothing extra here but give each a narrower view.
  int heads = 1;
  float dropout = 0.0f;  // on the attention probabilities; 0 saves a mask of [len x len] per head
  bool causal = true;    // next-item training needs it; false for bidirectional (BERT4Rec-like)
};

template <typename T>
class MultiHeadSelfAttention {
 public:
  struct Workspace {
    // Room for up to max_batch * max_len rows in either layout, sequences up to max_len long.
    Workspace(const MultiHeadSelfAttention& attention, int max_batch, int max_len);
    Matrix<T> qkv;  // [rows, 3 * hidden]: Q | K | V, head h at columns h * d_head of each third
    Matrix<T> ctx;  // [rows, hidden]: concatenated head outputs
    // Softmax probabilities. A scored block (see below) starting at row `begin` with n rows keeps
    // head h's [n x n] matrix at rows heads * begin + h * n, columns 0..n-1: blocks never overlap.
    Matrix<T> probs;
    Matrix<T> dropped;          // probs after dropout (allocated only with dropout > 0)
    std::vector<uint8_t> keep;  // dropout keep flags, laid out like probs
    Matrix<T> dqkv;             // Backward scratch
    Matrix<T> dctx;             // Backward scratch
    Matrix<T> dp;               // Backward scratch, [max_len, max_len]
    // The scored blocks of the last Forward: per sequence its first scored row and length (the
    // valid suffix of a padded window, the whole of a packed sequence), and whether it has
    // invalid rows inside (then `valid` below says which).
    std::vector<int32_t> block_begin;
    std::vector<int32_t> block_len;
    std::vector<uint8_t> block_holes;
    std::vector<uint8_t> valid;  // padded layout: the mask of the last Forward
    Eigen::Index rows = 0;
    int blocks = 0;
    bool dropout_active = false;
  };

  // Registers "<name>.qkv" (Linear hidden -> 3 hidden) and "<name>.out" (Linear hidden -> hidden).
  MultiHeadSelfAttention(ParamSet<T>& params, const std::string& name,
                         const AttentionOptions& options, Rng& rng);

  const AttentionOptions& options() const { return options_; }
  const Linear<T>& qkv() const { return qkv_; }
  const Linear<T>& out() const { return out_; }

  // x is [layout.rows(), hidden]. REQUIRES: the layout fits the workspace (rows and sequence
  // lengths); y is shaped like x and does not alias it.
  void Forward(ConstMatrixRef<T> x, const SequenceLayout& layout, MatrixRef<T> y, Workspace& ws,
               Rng& rng, bool training) const;
  // x is Forward's input, dy the gradient of its output.
  void Backward(ConstMatrixRef<T> x, ConstMatrixRef<T> dy, GradSink<T>& grads, MatrixRef<T> dx,
                Workspace& ws, InputGrad mode = InputGrad::kAssign) const;

 private:
  AttentionOptions options_;
  int d_head_;
  Linear<T> qkv_;
  Linear<T> out_;
};

}  // namespace freshet::nn
