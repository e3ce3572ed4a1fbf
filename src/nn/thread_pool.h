#pragma once

// A fixed set of worker threads for data-parallel training: Run(fn) calls fn(worker) once on every
// worker, the calling thread being worker 0, and returns when all have finished. One batch is one
// Run, so the cost of waking the workers (a few microseconds) is paid once per batch, never per
// example. Workers keep their own workspaces and gradient buffers (data_parallel.h); the pool
// itself shares nothing with them but the function.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <utility>
#include <vector>

namespace freshet::nn {

// The part-th of `parts` contiguous, near-equal pieces of [0, n): {begin, end}. The first
// n % parts pieces are one longer. REQUIRES: parts > 0, 0 <= part < parts.
std::pair<size_t, size_t> SplitRange(size_t n, int parts, int part);

// Splits [0, costs.size()) into bounds.size() - 1 contiguous ranges of near-equal total cost, range
// k being [bounds[k], bounds[k + 1]). For batches of sequences of unequal length, pass each
// sequence's real tokens so that data-parallel workers finish together. REQUIRES: bounds.size()
// >= 2.
void BalancedSplit(std::span<const uint32_t> costs, std::span<size_t> bounds);

class ThreadPool {
 public:
  // `threads` workers in all, counting the caller; 0 means one per hardware thread. threads == 1
  // starts no thread and runs everything inline.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(threads_.size()) + 1; }

  // Calls fn(w) for every w in [0, size()) concurrently, fn(0) on the calling thread, and returns
  // when every call has returned. If calls throw, the first exception caught is rethrown here after
  // all have finished. Not reentrant and not thread-safe: one thread drives a pool.
  void Run(const std::function<void(int worker)>& fn);

  // Splits [0, n) with SplitRange into size() pieces and calls fn(worker, begin, end) for each
  // non-empty piece. Worker w always gets piece w, so per-worker state lines up with the data.
  void ParallelFor(size_t n, const std::function<void(int worker, size_t begin, size_t end)>& fn);

 private:
  void WorkerLoop(int worker);
  void Call(int worker);

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_;
  std::condition_variable done_;
  // Guarded by mu_.
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  const std::function<void(int)>* fn_ = nullptr;
  std::exception_ptr error_;
};

// A reusable barrier for the workers of one ThreadPool::Run that go through several dependent
// phases (a training step: forward / backward, then the updates): one wake-up of the pool for the
// whole step instead of one per phase. A waiter spins (up to 200 us), then yields, then sleeps on
// the atomic (futex) after 2 ms. Every Wait of one round returns after the
// last party's Wait began, and everything a party wrote before its Wait is visible to every party
// after theirs (acquire / release).
class Barrier {
 public:
  // REQUIRES: parties >= 1.
  explicit Barrier(int parties) : parties_(parties) {}
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  // Blocks until all parties of this round have called Wait: true. False, at once or as soon as it
  // happens, once Break was called: the round will never complete.
  [[nodiscard]] bool Wait();
  // For a party that cannot reach its next Wait (it failed): releases every present and future
  // Wait with false, so that the others return instead of waiting forever.
  void Break();

 private:
  const int parties_;
  std::atomic<int> arrived_{0};
  std::atomic<uint32_t> round_{0};
  std::atomic<bool> broken_{false};
};

}  // namespace freshet::nn
