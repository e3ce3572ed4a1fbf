#pragma once

// What filters, the ranker glue and responses read from the catalog, by dense item id. Internal
// to src/serve (service.cc, service_rank.cc). Rebuilt (copy on write) when the dictionary grows;
// readers hold a shared_ptr to the version they started with.

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "rank/shop_ranker.h"

namespace freshet::serve {

struct CatalogView {
  uint32_t num_items = 0;
  std::vector<uint32_t> category;  // index into categories; kNoCategory when none
  std::vector<uint8_t> out_of_stock;
  std::vector<float> price;  // NaN when the catalog has none (or the item came from an event)
  std::vector<std::string> categories;
  std::unordered_map<std::string, uint32_t> category_ids;
  // The ranker's view of the catalog (category, brand, price, stock as the store has them).
  // Shared by extended views: items first seen in events have no catalog entry to add.
  std::shared_ptr<const rank::ShopCatalog> shop;
  static constexpr uint32_t kNoCategory = 0xffffffffu;
};

}  // namespace freshet::serve
