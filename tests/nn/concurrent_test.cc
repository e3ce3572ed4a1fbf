// The multi-threaded paths, run under ThreadSanitizer by `make tsan` (label: concurrent): the
// thread pool, data-parallel gradients, pooled optimizer steps and Hogwild embedding updates.

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "nn/data_parallel.h"
#include "nn/embedding_table.h"
#include "nn/loss.h"
#include "nn/optimizer.h"
#include "nn/thread_pool.h"
#include "nn/transformer.h"

namespace freshet::nn {
namespace {

TEST(SplitRangeTest, CoversTheRangeInNearEqualContiguousPieces) {
  for (size_t n : {0u, 1u, 7u, 64u, 1001u}) {
    for (int parts : {1, 2, 3, 8}) {
      size_t next = 0;
      for (int p = 0; p < parts; ++p) {
        auto [b, e] = SplitRange(n, parts, p);
        EXPECT_EQ(b, next);
        EXPECT_LE(e - b, n / parts + 1);
        EXPECT_GE(e - b, n / parts);
        next = e;
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(BalancedSplitTest, GivesWorkersNearEqualCost) {
  const std::vector<uint32_t> costs = {50, 1, 1, 1, 1, 50, 2, 2, 40, 3, 0, 49};
  std::vector<size_t> bounds(4);
  BalancedSplit(costs, bounds);
  EXPECT_EQ(bounds.front(), 0u);
  EXPECT_EQ(bounds.back(), costs.size());
  for (int k = 0; k < 3; ++k) {
    uint32_t sum = 0;
    for (size_t i = bounds[k]; i < bounds[k + 1]; ++i) sum += costs[i];
    EXPECT_GE(sum, 40u) << k;  // total 200: about 67 each, never starved
    EXPECT_LE(sum, 100u) << k;
  }
  std::vector<size_t> two(3);
  BalancedSplit(std::vector<uint32_t>{}, two);  // empty: all ranges empty
  EXPECT_EQ(two, (std::vector<size_t>{0, 0, 0}));
}

TEST(ThreadPoolTest, RunCallsEveryWorkerOnceAndParallelForCoversEachIndexOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    ASSERT_EQ(pool.size(), threads);
    for (int round = 0; round < 20; ++round) {
      std::vector<std::atomic<int>> calls(threads);
      pool.Run([&](int w) { calls[w].fetch_add(1); });
      for (auto& c : calls) EXPECT_EQ(c.load(), 1);
      std::vector<int> seen(1000, 0);  // each index written by exactly one worker
      pool.ParallelFor(seen.size(), [&](int, size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) seen[i] += 1;
      });
      for (int s : seen) ASSERT_EQ(s, 1);
    }
  }
  ThreadPool all(0);
  EXPECT_GE(all.size(), 1);
}

TEST(ThreadPoolTest, AnExceptionInAWorkerReachesTheCaller) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.Run([](int w) {
    if (w == 2) throw std::runtime_error("boom");
  }),
               std::runtime_error);
  std::atomic<int> calls{0};
  pool.Run([&](int) { calls.fetch_add(1); });  // still usable
  EXPECT_EQ(calls.load(), 3);
}

// Workers going through many phases in one Run: no worker starts phase p + 1 before every worker
// has finished phase p (each checks the others' phase-p writes), and a worker that fails releases
// the others instead of leaving them waiting.
TEST(BarrierTest, SeparatesPhasesAndABreakReleasesTheWaiters) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    Barrier barrier(threads);
    constexpr int kPhases = 500;
    std::vector<int> done(threads, -1);  // plain ints: the barrier must order them
    std::atomic<int> errors{0};
    pool.Run([&](int w) {
      for (int p = 0; p < kPhases; ++p) {
        done[w] = p;
        if (!barrier.Wait()) return;
        for (int o = 0; o < threads; ++o) {
          if (done[o] != p) errors.fetch_add(1);
        }
        if (!barrier.Wait()) return;
      }
    });
    EXPECT_EQ(errors.load(), 0) << threads;
  }
  ThreadPool pool(3);
  Barrier barrier(3);
  std::atomic<int> released{0};
  EXPECT_THROW(pool.Run([&](int w) {
    try {
      if (w == 1) throw std::runtime_error("failed before the barrier");
      if (!barrier.Wait()) released.fetch_add(1);
    } catch (...) {
      barrier.Break();
      throw;
    }
  }),
               std::runtime_error);
  EXPECT_EQ(released.load(), 2);
  EXPECT_FALSE(barrier.Wait());  // broken for good
}

// One SASRec-shaped step split across workers must give the same gradients as one worker doing
// the whole batch (no dropout, so the workers' random streams do not matter).
TEST(DataParallelTest, WorkerGradientsSumToTheSingleThreadGradient) {
  SasrecEncoderOptions o;
  o.num_items = 30;
  o.max_len = 5;
  o.embedding_dropout = 0.0f;
  o.init_stddev = 0.3;
  o.transformer.hidden = 8;
  o.transformer.heads = 2;
  o.transformer.dropout = 0.0f;
  const int batch = 7, len = 5;
  Rng data(61);
  std::vector<ItemId> ids(batch * len), targets(batch * len);
  for (size_t i = 0; i < ids.size(); ++i) {
    const bool pad = i % len < (i / len) % len;  // sequence b has b % len padded slots
    ids[i] = pad ? kNoId : static_cast<ItemId>(data.Below(30));
    targets[i] = pad ? kNoId : static_cast<ItemId>(data.Below(30));
  }
  int64_t total = 0;
  for (ItemId t : targets) total += t != kNoId;

  auto run = [&](int threads, ParamSet<float>& ps, SasrecEncoder<float>& encoder) {
    ThreadPool pool(threads);
    WorkerGradients<float> grads(ps, pool.size());
    FullSoftmaxLoss<float> softmax;
    std::vector<SasrecEncoder<float>::Workspace> ws;
    std::vector<FullSoftmaxLoss<float>::Workspace> lws;
    std::vector<Matrix<float>> dh;
    std::vector<Rng> rngs;
    const int per_worker = (batch + pool.size() - 1) / pool.size();
    for (int w = 0; w < pool.size(); ++w) {
      ws.emplace_back(encoder, per_worker);
      lws.emplace_back(softmax, o.num_items, 8);
      dh.emplace_back(per_worker * len, 8);
      rngs.emplace_back(1, w);
    }
    std::vector<double> loss(pool.size(), 0.0);
    grads.Zero(&pool);
    pool.ParallelFor(batch, [&](int w, size_t b0, size_t b1) {
      const int nb = static_cast<int>(b1 - b0);
      std::span<const ItemId> wid(ids.data() + b0 * len, nb * len);
      std::span<const ItemId> wt(targets.data() + b0 * len, nb * len);
      auto hidden = encoder.Forward(wid, nb, len, ws[w], rngs[w], true);
      auto d = dh[w].topRows(nb * len);
      loss[w] = softmax
                    .Compute(hidden, wt, encoder.item_embedding().value, 1.0f / total, d,
                             grads.sink(w)[encoder.item_embedding()], lws[w])
                    .sum;
      encoder.Backward(d, ws[w], grads.sink(w));
    });
    grads.Reduce(&pool);
    double sum = 0;
    for (double l : loss) sum += l;
    return sum;
  };

  ParamSet<float> ps1;
  SasrecEncoder<float> enc1(ps1, o, 9);
  const double loss1 = run(1, ps1, enc1);
  for (int threads : {2, 3}) {
    ParamSet<float> ps;
    SasrecEncoder<float> enc(ps, o, 9);
    const double loss = run(threads, ps, enc);
    EXPECT_NEAR(loss, loss1, 1e-4 * loss1);
    for (int i = 0; i < ps.size(); ++i) {
      const float scale = std::max(1e-6f, ps1[i].grad.cwiseAbs().maxCoeff());
      EXPECT_LT((ps[i].grad - ps1[i].grad).cwiseAbs().maxCoeff() / scale, 1e-4f)
          << ps[i].name << " threads " << threads;
    }
  }
}

// The shared-negative loss as the trainer runs it: workers share the item table, the negatives
// and the loss object, each with its own workspace and gradient buffers. With bf16 products (where
// the CPU has them: the kernels' lookup tables and the CPU check are shared state) every thread
// must get exactly what one thread alone gets for the same rows.
TEST(SharedNegativeConcurrencyTest, WorkersWithOwnWorkspacesMatchASingleThread) {
  const int threads = 3, rows = 90, dim = 64, num_items = 500, k = 200;
  Rng rng(62);
  Matrix<float> items(num_items, dim);
  for (Eigen::Index i = 0; i < items.size(); ++i) items.data()[i] = 0.3f * rng.Normal();
  std::vector<Matrix<float>> hidden(threads, Matrix<float>(rows, dim));
  std::vector<std::vector<ItemId>> targets(threads, std::vector<ItemId>(rows));
  for (int t = 0; t < threads; ++t) {
    for (Eigen::Index i = 0; i < hidden[t].size(); ++i) hidden[t].data()[i] = rng.Normal();
    for (auto& id : targets[t]) id = static_cast<ItemId>(rng.Below(num_items));
  }
  std::vector<ItemId> negatives(k);
  std::vector<float> log_weights(k);
  for (int j = 0; j < k; ++j) {
    negatives[j] = static_cast<ItemId>(rng.Below(num_items));
    log_weights[j] = 0.5f * static_cast<float>(rng.Normal());
  }
  FullSoftmaxOptions options;
  options.chunk_rows = 32;
  options.bf16_products = true;
  const SharedNegativeSoftmaxLoss<float> loss(options);
  struct Out {
    LossValue value;
    Matrix<float> d_hidden, d_items;
  };
  auto run = [&](int t, Out& out) {
    SharedNegativeSoftmaxLoss<float>::Workspace ws;
    out.d_hidden.resize(rows, dim);
    out.d_items = Matrix<float>::Zero(num_items, dim);
    for (int rep = 0; rep < 3; ++rep) {
      out.value = loss.Compute(hidden[t], targets[t], negatives, log_weights, items, 0.01f,
                               out.d_hidden, out.d_items, ws);
    }
  };
  std::vector<Out> alone(threads), together(threads);
  for (int t = 0; t < threads; ++t) run(t, alone[t]);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(run, t, std::ref(together[t]));
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(together[t].value.sum, alone[t].value.sum) << t;
    EXPECT_EQ(together[t].d_hidden, alone[t].d_hidden) << t;
    EXPECT_EQ(together[t].d_items, alone[t].d_items) << t;
  }
}

// Hogwild: several threads update and read a small table (so rows collide constantly) while
// another reads whole rows. ThreadSanitizer must see no race; the step counters, updated with
// atomic increments, must be exact; values stay finite.
TEST(EmbeddingTableConcurrencyTest, HogwildUpdatesAndReadsAreRaceFree) {
  for (SparseOptimizer opt :
       {SparseOptimizer::kAdam, SparseOptimizer::kAdagrad, SparseOptimizer::kSgd}) {
    EmbeddingTableOptions o;
    o.dim = 16;
    o.optimizer = opt;
    o.learning_rate = 0.01f;
    o.weight_decay = 0.001f;
    auto created = EmbeddingTable::Create(o, 8);
    ASSERT_TRUE(created.ok());
    EmbeddingTable& table = **created;
    constexpr int kWriters = 3;
    constexpr int kUpdates = 2000;
    std::atomic<bool> done{false};
    std::thread reader([&] {
      std::vector<float> row(16);
      while (!done.load(std::memory_order_acquire)) {
        for (uint32_t r = 0; r < table.rows(); ++r) table.ReadRow(r, row);
      }
    });
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        Rng rng(70, w);
        std::vector<float> g(16), x(16, 0.5f);
        SparseGrad batch(16);
        for (int i = 0; i < kUpdates; ++i) {
          const auto r = static_cast<uint32_t>(rng.Below(8));
          // BPR-like: read, score, update.
          const float s = table.Dot(r, x);
          for (auto& gj : g) gj = static_cast<float>(rng.Normal()) * 0.1f + 0.01f * s;
          if (i % 2 == 0) {
            table.ApplyGradient(r, g);
          } else {
            batch.Clear();
            batch.Add(r, g);
            table.ApplyGradients(batch);
          }
          if (i % 500 == 0) table.WriteRow(r, x);
        }
      });
    }
    for (auto& t : writers) t.join();
    done.store(true, std::memory_order_release);
    reader.join();
    uint64_t total = 0;
    for (uint32_t r = 0; r < table.rows(); ++r) total += table.update_count(r);
    EXPECT_EQ(total, static_cast<uint64_t>(kWriters) * kUpdates);
    for (float v : table.values()) ASSERT_TRUE(std::isfinite(v));
  }
}

}  // namespace
}  // namespace freshet::nn
