#include "model/registry.h"

#include <cstdio>
#include <sstream>

#include "core/crc32c.h"
#include "model/bpr.h"
#include "model/item_graph.h"
#include "model/popularity.h"
#include "model/sasrec.h"

namespace freshet::model {
namespace {

// The training report as text lines (model files carry no JSON parser's worth of structure):
//   seconds <s> best_epoch <n>
//   epoch <n> loss <x> seconds <s> samples_per_s <r> [<metric>=<value> ...]
std::string EncodeReport(const TrainReport& r) {
  std::ostringstream out;
  out.precision(10);
  out << "seconds " << r.seconds << " best_epoch " << r.best_epoch << "\n";
  for (const EpochStat& e : r.epochs) {
    out << "epoch " << e.epoch << " loss " << e.loss << " seconds " << e.seconds
        << " samples_per_s " << e.samples_per_s;
    for (const auto& [name, value] : e.validation) out << " " << name << "=" << value;
    out << "\n";
  }
  return out.str();
}

Status DecodeReport(const std::string& text, const std::string& origin, TrainReport* r) {
  auto bad = [&] {
    return Status::Corruption("model file '" + origin + "': malformed training report");
  };
  std::istringstream in(text);
  std::string line, word;
  if (!std::getline(in, line)) return bad();
  {
    std::istringstream first(line);
    std::string k1, k2;
    if (!(first >> k1 >> r->seconds >> k2 >> r->best_epoch) || k1 != "seconds") return bad();
  }
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    EpochStat e;
    std::string k1, k2, k3, k4;
    if (!(ls >> k1 >> e.epoch >> k2 >> e.loss >> k3 >> e.seconds >> k4 >> e.samples_per_s) ||
        k1 != "epoch") {
      return bad();
    }
    while (ls >> word) {
      size_t eq = word.find('=');
      if (eq == std::string::npos) return bad();
      e.validation.emplace_back(word.substr(0, eq), std::stod(word.substr(eq + 1)));
    }
    r->epochs.push_back(std::move(e));
  }
  return Status::OK();
}

}  // namespace

std::vector<std::string_view> ModelKinds() { return {"pop", "swing", "itemknn", "bpr", "sasrec"}; }

Result<std::unique_ptr<Recommender>> CreateModel(std::string_view kind, const Params& params) {
  if (kind == "pop") {
    PopularityOptions o;
    FRESHET_RETURN_IF_ERROR(ApplyParams(params, o));
    return std::unique_ptr<Recommender>(std::make_unique<PopularityModel>(o));
  }
  if (kind == "swing" || kind == "itemknn") {
    ItemGraphOptions o;
    FRESHET_RETURN_IF_ERROR(ApplyParams(params, o));
    if (kind == "swing") return std::unique_ptr<Recommender>(std::make_unique<SwingModel>(o));
    return std::unique_ptr<Recommender>(std::make_unique<ItemKnnModel>(o));
  }
  if (kind == "sasrec") {
    SasrecOptions o;
    FRESHET_RETURN_IF_ERROR(ApplyParams(params, o));
    return std::unique_ptr<Recommender>(std::make_unique<SasrecModel>(o));
  }
  if (kind == "bpr") {
    BprOptions o;
    FRESHET_RETURN_IF_ERROR(ApplyParams(params, o));
    return std::unique_ptr<Recommender>(std::make_unique<BprModel>(o));
  }
  std::string known;
  for (std::string_view k : ModelKinds()) known += (known.empty() ? "" : ", ") + std::string(k);
  return Status::InvalidArgument("unknown model '" + std::string(kind) + "' (known: " + known +
                                 ")");
}

uint64_t ItemFingerprint(const store::EventStore& store, uint32_t num_items) {
  // Two CRCs with different seeds make a 64-bit value; lengths are mixed in so that id
  // boundaries count ("ab","c" differs from "a","bc").
  uint32_t lo = 0, hi = 0x9e3779b9u;
  for (ItemId i = 0; i < num_items; ++i) {
    std::string name = store.ItemName(i);
    uint32_t n = static_cast<uint32_t>(name.size());
    lo = Crc32c(Crc32c(lo, &n, sizeof(n)), name.data(), name.size());
    hi = Crc32c(Crc32c(hi, name.data(), name.size()), &n, sizeof(n));
  }
  return static_cast<uint64_t>(hi) << 32 | lo;
}

Status SaveModel(const Recommender& model, const ModelMeta& meta, const std::string& path) {
  ModelWriter w;
  w.PutBytes("kind", model.kind());
  w.PutBytes("meta.dataset", meta.dataset);
  w.PutBytes("meta.protocol", meta.protocol);
  std::vector<int64_t> items = {static_cast<int64_t>(model.num_items()),
                                static_cast<int64_t>(meta.item_fingerprint)};
  w.PutI64("meta.items", items);
  w.PutBytes("meta.report", EncodeReport(meta.report));
  FRESHET_RETURN_IF_ERROR(model.Save(w));
  return w.Commit(path);
}

Result<LoadedModel> LoadModel(const std::string& path) {
  FRESHET_ASSIGN_OR_RETURN(ModelReader reader, ModelReader::Open(path));
  LoadedModel loaded;
  FRESHET_ASSIGN_OR_RETURN(loaded.meta.kind, reader.Bytes("kind"));
  FRESHET_ASSIGN_OR_RETURN(loaded.meta.dataset, reader.Bytes("meta.dataset"));
  FRESHET_ASSIGN_OR_RETURN(loaded.meta.protocol, reader.Bytes("meta.protocol"));
  FRESHET_ASSIGN_OR_RETURN(std::vector<int64_t> items, reader.I64("meta.items"));
  if (items.size() != 2) return Status::Corruption("model file '" + path + "': bad meta.items");
  loaded.meta.num_items = static_cast<uint32_t>(items[0]);
  loaded.meta.item_fingerprint = static_cast<uint64_t>(items[1]);
  FRESHET_ASSIGN_OR_RETURN(std::string report, reader.Bytes("meta.report"));
  FRESHET_RETURN_IF_ERROR(DecodeReport(report, path, &loaded.meta.report));
  auto created = CreateModel(loaded.meta.kind, {});
  if (!created.ok()) {
    return Status::Corruption("model file '" + path + "': " + created.status().message());
  }
  loaded.model = std::move(*created);
  FRESHET_RETURN_IF_ERROR(loaded.model->Load(reader));
  if (loaded.model->num_items() != loaded.meta.num_items) {
    return Status::Corruption("model file '" + path + "': holds " +
                              std::to_string(loaded.model->num_items()) +
                              " items, its metadata says " +
                              std::to_string(loaded.meta.num_items));
  }
  return loaded;
}

Status CheckModelMatchesStore(const ModelMeta& meta, const store::EventStore& store) {
  if (meta.num_items > store.counts().items ||
      ItemFingerprint(store, meta.num_items) != meta.item_fingerprint) {
    return Status::FailedPrecondition(
        "the model was trained on other data (" + meta.dataset + ", " +
        std::to_string(meta.num_items) + " items): its item ids do not match the store in " +
        store.dir());
  }
  return Status::OK();
}

}  // namespace freshet::model
