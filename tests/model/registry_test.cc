#include "model/registry.h"

#include <gtest/gtest.h>

#include "testing/testing.h"

namespace freshet::model {
namespace {

using freshet::testing::TempDir;

std::unique_ptr<store::EventStore> StoreWith(const std::string& dir,
                                             const std::vector<std::string>& items) {
  auto s = store::EventStore::Open(store::StoreOptions(), dir);
  EXPECT_TRUE(s.ok());
  std::vector<Event> events;
  int64_t ts = 1000;
  for (const std::string& item : items) {
    Event e;
    e.user = "u" + std::to_string(ts % 3);
    e.item = item;
    e.ts_ms = ts += 1000;
    events.push_back(e);
  }
  std::vector<std::string> keys(events.size());
  store::AppendStats stats;
  EXPECT_TRUE((*s)->Append(events, keys, &stats).ok());
  return std::move(*s);
}

TEST(RegistryTest, CreatesKnownKindsAndNamesUnknownOnes) {
  for (std::string_view kind : ModelKinds()) {
    auto m = CreateModel(kind, {});
    ASSERT_TRUE(m.ok()) << kind;
    EXPECT_EQ((*m)->kind(), kind);
  }
  auto unknown = CreateModel("gpt", {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("known: pop, swing"), std::string::npos);
  auto bad_param = CreateModel("swing", {{"neighbors", "zero"}});
  ASSERT_FALSE(bad_param.ok());
  EXPECT_NE(bad_param.status().message().find("neighbors"), std::string::npos);
}

TEST(RegistryTest, SaveLoadKeepsMetadataReportAndScores) {
  TempDir dir;
  auto store = StoreWith(dir.Sub("data"), {"a", "b", "c", "a", "b"});
  store::EventTable table;
  ASSERT_TRUE(store->LoadEventTable(&table).ok());
  UserSequences seqs = BuildSequences(table);
  TrainData data;
  data.table = &table;
  data.sequences = &seqs;
  auto model = CreateModel("itemknn", {{"window", "3"}});
  ASSERT_TRUE(model.ok());
  ModelMeta meta;
  ASSERT_TRUE((*model)->Fit(data, FitOptions(), &meta.report).ok());
  meta.kind = "itemknn";
  meta.dataset = dir.Sub("data");
  meta.protocol = "loo";
  meta.item_fingerprint = ItemFingerprint(*store, (*model)->num_items());
  meta.report.epochs.push_back({1, 0.5, 2.0, 1000.0, {{"NDCG@10", 0.25}, {"HR@10", 0.5}}});
  meta.report.best_epoch = 1;
  ASSERT_TRUE(SaveModel(**model, meta, dir.Sub("m.fmdl")).ok());

  auto loaded = LoadModel(dir.Sub("m.fmdl"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->meta.kind, "itemknn");
  EXPECT_EQ(loaded->meta.protocol, "loo");
  EXPECT_EQ(loaded->meta.num_items, 3u);
  EXPECT_EQ(loaded->meta.report.best_epoch, 1);
  ASSERT_EQ(loaded->meta.report.epochs.size(), 1u);
  EXPECT_EQ(loaded->meta.report.epochs[0].validation[1].first, "HR@10");
  EXPECT_DOUBLE_EQ(loaded->meta.report.epochs[0].validation[1].second, 0.5);
  EXPECT_TRUE(CheckModelMatchesStore(loaded->meta, *store).ok());
  std::vector<float> a(3), b(3);
  std::vector<ItemId> history = {0};
  (*model)->ScoreAll(kNoId, history, a);
  loaded->model->ScoreAll(kNoId, history, b);
  EXPECT_EQ(a, b);
}

TEST(RegistryTest, AModelFromOtherDataIsRefused) {
  TempDir dir;
  auto store = StoreWith(dir.Sub("data"), {"a", "b", "c"});
  auto other = StoreWith(dir.Sub("other"), {"a", "c", "b"});
  ModelMeta meta;
  meta.dataset = "elsewhere";
  meta.num_items = 3;
  meta.item_fingerprint = ItemFingerprint(*store, 3);
  EXPECT_TRUE(CheckModelMatchesStore(meta, *store).ok());
  Status s = CheckModelMatchesStore(meta, *other);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("trained on other data"), std::string::npos);
  meta.num_items = 2;  // a store that has grown keeps its prefix's fingerprint
  meta.item_fingerprint = ItemFingerprint(*store, 2);
  EXPECT_TRUE(CheckModelMatchesStore(meta, *store).ok());
}

TEST(RegistryTest, AFileWithAnUnknownKindIsCorruptionNotACrash) {
  TempDir dir;
  ModelWriter w;
  w.PutBytes("kind", "teleporter");
  w.PutBytes("meta.dataset", "");
  w.PutBytes("meta.protocol", "none");
  std::vector<int64_t> items = {0, 0};
  w.PutI64("meta.items", items);
  w.PutBytes("meta.report", "seconds 0 best_epoch 0\n");
  ASSERT_TRUE(w.Commit(dir.Sub("m.fmdl")).ok());
  auto loaded = LoadModel(dir.Sub("m.fmdl"));
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(loaded.status().IsCorruption());
  EXPECT_NE(loaded.status().message().find("teleporter"), std::string::npos);
}

}  // namespace
}  // namespace freshet::model
