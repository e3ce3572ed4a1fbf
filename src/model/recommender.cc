#include "model/recommender.h"

#include <cassert>
#include <limits>

namespace freshet::model {

void Recommender::ScoreBatch(std::span<const UserId> users,
                             std::span<const std::span<const ItemId>> histories,
                             std::span<float> out) const {
  assert(histories.size() == users.size());
  assert(out.size() == users.size() * num_items());
  for (size_t u = 0; u < users.size(); ++u) {
    ScoreAll(users[u], histories[u], out.subspan(u * num_items(), num_items()));
  }
}

void Recommender::ItemVectors(std::vector<float>* out) const {
  assert(false && "ItemVectors called on a model with vector_dim() == 0");
  out->clear();
}

bool Recommender::QueryVector(UserId, std::span<const ItemId>, std::span<float>) const {
  return false;
}

void Recommender::ScoreItems(UserId user, std::span<const ItemId> history,
                             std::span<const ItemId> items, std::span<float> out) const {
  assert(items.size() == out.size());
  std::vector<float> all(num_items());
  ScoreAll(user, history, all);
  for (size_t i = 0; i < items.size(); ++i) {
    out[i] = items[i] < all.size() ? all[items[i]] : -std::numeric_limits<float>::infinity();
  }
}

Status Recommender::Learn(std::span<const OnlineExample>, uint32_t, const OnlineOptions&) {
  return Status(Status::Code::kUnimplemented,
                std::string(kind()) + " models do not learn online");
}

void Recommender::Forget(std::span<const ItemId>) {}

std::unique_ptr<Recommender> Recommender::Clone() const { return nullptr; }

Status Recommender::Save(ModelWriter&) const {
  return Status(Status::Code::kUnimplemented, std::string(kind()) + " models cannot be saved");
}

Status Recommender::Load(const ModelReader&) {
  return Status(Status::Code::kUnimplemented, std::string(kind()) + " models cannot be loaded");
}

}  // namespace freshet::model
