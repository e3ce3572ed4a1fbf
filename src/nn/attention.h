#pragma once

// Multi-head self-attention over a batch of left-padded sequences (Vaswani et al. 2017, as SASRec
// uses it): Q, K, V = x Wqkv + bqkv split into heads; per head softmax(Q K^T / sqrt(d_head) + mask) V;
// heads concatenated and projected by Wo, bo.
//
// The mask combines a causal mask (position i attends to j <= i; optional) with a key padding mask
// (valid[j] == 0 hides key j). Sequences are expected to be left-padded, so each sequence's valid
// positions are a suffix [start, len) and the score matrices are computed only over that suffix,
// which for short histories in a long window is most of the saving. Holes inside the suffix are
// still masked correctly, only with no saving. A padded query position has no key to attend to;
// its attention output is defined as zero (the output projection then yields the bias).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nn/ops.h"
#include "nn/random.h"
#include "nn/tensor.h"

namespace freshet::nn {

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
    Workspace(const MultiHeadSelfAttention& attention, int max_batch, int max_len);
    Matrix<T> qkv;   // [rows, 3 * hidden]: Q | K | V, head h at columns h * d_head of each third
    Matrix<T> ctx;   // [rows, hidden]: concatenated head outputs
    // Softmax probabilities, row ((b * heads + h) * len + i) holds query i of head h of sequence
    // b, columns are keys. Only the valid suffix block of each sequence is meaningful.
    Matrix<T> probs;
    Matrix<T> dropped;           // probs after dropout (allocated only with dropout > 0)
    std::vector<uint8_t> keep;   // dropout keep flags, laid out like probs
    Matrix<T> dqkv;              // Backward scratch
    Matrix<T> dctx;              // Backward scratch
    Matrix<T> dp;                // Backward scratch, [max_len, max_len]
    std::vector<uint8_t> valid;  // the mask of the last Forward
    std::vector<int> start;      // per sequence: first valid position (len when none)
    std::vector<uint8_t> holes;  // per sequence: an invalid position after start
    int batch = 0;
    int len = 0;
    bool dropout_active = false;
  };

  // Registers "<name>.qkv" (Linear hidden -> 3 hidden) and "<name>.out" (Linear hidden -> hidden).
  MultiHeadSelfAttention(ParamSet<T>& params, const std::string& name,
                         const AttentionOptions& options, Rng& rng);

  const AttentionOptions& options() const { return options_; }
  const Linear<T>& qkv() const { return qkv_; }
  const Linear<T>& out() const { return out_; }

  // x is [batch * len, hidden] (row b * len + t), valid[b * len + t] is 1 for a real token and 0
  // for padding. REQUIRES: batch <= the workspace's max_batch, len <= its max_len; y is
  // [batch * len, hidden] and does not alias x.
  void Forward(ConstMatrixRef<T> x, std::span<const uint8_t> valid, int batch, int len,
               MatrixRef<T> y, Workspace& ws, Rng& rng, bool training) const;
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
