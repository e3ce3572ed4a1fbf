#pragma once

// Next-item losses over hidden states and an item table, with their gradients.
//
// All of them score a hidden row h against item rows e of `items` ([num_items, dim]) by the dot
// product h . e (SASRec ties the output layer to the input item embedding), ignore rows whose
// target is kNoId (padding), and return the loss SUM with the number of rows counted. Gradients
// are multiplied by `grad_scale`: pass 1 / (targets in the whole batch) so that data-parallel
// workers, each handling part of the batch, produce gradients that sum to the gradient of the
// batch mean. d_hidden is overwritten (zero on ignored rows); d_items is ADDED to (pass the item
// table's gradient buffer from the worker's GradSink).

#include <cstdint>
#include <span>
#include <vector>

#include "core/ids.h"
#include "nn/tensor.h"

namespace freshet::nn {

struct LossValue {
  double sum = 0;     // sum of per-row losses
  int64_t count = 0;  // rows that had a target
  double mean() const { return count > 0 ? sum / static_cast<double>(count) : 0.0; }
};

// SASRec's loss (Kang & McAuley 2018): for each row, binary cross-entropy of the positive item
// against label 1 plus that of each sampled negative against label 0:
//   softplus(-h.e_pos) + sum_k softplus(h.e_neg_k).
// negatives holds k ids per row (row r's at [r * k, r * k + k)), k = negatives.size() / rows; a
// negative equal to kNoId is skipped. REQUIRES: negatives.size() is a multiple of hidden.rows();
// ids below items.rows(); d_hidden shaped like hidden, d_items like items.
template <typename T>
LossValue SampledBinaryCrossEntropy(ConstMatrixRef<T> hidden, std::span<const ItemId> positives,
                                    std::span<const ItemId> negatives, ConstMatrixRef<T> items,
                                    T grad_scale, MatrixRef<T> d_hidden, MatrixRef<T> d_items);

struct SampledSoftmaxOptions {
  // A sampled negative that equals the row's positive is dropped from that row's softmax (TF's
  // remove_accidental_hits): with popularity sampling the positive is often drawn, and keeping it
  // would push its own score down.
  bool remove_accidental_hits = true;
};

// Softmax cross-entropy of the positive against [positive, k sampled negatives] per row. With a
// non-uniform sampler pass log_q[item] = log(probability the sampler draws item); every candidate's
// logit, the positive's included, is then corrected to h.e - log_q (the "log-Q" correction, Bengio
// & Senecal 2008; Yi et al., RecSys 2019), which makes the sampled softmax an unbiased-in-the-limit
// estimate of the full one. Empty log_q: no correction (uniform sampling).
template <typename T>
class SampledSoftmaxLoss {
 public:
  struct Workspace {
    std::vector<T> logits;  // grows to k + 1 on first use, then reused
  };

  explicit SampledSoftmaxLoss(const SampledSoftmaxOptions& options = {}) : options_(options) {}

  // REQUIRES: as SampledBinaryCrossEntropy; log_q empty or of size items.rows().
  LossValue Compute(ConstMatrixRef<T> hidden, std::span<const ItemId> positives,
                    std::span<const ItemId> negatives, ConstMatrixRef<T> items,
                    std::span<const T> log_q, T grad_scale, MatrixRef<T> d_hidden,
                    MatrixRef<T> d_items, Workspace& ws) const;

 private:
  SampledSoftmaxOptions options_;
};

struct FullSoftmaxOptions {
  // Rows scored per chunk. The chunk's logits ([chunk_rows, num_items] floats) are the only
  // catalog-sized buffer, so the whole [positions x catalog] matrix never exists; larger chunks
  // amortise the passes over d_items, smaller ones keep the logits closer to cache. Measured at
  // dim 64 and 12k items (docs in src/nn/README.md): 128 beats 64 and 256 by 5-10%.
  // 128 rows x 12k items = 6 MB.
  int chunk_rows = 128;
  // SharedNegativeSoftmaxLoss<float> only: compute its three [rows x dim] x [dim x K] products
  // (logits, d_hidden, d_negatives) from inputs rounded to bfloat16, summed in float, when the CPU
  // has AVX512-BF16 and dim is a multiple of 32 (bf16_kernels.h); otherwise, and always for
  // double, in float. The loss then runs about 3.4x faster (src/nn/README.md), and logits and
  // gradients carry bf16's rounding (relative 2^-8 at most per input, the trade mixed-precision
  // training makes on accelerators), which SASRec's quality does not notice (docs/models.md).
  bool bf16_products = false;
};

// Cross-entropy of the target against a softmax over the whole catalog (Klenitskiy & Vasilev,
// RecSys 2023: SASRec trained this way beats BERT4Rec and the BCE-trained original by far).
// Rows with a target are gathered chunk by chunk; per chunk: logits = H items^T, log-sum-exp per
// row, G = softmax - onehot, then d_hidden = G items and d_items += G^T H (the normalisation and
// the onehot are applied to the small [rows x dim] side). Padded rows cost nothing.
template <typename T>
class FullSoftmaxLoss {
 public:
  struct Workspace {
    // Sized for a catalog of num_items; grows (allocating) if a larger one is passed later.
    Workspace(const FullSoftmaxLoss& loss, int num_items, int dim);
    Matrix<T> logits;                // [chunk_rows, num_items]
    Matrix<T> h;                     // gathered hidden rows of the chunk
    Matrix<T> dh;                    // their gradient
    Matrix<T> hs;                    // gathered rows scaled by factor
    std::vector<Eigen::Index> rows;  // which hidden rows the chunk holds
    std::vector<T> factor;           // grad_scale / sum of exp, per chunk row
  };

  explicit FullSoftmaxLoss(const FullSoftmaxOptions& options = {}) : options_(options) {}
  const FullSoftmaxOptions& options() const { return options_; }

  // targets[r] is row r's next item or kNoId. REQUIRES: targets.size() == hidden.rows(); ids below
  // items.rows(); d_hidden shaped like hidden, d_items like items.
  LossValue Compute(ConstMatrixRef<T> hidden, std::span<const ItemId> targets,
                    ConstMatrixRef<T> items, T grad_scale, MatrixRef<T> d_hidden,
                    MatrixRef<T> d_items, Workspace& ws) const;

 private:
  FullSoftmaxOptions options_;
};

// Cross-entropy of each row's target against [target, K negatives shared by every row], the
// negatives drawn once per batch (as in Mezentsev et al., "Scalable Cross-Entropy Loss for
// Sequential Recommendations with Large Item Catalogs", RecSys 2024, and gSASRec's many-negative
// setting). Scoring K shared items is three [rows x dim] x [dim x K] products instead of three over
// the catalog, so K = catalog / 10 does a tenth of FullSoftmaxLoss's multiply-adds. Negative j's logit gets
// + log_weights[j]: for K draws with replacement from a sampler that picks item i with
// probability q_i, pass -log(K q_j), and the sum over the negatives becomes an unbiased
// importance-sampled estimate of the sum over the catalog (Bengio & Senecal 2008), so the loss
// and its gradient approach the full softmax's as K grows. Every copy of a negative equal to a
// row's target is dropped from that row. Negatives may repeat.
template <typename T>
class SharedNegativeSoftmaxLoss {
 public:
  struct Workspace {
    Matrix<T> negatives;             // [K, dim]: the gathered negative rows
    Matrix<T> d_negatives;           // their gradient, scattered into d_items at the end
    Matrix<T> logits;                // [chunk_rows, K]
    Matrix<T> h;                     // gathered hidden rows of the chunk
    Matrix<T> dh;                    // their gradient
    Matrix<T> hs;                    // gathered rows scaled by factor
    std::vector<Eigen::Index> rows;  // which hidden rows the chunk holds
    std::vector<T> factor;           // grad_scale / sum of exp, per chunk row
    std::vector<T> pos_grad;         // the target logit's gradient, per chunk row
    std::vector<std::pair<ItemId, Eigen::Index>> sorted;  // (negative id, column), by id
    // bf16_products only: the bf16 copies the kernels read (layouts in bf16_kernels.h).
    std::vector<uint16_t> neg_rows, neg_blocks, neg_pairs;  // [K', dim], K' = K rounded up to 32
    std::vector<uint16_t> h_rows, hs_pairs;                 // the chunk's hidden rows, scaled
    std::vector<uint16_t> u_rows, u_pairs;                  // the chunk's exp rows
    std::vector<float> bias;      // log_weights, then -inf for the padding up to K'
    std::vector<float> row_max;   // per chunk row (16 per row: the kernel's scratch)
    std::vector<float> exp_sums;  // per chunk row
    // Copies of each item among the negatives as linked lists: first_copy[item] is its first
    // column or -1 (all -1 between calls), next_copy[column] the next or -1.
    std::vector<int32_t> first_copy, next_copy;
  };

  explicit SharedNegativeSoftmaxLoss(const FullSoftmaxOptions& options = {})
      : options_(options) {}

  // targets[r] is row r's next item or kNoId. REQUIRES: targets.size() == hidden.rows(); ids below
  // items.rows(); log_weights.size() == negatives.size(); d_hidden shaped like hidden, d_items
  // like items.
  LossValue Compute(ConstMatrixRef<T> hidden, std::span<const ItemId> targets,
                    std::span<const ItemId> negatives, std::span<const T> log_weights,
                    ConstMatrixRef<T> items,
                    T grad_scale, MatrixRef<T> d_hidden, MatrixRef<T> d_items,
                    Workspace& ws) const;

 private:
  FullSoftmaxOptions options_;
};

}  // namespace freshet::nn
