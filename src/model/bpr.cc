#include "model/bpr.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include <Eigen/Core>

#include "model/epochs.h"
#include "nn/embedding_table.h"
#include "nn/random.h"
#include "nn/thread_pool.h"

namespace freshet::model {
namespace {

constexpr Field<BprOptions> kFields[] = {
    {"dim",
     [](BprOptions& o, std::string_view k, std::string_view v) {
       int64_t x = 0;
       FRESHET_RETURN_IF_ERROR(ParseInt(k, v, 1, 4096, &x));
       o.dim = static_cast<int>(x);
       return Status::OK();
     },
     [](const BprOptions& o) { return std::to_string(o.dim); }},
    {"epochs",
     [](BprOptions& o, std::string_view k, std::string_view v) {
       int64_t x = 0;
       FRESHET_RETURN_IF_ERROR(ParseInt(k, v, 1, 100000, &x));
       o.epochs = static_cast<int>(x);
       return Status::OK();
     },
     [](const BprOptions& o) { return std::to_string(o.epochs); }},
    {"learning_rate",
     [](BprOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 1e-8, 10.0, &o.learning_rate);
     },
     [](const BprOptions& o) { return FormatNumber(o.learning_rate); }},
    {"reg",
     [](BprOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 0.0, 10.0, &o.reg);
     },
     [](const BprOptions& o) { return FormatNumber(o.reg); }},
    {"init_stddev",
     [](BprOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 0.0, 10.0, &o.init_stddev);
     },
     [](const BprOptions& o) { return FormatNumber(o.init_stddev); }},
};

float Dot(const float* a, const float* b, int n) {
  float s = 0;
  for (int k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

}  // namespace

Status BprOptions::Set(std::string_view key, std::string_view value) {
  return SetField("bpr", kFields, *this, key, value);
}
Params BprOptions::Get() const { return GetFields(kFields, *this); }

BprModel::BprModel(BprOptions options) : options_(options) {}
BprModel::~BprModel() = default;

Status BprModel::Fit(const TrainData& data, const FitOptions& fit, TrainReport* report) {
  const UserSequences& seqs = *data.sequences;
  num_users_ = seqs.num_users();
  num_items_ = seqs.num_items;
  // Positive pairs and each user's sorted item set (for rejecting sampled "negatives" the user
  // actually took).
  std::vector<std::vector<ItemId>> user_items(num_users_);
  std::vector<std::pair<UserId, ItemId>> positives;
  for (UserId u = 0; u < num_users_; ++u) {
    auto items = seqs.items_of(u);
    user_items[u].assign(items.begin(), items.end());
    std::sort(user_items[u].begin(), user_items[u].end());
    user_items[u].erase(std::unique(user_items[u].begin(), user_items[u].end()),
                        user_items[u].end());
    for (ItemId i : user_items[u]) positives.emplace_back(u, i);
  }
  if (positives.empty()) return Status::InvalidArgument("no interactions to learn from");
  if (num_items_ < 2) return Status::InvalidArgument("BPR needs at least two items");

  nn::EmbeddingTableOptions to;
  to.dim = options_.dim;
  to.optimizer = nn::SparseOptimizer::kAdagrad;
  to.learning_rate = static_cast<float>(options_.learning_rate);
  to.weight_decay = static_cast<float>(options_.reg);
  to.init_stddev = static_cast<float>(options_.init_stddev);
  to.seed = fit.seed;
  FRESHET_ASSIGN_OR_RETURN(auto users, nn::EmbeddingTable::Create(to, num_users_));
  to.seed = fit.seed + 1;
  FRESHET_ASSIGN_OR_RETURN(auto items, nn::EmbeddingTable::Create(to, num_items_));
  to.dim = 1;
  to.init_stddev = 0;
  to.weight_decay = 0;
  FRESHET_ASSIGN_OR_RETURN(auto bias, nn::EmbeddingTable::Create(to, num_items_));

  nn::ThreadPool pool(fit.threads);
  const int dim = options_.dim;
  struct Worker {
    std::vector<float> p, qi, qj, gp, gi, gj;
    double loss = 0;
  };
  std::vector<Worker> workers(pool.size());
  for (Worker& w : workers) {
    for (auto* v : {&w.p, &w.qi, &w.qj, &w.gp, &w.gi, &w.gj}) v->resize(dim);
  }

  EpochLoop loop("bpr", options_.epochs, fit, report);
  // Scoring reads plain arrays: copied from the tables after each epoch, when no worker runs.
  // values() of an Adagrad table is a copy valid until the next call: one call per table.
  auto snapshot = [&] {
    const auto copy = [](const nn::EmbeddingTable& t, std::vector<float>& out) {
      const std::span<const float> v = t.values();
      out.assign(v.begin(), v.end());
    };
    copy(*users, user_factors_);
    copy(*items, item_factors_);
    copy(*bias, item_bias_);
  };
  std::vector<float> best_users, best_items, best_bias;
  Status status = loop.Run(
      [&](int epoch) -> double {
        pool.ParallelFor(positives.size(), [&](int wi, size_t begin, size_t end) {
          Worker& w = workers[wi];
          w.loss = 0;
          nn::Rng rng(fit.seed, static_cast<uint64_t>(epoch) * 1024 + wi);
          for (size_t s = begin; s < end; ++s) {
            auto [u, i] = positives[rng.Below(positives.size())];
            const auto& taken = user_items[u];
            ItemId j = i;
            for (int tries = 0; tries < 32; ++tries) {
              j = static_cast<ItemId>(rng.Below(num_items_));
              if (!std::binary_search(taken.begin(), taken.end(), j)) break;
            }
            if (j == i) continue;
            users->ReadRow(u, w.p);
            items->ReadRow(i, w.qi);
            items->ReadRow(j, w.qj);
            float bi = 0, bj = 0;
            bias->ReadRow(i, {&bi, 1});
            bias->ReadRow(j, {&bj, 1});
            float x = Dot(w.p.data(), w.qi.data(), dim) - Dot(w.p.data(), w.qj.data(), dim) + bi - bj;
            // Loss -ln sigmoid(x); its derivative in x is -sigmoid(-x).
            float g = 1.0f / (1.0f + std::exp(x));
            w.loss += x > -30 ? std::log1p(std::exp(-x)) : -x;
            for (int k = 0; k < dim; ++k) {
              w.gp[k] = -g * (w.qi[k] - w.qj[k]);
              w.gi[k] = -g * w.p[k];
              w.gj[k] = g * w.p[k];
            }
            users->ApplyGradient(u, w.gp);
            items->ApplyGradient(i, w.gi);
            items->ApplyGradient(j, w.gj);
            float gbi = -g, gbj = g;
            bias->ApplyGradient(i, {&gbi, 1});
            bias->ApplyGradient(j, {&gbj, 1});
          }
        });
        double loss = 0;
        for (const Worker& w : workers) loss += w.loss;
        snapshot();
        return loss / static_cast<double>(positives.size());
      },
      positives.size(), *this,
      [&] {
        best_users = user_factors_;
        best_items = item_factors_;
        best_bias = item_bias_;
      });
  FRESHET_RETURN_IF_ERROR(status);
  if (loop.has_best()) {
    user_factors_ = std::move(best_users);
    item_factors_ = std::move(best_items);
    item_bias_ = std::move(best_bias);
  }
  // A user with no training interaction has an untrained (random) row: fold them in instead.
  user_active_.assign(num_users_, 0);
  for (UserId u = 0; u < num_users_; ++u) user_active_[u] = user_items[u].empty() ? 0 : 1;
  item_active_.clear();
  inactive_items_ = 0;
  return Status::OK();
}

void BprModel::GrowItems(uint32_t num_items) {
  const size_t dim = static_cast<size_t>(options_.dim);
  if (num_items > num_items_) {
    if (item_active_.empty()) item_active_.assign(num_items_, 1);
    item_factors_.resize(static_cast<size_t>(num_items) * dim, 0.0f);
    item_bias_.resize(num_items, 0.0f);
    item_active_.resize(num_items, 0);
    inactive_items_ += num_items - num_items_;
    num_items_ = num_items;
  }
}

Status BprModel::Learn(std::span<const OnlineExample> batch, uint32_t num_items,
                       const OnlineOptions& options) {
  if (num_items_ == 0) return Status::FailedPrecondition("bpr: Learn before Fit or Load");
  for (const OnlineExample& e : batch) {
    if (e.item >= num_items) {
      return Status::InvalidArgument("bpr: online example item " + std::to_string(e.item) +
                                     " is not below num_items " + std::to_string(num_items));
    }
  }
  GrowItems(num_items);
  const int dim = options_.dim;
  const float lr = static_cast<float>(options.learning_rate > 0 ? options.learning_rate
                                                                : kOnlineLearningRate);
  const float reg = static_cast<float>(options_.reg);
  nn::Rng rng(options.seed, 0xb9b0000000ull + online_steps_++);
  std::vector<float> p(dim), folded(dim);
  for (const OnlineExample& e : batch) {
    // A user trained offline learns their own row; any other user (new, or a session) is served
    // by the fold-in of their current history, so it is that vector the step uses, and it is
    // not stored: a row learned from a user's first clicks would serve them worse than the
    // fold-in of all of them (DIGINETICA sessions: HR@10 halved).
    const bool own_row = e.user < user_active_.size() && user_active_[e.user] != 0;
    float* pu = folded.data();
    if (own_row) {
      pu = user_factors_.data() + static_cast<size_t>(e.user) * dim;
    } else {
      UserVector(kNoId, e.history, folded);
    }
    float* qi = item_factors_.data() + static_cast<size_t>(e.item) * dim;
    if (!item_active(e.item)) {
      // A new item starts where its first user stands: it will rank for similar people.
      std::copy_n(pu, dim, qi);
      item_bias_[e.item] = 0.0f;
      item_active_[e.item] = 1;
      --inactive_items_;
    }
    for (int n = 0; n < kOnlineNegatives; ++n) {
      ItemId j = e.item;
      for (int tries = 0; tries < 16 && (j == e.item || !item_active(j)); ++tries) {
        j = static_cast<ItemId>(rng.Below(num_items_));
      }
      if (j == e.item || !item_active(j)) continue;
      float* qj = item_factors_.data() + static_cast<size_t>(j) * dim;
      const float x = Dot(pu, qi, dim) - Dot(pu, qj, dim) + item_bias_[e.item] - item_bias_[j];
      const float g = 1.0f / (1.0f + std::exp(x));  // d(ln sigmoid(x)) / dx
      std::copy_n(pu, dim, p.data());
      for (int k = 0; k < dim; ++k) {
        if (own_row) pu[k] += lr * (g * (qi[k] - qj[k]) - reg * pu[k]);
        qi[k] += lr * (g * p[k] - reg * qi[k]);
        qj[k] += lr * (-g * p[k] - reg * qj[k]);
      }
      item_bias_[e.item] += lr * g;
      item_bias_[j] -= lr * g;
    }
  }
  return Status::OK();
}

void BprModel::Forget(std::span<const ItemId> items) {
  for (ItemId i : items) {
    if (!item_active(i)) continue;
    if (item_active_.empty()) item_active_.assign(num_items_, 1);
    item_active_[i] = 0;
    ++inactive_items_;
    std::fill_n(item_factors_.data() + static_cast<size_t>(i) * options_.dim, options_.dim, 0.0f);
    item_bias_[i] = 0.0f;
  }
}

std::unique_ptr<Recommender> BprModel::Clone() const {
  return std::make_unique<BprModel>(*this);
}

void BprModel::MaskInactive(std::span<float> out) const {
  if (inactive_items_ == 0) return;
  for (ItemId i = 0; i < num_items_; ++i) {
    if (!item_active_[i]) out[i] = kInactiveScore;
  }
}

void BprModel::UserVector(UserId user, std::span<const ItemId> history,
                          std::span<float> out) const {
  const int dim = options_.dim;
  std::fill(out.begin(), out.end(), 0.0f);
  if (user < num_users_ && (user_active_.empty() || user_active_[user])) {
    std::copy_n(user_factors_.data() + static_cast<size_t>(user) * dim, dim, out.begin());
    return;
  }
  int n = 0;
  for (ItemId h : history) {
    if (!item_active(h)) continue;
    const float* q = item_factors_.data() + static_cast<size_t>(h) * dim;
    for (int k = 0; k < dim; ++k) out[k] += q[k];
    ++n;
  }
  if (n > 0) {
    for (float& v : out) v /= static_cast<float>(n);
  }
}

void BprModel::ItemVectors(std::vector<float>* out) const {
  const size_t dim = static_cast<size_t>(options_.dim);
  out->resize(static_cast<size_t>(num_items_) * (dim + 1));
  for (size_t i = 0; i < num_items_; ++i) {
    std::copy_n(item_factors_.data() + i * dim, dim, out->data() + i * (dim + 1));
    (*out)[i * (dim + 1) + dim] = item_bias_[i];
  }
}

bool BprModel::QueryVector(UserId user, std::span<const ItemId> history,
                           std::span<float> out) const {
  assert(out.size() == static_cast<size_t>(options_.dim) + 1);
  UserVector(user, history, out.first(options_.dim));
  out[options_.dim] = 1.0f;
  return true;
}

void BprModel::ScoreAll(UserId user, std::span<const ItemId> history,
                        std::span<float> out) const {
  const int dim = options_.dim;
  std::vector<float> p(dim);
  UserVector(user, history, p);
  // One matrix-vector product over the catalog: Eigen vectorises it (8 floats per AVX2 lane),
  // where the scalar loop made full-ranking evaluation of BPR 10x slower.
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const RowMajor> q(item_factors_.data(), num_items_, dim);
  Eigen::Map<const Eigen::VectorXf> pu(p.data(), dim);
  Eigen::Map<const Eigen::VectorXf> b(item_bias_.data(), num_items_);
  Eigen::Map<Eigen::VectorXf> scores(out.data(), num_items_);
  scores.noalias() = q * pu + b;
  MaskInactive(out);
}

void BprModel::Similar(ItemId item, size_t k, std::vector<std::pair<ItemId, float>>* out) const {
  out->clear();
  if (item >= num_items_) return;
  const int dim = options_.dim;
  const float* q = item_factors_.data() + static_cast<size_t>(item) * dim;
  const float qn = std::sqrt(Dot(q, q, dim)) + 1e-12f;
  std::vector<std::pair<ItemId, float>> all;
  all.reserve(num_items_);
  for (ItemId j = 0; j < num_items_; ++j) {
    if (j == item || !item_active(j)) continue;
    const float* r = item_factors_.data() + static_cast<size_t>(j) * dim;
    all.emplace_back(j, Dot(q, r, dim) / (qn * (std::sqrt(Dot(r, r, dim)) + 1e-12f)));
  }
  size_t n = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                    [](const auto& a, const auto& b) { return a.second > b.second; });
  all.resize(n);
  *out = std::move(all);
}

Status BprModel::Save(ModelWriter& writer) const {
  writer.PutBytes("params", FormatParams(options_.Get()));
  writer.PutF32("bpr.users", user_factors_, {num_users_, static_cast<uint64_t>(options_.dim)});
  writer.PutF32("bpr.items", item_factors_, {num_items_, static_cast<uint64_t>(options_.dim)});
  writer.PutF32("bpr.bias", item_bias_);
  std::vector<uint32_t> users(user_active_.begin(), user_active_.end());
  writer.PutU32("bpr.user_active", users);
  std::vector<uint32_t> items(item_active_.begin(), item_active_.end());
  writer.PutU32("bpr.item_active", items);
  return Status::OK();
}

Status BprModel::Load(const ModelReader& reader) {
  FRESHET_ASSIGN_OR_RETURN(std::string params_text, reader.Bytes("params"));
  FRESHET_ASSIGN_OR_RETURN(Params params, ParseParams(params_text));
  options_ = BprOptions();
  FRESHET_RETURN_IF_ERROR(ApplyParams(params, options_));
  FRESHET_ASSIGN_OR_RETURN(std::vector<uint64_t> ushape, reader.Shape("bpr.users"));
  FRESHET_ASSIGN_OR_RETURN(std::vector<uint64_t> ishape, reader.Shape("bpr.items"));
  if (ushape.size() != 2 || ishape.size() != 2 ||
      ushape[1] != static_cast<uint64_t>(options_.dim) ||
      ishape[1] != static_cast<uint64_t>(options_.dim)) {
    return Status::Corruption("model file '" + reader.origin() + "': factor shapes do not match dim");
  }
  num_users_ = static_cast<uint32_t>(ushape[0]);
  num_items_ = static_cast<uint32_t>(ishape[0]);
  FRESHET_ASSIGN_OR_RETURN(user_factors_, reader.F32("bpr.users"));
  FRESHET_ASSIGN_OR_RETURN(item_factors_, reader.F32("bpr.items"));
  FRESHET_ASSIGN_OR_RETURN(item_bias_, reader.F32("bpr.bias", num_items_));
  user_active_.clear();
  item_active_.clear();
  inactive_items_ = 0;
  // Files written before online learning have no flags: every row is then trained.
  if (reader.Has("bpr.user_active")) {
    FRESHET_ASSIGN_OR_RETURN(std::vector<uint32_t> users, reader.U32("bpr.user_active"));
    FRESHET_ASSIGN_OR_RETURN(std::vector<uint32_t> items, reader.U32("bpr.item_active"));
    if (users.size() != (users.empty() ? 0 : num_users_) ||
        items.size() != (items.empty() ? 0 : num_items_)) {
      return Status::Corruption("model file '" + reader.origin() +
                                "': bpr active flags do not match the factor shapes");
    }
    user_active_.assign(users.begin(), users.end());
    item_active_.assign(items.begin(), items.end());
    for (uint8_t a : item_active_) inactive_items_ += a ? 0 : 1;
  }
  return Status::OK();
}

}  // namespace freshet::model
