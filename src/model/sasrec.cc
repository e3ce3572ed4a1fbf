#include "model/sasrec.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>

#include "model/epochs.h"
#include "nn/data_parallel.h"
#include "nn/loss.h"
#include "nn/optimizer.h"
#include "nn/sampler.h"
#include "nn/thread_pool.h"
#include "nn/transformer.h"

namespace freshet::model {
namespace {

Status SetInt(int& out, std::string_view k, std::string_view v, int64_t lo, int64_t hi) {
  int64_t x = 0;
  FRESHET_RETURN_IF_ERROR(ParseInt(k, v, lo, hi, &x));
  out = static_cast<int>(x);
  return Status::OK();
}

constexpr Field<SasrecOptions> kFields[] = {
    {"max_len", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return SetInt(o.max_len, k, v, 1, 4096); },
     [](const SasrecOptions& o) { return std::to_string(o.max_len); }},
    {"hidden", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return SetInt(o.hidden, k, v, 1, 4096); },
     [](const SasrecOptions& o) { return std::to_string(o.hidden); }},
    {"blocks", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return SetInt(o.blocks, k, v, 0, 64); },
     [](const SasrecOptions& o) { return std::to_string(o.blocks); }},
    {"heads", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return SetInt(o.heads, k, v, 1, 64); },
     [](const SasrecOptions& o) { return std::to_string(o.heads); }},
    {"dropout", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 0.0, 0.95, &o.dropout); },
     [](const SasrecOptions& o) { return FormatNumber(o.dropout); }},
    {"epochs", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return SetInt(o.epochs, k, v, 1, 100000); },
     [](const SasrecOptions& o) { return std::to_string(o.epochs); }},
    {"batch_size", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return SetInt(o.batch_size, k, v, 1, 65536); },
     [](const SasrecOptions& o) { return std::to_string(o.batch_size); }},
    {"learning_rate", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 1e-8, 1.0, &o.learning_rate); },
     [](const SasrecOptions& o) { return FormatNumber(o.learning_rate); }},
    {"weight_decay", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 0.0, 10.0, &o.weight_decay); },
     [](const SasrecOptions& o) { return FormatNumber(o.weight_decay); }},
    {"loss", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return ParseChoice(k, v, {"ce", "bce"}, &o.loss); },
     [](const SasrecOptions& o) { return o.loss; }},
    {"negatives", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return SetInt(o.negatives, k, v, 1, 10000); },
     [](const SasrecOptions& o) { return std::to_string(o.negatives); }},
    {"ce_negatives", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return SetInt(o.ce_negatives, k, v, 0, 100000000); },
     [](const SasrecOptions& o) { return std::to_string(o.ce_negatives); }},
    {"ce_popularity_share", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 0.0, 1.0, &o.ce_popularity_share); },
     [](const SasrecOptions& o) { return FormatNumber(o.ce_popularity_share); }},
    {"ce_precision", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return ParseChoice(k, v, {"bf16", "float"}, &o.ce_precision); },
     [](const SasrecOptions& o) { return o.ce_precision; }},
    {"activation", [](SasrecOptions& o, std::string_view k, std::string_view v) {
       return ParseChoice(k, v, {"relu", "gelu"}, &o.activation); },
     [](const SasrecOptions& o) { return o.activation; }},
};

using Mat = nn::Matrix<float>;

// Gradient buffers are needed only by a model that learns: serving copies and loaded models drop
// them (an item table's worth each, 25 MB for 100,000 items at hidden 64), Learn makes them again.
void ReleaseGrads(nn::ParamSet<float>& params) {
  for (int p = 0; p < params.size(); ++p) params[p].grad = nn::Matrix<float>();
}
void EnsureGrads(nn::ParamSet<float>& params) {
  for (int p = 0; p < params.size(); ++p) {
    nn::Param<float>& param = params[p];
    if (param.grad.rows() != param.value.rows() || param.grad.cols() != param.value.cols()) {
      param.grad.setZero(param.value.rows(), param.value.cols());
    }
  }
}

}  // namespace

Status SasrecOptions::Set(std::string_view key, std::string_view value) {
  return SetField("sasrec", kFields, *this, key, value);
}
Params SasrecOptions::Get() const { return GetFields(kFields, *this); }

struct SasrecModel::Net {
  using Workspace = nn::SasrecEncoder<float>::Workspace;

  // Scoring workspaces, reused across the concurrent const scoring calls: a workspace is a few
  // hundred kB to a few MB of activations, and allocating it per call costs page faults that a
  // serving path cannot afford. A workspace depends only on the architecture, so Clone shares
  // the pool: the online learner publishes a copy every second, and with a pool per copy the
  // first requests on each new copy allocated their workspaces again.
  struct Lease {
    int capacity = 0;
    std::unique_ptr<Workspace> ws;
  };
  struct Pool {
    static constexpr size_t kMaxSpare = 16;
    std::mutex mu;
    std::vector<Lease> spare;  // guarded by mu
  };

  // Returns a workspace for at least `batch` sequences; Give puts it back.
  Lease Take(int batch) {
    {
      std::lock_guard<std::mutex> lock(pool->mu);
      for (auto it = pool->spare.begin(); it != pool->spare.end(); ++it) {
        if (it->capacity >= batch) {
          Lease lease = std::move(*it);
          pool->spare.erase(it);
          return lease;
        }
      }
    }
    return {batch, std::make_unique<Workspace>(*encoder, batch)};
  }
  void Give(Lease lease) {
    std::lock_guard<std::mutex> lock(pool->mu);
    if (pool->spare.size() < Pool::kMaxSpare) pool->spare.push_back(std::move(lease));
  }

  nn::ParamSet<float> params;
  std::unique_ptr<nn::SasrecEncoder<float>> encoder;
  std::shared_ptr<Pool> pool = std::make_shared<Pool>();
};

// The online learner's state: its own optimizer (fresh moments; not saved) and scratch.
struct SasrecModel::OnlineState {
  std::unique_ptr<nn::Adam<float>> adam;
  std::unique_ptr<nn::SasrecEncoder<float>::Workspace> ws;
  int ws_batch = 0;
  nn::SharedNegativeSoftmaxLoss<float> loss;
  nn::SharedNegativeSoftmaxLoss<float>::Workspace loss_ws;
  Mat d_hidden;
  uint64_t steps = 0;
};

SasrecModel::SasrecModel(SasrecOptions options) : options_(std::move(options)) {}
SasrecModel::~SasrecModel() = default;

Status SasrecModel::Build(uint32_t num_items, uint64_t seed) {
  if (options_.hidden % options_.heads != 0) {
    return Status::InvalidArgument("sasrec: heads (" + std::to_string(options_.heads) +
                                   ") must divide hidden (" + std::to_string(options_.hidden) +
                                   ")");
  }
  if (num_items == 0) return Status::InvalidArgument("sasrec: the catalog is empty");
  nn::SasrecEncoderOptions eo;
  eo.num_items = static_cast<int>(num_items);
  eo.max_len = options_.max_len;
  eo.embedding_dropout = static_cast<float>(options_.dropout);
  eo.transformer.hidden = options_.hidden;
  eo.transformer.heads = options_.heads;
  eo.transformer.blocks = options_.blocks;
  eo.transformer.dropout = static_cast<float>(options_.dropout);
  eo.transformer.activation =
      options_.activation == "gelu" ? nn::Activation::kGelu : nn::Activation::kRelu;
  online_.reset();  // its optimizer refers to the old parameters
  net_ = std::make_unique<Net>();
  net_->encoder = std::make_unique<nn::SasrecEncoder<float>>(net_->params, eo, seed);
  num_items_ = num_items;
  item_active_.clear();
  inactive_items_ = 0;
  return Status::OK();
}

Status SasrecModel::Fit(const TrainData& data, const FitOptions& fit, TrainReport* report) {
  const UserSequences& seqs = *data.sequences;
  FRESHET_RETURN_IF_ERROR(Build(seqs.num_items, fit.seed));
  popularity_.assign(num_items_, 0.0f);
  for (ItemId i : seqs.items) popularity_[i] += 1.0f;

  // A user's training example is their last max_len + 1 items: inputs all but the last, targets
  // all but the first (the paper's construction).
  std::vector<UserId> users;
  for (UserId u = 0; u < seqs.num_users(); ++u) {
    if (seqs.length(u) >= 2) users.push_back(u);
  }
  if (users.empty()) return Status::InvalidArgument("sasrec: no user has two interactions");
  auto tokens_of = [&](UserId u) {
    return static_cast<uint32_t>(std::min<size_t>(seqs.length(u) - 1, options_.max_len));
  };
  uint64_t samples_per_epoch = 0;
  for (UserId u : users) samples_per_epoch += tokens_of(u);

  nn::SasrecEncoder<float>& encoder = *net_->encoder;
  nn::ThreadPool pool(fit.threads);
  const int workers = pool.size();
  const int batch_size = options_.batch_size;
  const int max_len = options_.max_len;
  const int hidden = options_.hidden;
  const bool ce = options_.loss == "ce";
  // Shared negatives only when they are fewer than the catalog; else the exact full softmax.
  const bool shared = ce && options_.ce_negatives > 0 &&
                      static_cast<uint32_t>(options_.ce_negatives) < num_items_;
  const int num_shared = shared ? options_.ce_negatives : 0;
  std::optional<nn::MixedNegativeSampler> sampler;
  if (shared) sampler.emplace(popularity_, options_.ce_popularity_share);
  std::vector<ItemId> negatives;
  std::vector<float> log_weights;

  struct Worker {
    std::unique_ptr<nn::SasrecEncoder<float>::Workspace> ws;
    std::unique_ptr<nn::FullSoftmaxLoss<float>::Workspace> softmax_ws;
    nn::SharedNegativeSoftmaxLoss<float>::Workspace shared_ws;
    Mat d_hidden;
    std::vector<ItemId> ids, targets, negatives;
    nn::LossValue loss;
  };
  nn::FullSoftmaxLoss<float> softmax;
  nn::FullSoftmaxOptions shared_options;
  shared_options.bf16_products = options_.ce_precision == "bf16";
  nn::SharedNegativeSoftmaxLoss<float> shared_softmax(shared_options);
  std::vector<Worker> ws(workers);
  for (Worker& w : ws) {
    w.ws = std::make_unique<nn::SasrecEncoder<float>::Workspace>(encoder, batch_size);
    if (ce && !shared) {
      w.softmax_ws = std::make_unique<nn::FullSoftmaxLoss<float>::Workspace>(
          softmax, static_cast<int>(num_items_), hidden);
    }
    w.d_hidden.resize(static_cast<Eigen::Index>(batch_size) * max_len, hidden);
  }
  nn::WorkerGradients<float> grads(net_->params, workers);
  nn::AdamOptions ao;
  ao.learning_rate = static_cast<float>(options_.learning_rate);
  ao.beta2 = 0.98f;
  ao.weight_decay = static_cast<float>(options_.weight_decay);
  nn::Adam<float> adam(net_->params, ao);

  // The best epoch's parameters, copied aside by value.
  std::vector<Mat> best;
  EpochLoop loop("sasrec", options_.epochs, fit, report);
  std::vector<uint32_t> costs(batch_size);
  std::vector<size_t> bounds(workers + 1);
  Status status = loop.Run(
      [&](int epoch) -> double {
        nn::Rng shuffle(fit.seed, 0x5eed0000u + static_cast<uint64_t>(epoch));
        for (size_t i = users.size(); i > 1; --i) {
          std::swap(users[i - 1], users[shuffle.Below(i)]);
        }
        double loss_sum = 0;
        int64_t loss_count = 0;
        uint64_t done = 0;
        for (size_t start = 0; start < users.size(); start += batch_size) {
          const size_t n = std::min<size_t>(batch_size, users.size() - start);
          const std::span<const UserId> batch(users.data() + start, n);
          uint64_t total = 0;
          for (size_t b = 0; b < n; ++b) total += costs[b] = tokens_of(batch[b]);
          nn::BalancedSplit({costs.data(), n}, bounds);
          if (shared) {
            nn::Rng draw(fit.seed, 0x4e454700u ^ (static_cast<uint64_t>(epoch) << 32) ^ start);
            sampler->Draw(num_shared, draw, &negatives, &log_weights);
          }
          const float scale = 1.0f / static_cast<float>(total);
          grads.Zero(&pool);
          pool.Run([&](int wi) {
            Worker& w = ws[wi];
            w.loss = nn::LossValue();
            const size_t lo = bounds[wi], hi = bounds[wi + 1];
            if (lo >= hi) return;
            const int sub = static_cast<int>(hi - lo);
            int len = 1;
            for (size_t b = lo; b < hi; ++b) len = std::max<int>(len, static_cast<int>(costs[b]));
            const size_t cells = static_cast<size_t>(sub) * len;
            w.ids.assign(cells, kNoId);
            w.targets.assign(cells, kNoId);
            for (size_t b = lo; b < hi; ++b) {
              auto items = seqs.items_of(batch[b]);
              const int m = static_cast<int>(costs[b]);
              const size_t first = items.size() - m - 1;  // window start in the sequence
              const size_t row = (b - lo) * len + (len - m);
              for (int t = 0; t < m; ++t) {
                w.ids[row + t] = items[first + t];
                w.targets[row + t] = items[first + t + 1];
              }
            }
            nn::Rng rng(fit.seed, (static_cast<uint64_t>(epoch) << 32) ^ (start << 4) ^ wi);
            nn::ConstMatrixRef<float> h = encoder.Forward(w.ids, sub, len, *w.ws, rng, true);
            auto d_hidden = w.d_hidden.topRows(static_cast<Eigen::Index>(cells));
            nn::GradSink<float>& sink = grads.sink(wi);
            Mat& d_items = sink[encoder.item_embedding()];
            if (shared) {
              w.loss = shared_softmax.Compute(h, w.targets, negatives, log_weights,
                                              encoder.item_embedding().value, scale, d_hidden,
                                              d_items, w.shared_ws);
            } else if (ce) {
              w.loss = softmax.Compute(h, w.targets, encoder.item_embedding().value, scale,
                                       d_hidden, d_items, *w.softmax_ws);
            } else {
              const int k = options_.negatives;
              w.negatives.assign(cells * k, kNoId);
              for (size_t c = 0; c < cells; ++c) {
                if (w.targets[c] == kNoId) continue;
                for (int j = 0; j < k; ++j) {
                  ItemId neg = w.targets[c];
                  while (neg == w.targets[c]) neg = static_cast<ItemId>(rng.Below(num_items_));
                  w.negatives[c * k + j] = neg;
                }
              }
              w.loss = nn::SampledBinaryCrossEntropy<float>(
                  h, w.targets, w.negatives, encoder.item_embedding().value, scale, d_hidden,
                  d_items);
            }
            encoder.Backward(d_hidden, *w.ws, sink);
          });
          grads.Reduce(&pool);
          adam.Step(&pool);
          for (const Worker& w : ws) {
            loss_sum += w.loss.sum;
            loss_count += w.loss.count;
          }
          done += total;
          loop.Step(done, loss_count > 0 ? loss_sum / loss_count : 0.0);
        }
        return loss_count > 0 ? loss_sum / loss_count : 0.0;
      },
      samples_per_epoch, *this,
      [&] {
        best.clear();
        for (int p = 0; p < net_->params.size(); ++p) best.push_back(net_->params[p].value);
      });
  FRESHET_RETURN_IF_ERROR(status);
  if (loop.has_best()) {
    for (int p = 0; p < net_->params.size(); ++p) net_->params[p].value = best[p];
  }
  return Status::OK();
}

void SasrecModel::ScoreBatch(std::span<const UserId> users,
                             std::span<const std::span<const ItemId>> histories,
                             std::span<float> out) const {
  assert(histories.size() == users.size() && out.size() == users.size() * num_items_);
  if (!net_) {
    Recommender::ScoreBatch(users, histories, out);
    return;
  }
  // Users with known history items are encoded together, left-padded to the longest window;
  // the others get the popularity fallback.
  const int batch = static_cast<int>(users.size());
  std::vector<std::vector<ItemId>> windows(batch);
  std::vector<int> encoded;  // batch positions of the users encoded, in order
  int len = 1;
  for (int b = 0; b < batch; ++b) {
    RecentActive(histories[b], &windows[b]);
    if (windows[b].empty()) {
      std::copy(popularity_.begin(), popularity_.end(), out.begin() + b * size_t{num_items_});
    } else {
      encoded.push_back(b);
      len = std::max(len, static_cast<int>(windows[b].size()));
    }
  }
  if (encoded.empty()) return;
  const int rows = static_cast<int>(encoded.size());
  std::vector<ItemId> ids(static_cast<size_t>(rows) * len, kNoId);
  for (int r = 0; r < rows; ++r) {
    const std::vector<ItemId>& w = windows[encoded[r]];
    std::copy(w.begin(), w.end(), ids.begin() + (static_cast<size_t>(r) + 1) * len - w.size());
  }
  const nn::SasrecEncoder<float>& encoder = *net_->encoder;
  // Batches are taken in sizes of up to 64 users: one workspace size serves them all.
  Net::Lease lease = net_->Take(std::max(rows, 64));
  nn::Rng rng(0);  // unused without dropout
  nn::ConstMatrixRef<float> h =
      encoder.Forward(ids, rows, len, *lease.ws, rng, /*training=*/false);
  Mat last(rows, options_.hidden);
  for (int r = 0; r < rows; ++r) last.row(r) = h.row(static_cast<Eigen::Index>(r) * len + len - 1);
  net_->Give(std::move(lease));
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const auto& table = encoder.item_embedding().value;
  if (rows == batch) {  // the usual case: straight into out
    Eigen::Map<RowMajor>(out.data(), rows, num_items_).noalias() = last * table.transpose();
  } else {
    RowMajor scores(rows, num_items_);
    scores.noalias() = last * table.transpose();
    for (int r = 0; r < rows; ++r) {
      std::copy(scores.row(r).data(), scores.row(r).data() + num_items_,
                out.begin() + encoded[r] * size_t{num_items_});
    }
  }
  if (inactive_items_ > 0) {
    for (int b = 0; b < batch; ++b) MaskInactive(out.subspan(b * size_t{num_items_}, num_items_));
  }
}

void SasrecModel::ItemVectors(std::vector<float>* out) const {
  assert(net_);
  const auto& table = net_->encoder->item_embedding().value;  // row-major [items, hidden]
  out->assign(table.data(), table.data() + table.size());
}

bool SasrecModel::QueryVector(UserId, std::span<const ItemId> history,
                              std::span<float> out) const {
  assert(out.size() == static_cast<size_t>(options_.hidden));
  std::vector<ItemId> ids;
  RecentActive(history, &ids);
  if (ids.empty() || !net_) return false;
  const nn::SasrecEncoder<float>& encoder = *net_->encoder;
  Net::Lease lease = net_->Take(1);
  nn::Rng rng(0);  // unused without dropout
  const int len = static_cast<int>(ids.size());
  nn::ConstMatrixRef<float> h = encoder.Forward(ids, 1, len, *lease.ws, rng, /*training=*/false);
  Eigen::Map<Eigen::RowVectorXf>(out.data(), options_.hidden) = h.row(len - 1);
  net_->Give(std::move(lease));
  return true;
}

void SasrecModel::ScoreAll(UserId user, std::span<const ItemId> history,
                           std::span<float> out) const {
  Eigen::VectorXf query(net_ ? options_.hidden : 0);
  if (!net_ || !QueryVector(user, history, {query.data(), static_cast<size_t>(query.size())})) {
    std::copy(popularity_.begin(), popularity_.end(), out.begin());
  } else {
    Eigen::Map<Eigen::VectorXf> scores(out.data(), num_items_);
    scores.noalias() = net_->encoder->item_embedding().value * query;
  }
  MaskInactive(out);
}

void SasrecModel::Similar(ItemId item, size_t k, std::vector<std::pair<ItemId, float>>* out) const {
  out->clear();
  if (item >= num_items_ || !net_) return;
  const Mat& e = net_->encoder->item_embedding().value;
  Eigen::VectorXf norms = e.rowwise().norm();
  Eigen::VectorXf cos = (e * e.row(item).transpose()).cwiseQuotient(
      (norms * norms[item]).cwiseMax(1e-12f));
  std::vector<std::pair<ItemId, float>> all;
  all.reserve(num_items_);
  for (ItemId j = 0; j < num_items_; ++j) {
    if (j != item && item_active(j)) all.emplace_back(j, cos[j]);
  }
  size_t n = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                    [](const auto& a, const auto& b) { return a.second > b.second; });
  all.resize(n);
  *out = std::move(all);
}

Status SasrecModel::Save(ModelWriter& writer) const {
  if (!net_) return Status::FailedPrecondition("sasrec: nothing to save before Fit or Load");
  writer.PutBytes("params", FormatParams(options_.Get()));
  std::vector<int64_t> items = {num_items_};
  writer.PutI64("sasrec.num_items", items);
  writer.PutF32("sasrec.popularity", popularity_);
  std::vector<uint32_t> active(item_active_.begin(), item_active_.end());
  writer.PutU32("sasrec.item_active", active);
  for (int p = 0; p < net_->params.size(); ++p) {
    const nn::Param<float>& param = net_->params[p];
    writer.PutF32("sasrec.param." + param.name, {param.value.data(), static_cast<size_t>(param.value.size())},
                  {static_cast<uint64_t>(param.value.rows()), static_cast<uint64_t>(param.value.cols())});
  }
  return Status::OK();
}

Status SasrecModel::Load(const ModelReader& reader) {
  FRESHET_ASSIGN_OR_RETURN(std::string params_text, reader.Bytes("params"));
  FRESHET_ASSIGN_OR_RETURN(Params params, ParseParams(params_text));
  options_ = SasrecOptions();
  FRESHET_RETURN_IF_ERROR(ApplyParams(params, options_));
  FRESHET_ASSIGN_OR_RETURN(std::vector<int64_t> items, reader.I64("sasrec.num_items"));
  if (items.size() != 1 || items[0] <= 0 || items[0] > (int64_t{1} << 31)) {
    return Status::Corruption("model file '" + reader.origin() + "': bad sasrec.num_items");
  }
  FRESHET_RETURN_IF_ERROR(Build(static_cast<uint32_t>(items[0]), 0));
  FRESHET_ASSIGN_OR_RETURN(popularity_, reader.F32("sasrec.popularity", num_items_));
  item_active_.clear();
  inactive_items_ = 0;
  if (reader.Has("sasrec.item_active")) {  // files before online learning have none
    FRESHET_ASSIGN_OR_RETURN(std::vector<uint32_t> active, reader.U32("sasrec.item_active"));
    if (!active.empty() && active.size() != num_items_) {
      return Status::Corruption("model file '" + reader.origin() +
                                "': sasrec.item_active does not match num_items");
    }
    item_active_.assign(active.begin(), active.end());
    for (uint8_t a : item_active_) inactive_items_ += a ? 0 : 1;
  }
  for (int p = 0; p < net_->params.size(); ++p) {
    nn::Param<float>& param = net_->params[p];
    const std::string entry = "sasrec.param." + param.name;
    FRESHET_ASSIGN_OR_RETURN(std::vector<uint64_t> shape, reader.Shape(entry));
    if (shape != std::vector<uint64_t>{static_cast<uint64_t>(param.value.rows()),
                                       static_cast<uint64_t>(param.value.cols())}) {
      return Status::Corruption("model file '" + reader.origin() + "': entry '" + entry +
                                "' does not have the shape its options imply");
    }
    FRESHET_ASSIGN_OR_RETURN(std::vector<float> v,
                             reader.F32(entry, static_cast<size_t>(param.value.size())));
    std::copy(v.begin(), v.end(), param.value.data());
  }
  ReleaseGrads(net_->params);
  return Status::OK();
}

// ---- online learning

void SasrecModel::RecentActive(std::span<const ItemId> history, std::vector<ItemId>* ids) const {
  ids->clear();
  for (size_t k = history.size(); k-- > 0 && ids->size() < static_cast<size_t>(options_.max_len);) {
    if (item_active(history[k])) ids->push_back(history[k]);
  }
  std::reverse(ids->begin(), ids->end());
}

void SasrecModel::MaskInactive(std::span<float> out) const {
  if (inactive_items_ == 0) return;
  for (ItemId i = 0; i < num_items_; ++i) {
    if (!item_active_[i]) out[i] = kInactiveScore;
  }
}

void SasrecModel::Grow(uint32_t num_items) {
  if (num_items <= num_items_) return;
  if (item_active_.empty()) item_active_.assign(num_items_, 1);
  nn::GrowRows(net_->encoder->item_embedding(), static_cast<int>(num_items));  // zero rows
  popularity_.resize(num_items, 0.0f);
  item_active_.resize(num_items, 0);
  inactive_items_ += num_items - num_items_;
  num_items_ = num_items;
}

Status SasrecModel::Learn(std::span<const OnlineExample> batch, uint32_t num_items,
                          const OnlineOptions& options) {
  if (!net_) return Status::FailedPrecondition("sasrec: Learn before Fit or Load");
  for (const OnlineExample& e : batch) {
    if (e.item >= num_items && e.item >= num_items_) {
      return Status::InvalidArgument("sasrec: online example item " + std::to_string(e.item) +
                                     " is not below num_items " + std::to_string(num_items));
    }
  }
  Grow(num_items);
  nn::SasrecEncoder<float>& encoder = *net_->encoder;
  Mat& table = encoder.item_embedding().value;
  const int hidden = options_.hidden;
  if (!online_) {
    online_ = std::make_unique<OnlineState>();
    nn::AdamOptions ao;
    ao.learning_rate = static_cast<float>(options.learning_rate > 0
                                              ? options.learning_rate
                                              : options_.learning_rate * kOnlineLearningRateShare);
    ao.beta2 = 0.98f;
    ao.weight_decay = static_cast<float>(options_.weight_decay);
    online_->adam = std::make_unique<nn::Adam<float>>(net_->params, ao);
  }
  OnlineState& st = *online_;

  // Windows: each example's active history, newest max_len; the target on the last slot only.
  std::vector<std::vector<ItemId>> windows;
  std::vector<ItemId> targets;
  int len = 1;
  std::vector<ItemId> ids;
  std::vector<float> query(hidden);
  double mean_norm = -1;
  for (const OnlineExample& e : batch) {
    RecentActive(e.history, &ids);
    if (!item_active(e.item)) {
      // A new item: its row starts along the query vector of the history that led to it, so it
      // ranks for the next users on the same path; with no history, a small random row. At
      // half the mean row norm: at the full norm, items seen once crowded the top of every
      // similar user's list (Online Retail replay with no learning at all: -8% HR@10 at the full
      // norm, no change at 0.3 or 0.6 of it).
      if (mean_norm < 0) {
        double sum = 0;
        uint32_t n = 0;
        for (ItemId i = 0; i < num_items_; ++i) {
          if (item_active(i)) {
            sum += table.row(i).norm();
            ++n;
          }
        }
        mean_norm = n > 0 ? sum / n : 1.0;
      }
      auto row = table.row(e.item);
      if (!ids.empty() && QueryVector(e.user, e.history, query)) {
        Eigen::Map<const Eigen::RowVectorXf> q(query.data(), hidden);
        row = q * static_cast<float>(kNewItemNormShare * mean_norm / std::max(1e-6f, q.norm()));
      } else {
        nn::Rng rng(options.seed, 0x5a5e0000ull ^ e.item);
        for (int k = 0; k < hidden; ++k) {
          row[k] = static_cast<float>(rng.Normal() * mean_norm / std::sqrt(hidden));
        }
      }
      item_active_[e.item] = 1;
      --inactive_items_;
    }
    popularity_[e.item] += 1.0f;
    if (ids.empty()) continue;  // nothing to read: the row init above is all we learn
    len = std::max(len, static_cast<int>(ids.size()));
    windows.push_back(ids);
    targets.push_back(e.item);
  }
  if (windows.empty()) return Status::OK();
  const int rows = static_cast<int>(windows.size());
  // The batch goes through the encoder kOnlineChunk windows at a time, the gradients summed over
  // the chunks before the one Adam step: the same step as the whole batch at once, with
  // activations for a chunk only. A workspace for a 1,024-window step held 770 MB of the
  // server's RSS in the freshness benchmark (jemalloc heap profile), against 48 MB for 64.
  const int chunk_rows = std::min(rows, kOnlineChunk);
  if (!st.ws || st.ws_batch < chunk_rows) {
    st.ws_batch = std::max(chunk_rows, std::min(64, kOnlineChunk));
    st.ws = std::make_unique<nn::SasrecEncoder<float>::Workspace>(encoder, st.ws_batch);
  }
  nn::Rng rng(options.seed, 0x0711e000000ull + st.steps);

  // Negatives shared by the batch, drawn among the active items (popularity + uniform mix).
  std::vector<float> counts(num_items_);
  for (ItemId i = 0; i < num_items_; ++i) counts[i] = item_active(i) ? popularity_[i] + 1.0f : 0;
  const int k = std::min<int>(options_.ce_negatives > 0 ? options_.ce_negatives : 4096,
                              static_cast<int>(num_items_));
  nn::MixedNegativeSampler sampler(counts, options_.ce_popularity_share);
  std::vector<ItemId> negatives;
  std::vector<float> log_weights;
  sampler.Draw(k, rng, &negatives, &log_weights);
  // The uniform part of the mix may still draw an inactive item: leave it out.
  size_t kept = 0;
  for (size_t j = 0; j < negatives.size(); ++j) {
    if (!item_active(negatives[j])) continue;
    negatives[kept] = negatives[j];
    log_weights[kept] = log_weights[j];
    ++kept;
  }
  negatives.resize(kept);
  log_weights.resize(kept);

  EnsureGrads(net_->params);
  nn::GradSink<float> sink = nn::GradSink<float>::Shared(net_->params);
  sink.Zero();
  Mat& d_items = sink[encoder.item_embedding()];
  std::vector<ItemId> cell_targets;
  for (int begin = 0; begin < rows; begin += chunk_rows) {
    const int n = std::min(chunk_rows, rows - begin);
    ids.assign(static_cast<size_t>(n) * len, kNoId);
    cell_targets.assign(ids.size(), kNoId);
    for (int r = 0; r < n; ++r) {
      const std::vector<ItemId>& w = windows[begin + r];
      std::copy(w.begin(), w.end(), ids.begin() + (static_cast<size_t>(r) + 1) * len - w.size());
      cell_targets[(static_cast<size_t>(r) + 1) * len - 1] = targets[begin + r];
    }
    nn::ConstMatrixRef<float> h = encoder.Forward(ids, n, len, *st.ws, rng, /*training=*/true);
    st.d_hidden.resize(h.rows(), hidden);
    st.loss.Compute(h, cell_targets, negatives, log_weights, table,
                    1.0f / static_cast<float>(rows), st.d_hidden, d_items, st.loss_ws);
    encoder.Backward(st.d_hidden, *st.ws, sink);
  }
  st.adam->Step();
  ++st.steps;
  if (inactive_items_ > 0) {  // Adam's momentum must not move rows that hold nothing
    for (ItemId i = 0; i < num_items_; ++i) {
      if (!item_active_[i]) table.row(i).setZero();
    }
  }
  return Status::OK();
}

void SasrecModel::Forget(std::span<const ItemId> items) {
  if (!net_) return;
  for (ItemId i : items) {
    if (!item_active(i)) continue;
    if (item_active_.empty()) item_active_.assign(num_items_, 1);
    item_active_[i] = 0;
    ++inactive_items_;
    net_->encoder->item_embedding().value.row(i).setZero();
  }
}

std::unique_ptr<Recommender> SasrecModel::Clone() const {
  auto copy = std::make_unique<SasrecModel>(options_);
  if (!net_) return copy;
  if (!copy->Build(num_items_, 0).ok()) return nullptr;
  for (int p = 0; p < net_->params.size(); ++p) {
    copy->net_->params[p].value = net_->params[p].value;
  }
  ReleaseGrads(copy->net_->params);
  copy->net_->pool = net_->pool;
  copy->popularity_ = popularity_;
  copy->item_active_ = item_active_;
  copy->inactive_items_ = inactive_items_;
  return copy;
}

}  // namespace freshet::model
