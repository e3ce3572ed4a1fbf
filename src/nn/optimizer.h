#pragma once

// Optimizers for dense parameters (a ParamSet). Sparse per-row optimizers for recsys embedding
// tables live in embedding_table.h.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "nn/tensor.h"
#include "nn/thread_pool.h"

namespace freshet::nn {

struct AdamOptions {
  float learning_rate = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;  // the SASRec paper uses 0.98: faster-moving second moments
  float eps = 1e-8f;
  // Shrinks every Param with decay == true. Decoupled (AdamW, Loshchilov & Hutter, ICLR 2019):
  // w -= lr * weight_decay * w beside the Adam step, so the decay is not rescaled by the adaptive
  // denominators. Not decoupled (classic Adam + L2): weight_decay * w is added to the gradient.
  float weight_decay = 0.0f;
  bool decoupled_weight_decay = true;
};

// Adam (Kingma & Ba, ICLR 2015) with bias correction by the global step count. Every element is
// updated on every Step, touched by the batch or not, which is right for dense layers and for an
// item table trained with a full softmax (every row gets a gradient). For tables whose rows are
// touched sparsely use EmbeddingTable's lazy Adam.
template <typename T>
class Adam {
 public:
  // `params` must outlive the optimizer.
  Adam(ParamSet<T>& params, const AdamOptions& options);

  // One update of every parameter from its grad (grads are left as they are; zero them before the
  // next batch). Parameters that grew rows since the last Step get zero moments for the new rows.
  // With a pool, element ranges are updated concurrently.
  void Step(ThreadPool* pool = nullptr);
  // Step split for a caller that folds it into a ThreadPool::Run of its own beside other
  // per-worker work: BeginStep once on one thread (sizes the moments, counts the step), then
  // StepPart(part, parts) on every worker `part` of `parts`, after the BeginStep is visible to it.
  // The parts are ForEachValueRangePart's, those of WorkerGradients::ReducePart, so a worker may
  // reduce its part of the gradients and step the same part with no barrier between.
  void BeginStep();
  void StepPart(int part, int parts);
  // The step (after BeginStep) of elements [begin, end) of `p` (flat, row-major) with the gradient
  // summed from `grads`, buffers of p's shape summed in their order (WorkerGradients' buffers,
  // the params' own grads first), which are then zeroed for the next step: reduce, step and zero
  // in one pass over memory, the arithmetic of ReducePart + StepPart + ZeroPart (the rounding of
  // an element may differ where the pieces' edges differ). For a caller that partitions the
  // elements its own way: each element once per step.
  void StepRangeSummed(Param<T>& p, size_t begin, size_t end, std::span<T* const> grads);
  // The step (after BeginStep) of elements [begin, end) of `p` with their gradient at
  // grad[0 .. end - begin), for a caller that computed that part of the gradient itself.
  void StepRange(Param<T>& p, size_t begin, size_t end, const T* grad) {
    Update(p, begin, end, grad);
  }

  void set_learning_rate(float lr) { options_.learning_rate = lr; }
  const AdamOptions& options() const { return options_; }
  int64_t steps() const { return steps_; }

 private:
  ParamSet<T>* params_;
  AdamOptions options_;
  int64_t steps_ = 0;
  std::vector<Matrix<T>> m_;  // first moments, per param
  std::vector<Matrix<T>> v_;  // second moments
  // This step's bias-corrected rate and epsilon (set by BeginStep).
  T lr_t_ = 0;
  T eps_t_ = 0;

  // Elements [begin, end) of p with their gradient at grad[0 .. end - begin).
  void Update(Param<T>& p, size_t begin, size_t end, const T* grad);
};

// Scales all grads so that their global L2 norm is at most max_norm; returns the norm before
// clipping. REQUIRES: max_norm > 0.
template <typename T>
double ClipGradNorm(ParamSet<T>& params, double max_norm);

}  // namespace freshet::nn
