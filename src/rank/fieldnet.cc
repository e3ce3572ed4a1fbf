#include <algorithm>
#include <cmath>

#include "model/model_file.h"
#include "nn/data_parallel.h"
#include "nn/thread_pool.h"
#include "rank/models.h"

namespace freshet::rank {
namespace {

constexpr size_t kPredictChunk = 512;

using MatrixF = nn::Matrix<float>;

// log(1 + exp(x)) - y x: the logistic loss of logit x, stable for large |x|.
double LogisticLoss(double x, double y) {
  return (x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x))) - y * x;
}

}  // namespace

// Everything one worker's Forward / Backward touch, sized once for `max_rows` samples.
struct FieldNetModel::Workspace {
  Workspace(const FieldNetModel& m, size_t max_rows)
      : rows(max_rows * static_cast<size_t>(m.fields())),
        x0(static_cast<Eigen::Index>(max_rows), m.dim_),
        logit(static_cast<Eigen::Index>(max_rows), 1),
        term(static_cast<Eigen::Index>(max_rows), 1),
        dlogit(static_cast<Eigen::Index>(max_rows), 1),
        dx0(static_cast<Eigen::Index>(max_rows), m.dim_),
        dh(static_cast<Eigen::Index>(max_rows), m.dim_),
        dh2(static_cast<Eigen::Index>(max_rows), m.dim_),
        labels(max_rows),
        embed_grad(m.options_.embed_dim),
        linear_grad(1) {
    const auto r = static_cast<Eigen::Index>(max_rows);
    for (size_t l = 0; l < m.cross_.size(); ++l) {
      h.emplace_back(r, m.dim_);
      cross.emplace_back(m.dim_, static_cast<int>(max_rows));
    }
    for (const auto& layer : m.mlp_) {
      z.emplace_back(r, layer.out());
      da.emplace_back(r, layer.out());
    }
  }
  std::vector<uint32_t> rows;  // [m, fields] feature rows of the samples
  MatrixF x0;                  // [m, fields * embed_dim]
  std::vector<MatrixF> h;      // cross layer outputs
  std::vector<CrossLayer<float>::Workspace> cross;
  std::vector<MatrixF> z;  // MLP activations (ReLU applied in place)
  MatrixF logit, term, dlogit;
  MatrixF dx0, dh, dh2;
  std::vector<MatrixF> da;
  std::vector<float> labels;
  nn::SparseGrad embed_grad;
  nn::SparseGrad linear_grad;
};

FieldNetModel::FieldNetModel(std::string_view kind, const CtrOptions& options) : CtrModel(options) {
  if (kind == "fm") {
    kind_ = "fm";
    linear_fm_ = true;
  } else if (kind == "deepfm") {
    kind_ = "deepfm";
    linear_fm_ = deep_ = true;
  } else {
    kind_ = "dcnv2";
    deep_ = true;
  }
}

FieldNetModel::~FieldNetModel() = default;

Status FieldNetModel::Init(int fields, uint32_t rows) {
  const CtrOptions& o = options_;
  dim_ = fields * o.embed_dim;
  nn::EmbeddingTableOptions eo;
  eo.dim = o.embed_dim;
  eo.optimizer = nn::SparseOptimizer::kAdam;
  eo.learning_rate = o.learning_rate;
  eo.weight_decay = o.embed_l2;
  eo.init_stddev = 0.01f;
  eo.seed = o.seed;
  FRESHET_ASSIGN_OR_RETURN(embed_, nn::EmbeddingTable::Create(eo, rows));
  if (linear_fm_) {
    eo.dim = 1;
    eo.init_stddev = 0.0f;
    eo.weight_decay = 0.0f;
    FRESHET_ASSIGN_OR_RETURN(linear_, nn::EmbeddingTable::Create(eo, rows));
  }
  // Layers point into the parameter set: drop them before it.
  adam_.reset();
  cross_.clear();
  mlp_.clear();
  out_.reset();
  params_ = std::make_unique<nn::ParamSet<float>>();
  nn::ParamSet<float>& params = *params_;
  nn::Rng rng(o.seed, 7);
  bias_ = &params.Add("bias", 1, 1, /*decay=*/false);
  if (deep_) {
    cross_.reserve(static_cast<size_t>(o.cross_layers));
    for (int l = 0; l < o.cross_layers; ++l) {
      cross_.emplace_back(params, "cross." + std::to_string(l), dim_, rng);
    }
    int in = dim_;
    mlp_.reserve(o.mlp.size());
    for (size_t l = 0; l < o.mlp.size(); ++l) {
      mlp_.emplace_back(params, "mlp." + std::to_string(l), in, o.mlp[l], rng);
      in = o.mlp[l];
    }
    out_ = std::make_unique<nn::Linear<float>>(params, "out", in, 1, rng);
  }
  nn::AdamOptions ao;
  ao.learning_rate = o.learning_rate;
  adam_ = std::make_unique<nn::Adam<float>>(params, ao);
  return Status::OK();
}

void FieldNetModel::Forward(size_t m, Workspace& ws) const {
  const int f = fields();
  const int k = options_.embed_dim;
  const auto rows = static_cast<Eigen::Index>(m);
  auto x0 = ws.x0.topRows(rows);
  auto logit = ws.logit.topRows(rows);
  logit.setConstant(bias_->value(0, 0));
  for (size_t i = 0; i < m; ++i) {
    float* xi = x0.row(static_cast<Eigen::Index>(i)).data();
    float lin = 0;
    for (int j = 0; j < f; ++j) {
      const uint32_t r = ws.rows[i * f + j];
      embed_->ReadRow(r, {xi + static_cast<size_t>(j) * k, static_cast<size_t>(k)});
      if (linear_fm_) {
        float w;
        linear_->ReadRow(r, {&w, 1});
        lin += w;
      }
    }
    logit(static_cast<Eigen::Index>(i), 0) += lin;
  }
  if (linear_fm_) {
    auto term = ws.term.topRows(rows);
    FmInteraction<float>::Forward(x0, f, k, term);
    logit += term;
  }
  if (!deep_) return;
  // Cross layers: h[l] = cross_l(x0, h[l - 1]), h[-1] = x0.
  for (size_t l = 0; l < cross_.size(); ++l) {
    auto in = l == 0 ? ws.x0.topRows(rows) : ws.h[l - 1].topRows(rows);
    cross_[l].Forward(x0, in, ws.h[l].topRows(rows), ws.cross[l]);
  }
  for (size_t l = 0; l < mlp_.size(); ++l) {
    auto in = l > 0 ? ws.z[l - 1].topRows(rows)
                    : (cross_.empty() ? ws.x0.topRows(rows) : ws.h.back().topRows(rows));
    auto z = ws.z[l].topRows(rows);
    mlp_[l].Forward(in, z);
    // The activation overwrites z; Backward recovers ReLU's mask from the output (a > 0 iff
    // z > 0), so the pre-activation need not be kept.
    nn::ActivationForward<float>(nn::Activation::kRelu, z, z);
  }
  auto last = !mlp_.empty() ? ws.z.back().topRows(rows)
                            : (cross_.empty() ? ws.x0.topRows(rows) : ws.h.back().topRows(rows));
  auto term = ws.term.topRows(rows);
  out_->Forward(last, term);
  logit += term;
}

double FieldNetModel::Backward(size_t m, const float* labels, float scale, Workspace& ws,
                               nn::GradSink<float>& sink) const {
  const int f = fields();
  const int k = options_.embed_dim;
  const auto rows = static_cast<Eigen::Index>(m);
  auto dlogit = ws.dlogit.topRows(rows);
  double loss = 0;
  for (Eigen::Index i = 0; i < rows; ++i) {
    const float x = ws.logit(i, 0);
    const float y = labels[i];
    loss += LogisticLoss(x, y);
    dlogit(i, 0) = (1.0f / (1.0f + std::exp(-x)) - y) * scale;
  }
  sink[*bias_](0, 0) += dlogit.sum();
  auto x0 = ws.x0.topRows(rows);
  auto dx0 = ws.dx0.topRows(rows);
  if (deep_) {
    auto last = !mlp_.empty() ? ws.z.back().topRows(rows)
                              : (cross_.empty() ? ws.x0.topRows(rows) : ws.h.back().topRows(rows));
    // d of the deep input lands in dh (width dim_) or in da of the layer below.
    auto d_last = !mlp_.empty() ? ws.da.back().topRows(rows) : ws.dh.topRows(rows);
    out_->Backward(last, dlogit, sink, d_last);
    for (size_t l = mlp_.size(); l-- > 0;) {
      auto a = ws.z[l].topRows(rows);
      auto da = ws.da[l].topRows(rows);
      // ReLU: pass the gradient where the output is positive.
      da.array() = (a.array() > 0.0f).select(da.array(), 0.0f);
      auto in = l > 0 ? ws.z[l - 1].topRows(rows)
                      : (cross_.empty() ? ws.x0.topRows(rows) : ws.h.back().topRows(rows));
      auto din = l > 0 ? ws.da[l - 1].topRows(rows) : ws.dh.topRows(rows);
      mlp_[l].Backward(in, da, sink, din);
    }
    if (cross_.empty()) {
      dx0 = ws.dh.topRows(rows);
    } else {
      dx0.setZero();
      for (size_t l = cross_.size(); l-- > 0;) {
        auto in = l == 0 ? ws.x0.topRows(rows) : ws.h[l - 1].topRows(rows);
        cross_[l].Backward(x0, in, ws.dh.topRows(rows), sink, dx0, ws.dh2.topRows(rows),
                           ws.cross[l]);
        std::swap(ws.dh, ws.dh2);
      }
      dx0 += ws.dh.topRows(rows);
    }
  } else {
    dx0.setZero();
  }
  if (linear_fm_) FmInteraction<float>::Backward(x0, f, k, dlogit, dx0, nn::InputGrad::kAdd);
  for (size_t i = 0; i < m; ++i) {
    const float* g = dx0.row(static_cast<Eigen::Index>(i)).data();
    const float d = dlogit(static_cast<Eigen::Index>(i), 0);
    for (int j = 0; j < f; ++j) {
      const uint32_t r = ws.rows[i * f + j];
      ws.embed_grad.Add(r, {g + static_cast<size_t>(j) * k, static_cast<size_t>(k)});
      if (linear_fm_) ws.linear_grad.Row(r)[0] += d;
    }
  }
  return loss;
}

double FieldNetModel::TrainEpoch(const uint32_t* rows, std::span<const float> labels,
                                 std::span<const uint32_t> order, int epoch, int threads,
                                 const FitOptions& fit) {
  nn::ThreadPool pool(threads);
  const int f = fields();
  const size_t batch = static_cast<size_t>(options_.batch_size);
  const size_t per_worker = (batch + pool.size() - 1) / pool.size();
  std::vector<std::unique_ptr<Workspace>> ws;
  for (int w = 0; w < pool.size(); ++w)
    ws.push_back(std::make_unique<Workspace>(*this, per_worker));
  nn::WorkerGradients<float> grads(*params_, pool.size());
  std::vector<double> loss(static_cast<size_t>(pool.size()), 0.0);
  double total = 0;
  for (size_t start = 0; start < order.size(); start += batch) {
    const size_t b = std::min(batch, order.size() - start);
    const float scale = 1.0f / static_cast<float>(b);
    grads.Zero(&pool);
    pool.ParallelFor(b, [&](int w, size_t b0, size_t b1) {
      Workspace& s = *ws[w];
      const size_t m = b1 - b0;
      for (size_t i = 0; i < m; ++i) {
        const uint32_t sample = order[start + b0 + i];
        std::copy_n(rows + static_cast<size_t>(sample) * f, f, s.rows.data() + i * f);
        s.labels[i] = labels[sample];
      }
      Forward(m, s);
      loss[w] = Backward(m, s.labels.data(), scale, s, grads.sink(w));
      // Hogwild: rows other workers read or update at the same time are fine (embedding_table.h).
      embed_->ApplyGradients(s.embed_grad);
      s.embed_grad.Clear();
      if (linear_fm_) {
        linear_->ApplyGradients(s.linear_grad);
        s.linear_grad.Clear();
      }
    });
    grads.Reduce(&pool);
    adam_->Step(&pool);
    for (double& l : loss) {
      total += l;
      l = 0;
    }
    if (fit.on_step) {
      fit.on_step({epoch, start + b, order.size(), total / static_cast<double>(start + b)});
    }
  }
  return total / static_cast<double>(order.size());
}

void FieldNetModel::PredictRows(const uint32_t* rows, size_t n, std::span<float> logits,
                                int threads) const {
  nn::ThreadPool pool(threads);
  const int f = fields();
  pool.ParallelFor(n, [&](int, size_t b0, size_t b1) {
    Workspace ws(*this, std::min(kPredictChunk, b1 - b0));
    for (size_t s = b0; s < b1; s += kPredictChunk) {
      const size_t m = std::min(kPredictChunk, b1 - s);
      std::copy_n(rows + s * f, m * f, ws.rows.data());
      Forward(m, ws);
      std::copy_n(ws.logit.data(), m, logits.data() + s);
    }
  });
}

void FieldNetModel::Snapshot() {
  const auto e = embed_->values();
  saved_embed_.assign(e.begin(), e.end());
  if (linear_fm_) {
    const auto l = linear_->values();
    saved_linear_.assign(l.begin(), l.end());
  }
  saved_params_.clear();
  for (int i = 0; i < params_->size(); ++i) saved_params_.push_back((*params_)[i].value);
}

void FieldNetModel::Restore() {
  const size_t k = static_cast<size_t>(options_.embed_dim);
  for (uint32_t r = 0; r < embed_->rows(); ++r) {
    embed_->WriteRow(r, {saved_embed_.data() + r * k, k});
    if (linear_fm_) linear_->WriteRow(r, {saved_linear_.data() + r, 1});
  }
  for (int i = 0; i < params_->size(); ++i) (*params_)[i].value = saved_params_[i];
}

void FieldNetModel::SaveParams(model::ModelWriter& w) const {
  w.PutF32("net.embed", embed_->values(), {embed_->rows(), static_cast<uint64_t>(embed_->dim())});
  if (linear_fm_) w.PutF32("net.linear", linear_->values(), {linear_->rows(), 1});
  for (int i = 0; i < params_->size(); ++i) {
    const nn::Param<float>& p = (*params_)[i];
    w.PutF32("net.param." + p.name, {p.value.data(), static_cast<size_t>(p.value.size())},
             {static_cast<uint64_t>(p.value.rows()), static_cast<uint64_t>(p.value.cols())});
  }
}

Status FieldNetModel::LoadParams(const model::ModelReader& r) {
  const size_t k = static_cast<size_t>(options_.embed_dim);
  FRESHET_ASSIGN_OR_RETURN(std::vector<float> e, r.F32("net.embed", embed_->rows() * k));
  for (uint32_t row = 0; row < embed_->rows(); ++row)
    embed_->WriteRow(row, {e.data() + row * k, k});
  if (linear_fm_) {
    FRESHET_ASSIGN_OR_RETURN(std::vector<float> l, r.F32("net.linear", linear_->rows()));
    for (uint32_t row = 0; row < linear_->rows(); ++row)
      linear_->WriteRow(row, {l.data() + row, 1});
  }
  for (int i = 0; i < params_->size(); ++i) {
    nn::Param<float>& p = (*params_)[i];
    FRESHET_ASSIGN_OR_RETURN(std::vector<float> v,
                             r.F32("net.param." + p.name, static_cast<size_t>(p.value.size())));
    std::copy(v.begin(), v.end(), p.value.data());
  }
  return Status::OK();
}

}  // namespace freshet::rank
