#include "nn/thread_pool.h"

#include <immintrin.h>

#include <cassert>
#include <chrono>

namespace freshet::nn {

std::pair<size_t, size_t> SplitRange(size_t n, int parts, int part) {
  assert(parts > 0 && part >= 0 && part < parts);
  const size_t p = static_cast<size_t>(parts);
  const size_t k = static_cast<size_t>(part);
  const size_t base = n / p;
  const size_t extra = n % p;
  const size_t begin = k * base + (k < extra ? k : extra);
  return {begin, begin + base + (k < extra ? 1 : 0)};
}

void BalancedSplit(std::span<const uint32_t> costs, std::span<size_t> bounds) {
  assert(bounds.size() >= 2);
  const size_t parts = bounds.size() - 1;
  uint64_t total = 0;
  for (uint32_t c : costs) total += c;
  // Boundary k is the first index whose prefix cost reaches k / parts of the total.
  size_t i = 0;
  uint64_t prefix = 0;
  bounds[0] = 0;
  for (size_t k = 1; k < parts; ++k) {
    const uint64_t target = (total * k + parts / 2) / parts;
    while (i < costs.size() && prefix + costs[i] / 2 < target) prefix += costs[i++];
    bounds[k] = i;
  }
  bounds[parts] = costs.size();
}

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;  // hardware_concurrency may not know
  threads_.reserve(threads - 1);
  for (int w = 1; w < threads; ++w) threads_.emplace_back([this, w] { WorkerLoop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::Call(int worker) {
  try {
    (*fn_)(worker);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_) error_ = std::current_exception();
  }
}

void ThreadPool::WorkerLoop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    // fn_ was published under mu_ before generation_ changed, so reading it here is ordered.
    Call(worker);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_.notify_one();
    }
  }
}

void ThreadPool::Run(const std::function<void(int worker)>& fn) {
  if (threads_.empty()) {
    fn(0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    assert(pending_ == 0 && "ThreadPool::Run is not reentrant");
    fn_ = &fn;
    error_ = nullptr;
    pending_ = static_cast<int>(threads_.size());
    ++generation_;
  }
  start_.notify_all();
  Call(0);
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return pending_ == 0; });
    fn_ = nullptr;
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

void ThreadPool::ParallelFor(size_t n,
                             const std::function<void(int worker, size_t begin, size_t end)>& fn) {
  const int parts = size();
  Run([&](int w) {
    auto [begin, end] = SplitRange(n, parts, w);
    if (begin < end) fn(w, begin, end);
  });
}

bool Barrier::Wait() {
  if (broken_.load(std::memory_order_acquire)) return false;
  if (parties_ == 1) return true;
  const uint32_t round = round_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == parties_) {
    // The last to arrive opens the next round. arrived_ is reset before round_ moves, so no party
    // of the next round can count itself into this one.
    arrived_.store(0, std::memory_order_relaxed);
    round_.fetch_add(1, std::memory_order_release);
    round_.notify_all();
    return !broken_.load(std::memory_order_acquire);
  }
  // Spin, then yield, then sleep. Waking a sleeping thread costs far more than a phase of a
  // training step where the CPUs are virtual (the woken vCPU may itself have to be woken by the
  // host: hundreds of microseconds), so a waiter spins for up to 200 us (checking the clock
  // every 64 pauses: a pause lasts from a few to over a hundred cycles by CPU), a little more
  // than the phases' usual imbalance; then, in case the peer it waits for was preempted, yields
  // its CPU up to kSleepAfter, and only then sleeps.
  using Clock = std::chrono::steady_clock;
  constexpr auto kYieldAfter = std::chrono::microseconds(200);
  constexpr auto kSleepAfter = std::chrono::microseconds(2000);
  const Clock::time_point start = Clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (round_.load(std::memory_order_acquire) != round) {
        return !broken_.load(std::memory_order_acquire);
      }
      _mm_pause();
    }
    const Clock::duration waited = Clock::now() - start;
    if (waited > kSleepAfter) break;
    if (waited > kYieldAfter) std::this_thread::yield();
  }
  while (round_.load(std::memory_order_acquire) == round) {
    round_.wait(round, std::memory_order_acquire);
  }
  return !broken_.load(std::memory_order_acquire);
}

void Barrier::Break() {
  broken_.store(true, std::memory_order_release);
  round_.fetch_add(1, std::memory_order_release);
  round_.notify_all();
}

}  // namespace freshet::nn
