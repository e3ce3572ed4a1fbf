#include "model/item_graph.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "nn/thread_pool.h"

namespace freshet::model {
namespace {

constexpr Field<ItemGraphOptions> kFields[] = {
    {"neighbors",
     [](ItemGraphOptions& o, std::string_view k, std::string_view v) {
       int64_t x = 0;
       FRESHET_RETURN_IF_ERROR(ParseInt(k, v, 1, 100000, &x));
       o.neighbors = static_cast<int>(x);
       return Status::OK();
     },
     [](const ItemGraphOptions& o) { return std::to_string(o.neighbors); }},
    {"max_history",
     [](ItemGraphOptions& o, std::string_view k, std::string_view v) {
       int64_t x = 0;
       FRESHET_RETURN_IF_ERROR(ParseInt(k, v, 1, 100000, &x));
       o.max_history = static_cast<int>(x);
       return Status::OK();
     },
     [](const ItemGraphOptions& o) { return std::to_string(o.max_history); }},
    {"history_decay",
     [](ItemGraphOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 0.0, 1.0, &o.history_decay);
     },
     [](const ItemGraphOptions& o) { return FormatNumber(o.history_decay); }},
    {"max_user_items",
     [](ItemGraphOptions& o, std::string_view k, std::string_view v) {
       int64_t x = 0;
       FRESHET_RETURN_IF_ERROR(ParseInt(k, v, 2, 100000, &x));
       o.max_user_items = static_cast<int>(x);
       return Status::OK();
     },
     [](const ItemGraphOptions& o) { return std::to_string(o.max_user_items); }},
    {"window",
     [](ItemGraphOptions& o, std::string_view k, std::string_view v) {
       int64_t x = 0;
       FRESHET_RETURN_IF_ERROR(ParseInt(k, v, 0, 100000, &x));
       o.window = static_cast<int>(x);
       return Status::OK();
     },
     [](const ItemGraphOptions& o) { return std::to_string(o.window); }},
    {"max_gap_s",
     [](ItemGraphOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 0.0, 1e10, &o.max_gap_s);
     },
     [](const ItemGraphOptions& o) { return FormatNumber(o.max_gap_s); }},
    {"shrink",
     [](ItemGraphOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 0.0, 1e6, &o.shrink);
     },
     [](const ItemGraphOptions& o) { return FormatNumber(o.shrink); }},
    {"alpha",
     [](ItemGraphOptions& o, std::string_view k, std::string_view v) {
       return ParseDouble(k, v, 1e-6, 1e6, &o.alpha);
     },
     [](const ItemGraphOptions& o) { return FormatNumber(o.alpha); }},
    {"max_users_per_item",
     [](ItemGraphOptions& o, std::string_view k, std::string_view v) {
       int64_t x = 0;
       FRESHET_RETURN_IF_ERROR(ParseInt(k, v, 2, 100000, &x));
       o.max_users_per_item = static_cast<int>(x);
       return Status::OK();
     },
     [](const ItemGraphOptions& o) { return std::to_string(o.max_users_per_item); }},
};

// Runs fn(worker, item) for every item, items dealt out in interleaved order so that workers get
// a mix of popular and rare items. REQUIRES: per-worker state sized for pool.size() workers.
template <typename Fn>
void ForEachItem(uint32_t num_items, nn::ThreadPool& pool, Fn fn) {
  const int workers = pool.size();
  pool.Run([&](int w) {
    for (uint32_t i = static_cast<uint32_t>(w); i < num_items; i += workers) fn(w, i);
  });
}

// Keeps the `k` largest entries of `acc` over `touched`, best first, and clears them in `acc`.
void TakeTop(std::vector<float>& acc, std::vector<ItemId>& touched, size_t k,
             std::vector<std::pair<ItemId, float>>* row) {
  row->clear();
  for (ItemId j : touched) {
    if (acc[j] > 0) row->emplace_back(j, acc[j]);
    acc[j] = 0;
  }
  touched.clear();
  auto better = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  if (row->size() > k) {
    std::nth_element(row->begin(), row->begin() + static_cast<std::ptrdiff_t>(k), row->end(),
                     better);
    row->resize(k);
  }
  std::sort(row->begin(), row->end(), better);
}

}  // namespace

Status ItemGraphOptions::Set(std::string_view key, std::string_view value) {
  return SetField("item graph", kFields, *this, key, value);
}
Params ItemGraphOptions::Get() const { return GetFields(kFields, *this); }

Status ItemGraphModel::Fit(const TrainData& data, const FitOptions& fit, TrainReport* report) {
  const auto start = std::chrono::steady_clock::now();
  const UserSequences& seqs = *data.sequences;
  if (seqs.items.empty()) return Status::InvalidArgument("no interactions to learn from");
  const uint32_t num_items = seqs.num_items;

  online_.clear();
  kappa_ = 0;
  BuildInput input;
  input.seqs = &seqs;
  input.user_items.resize(seqs.num_users());
  input.item_users.resize(num_items);
  popularity_.assign(num_items, 0.0f);
  // Item -> users, most recent users last; walked in time order of each user's last interaction
  // would be ideal, but the user's position in their own sequence is what we have cheaply: a
  // user's recent items come last in their sequence.
  for (UserId u = 0; u < seqs.num_users(); ++u) {
    auto items = seqs.items_of(u);
    size_t from = items.size() > static_cast<size_t>(options_.max_user_items)
                      ? items.size() - options_.max_user_items
                      : 0;
    std::vector<ItemId>& set = input.user_items[u];
    set.assign(items.begin() + static_cast<std::ptrdiff_t>(from), items.end());
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
    for (ItemId i : set) {
      input.item_users[i].push_back(u);
      popularity_[i] += 1.0f;
    }
  }

  SetPopularityScale();
  std::vector<std::vector<std::pair<ItemId, float>>> rows(num_items);
  nn::ThreadPool pool(fit.threads);
  FRESHET_RETURN_IF_ERROR(Build(input, pool, &rows));

  offsets_.assign(num_items + 1, 0);
  for (uint32_t i = 0; i < num_items; ++i) offsets_[i + 1] = offsets_[i] + rows[i].size();
  neighbor_ids_.resize(offsets_.back());
  neighbor_weights_.resize(offsets_.back());
  for (uint32_t i = 0; i < num_items; ++i) {
    for (size_t r = 0; r < rows[i].size(); ++r) {
      neighbor_ids_[offsets_[i] + r] = rows[i][r].first;
      neighbor_weights_[offsets_[i] + r] = rows[i][r].second;
    }
  }
  if (report != nullptr) {
    report->seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return Status::OK();
}

Status ItemKnnModel::Build(const BuildInput& input, nn::ThreadPool& pool,
                           std::vector<std::vector<std::pair<ItemId, float>>>* rows) {
  const int threads = pool.size();
  const UserSequences& seqs = *input.seqs;
  const uint32_t num_items = seqs.num_items;
  const int64_t max_gap_ms = static_cast<int64_t>(options_.max_gap_s * 1000.0);
  // For each item, the users' windows around its occurrences, gathered per item: partner lists
  // are built per item by scanning only the sequences of the item's users.
  std::vector<float> n(num_items, 0.0f);
  for (uint32_t i = 0; i < num_items; ++i) n[i] = static_cast<float>(input.item_users[i].size());
  std::vector<std::vector<float>> acc(threads, std::vector<float>(num_items, 0.0f));
  std::vector<std::vector<ItemId>> touched(threads);
  std::vector<std::vector<uint8_t>> seen(threads, std::vector<uint8_t>(num_items, 0));
  std::vector<std::vector<ItemId>> seen_list(threads);
  const size_t keep = static_cast<size_t>(options_.neighbors);
  ForEachItem(num_items, pool, [&](int w, ItemId i) {
    for (UserId u : input.item_users[i]) {
      auto items = seqs.items_of(u);
      auto ts = seqs.ts_of(u);
      size_t from = items.size() > static_cast<size_t>(options_.max_user_items)
                        ? items.size() - options_.max_user_items
                        : 0;
      // Partners of i for this user: items within the window of any occurrence of i, each
      // counted once per user.
      for (size_t p = from; p < items.size(); ++p) {
        if (items[p] != i) continue;
        size_t lo = from, hi = items.size();
        if (options_.window > 0) {
          lo = p >= from + options_.window ? p - options_.window : from;
          hi = std::min(items.size(), p + options_.window + 1);
        }
        for (size_t q = lo; q < hi; ++q) {
          ItemId j = items[q];
          if (j == i || seen[w][j]) continue;
          if (max_gap_ms > 0 && std::llabs(ts[q] - ts[p]) > max_gap_ms) continue;
          seen[w][j] = 1;
          seen_list[w].push_back(j);
        }
      }
      for (ItemId j : seen_list[w]) {
        seen[w][j] = 0;
        if (acc[w][j] == 0.0f) touched[w].push_back(j);
        acc[w][j] += 1.0f;
      }
      seen_list[w].clear();
    }
    for (ItemId j : touched[w]) {
      acc[w][j] = acc[w][j] / (std::sqrt(n[i] * n[j]) + static_cast<float>(options_.shrink));
    }
    TakeTop(acc[w], touched[w], keep, &(*rows)[i]);
  });
  return Status::OK();
}

Status SwingModel::Build(const BuildInput& input, nn::ThreadPool& pool,
                         std::vector<std::vector<std::pair<ItemId, float>>>* rows) {
  const int threads = pool.size();
  const uint32_t num_items = input.seqs->num_items;
  std::vector<float> user_weight(input.user_items.size());
  for (size_t u = 0; u < user_weight.size(); ++u) {
    size_t n = input.user_items[u].size();
    user_weight[u] = n > 0 ? 1.0f / std::sqrt(static_cast<float>(n)) : 0.0f;
  }
  std::vector<std::vector<float>> acc(threads, std::vector<float>(num_items, 0.0f));
  std::vector<std::vector<ItemId>> touched(threads);
  std::vector<std::vector<ItemId>> overlap(threads);
  const size_t cap = static_cast<size_t>(options_.max_users_per_item);
  const size_t keep = static_cast<size_t>(options_.neighbors);
  const float alpha = static_cast<float>(options_.alpha);
  ForEachItem(num_items, pool, [&](int w, ItemId i) {
    const std::vector<UserId>& all = input.item_users[i];
    // Users are appended in id order; keep an evenly spread deterministic subset when capped.
    std::vector<UserId> users;
    if (all.size() <= cap) {
      users = all;
    } else {
      for (size_t k = 0; k < cap; ++k) users.push_back(all[k * all.size() / cap]);
    }
    for (size_t a = 0; a < users.size(); ++a) {
      const std::vector<ItemId>& ia = input.user_items[users[a]];
      for (size_t b = a + 1; b < users.size(); ++b) {
        const std::vector<ItemId>& ib = input.user_items[users[b]];
        overlap[w].clear();
        std::set_intersection(ia.begin(), ia.end(), ib.begin(), ib.end(),
                              std::back_inserter(overlap[w]));
        // The overlap always holds i itself; a pair sharing nothing else votes for nothing.
        if (overlap[w].size() < 2) continue;
        float vote = user_weight[users[a]] * user_weight[users[b]] /
                     (alpha + static_cast<float>(overlap[w].size()));
        for (ItemId j : overlap[w]) {
          if (j == i) continue;
          if (acc[w][j] == 0.0f) touched[w].push_back(j);
          acc[w][j] += vote;
        }
      }
    }
    TakeTop(acc[w], touched[w], keep, &(*rows)[i]);
  });
  return Status::OK();
}

void ItemGraphModel::ScoreAll(UserId, std::span<const ItemId> history,
                              std::span<float> out) const {
  for (size_t j = 0; j < out.size(); ++j) out[j] = popularity_[j] * popularity_scale_;
  float weight = 1.0f;
  int used = 0;
  for (size_t k = history.size(); k-- > 0 && used < options_.max_history;) {
    ItemId h = history[k];
    if (h >= num_items()) continue;  // an item newer than the model: no neighbours yet
    ++used;
    if (h + 1 < offsets_.size()) {
      for (uint64_t e = offsets_[h]; e < offsets_[h + 1]; ++e) {
        out[neighbor_ids_[e]] += weight * neighbor_weights_[e];
      }
    }
    if (h < online_.size()) {
      for (const auto& [j, w] : online_[h]) out[j] += weight * w;
    }
    weight *= static_cast<float>(options_.history_decay);
  }
}

namespace {

// Item `item`'s neighbours from the offline CSR plus the online edges, weights of the same
// neighbour summed, best first (ties: lower id), at most k.
void MergedRow(std::span<const ItemId> ids, std::span<const float> weights,
               std::span<const std::pair<ItemId, float>> online, size_t k,
               std::vector<std::pair<ItemId, float>>* out) {
  out->clear();
  for (size_t e = 0; e < ids.size(); ++e) out->emplace_back(ids[e], weights[e]);
  for (const auto& [j, w] : online) {
    auto it = std::find_if(out->begin(), out->end(), [j = j](const auto& p) { return p.first == j; });
    if (it != out->end()) {
      it->second += w;
    } else {
      out->emplace_back(j, w);
    }
  }
  auto better = [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  if (out->size() > k) {
    std::partial_sort(out->begin(), out->begin() + static_cast<std::ptrdiff_t>(k), out->end(),
                      better);
    out->resize(k);
  } else {
    std::sort(out->begin(), out->end(), better);
  }
}

}  // namespace

void ItemGraphModel::Similar(ItemId item, size_t k,
                             std::vector<std::pair<ItemId, float>>* out) const {
  out->clear();
  if (item >= num_items()) return;
  const bool offline = item + 1 < offsets_.size();
  MergedRow(offline ? neighbors(item) : std::span<const ItemId>(),
            offline ? weights(item) : std::span<const float>(),
            item < online_.size() ? std::span<const std::pair<ItemId, float>>(online_[item])
                                  : std::span<const std::pair<ItemId, float>>(),
            k, out);
}

Status ItemGraphModel::Learn(std::span<const OnlineExample> batch, uint32_t num_items,
                             const OnlineOptions&) {
  for (const OnlineExample& e : batch) {
    if (e.item >= num_items) {
      return Status::InvalidArgument(std::string(kind()) + ": online example item " +
                                     std::to_string(e.item) + " is not below num_items " +
                                     std::to_string(num_items));
    }
  }
  if (num_items > popularity_.size()) popularity_.resize(num_items, 0.0f);
  if (online_.size() < popularity_.size()) online_.resize(popularity_.size());
  const float shrink = static_cast<float>(options_.shrink);
  if (kappa_ == 0) {
    // Match the online increment to the offline weights: their mean over the mean increment
    // formula on the same edges (1 for ItemKNN up to the co-occurrence counts).
    double weight_sum = 0, formula_sum = 0;
    for (size_t i = 0; i + 1 < offsets_.size(); ++i) {
      for (uint64_t e = offsets_[i]; e < offsets_[i + 1]; ++e) {
        weight_sum += neighbor_weights_[e];
        formula_sum += 1.0 / (std::sqrt(std::max(1.0f, popularity_[i]) *
                                        std::max(1.0f, popularity_[neighbor_ids_[e]])) +
                              shrink);
      }
    }
    kappa_ = weight_sum > 0 && formula_sum > 0 ? static_cast<float>(weight_sum / formula_sum)
                                               : 1.0f;
  }
  const size_t cap = 2 * static_cast<size_t>(options_.neighbors);
  auto add_edge = [&](ItemId a, ItemId b, float w) {
    std::vector<std::pair<ItemId, float>>& row = online_[a];
    for (auto& [j, v] : row) {
      if (j == b) {
        v += w;
        return;
      }
    }
    if (row.size() >= cap) {
      // Full: the weakest edge makes room if the new one outweighs it.
      auto weakest = std::min_element(row.begin(), row.end(), [](const auto& x, const auto& y) {
        return x.second < y.second;
      });
      if (weakest->second >= w) return;
      *weakest = {b, w};
      return;
    }
    row.emplace_back(b, w);
  };
  const size_t window = options_.window > 0 ? static_cast<size_t>(options_.window) : 20;
  std::vector<ItemId> partners;
  for (const OnlineExample& e : batch) {
    popularity_[e.item] += 1.0f;
    partners.clear();
    for (size_t k = e.history.size(); k-- > 0 && partners.size() < window;) {
      const ItemId h = e.history[k];
      if (h == e.item || h >= popularity_.size()) continue;
      if (std::find(partners.begin(), partners.end(), h) != partners.end()) continue;
      partners.push_back(h);
    }
    // The newest partner counts most, with the decay scoring uses for history items.
    float age_weight = 1.0f;
    for (ItemId h : partners) {
      const float w = kOnlineEdgeShare * age_weight * kappa_ /
                      (std::sqrt(std::max(1.0f, popularity_[h]) * std::max(1.0f, popularity_[e.item])) +
                       shrink);
      add_edge(h, e.item, w);
      add_edge(e.item, h, w);
      age_weight *= static_cast<float>(options_.history_decay);
    }
  }
  SetPopularityScale();
  return Status::OK();
}

void ItemGraphModel::Forget(std::span<const ItemId> items) {
  for (ItemId i : items) {
    if (i >= popularity_.size()) continue;
    popularity_[i] = 0.0f;
    if (i < online_.size()) online_[i].clear();
  }
  SetPopularityScale();
}

std::span<const ItemId> ItemGraphModel::neighbors(ItemId item) const {
  return {neighbor_ids_.data() + offsets_[item], neighbor_ids_.data() + offsets_[item + 1]};
}

std::span<const float> ItemGraphModel::weights(ItemId item) const {
  return {neighbor_weights_.data() + offsets_[item],
          neighbor_weights_.data() + offsets_[item + 1]};
}

Status ItemGraphModel::Save(ModelWriter& writer) const {
  writer.PutBytes("params", FormatParams(options_.Get()));
  std::vector<int64_t> offsets{0};
  std::vector<ItemId> ids;
  std::vector<float> weights;
  std::vector<std::pair<ItemId, float>> row;
  const size_t keep = static_cast<size_t>(options_.neighbors);
  for (ItemId i = 0; i < popularity_.size(); ++i) {
    const bool offline = i + 1 < offsets_.size();
    const bool has_online = i < online_.size() && !online_[i].empty();
    if (has_online) {
      MergedRow(offline ? neighbors(i) : std::span<const ItemId>(),
                offline ? this->weights(i) : std::span<const float>(), online_[i],
                std::max(keep, offline ? neighbors(i).size() : 0), &row);
      for (const auto& [j, w] : row) {
        ids.push_back(j);
        weights.push_back(w);
      }
    } else if (offline) {
      ids.insert(ids.end(), neighbors(i).begin(), neighbors(i).end());
      weights.insert(weights.end(), this->weights(i).begin(), this->weights(i).end());
    }
    offsets.push_back(static_cast<int64_t>(ids.size()));
  }
  writer.PutI64("graph.offsets", offsets);
  writer.PutU32("graph.neighbors", ids);
  writer.PutF32("graph.weights", weights);
  writer.PutF32("graph.popularity", popularity_);
  return Status::OK();
}

Status ItemGraphModel::Load(const ModelReader& reader) {
  FRESHET_ASSIGN_OR_RETURN(std::string params_text, reader.Bytes("params"));
  FRESHET_ASSIGN_OR_RETURN(Params params, ParseParams(params_text));
  options_ = ItemGraphOptions();
  FRESHET_RETURN_IF_ERROR(ApplyParams(params, options_));
  FRESHET_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, reader.I64("graph.offsets"));
  FRESHET_ASSIGN_OR_RETURN(neighbor_ids_, reader.U32("graph.neighbors"));
  FRESHET_ASSIGN_OR_RETURN(neighbor_weights_, reader.F32("graph.weights", neighbor_ids_.size()));
  FRESHET_ASSIGN_OR_RETURN(popularity_, reader.F32("graph.popularity"));
  // The CSR must be consistent before ScoreAll indexes with it.
  if (offsets.size() != popularity_.size() + 1 || offsets.front() != 0 ||
      static_cast<uint64_t>(offsets.back()) != neighbor_ids_.size() ||
      !std::is_sorted(offsets.begin(), offsets.end())) {
    return Status::Corruption("model file '" + reader.origin() + "': inconsistent item graph");
  }
  for (ItemId j : neighbor_ids_) {
    if (j >= popularity_.size()) {
      return Status::Corruption("model file '" + reader.origin() +
                                "': item graph names an item beyond the catalog");
    }
  }
  offsets_.assign(offsets.begin(), offsets.end());
  online_.clear();
  kappa_ = 0;
  SetPopularityScale();
  return Status::OK();
}

void ItemGraphModel::SetPopularityScale() {
  // Popularity scaled into [0, 1e-3): below any graph weight that matters, above nothing.
  float max_pop = 1.0f;
  for (float p : popularity_) max_pop = std::max(max_pop, p);
  popularity_scale_ = 1e-3f / max_pop;
}

}  // namespace freshet::model
