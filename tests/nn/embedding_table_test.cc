#include "nn/embedding_table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace freshet::nn {
namespace {

std::unique_ptr<EmbeddingTable> MakeTable(const EmbeddingTableOptions& o, uint32_t rows) {
  auto t = EmbeddingTable::Create(o, rows);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(*t);
}

std::vector<float> Row(const EmbeddingTable& t, uint32_t r) {
  std::vector<float> out(t.dim());
  t.ReadRow(r, out);
  return out;
}

TEST(EmbeddingTableTest, LazyAdamStepMatchesHandComputedUpdate) {
  EmbeddingTableOptions o;
  o.dim = 2;
  o.learning_rate = 0.1f;
  auto t = MakeTable(o, 3);
  const std::vector<float> w0 = {1.0f, -2.0f};
  t->WriteRow(0, w0);
  const std::vector<float> g = {0.5f, 0.1f};
  t->ApplyGradient(0, g);
  // First update of a row: m_hat = g, v_hat = g^2, each coordinate moves by lr.
  EXPECT_NEAR(Row(*t, 0)[0], 0.9f, 1e-6);
  EXPECT_NEAR(Row(*t, 0)[1], -2.1f, 1e-6);
  EXPECT_EQ(t->update_count(0), 1u);
  EXPECT_EQ(t->update_count(1), 0u);
}

// A reset row (reused for another id) takes its first step as a row never updated: lazy Adam's
// moments and count start over, so the step moves each coordinate by about lr again.
TEST(EmbeddingTableTest, ResetRowStartsTheOptimizerOver) {
  EmbeddingTableOptions o;
  o.dim = 2;
  o.learning_rate = 0.1f;
  auto t = MakeTable(o, 2);
  const std::vector<float> g = {0.5f, 0.1f};
  for (int i = 0; i < 20; ++i) t->ApplyGradient(0, g);
  const std::vector<float> w0 = {1.0f, -2.0f};
  t->ResetRow(0, w0);
  EXPECT_EQ(Row(*t, 0), w0);
  EXPECT_EQ(t->update_count(0), 0u);
  const std::vector<float> flipped = {-0.5f, -0.1f};
  t->ApplyGradient(0, flipped);
  EXPECT_NEAR(Row(*t, 0)[0], 1.1f, 1e-6) << "old moments would have held it back";
  EXPECT_NEAR(Row(*t, 0)[1], -1.9f, 1e-6);
}

// The bias corrections come from tables (embedding_table.h): past a table's end, saturated at 1 or
// not (beta2 close to 1 outlasts kMaxCorrections), each step must still match Adam with
// 1 - beta^t computed directly. Also a width past one chunk of the vectorised update (64).
TEST(EmbeddingTableTest, LazyAdamMatchesDirectBiasCorrectionsOverManySteps) {
  for (const float beta2 : {0.999f, 0.99999f}) {
    EmbeddingTableOptions o;
    o.dim = 67;
    o.learning_rate = 0.01f;
    o.beta2 = beta2;
    o.weight_decay = 0.001f;
    auto t = MakeTable(o, 1);
    std::vector<double> w(o.dim), m(o.dim, 0.0), v(o.dim, 0.0);
    const std::vector<float> start = Row(*t, 0);
    for (int j = 0; j < o.dim; ++j) w[j] = start[j];
    std::vector<float> g(o.dim);
    for (int step = 1; step <= 70000; ++step) {
      for (int j = 0; j < o.dim; ++j) g[j] = static_cast<float>(std::sin(0.37 * step + j));
      t->ApplyGradient(0, g);
      const double bc1 = 1.0 - std::pow(static_cast<double>(o.beta1), step);
      const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), step);
      for (int j = 0; j < o.dim; ++j) {
        m[j] = o.beta1 * m[j] + (1.0 - o.beta1) * g[j];
        v[j] = beta2 * v[j] + (1.0 - beta2) * g[j] * g[j];
        w[j] -= o.learning_rate *
                ((m[j] / bc1) / (std::sqrt(v[j] / bc2) + o.eps) + o.weight_decay * w[j]);
      }
    }
    const std::vector<float> got = Row(*t, 0);
    for (int j = 0; j < o.dim; ++j) {
      EXPECT_NEAR(got[j], w[j], 2e-3) << "beta2 " << beta2 << ", " << j;
    }
    EXPECT_EQ(t->update_count(0), 70000u);
  }
}

TEST(EmbeddingTableTest, LazyAdamBiasCorrectionUsesTheRowsOwnStepCount) {
  EmbeddingTableOptions o;
  o.dim = 2;
  o.learning_rate = 0.1f;
  auto t = MakeTable(o, 3);
  t->WriteRow(0, std::vector<float>{1.0f, -2.0f});
  t->ApplyGradient(0, std::vector<float>{0.5f, 0.1f});
  // Many global steps touch only row 2; rows 0 and 1 are skipped and their moments must not decay.
  for (int s = 0; s < 50; ++s) t->ApplyGradient(2, std::vector<float>{1.0f, 1.0f});
  // Row 0's second update is its step 2, exactly as in a dense Adam (see AdamTest for the
  // arithmetic): bc1 = 0.19, bc2 = 0.001999 -> [0.9052632, -2.1917781].
  t->ApplyGradient(0, std::vector<float>{-0.5f, 0.3f});
  EXPECT_NEAR(Row(*t, 0)[0], 0.9052632f, 2e-6);
  EXPECT_NEAR(Row(*t, 0)[1], -2.1917781f, 2e-6);
  // Row 1's first update, after 52 global updates, still moves each coordinate by lr (global-step
  // correction would move it by ~3.2 lr).
  const std::vector<float> before = Row(*t, 1);
  t->ApplyGradient(1, std::vector<float>{-3.0f, 0.02f});
  EXPECT_NEAR(Row(*t, 1)[0] - before[0], 0.1f, 1e-5);
  EXPECT_NEAR(Row(*t, 1)[1] - before[1], -0.1f, 1e-5);
  EXPECT_EQ(t->update_count(0), 2u);
  EXPECT_EQ(t->update_count(1), 1u);
  EXPECT_EQ(t->update_count(2), 50u);
}

TEST(EmbeddingTableTest, AdagradStepMatchesHandComputedUpdate) {
  EmbeddingTableOptions o;
  o.dim = 2;
  o.optimizer = SparseOptimizer::kAdagrad;
  o.learning_rate = 0.1f;
  o.adagrad_initial_accumulator = 0.1f;
  auto t = MakeTable(o, 1);
  t->WriteRow(0, std::vector<float>{1.0f, -2.0f});
  t->ApplyGradient(0, std::vector<float>{0.3f, -0.4f});
  // acc = 0.1 + g^2 = [0.19, 0.26]; w -= 0.1 * g / sqrt(acc).
  EXPECT_NEAR(Row(*t, 0)[0], 0.9311753f, 1e-6);
  EXPECT_NEAR(Row(*t, 0)[1], -1.9215535f, 1e-6);
}

TEST(EmbeddingTableTest, SgdWithWeightDecayMatchesHandComputedUpdate) {
  EmbeddingTableOptions o;
  o.dim = 2;
  o.optimizer = SparseOptimizer::kSgd;
  o.learning_rate = 0.1f;
  o.weight_decay = 0.01f;
  auto t = MakeTable(o, 2);
  t->WriteRow(0, std::vector<float>{1.0f, -2.0f});
  const std::vector<float> row1 = Row(*t, 1);
  t->ApplyGradient(0, std::vector<float>{0.5f, 0.5f});
  // w -= lr * (g + wd * w) = [1 - 0.1 * 0.51, -2 - 0.1 * 0.48].
  EXPECT_NEAR(Row(*t, 0)[0], 0.949f, 1e-6);
  EXPECT_NEAR(Row(*t, 0)[1], -2.048f, 1e-6);
  EXPECT_EQ(Row(*t, 1), row1);  // lazy decay: rows without a gradient keep their values
}

TEST(EmbeddingTableTest, GrowthKeepsOldRowsAndTheirOptimizerState) {
  EmbeddingTableOptions o;
  o.dim = 3;
  o.learning_rate = 0.05f;
  auto grown = MakeTable(o, 2);
  auto fixed = MakeTable(o, 6);
  const std::vector<float> g = {0.3f, -0.2f, 0.1f};
  grown->ApplyGradient(1, g);
  fixed->ApplyGradient(1, g);
  const std::vector<float> row0 = Row(*grown, 0);
  ASSERT_TRUE(grown->Grow(4).ok());
  ASSERT_TRUE(grown->Grow(6).ok());
  ASSERT_TRUE(grown->Grow(3).ok());  // never shrinks
  EXPECT_EQ(grown->rows(), 6u);
  EXPECT_EQ(Row(*grown, 0), row0);
  // Old rows keep their moments (the second update continues the first) and new rows start as
  // in a table that had them from the start: initial values depend only on (seed, row).
  grown->ApplyGradient(1, g);
  fixed->ApplyGradient(1, g);
  for (uint32_t r = 0; r < 6; ++r) EXPECT_EQ(Row(*grown, r), Row(*fixed, r)) << r;
  EXPECT_EQ(grown->update_count(1), 2u);
  EXPECT_EQ(grown->update_count(5), 0u);
  EXPECT_NE(Row(*grown, 4), Row(*grown, 5));
}

// Rows live in blocks with their optimizer state (embedding_table.h, "Storage"): for every
// optimizer and for widths whose blocks have padding (1, 3, 5), none (16) or a step count in the
// padding (Adam dim 1), values() is the plain [rows, dim] matrix, an update of one row changes no
// other row, and many small Grows (each may move the blocks) keep every row and its state.
TEST(EmbeddingTableTest, BlockStorageKeepsValuesRowsAndStateThroughGrowth) {
  for (SparseOptimizer opt :
       {SparseOptimizer::kAdam, SparseOptimizer::kAdagrad, SparseOptimizer::kSgd}) {
    for (int dim : {1, 3, 5, 16}) {
      EmbeddingTableOptions o;
      o.dim = dim;
      o.optimizer = opt;
      o.learning_rate = 0.05f;
      o.init_stddev = 1.0f;
      auto grown = MakeTable(o, 1);
      auto fixed = MakeTable(o, 40);
      std::vector<float> g(dim);
      for (int j = 0; j < dim; ++j) g[j] = 0.1f * (j + 1);
      for (uint32_t r = 1; r < 40; ++r) {
        ASSERT_TRUE(grown->Grow(r + 1).ok());
        // Rows updated before later growth: their state must move with them.
        grown->ApplyGradient(r / 2, g);
        fixed->ApplyGradient(r / 2, g);
      }
      std::vector<float> w(dim, 0.25f);
      grown->WriteRow(39, w);
      fixed->WriteRow(39, w);
      for (uint32_t r = 0; r < 40; ++r) {
        ASSERT_EQ(Row(*grown, r), Row(*fixed, r)) << dim << " row " << r;
        ASSERT_EQ(grown->update_count(r), fixed->update_count(r)) << dim << " row " << r;
      }
      // The next update of each row continues from the same optimizer state.
      for (uint32_t r = 0; r < 40; ++r) {
        grown->ApplyGradient(r, g);
        fixed->ApplyGradient(r, g);
      }
      const std::span<const float> values = grown->values();
      ASSERT_EQ(values.size(), 40u * dim);
      for (uint32_t r = 0; r < 40; ++r) {
        const std::vector<float> row = Row(*fixed, r);
        ASSERT_EQ(Row(*grown, r), row) << dim << " row " << r;
        for (int j = 0; j < dim; ++j) ASSERT_EQ(values[r * dim + j], row[j]) << dim << " " << r;
      }
      EXPECT_EQ(grown->update_count(19), 3u);  // from r = 38 and 39, then the last loop
      EXPECT_EQ(grown->update_count(25), 1u);
    }
  }
}

// Large tables are mapped with huge pages: the same rows and updates as a small one.
TEST(EmbeddingTableTest, LargeTableBehavesAsSmallOne) {
  EmbeddingTableOptions o;
  o.dim = 16;
  auto big = MakeTable(o, 100000);  // 19 MB of Adam blocks
  auto small = MakeTable(o, 10);
  const std::vector<float> g(16, 0.5f);
  for (uint32_t r : {0u, 3u, 9u}) {
    big->ApplyGradientExclusive(r, g);
    small->ApplyGradientExclusive(r, g);
    EXPECT_EQ(Row(*big, r), Row(*small, r)) << r;
  }
  EXPECT_EQ(big->update_count(3), 1u);
  EXPECT_EQ(big->update_count(99999), 0u);
  EXPECT_EQ(big->values().size(), 1600000u);
  ASSERT_TRUE(big->Grow(150000).ok());
  EXPECT_EQ(Row(*big, 3), Row(*small, 3));
}

// Rows equal up to rounding, within a few units in the last place: the two update paths evaluate
// the same expression, but the compiler may fuse a multiply and an add in one and not in the
// other (it does at -O1, in the sanitizer builds; at -O3 they agree to the bit).
void ExpectRowsAlike(const std::vector<float>& got, const std::vector<float>& want,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t j = 0; j < want.size(); ++j) {
    EXPECT_NEAR(got[j], want[j], 4e-6f * std::abs(want[j]) + 1e-12f) << what << " [" << j << "]";
  }
}

// The unshared update (plain vector loads and stores, width 1 and 16 specialised) is the shared
// one for every optimizer and width, step counts and weight decay included (a decay large enough
// that a wrong decay term shows).
TEST(EmbeddingTableTest, UnsharedReadAndUpdateMatchTheAtomicOnes) {
  for (const SparseOptimizer opt :
       {SparseOptimizer::kAdam, SparseOptimizer::kAdagrad, SparseOptimizer::kSgd}) {
    for (const int dim : {1, 3, 16, 24}) {
      EmbeddingTableOptions o;
      o.dim = dim;
      o.optimizer = opt;
      o.weight_decay = 0.5f;
      auto shared = MakeTable(o, 5);
      auto unshared = MakeTable(o, 5);
      std::vector<float> g(static_cast<size_t>(dim)), read(static_cast<size_t>(dim));
      const std::string what = "optimizer " + std::to_string(static_cast<int>(opt)) + " dim " +
                               std::to_string(dim);
      for (int step = 0; step < 30; ++step) {
        const auto r = static_cast<uint32_t>(step * 7 % 5);  // rows at different step counts
        for (int j = 0; j < dim; ++j) g[j] = 0.3f * std::sin(0.7f * step + 1.3f * j) - 0.05f;
        shared->ApplyGradientExclusive(r, g);
        unshared->ApplyGradientUnshared(r, g);
        unshared->ReadRowUnshared(r, read);
        ExpectRowsAlike(read, Row(*shared, r), what + " step " + std::to_string(step));
        ASSERT_EQ(unshared->update_count(r), shared->update_count(r));
      }
      for (uint32_t r = 0; r < 5; ++r) ExpectRowsAlike(Row(*unshared, r), Row(*shared, r), what);
    }
  }
}

TEST(EmbeddingTableTest, RejectsBadOptionsAndGrowthBeyondMaxRows) {
  EmbeddingTableOptions o;
  o.dim = 0;
  EXPECT_TRUE(EmbeddingTable::Create(o, 1).status().IsInvalidArgument());
  o.dim = 4;
  o.beta2 = 1.0f;
  EXPECT_TRUE(EmbeddingTable::Create(o, 1).status().IsInvalidArgument());
  o.beta2 = 0.999f;
  o.max_rows = 10;
  EXPECT_EQ(EmbeddingTable::Create(o, 11).status().code(), Status::Code::kResourceExhausted);
  auto t = MakeTable(o, 10);
  const Status s = t->Grow(11);
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted);
  EXPECT_NE(s.message().find("max_rows"), std::string::npos) << s.ToString();
  EXPECT_EQ(t->rows(), 10u);
}

TEST(SparseGradTest, SumsRowsUsedTwiceAndCountsThemOnceInTheOptimizer) {
  SparseGrad grads(2);
  grads.Add(7, std::vector<float>{1.0f, 2.0f});
  grads.Add(3, std::vector<float>{0.5f, 0.5f});
  grads.Add(7, std::vector<float>{1.0f, 2.0f}, 0.5f);
  ASSERT_EQ(grads.size(), 2u);
  EXPECT_EQ(grads.id(0), 7u);
  EXPECT_EQ(grads.grad(0)[0], 1.5f);
  EXPECT_EQ(grads.grad(0)[1], 3.0f);

  EmbeddingTableOptions o;
  o.dim = 2;
  auto t = MakeTable(o, 8);
  t->ApplyGradients(grads);
  EXPECT_EQ(t->update_count(7), 1u);
  EXPECT_EQ(t->update_count(3), 1u);

  grads.Clear();
  EXPECT_EQ(grads.size(), 0u);
  grads.Row(7)[0] = 4.0f;  // a fresh accumulator after Clear
  EXPECT_EQ(grads.grad(0)[0], 4.0f);
  EXPECT_EQ(grads.grad(0)[1], 0.0f);
}

TEST(EmbeddingTableTest, DotAgreesWithReadRow) {
  EmbeddingTableOptions o;
  o.dim = 5;
  o.init_stddev = 1.0f;
  auto t = MakeTable(o, 4);
  const std::vector<float> x = {1, -1, 0.5f, 2, 0};
  const std::vector<float> r = Row(*t, 2);
  float want = 0;
  for (int j = 0; j < 5; ++j) want += r[j] * x[j];
  EXPECT_FLOAT_EQ(t->Dot(2, x), want);
  EXPECT_EQ(t->values().size(), 20u);
  EXPECT_EQ(t->values()[2 * 5 + 3], r[3]);
}

}  // namespace
}  // namespace freshet::nn
