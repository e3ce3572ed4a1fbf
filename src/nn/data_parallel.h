#pragma once

// What a trainer needs to split a batch across threads.
//
// The threading model: parameters are shared and read-only during Forward / Backward; each worker
// owns a workspace (activations) and a GradSink. Worker 0 writes straight into the params' own
// grads, workers 1..n-1 into private buffers, so no two threads ever write the same memory. After
// the batch, Reduce adds the private buffers into the params' grads, split by element ranges across
// the pool, and one optimizer Step follows. A step of a trainer looks like:
//
//   grads.Zero(&pool);
//   pool.ParallelFor(batch, [&](int w, size_t b0, size_t b1) {
//     auto hidden = encoder.Forward(ids_of(b0, b1), b1 - b0, len, ws[w], rngs[w], true);
//     loss[w] = softmax.Compute(hidden, targets_of(b0, b1), items, 1.0f / batch_targets,
//                               d_hidden[w], grads.sink(w)[encoder.item_embedding()], lws[w]);
//     encoder.Backward(d_hidden[w], ws[w], grads.sink(w));
//   });
//   grads.Reduce(&pool);
//   adam.Step(&pool);
//
// Losses take a gradient scale rather than averaging themselves, so that the workers' gradients
// sum to the gradient of the whole batch's mean (pass 1 / targets in the whole batch).

#include <algorithm>
#include <cstddef>
#include <vector>

#include "nn/tensor.h"
#include "nn/thread_pool.h"

namespace freshet::nn {

// Calls fn(param, begin, end) over every parameter's flat values, the concatenation of all of
// them split into pool->size() near-equal element ranges run concurrently (inline when pool is
// null). One range may cover the tail of one parameter and the head of the next. fn must only
// touch elements [begin, end) of param's buffers.
// The walk over elements [lo, hi) of the concatenated values.
template <typename T, typename Fn>
void ForEachValueRangeOf(ParamSet<T>& params, size_t lo, size_t hi, Fn&& fn) {
  size_t offset = 0;
  for (int i = 0; i < params.size() && offset < hi; ++i) {
    Param<T>& p = params[i];
    const auto n = static_cast<size_t>(p.value.size());
    const size_t b = std::max(lo, offset);
    const size_t e = std::min(hi, offset + n);
    if (b < e) fn(p, b - offset, e - offset);
    offset += n;
  }
}

template <typename T, typename Fn>
void ForEachValueRange(ParamSet<T>& params, ThreadPool* pool, Fn&& fn) {
  const auto total = static_cast<size_t>(params.NumValues());
  if (pool == nullptr || pool->size() == 1) {
    ForEachValueRangeOf(params, 0, total, fn);
    return;
  }
  pool->ParallelFor(total,
                    [&](int, size_t lo, size_t hi) { ForEachValueRangeOf(params, lo, hi, fn); });
}

// The range ForEachValueRange gives worker `part` of a pool of `parts`, for a caller that folds
// it into a ThreadPool::Run of its own beside other per-worker work (one wake-up instead of two).
template <typename T, typename Fn>
void ForEachValueRangePart(ParamSet<T>& params, int part, int parts, Fn&& fn) {
  const auto [lo, hi] = SplitRange(static_cast<size_t>(params.NumValues()), parts, part);
  ForEachValueRangeOf(params, lo, hi, fn);
}

// Per-worker gradient sinks for data-parallel training over one ParamSet.
template <typename T>
class WorkerGradients {
 public:
  // REQUIRES: workers >= 1.
  WorkerGradients(ParamSet<T>& params, int workers) : params_(&params) {
    sinks_.push_back(GradSink<T>::Shared(params));
    for (int w = 1; w < workers; ++w) sinks_.push_back(GradSink<T>::Private(params));
  }

  int workers() const { return static_cast<int>(sinks_.size()); }
  // The sink worker w passes to Backward. Worker 0's is the params' own grads.
  GradSink<T>& sink(int worker) { return sinks_[worker]; }

  // Zeroes the params' grads and every private buffer, first matching the buffers to parameters
  // that grew since the last call.
  void Zero(ThreadPool* pool) {
    Reshape();
    ForEachValueRange(*params_, pool, [&](Param<T>& p, size_t b, size_t e) { ZeroRange(p, b, e); });
  }

  // params' grads += the private buffers of workers 1..n-1.
  void Reduce(ThreadPool* pool) {
    if (sinks_.size() == 1) return;
    ForEachValueRange(*params_, pool,
                      [&](Param<T>& p, size_t b, size_t e) { ReduceRange(p, b, e); });
  }

  // Zero and Reduce split for a caller's own ThreadPool::Run: Reshape once on one thread, then
  // ZeroPart (or ReducePart) on every worker `part` of `parts`.
  void Reshape() {
    for (auto& s : sinks_) s.Reshape();
  }
  void ZeroPart(int part, int parts) {
    ForEachValueRangePart(*params_, part, parts,
                          [&](Param<T>& p, size_t b, size_t e) { ZeroRange(p, b, e); });
  }
  void ReducePart(int part, int parts) {
    if (sinks_.size() == 1) return;
    ForEachValueRangePart(*params_, part, parts,
                          [&](Param<T>& p, size_t b, size_t e) { ReduceRange(p, b, e); });
  }

 private:
  void ZeroRange(Param<T>& p, size_t b, size_t e) {
    for (auto& s : sinks_) {
      T* g = s.buffer(p.index).data();
      std::fill(g + b, g + e, T(0));
    }
  }
  void ReduceRange(Param<T>& p, size_t b, size_t e) {
    T* out = p.grad.data();
    for (size_t w = 1; w < sinks_.size(); ++w) {
      const T* in = sinks_[w].buffer(p.index).data();
      for (size_t i = b; i < e; ++i) out[i] += in[i];
    }
  }

  ParamSet<T>* params_;
  std::vector<GradSink<T>> sinks_;
};

}  // namespace freshet::nn
