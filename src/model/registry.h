#pragma once

// Creating models by kind, and saving / loading them with the metadata every model file carries:
// kind, parameters, the training protocol, the item dictionary's fingerprint and the training
// report (docs/formats.md, "Model file").

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/params.h"
#include "model/recommender.h"
#include "store/event_store.h"

namespace freshet::model {

// The kinds CreateModel knows, in the order the CLI lists them.
std::vector<std::string_view> ModelKinds();

// A model of `kind` with its default options changed by `params`. InvalidArgument for an unknown
// kind (listing the known ones) or a bad parameter (naming it).
Result<std::unique_ptr<Recommender>> CreateModel(std::string_view kind, const Params& params);

struct ModelMeta {
  std::string kind;
  std::string dataset;   // the data directory it was trained on, for reports
  std::string protocol;  // what training held out: "loo", "temporal:0.2" or "none"
  uint32_t num_items = 0;
  uint64_t item_fingerprint = 0;  // ItemFingerprint over the first num_items item ids
  TrainReport report;
};

// A fingerprint of the store's item dictionary: the external ids of items [0, num_items) in id
// order. Dictionaries only grow, so a store that has since seen new items keeps the fingerprint
// of the prefix a model was trained on. REQUIRES: num_items <= store.counts().items.
uint64_t ItemFingerprint(const store::EventStore& store, uint32_t num_items);

// Writes model and metadata to `path` atomically.
Status SaveModel(const Recommender& model, const ModelMeta& meta, const std::string& path);

struct LoadedModel {
  std::unique_ptr<Recommender> model;
  ModelMeta meta;
};
// Reads a model file: NotFound, or Corruption naming the file and what is wrong with it.
Result<LoadedModel> LoadModel(const std::string& path);

// FailedPrecondition when the model's items are not the store's items [0, num_items) (a model
// trained on another data directory), naming both.
Status CheckModelMatchesStore(const ModelMeta& meta, const store::EventStore& store);

}  // namespace freshet::model
