#pragma once

// A small simulated shop as the shop ranking tests read it: the event table (dense ids are the
// simulator's user and item indices) and the catalog, without a store.

#include <gtest/gtest.h>

#include "rank/shop_catalog.h"
#include "sim/simulator.h"
#include "store/event_table.h"

namespace freshet::rank::testing {

struct SimShop {
  store::EventTable table;
  ShopCatalog catalog;
};

inline SimShop MakeShop(int64_t users, int64_t items, int days, uint64_t seed) {
  sim::SimOptions o;
  o.users = users;
  o.items = items;
  o.days = days;
  o.seed = seed;
  auto sim = sim::Simulator::Create(o);
  EXPECT_TRUE(sim.ok()) << sim.status().ToString();
  SimShop shop;
  Event e;
  uint64_t seq = 0;
  while ((*sim)->Next(e)) {
    ItemId item = kNoId;
    if (!e.item.empty()) item = static_cast<ItemId>(*(*sim)->FindItem(e.item));
    shop.table.seq.push_back(seq++);
    shop.table.ts_ms.push_back(e.ts_ms);
    shop.table.user.push_back(static_cast<UserId>(*(*sim)->FindUser(e.user)));
    shop.table.item.push_back(item);
    shop.table.type.push_back(e.type);
    shop.table.value.push_back(static_cast<float>(e.value));
  }
  shop.table.num_users = static_cast<uint32_t>((*sim)->num_users());
  shop.table.num_items = static_cast<uint32_t>((*sim)->catalog().size());
  shop.table.SortByTime();
  const auto& catalog = (*sim)->catalog();
  for (size_t i = 0; i < catalog.size(); ++i) {
    shop.catalog.Set(static_cast<ItemId>(i), catalog[i].category, catalog[i].brand,
                     catalog[i].price, catalog[i].stock);
  }
  return shop;
}

}  // namespace freshet::rank::testing
