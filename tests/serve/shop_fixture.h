#pragma once

// A small shop in a real RocksDB store with trained model files, for the serving tests: 30 items
// i00..i29 (category "even" / "odd" by the parity of their number; i07 out of stock), and 150
// users u000.. who walk the planted chain i -> (7i + 3) mod 30 with views, some buying their
// last item. A SASRec model and a Swing model are trained on it and saved.

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/event.h"
#include "model/registry.h"
#include "model/sequences.h"
#include "store/event_store.h"
#include "testing/testing.h"

namespace freshet::serve::testing {

inline constexpr int kShopItems = 30;
inline int ChainNext(int i) { return (i * 7 + 3) % kShopItems; }
inline std::string ItemName(int i) {
  return std::string("i") + (i < 10 ? "0" : "") + std::to_string(i);
}

struct Shop {
  freshet::testing::TempDir dir;
  std::string data;
  std::unique_ptr<store::EventStore> store;
  std::string sasrec_file, swing_file, sasrec2_file;

  Shop() : data(dir.Sub("data")) {
    store::StoreOptions so;
    auto opened = store::EventStore::Open(so, data);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    store = std::move(*opened);
    std::vector<Item> items;
    for (int i = 0; i < kShopItems; ++i) {
      Item it;
      it.id = ItemName(i);
      it.title = "Item number " + std::to_string(i);
      it.category = i % 2 == 0 ? "even" : "odd";
      it.brand = "Acme";
      it.price = 10 + i;
      it.stock = i == 7 ? 0 : 5;
      items.push_back(it);
    }
    EXPECT_TRUE(store->PutItems(items).ok());
    std::mt19937 rng(11);
    std::vector<Event> events;
    std::vector<std::string> keys;
    int64_t ts = 1700000000000;
    for (int u = 0; u < 150; ++u) {
      int item = static_cast<int>(rng() % kShopItems);
      const int len = 4 + static_cast<int>(rng() % 5);
      char user[8];
      std::snprintf(user, sizeof user, "u%03d", u);
      for (int k = 0; k < len; ++k) {
        Event e;
        e.user = user;
        e.item = ItemName(item);
        e.type = k + 1 == len && u % 3 == 0 ? EventType::kBuy : EventType::kView;
        e.ts_ms = ts += 1000;
        events.push_back(e);
        keys.emplace_back();
        item = ChainNext(item);
      }
    }
    store::AppendStats stats;
    EXPECT_TRUE(store->Append(events, keys, &stats).ok());
    sasrec_file = dir.Sub("sasrec.fmdl");
    swing_file = dir.Sub("swing.fmdl");
    sasrec2_file = dir.Sub("sasrec2.fmdl");
    Train("sasrec", "max_len=8,hidden=16,blocks=1,heads=1,dropout=0.1,epochs=40,batch_size=32,"
                    "learning_rate=0.01",
          sasrec_file, 1);
    Train("swing", "", swing_file, 1);
    Train("sasrec", "max_len=8,hidden=16,blocks=1,heads=1,epochs=3,batch_size=32", sasrec2_file,
          2);
  }

  void Train(const std::string& kind, const std::string& params, const std::string& file,
             uint64_t seed) {
    store::EventTable table;
    ASSERT_TRUE(store->LoadEventTable(&table).ok());
    const model::UserSequences seqs = model::BuildSequences(table);
    auto parsed = model::ParseParams(params);
    ASSERT_TRUE(parsed.ok());
    auto m = model::CreateModel(kind, *parsed);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model::TrainData d;
    d.table = &table;
    d.sequences = &seqs;
    model::FitOptions fit;
    fit.progress = false;
    fit.seed = seed;
    model::TrainReport report;
    ASSERT_TRUE((*m)->Fit(d, fit, &report).ok());
    model::ModelMeta meta;
    meta.kind = kind;
    meta.dataset = data;
    meta.protocol = "none";
    meta.num_items = table.num_items;
    meta.item_fingerprint = model::ItemFingerprint(*store, table.num_items);
    meta.report = report;
    ASSERT_TRUE(model::SaveModel(**m, meta, file).ok());
  }
};

}  // namespace freshet::serve::testing
