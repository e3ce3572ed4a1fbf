#pragma once

// The catalog and request context as the shop ranking features read them (feature_spec.h,
// shop_ranker.h). The serving side fills a ShopCatalog from the store's item column family
// (LoadShopCatalog in shop_samples.h does it for an open store).

#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "core/ids.h"

namespace freshet::rank {

// One catalog item as the features read it. Category and brand are keys of their strings
// (ShopCatalog::Key) so that the ids are the same offline and online whatever dense numbering
// the caller has.
struct ShopItemInfo {
  uint64_t category = 0;  // Key(category); 0 when unknown
  uint64_t brand = 0;     // Key(brand); 0 when unknown
  float price = std::numeric_limits<float>::quiet_NaN();  // NaN when unknown
  int64_t stock = -1;                                      // < 0 unknown
};

// The catalog by dense ItemId. Immutable once built; serving shares it as shared_ptr<const>.
class ShopCatalog {
 public:
  // A stable 56-bit key of a category or brand string (0 for the empty string).
  static uint64_t Key(std::string_view text);
  // Sets item `id` (grows the table; ids in between stay unknown). Price < 0 means unknown.
  void Set(ItemId id, std::string_view category, std::string_view brand, double price,
           int64_t stock);
  // The item, or an all-unknown entry beyond the table. Const, thread-safe.
  const ShopItemInfo& Get(ItemId id) const {
    return id < items_.size() ? items_[id] : kUnknown;
  }
  size_t size() const { return items_.size(); }

 private:
  static const ShopItemInfo kUnknown;
  std::vector<ShopItemInfo> items_;
};

// What a request knows besides the user.
struct ShopContext {
  int64_t now_ms = 0;  // request time (epoch ms); features such as hour and recency use it
  // Page position of the items: 0 means "item i of the list is shown at position i + 1".
  float position = 0;
};

}  // namespace freshet::rank
