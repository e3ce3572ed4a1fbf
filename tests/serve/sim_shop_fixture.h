#pragma once

// A simulated shop (src/sim) in a real RocksDB store, with a Swing retrieval model and shop
// ranking models (FTRL click / cart / buy, rank::BuildShopSamples on the store's history) trained
// and saved, for the serving tests of the second stage. Small: a few thousand impressions, so it
// builds in a second or two under AddressSanitizer.

#include <memory>
#include <string>
#include <vector>

#include "model/registry.h"
#include "model/sequences.h"
#include "rank/ctr_model.h"
#include "rank/feature_spec.h"
#include "rank/shop_samples.h"
#include "sim/simulator.h"
#include "store/event_store.h"
#include "testing/testing.h"

namespace freshet::serve::testing {

struct SimShop {
  freshet::testing::TempDir dir;
  std::string data;
  std::unique_ptr<store::EventStore> store;
  std::string swing_file;
  std::string click_file, cart_file, buy_file;
  std::vector<Item> catalog;

  explicit SimShop(uint64_t seed = 3) : data(dir.Sub("data")) {
    store::StoreOptions so;
    auto opened = store::EventStore::Open(so, data);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    store = std::move(*opened);
    sim::SimOptions o;
    o.users = 250;
    o.items = 120;
    o.days = 4;
    o.categories = 6;
    o.brands = 12;
    o.session_rate = 1.0;
    o.seed = seed;
    auto sim = sim::Simulator::Create(o);
    EXPECT_TRUE(sim.ok()) << sim.status().ToString();
    std::vector<Event> events;
    Event e;
    while ((*sim)->Next(e)) events.push_back(e);
    catalog = (*sim)->catalog();  // the stock as of the period's end
    EXPECT_TRUE(store->PutItems(catalog).ok());
    std::vector<std::string> keys(events.size());
    store::AppendStats stats;
    EXPECT_TRUE(store->Append(events, keys, &stats).ok());
    swing_file = dir.Sub("swing.fmdl");
    click_file = dir.Sub("click.fmdl");
    cart_file = dir.Sub("cart.fmdl");
    buy_file = dir.Sub("buy.fmdl");
    TrainSwing();
    TrainRanker(rank::ShopTarget::kClick, click_file);
    TrainRanker(rank::ShopTarget::kCart, cart_file);
    TrainRanker(rank::ShopTarget::kBuy, buy_file);
  }

  void TrainSwing() {
    store::EventTable table;
    ASSERT_TRUE(store->LoadEventTable(&table).ok());
    const model::UserSequences seqs = model::BuildSequences(table);
    auto m = model::CreateModel("swing", {});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model::TrainData d;
    d.table = &table;
    d.sequences = &seqs;
    model::FitOptions fit;
    fit.progress = false;
    model::TrainReport report;
    ASSERT_TRUE((*m)->Fit(d, fit, &report).ok());
    model::ModelMeta meta;
    meta.kind = "swing";
    meta.dataset = data;
    meta.protocol = "none";
    meta.num_items = table.num_items;
    meta.item_fingerprint = model::ItemFingerprint(*store, table.num_items);
    meta.report = report;
    ASSERT_TRUE(model::SaveModel(**m, meta, swing_file).ok());
  }

  // An FTRL model of `target` trained on the whole history (the last 20% of time validates).
  void TrainRanker(rank::ShopTarget target, const std::string& file) {
    store::EventTable table;
    ASSERT_TRUE(store->LoadEventTable(&table).ok());
    auto shop = rank::LoadShopCatalog(*store);
    ASSERT_TRUE(shop.ok()) << shop.status().ToString();
    auto spec = rank::FeatureSpec::Parse(rank::FeatureSpec::DefaultText(), "default");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    rank::ShopSampleOptions so;
    so.target = target;
    auto samples = rank::BuildShopSamples(table, *shop, &*spec, so);
    ASSERT_TRUE(samples.ok()) << rank::ShopTargetName(target) << ": "
                              << samples.status().ToString();
    auto options = rank::CtrDefaults("ftrl");
    ASSERT_TRUE(options.ok());
    options->min_count = 1;
    options->epochs = 2;
    auto m = rank::CreateCtrModel("ftrl", *options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    rank::FitOptions fit;
    fit.threads = 1;
    auto fitted = (*m)->Fit(samples->train, nullptr, fit);
    ASSERT_TRUE(fitted.ok()) << fitted.status().ToString();
    rank::ShopModelMeta meta;
    meta.target = target;
    meta.windows = so.joiner;
    meta.split_ms = samples->split_ms;
    meta.holdout = so.holdout;
    ASSERT_TRUE(rank::SaveShopModel(file, **m, *spec, meta).ok());
  }
};

}  // namespace freshet::serve::testing
