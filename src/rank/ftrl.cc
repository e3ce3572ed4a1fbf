#include <algorithm>
#include <atomic>
#include <cmath>

#include "model/model_file.h"
#include "nn/thread_pool.h"
#include "rank/models.h"

namespace freshet::rank {
namespace {

// Samples per worker between two progress reports.
constexpr size_t kBlock = 8192;
constexpr int kMaxFieldsOnStack = kMaxFields + 1;

float AtomicLoad(float& x) { return std::atomic_ref<float>(x).load(std::memory_order_relaxed); }
void AtomicStore(float& x, float v) {
  std::atomic_ref<float>(x).store(v, std::memory_order_relaxed);
}

}  // namespace

Status FtrlModel::Init(int fields, uint32_t rows) {
  rows_ = rows;
  num_fields_ = fields;
  z_.assign(static_cast<size_t>(rows) + 1, 0.0f);
  n_.assign(static_cast<size_t>(rows) + 1, 0.0f);
  return Status::OK();
}

float FtrlModel::WeightOf(float z, float n) const {
  const CtrOptions& o = options_;
  if (std::abs(z) <= o.ftrl_l1) return 0.0f;
  const float sign = z < 0 ? -1.0f : 1.0f;
  return -(z - sign * o.ftrl_l1) / ((o.ftrl_beta + std::sqrt(n)) / o.ftrl_alpha + o.ftrl_l2);
}

float FtrlModel::Weight(uint32_t coordinate) const {
  return WeightOf(z_[coordinate], n_[coordinate]);
}

float FtrlModel::Learn(const uint32_t* rows, float label) {
  const int f = num_fields_;
  uint32_t coord[kMaxFieldsOnStack];
  float w[kMaxFieldsOnStack];
  double logit = 0;
  for (int i = 0; i <= f; ++i) {
    coord[i] = i < f ? rows[i] : rows_;
    w[i] = WeightOf(AtomicLoad(z_[coord[i]]), AtomicLoad(n_[coord[i]]));
    logit += w[i];
  }
  const float p = 1.0f / (1.0f + std::exp(-static_cast<float>(logit)));
  const float g = p - label;  // d loss / d w_i for every active coordinate (x_i = 1)
  const float g2 = g * g;
  const float alpha = options_.ftrl_alpha;
  for (int i = 0; i <= f; ++i) {
    float& z = z_[coord[i]];
    float& n = n_[coord[i]];
    const float n_old = AtomicLoad(n);
    const float sigma = (std::sqrt(n_old + g2) - std::sqrt(n_old)) / alpha;
    AtomicStore(z, AtomicLoad(z) + g - sigma * w[i]);
    AtomicStore(n, n_old + g2);
  }
  return p;
}

double FtrlModel::TrainEpoch(const uint32_t* rows, std::span<const float> labels,
                             std::span<const uint32_t> order, int epoch, int threads,
                             const FitOptions& fit) {
  nn::ThreadPool pool(threads);
  const int f = num_fields_;
  std::vector<double> loss(static_cast<size_t>(pool.size()), 0.0);
  double total = 0;
  const size_t step = kBlock * static_cast<size_t>(pool.size());
  for (size_t start = 0; start < order.size(); start += step) {
    const size_t end = std::min(order.size(), start + step);
    pool.ParallelFor(end - start, [&](int w, size_t b0, size_t b1) {
      double sum = 0;
      for (size_t i = start + b0; i < start + b1; ++i) {
        const uint32_t s = order[i];
        const float p = Learn(rows + static_cast<size_t>(s) * f, labels[s]);
        sum -= std::log(std::max(labels[s] > 0.5f ? p : 1.0f - p, 1e-7f));
      }
      loss[w] = sum;
    });
    for (double l : loss) total += l;
    std::fill(loss.begin(), loss.end(), 0.0);
    if (fit.on_step) {
      fit.on_step({epoch, end, order.size(), total / static_cast<double>(end)});
    }
  }
  return total / static_cast<double>(order.size());
}

void FtrlModel::PredictRows(const uint32_t* rows, size_t n, std::span<float> logits,
                            int threads) const {
  const int f = num_fields_;
  const float bias = Weight(rows_);
  nn::ThreadPool pool(threads);
  pool.ParallelFor(n, [&](int, size_t b0, size_t b1) {
    for (size_t s = b0; s < b1; ++s) {
      float logit = bias;
      for (int i = 0; i < f; ++i) logit += Weight(rows[s * f + i]);
      logits[s] = logit;
    }
  });
}

void FtrlModel::Snapshot() {
  saved_z_ = z_;
  saved_n_ = n_;
}

void FtrlModel::Restore() {
  z_ = saved_z_;
  n_ = saved_n_;
}

void FtrlModel::SaveParams(model::ModelWriter& w) const {
  w.PutF32("ftrl.z", z_);
  w.PutF32("ftrl.n", n_);
}

Status FtrlModel::LoadParams(const model::ModelReader& r) {
  FRESHET_ASSIGN_OR_RETURN(z_, r.F32("ftrl.z", z_.size()));
  FRESHET_ASSIGN_OR_RETURN(n_, r.F32("ftrl.n", n_.size()));
  return Status::OK();
}

}  // namespace freshet::rank

namespace freshet::rank {

Status FtrlModel::ExplainRows(const uint32_t* rows, std::span<float> contributions,
                              float* bias) const {
  for (int i = 0; i < num_fields_; ++i) contributions[static_cast<size_t>(i)] = Weight(rows[i]);
  if (bias != nullptr) *bias = Weight(rows_);
  return Status::OK();
}

Status FtrlModel::GrowRows(uint32_t rows) {
  if (rows <= rows_) return Status::OK();
  // The bias is the last coordinate: it moves to the new end, and its old place becomes a row.
  const float bias_z = z_[rows_], bias_n = n_[rows_];
  z_[rows_] = n_[rows_] = 0;
  z_.resize(static_cast<size_t>(rows) + 1, 0.0f);
  n_.resize(static_cast<size_t>(rows) + 1, 0.0f);
  z_[rows] = bias_z;
  n_[rows] = bias_n;
  rows_ = rows;
  return Status::OK();
}

void FtrlModel::ResetRow(uint32_t row, uint32_t from) {
  const CtrOptions& o = options_;
  const float w = Weight(from);
  // WeightOf(z, 0) = -(z - sign(z) l1) / (beta / alpha + l2) = w for this z (and 0 for w = 0).
  const float sign = w > 0 ? 1.0f : w < 0 ? -1.0f : 0.0f;
  z_[row] = -w * (o.ftrl_beta / o.ftrl_alpha + o.ftrl_l2) - sign * o.ftrl_l1;
  n_[row] = 0;
}

}  // namespace freshet::rank
