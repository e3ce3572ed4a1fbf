#include "rank/ctr_model.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <sstream>

#include "model/model_file.h"
#include "nn/random.h"
#include "rank/metrics.h"
#include "rank/models.h"

namespace freshet::rank {
namespace {

constexpr int kDefaultEpochs = 10;
constexpr std::string_view kKindPrefix = "ctr-";

std::string JoinInts(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(v[i]);
  }
  return s;
}

// The options as "key=value" lines: what the model file keeps of them.
std::string EncodeOptions(const CtrOptions& o) {
  std::ostringstream s;
  s.precision(9);
  s << "min_count=" << o.min_count << "\nepochs=" << o.epochs << "\npatience=" << o.patience
    << "\nbatch_size=" << o.batch_size << "\nseed=" << o.seed << "\nftrl_alpha=" << o.ftrl_alpha
    << "\nftrl_beta=" << o.ftrl_beta << "\nftrl_l1=" << o.ftrl_l1 << "\nftrl_l2=" << o.ftrl_l2
    << "\nembed_dim=" << o.embed_dim << "\nlearning_rate=" << o.learning_rate
    << "\nembed_l2=" << o.embed_l2 << "\nmlp=" << JoinInts(o.mlp)
    << "\ncross_layers=" << o.cross_layers << "\n";
  return s.str();
}

}  // namespace

Status SetCtrOption(std::string_view key, std::string_view value, CtrOptions* o) {
  auto bad = [&](const char* what) {
    return Status::InvalidArgument("CTR option " + std::string(key) + ": '" + std::string(value) +
                                   "' is not " + what);
  };
  auto integer = [&](auto* out) -> Status {
    const char* end = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), end, *out);
    return ec == std::errc() && ptr == end && !value.empty() ? Status::OK() : bad("an integer");
  };
  auto real = [&](float* out) -> Status {
    const char* end = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), end, *out);
    return ec == std::errc() && ptr == end && !value.empty() && std::isfinite(*out)
               ? Status::OK()
               : bad("a number");
  };
  if (key == "min_count") return integer(&o->min_count);
  if (key == "epochs") return integer(&o->epochs);
  if (key == "patience") return integer(&o->patience);
  if (key == "batch_size") return integer(&o->batch_size);
  if (key == "seed") return integer(&o->seed);
  if (key == "ftrl_alpha") return real(&o->ftrl_alpha);
  if (key == "ftrl_beta") return real(&o->ftrl_beta);
  if (key == "ftrl_l1") return real(&o->ftrl_l1);
  if (key == "ftrl_l2") return real(&o->ftrl_l2);
  if (key == "embed_dim") return integer(&o->embed_dim);
  if (key == "learning_rate") return real(&o->learning_rate);
  if (key == "embed_l2") return real(&o->embed_l2);
  if (key == "cross_layers") return integer(&o->cross_layers);
  if (key == "mlp_precision") {
    if (value != "bf16" && value != "float") return bad("bf16 or float");
    o->mlp_bf16 = value == "bf16";
    return Status::OK();
  }
  if (key == "mlp") {
    // Widths separated by ':' (on the command line, where ',' separates options) or ','.
    std::vector<int> widths;
    std::string_view rest = value;
    while (!rest.empty()) {
      const size_t cut = rest.find_first_of(":,");
      const std::string_view w = rest.substr(0, cut);
      int width = 0;
      auto [ptr, ec] = std::from_chars(w.data(), w.data() + w.size(), width);
      if (ec != std::errc() || ptr != w.data() + w.size() || w.empty()) {
        return bad("a list of widths W:W:...");
      }
      widths.push_back(width);
      rest = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + 1);
    }
    o->mlp = std::move(widths);
    return Status::OK();
  }
  return Status::NotFound(
      "unknown CTR option '" + std::string(key) +
      "' (known: min_count, epochs, patience, batch_size, seed, embed_dim, learning_rate, "
      "embed_l2, ftrl_alpha, ftrl_beta, ftrl_l1, ftrl_l2, cross_layers, mlp=W:W:..., "
      "mlp_precision=bf16|float)");
}

namespace {

bool DecodeOptions(const std::string& text, CtrOptions* o) {
  std::istringstream in(text);
  std::string line;
  int seen = 0;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) return false;
    const Status s = SetCtrOption(line.substr(0, eq), line.substr(eq + 1), o);
    if (s.ok()) {
      ++seen;
    } else if (!s.IsNotFound()) {  // a key from a later version is ignored; a bad value is not
      return false;
    }
  }
  return seen == 14;
}

Status CheckOptions(std::string_view kind, const CtrOptions& o) {
  auto bad = [&](const std::string& what) {
    return Status::InvalidArgument(std::string(kind) + " option " + what);
  };
  if (o.min_count < 1) return bad("min_count must be at least 1");
  if (o.epochs < 0) return bad("epochs must be >= 0");
  if (o.patience < 1) return bad("patience must be at least 1");
  if (o.batch_size < 1) return bad("batch_size must be at least 1");
  if (!(o.ftrl_alpha > 0) || !(o.ftrl_beta >= 0) || !(o.ftrl_l1 >= 0) || !(o.ftrl_l2 >= 0)) {
    return bad("ftrl_alpha must be > 0 and ftrl_beta, ftrl_l1, ftrl_l2 >= 0");
  }
  if (o.embed_dim < 1 || o.embed_dim > 1024) return bad("embed_dim must be in [1, 1024]");
  if (!(o.learning_rate > 0) || !(o.embed_l2 >= 0)) {
    return bad("learning_rate must be > 0 and embed_l2 >= 0");
  }
  for (int w : o.mlp) {
    if (w < 1 || w > 65536) return bad("mlp widths must be in [1, 65536]");
  }
  if (o.cross_layers < 0 || o.cross_layers > 64) return bad("cross_layers must be in [0, 64]");
  return Status::OK();
}

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

Status NotLearnable(std::string_view kind, EmbedPrecision p) {
  return Status::FailedPrecondition(
      "this " + std::string(kind) + " model's embedding table is stored as " +
      std::string(PrecisionName(p)) +
      " for serving and cannot be trained or learn online; train the float model and quantize "
      "it again");
}

Status NotInPlace(std::string_view kind) {
  return Status::FailedPrecondition("this " + std::string(kind) +
                                    " model is a serving copy without optimizer state; learn on "
                                    "a Clone() of it");
}

constexpr std::string_view kPrecisionEntry = "ctr.embed_precision";

}  // namespace

std::vector<std::string_view> CtrModelKinds() { return {"ftrl", "fm", "deepfm", "dcnv2"}; }

Result<CtrOptions> CtrDefaults(std::string_view kind) {
  CtrOptions o;
  o.epochs = kDefaultEpochs;
  if (kind == "ftrl" || kind == "fm") return o;
  if (kind == "deepfm") {
    o.mlp = {200, 200, 200};  // the DeepFM paper's 200-200-200
    return o;
  }
  if (kind == "dcnv2") {
    o.cross_layers = 2;
    o.mlp = {200, 200};
    return o;
  }
  return Status::InvalidArgument("unknown CTR model '" + std::string(kind) +
                                 "' (known: ftrl, fm, deepfm, dcnv2)");
}

Result<std::unique_ptr<CtrModel>> CreateCtrModel(std::string_view kind, const CtrOptions& options) {
  auto known = CtrDefaults(kind);
  if (!known.ok()) return known.status();
  FRESHET_RETURN_IF_ERROR(CheckOptions(kind, options));
  if (kind == "ftrl") return std::unique_ptr<CtrModel>(std::make_unique<FtrlModel>(options));
  if ((kind == "deepfm" || kind == "dcnv2") && options.mlp.empty() && options.cross_layers == 0) {
    return Status::InvalidArgument(std::string(kind) + " needs mlp widths or cross layers");
  }
  return std::unique_ptr<CtrModel>(std::make_unique<FieldNetModel>(kind, options));
}

std::vector<uint32_t> CtrModel::Encode(const CtrDataset& data) const {
  std::vector<uint32_t> rows(data.features.size());
  map_->Encode(data.features, rows);
  return rows;
}

Result<FitReport> CtrModel::Fit(const CtrDataset& train, const CtrDataset* valid,
                                const FitOptions& fit) {
  if (!can_learn()) return NotLearnable(kind(), precision_);
  if (train.size() == 0) return Status::InvalidArgument("the training set is empty");
  if (train.num_fields < 1 || train.num_fields > kMaxFields ||
      train.features.size() != train.size() * static_cast<size_t>(train.num_fields)) {
    return Status::InvalidArgument("the training set is malformed");
  }
  if (valid != nullptr &&
      (valid->format != train.format || valid->num_fields != train.num_fields)) {
    return Status::InvalidArgument("the validation set is " +
                                   std::string(FormatName(valid->format)) + ", the training set " +
                                   std::string(FormatName(train.format)));
  }
  if (valid != nullptr && valid->size() == 0) valid = nullptr;
  format_ = train.format;
  fields_ = train.num_fields;
  map_ = std::make_unique<FeatureMap>(fields_, FeatureMapOptions{options_.min_count, 0});
  serving_copy_ = false;  // fresh tables, ready to learn
  for (uint64_t id : train.features) map_->Count(id);
  map_->AdmitCounted();
  FRESHET_RETURN_IF_ERROR(Init(fields_, map_->rows()));
  table_rows_ = map_->rows();

  FitReport report;
  report.admitted_features = map_->admitted();
  report.rows = map_->rows();
  const std::vector<uint32_t> rows = Encode(train);
  std::vector<uint32_t> valid_rows;
  std::vector<float> valid_p;
  if (valid != nullptr) {
    valid_rows = Encode(*valid);
    valid_p.resize(valid->size());
  }
  std::vector<uint32_t> order(train.size());
  std::iota(order.begin(), order.end(), 0u);
  const int epochs = options_.epochs > 0 ? options_.epochs : kDefaultEpochs;
  double best = std::numeric_limits<double>::infinity();
  int since_best = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    nn::Rng rng(options_.seed, 1000 + static_cast<uint64_t>(epoch));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.Below(i)]);
    const auto start = std::chrono::steady_clock::now();
    EpochReport e;
    e.epoch = epoch;
    e.train_loss = TrainEpoch(rows.data(), train.labels, order, epoch, fit.threads, fit);
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    e.valid_auc = e.valid_logloss = std::numeric_limits<double>::quiet_NaN();
    if (valid != nullptr) {
      PredictRows(valid_rows.data(), valid->size(), valid_p, fit.threads);
      for (float& p : valid_p) p = Sigmoid(p);
      e.valid_auc = Auc(valid_p, valid->labels);
      e.valid_logloss = LogLoss(valid_p, valid->labels);
      if (e.valid_logloss < best) {
        best = e.valid_logloss;
        since_best = 0;
        e.best = true;
        report.best_epoch = epoch;
        Snapshot();
      } else {
        ++since_best;
      }
    } else {
      e.best = true;
      report.best_epoch = epoch;
    }
    report.epochs.push_back(e);
    if (fit.on_epoch) fit.on_epoch(e);
    if (valid != nullptr && since_best >= options_.patience) break;
  }
  if (valid != nullptr && report.best_epoch != static_cast<int>(report.epochs.size())) Restore();
  trained_ = true;
  return report;
}

void CtrModel::Predict(const CtrDataset& data, std::span<float> out, int threads) const {
  assert(trained_ && data.format == format_ && out.size() == data.size());
  const std::vector<uint32_t> rows = Encode(data);
  PredictRows(rows.data(), data.size(), out, threads);
  for (float& p : out) p = Sigmoid(p);
}

Status CtrModel::Save(const std::string& path) const {
  if (!trained_) return Status::FailedPrecondition("the model is not trained");
  model::ModelWriter w;
  WriteEntries(w);
  return w.Commit(path);
}

void CtrModel::WriteEntries(model::ModelWriter& w) const {
  w.PutBytes("kind", std::string(kKindPrefix) + std::string(kind()));
  w.PutBytes("ctr.format", FormatName(format_));
  w.PutBytes("ctr.options", EncodeOptions(options_));
  std::vector<uint64_t> ids;
  std::vector<uint32_t> rows;
  map_->Export(&ids, &rows);
  std::vector<int64_t> ids_signed(ids.begin(), ids.end());
  w.PutI64("ctr.feature_ids", ids_signed);
  w.PutU32("ctr.feature_rows", rows);
  const std::vector<uint32_t> shape = {static_cast<uint32_t>(fields_), map_->rows()};
  w.PutU32("ctr.shape", shape);
  if (precision_ != EmbedPrecision::kFloat) w.PutBytes(kPrecisionEntry, PrecisionName(precision_));
  SaveParams(w);
}

Result<std::unique_ptr<CtrModel>> CtrModel::Load(const std::string& path) {
  FRESHET_ASSIGN_OR_RETURN(model::ModelReader r, model::ModelReader::Open(path));
  if (r.Has("shop.target")) {
    return Status::InvalidArgument("model file '" + path +
                                   "' holds a shop ranking model; use it with --task "
                                   "click|cart|buy, not --task ctr");
  }
  return LoadFrom(r);
}

Result<std::unique_ptr<CtrModel>> CtrModel::LoadFrom(const model::ModelReader& r, CopyFor use) {
  const std::string& path = r.origin();
  const bool shop = r.Has("shop.target");
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption("model file '" + path + "': " + what);
  };
  FRESHET_ASSIGN_OR_RETURN(std::string kind, r.Bytes("kind"));
  if (kind.compare(0, kKindPrefix.size(), kKindPrefix) != 0) {
    return corrupt("holds a '" + kind +
                   "' model, not a CTR model (ctr-ftrl, ctr-fm, ctr-deepfm, "
                   "ctr-dcnv2); use it without --task ctr");
  }
  kind = kind.substr(kKindPrefix.size());
  FRESHET_ASSIGN_OR_RETURN(std::string format_name, r.Bytes("ctr.format"));
  auto format = ParseCtrFormat(format_name);
  if (!format.ok()) return corrupt(format.status().message());
  FRESHET_ASSIGN_OR_RETURN(std::string options_text, r.Bytes("ctr.options"));
  auto defaults = CtrDefaults(kind);
  if (!defaults.ok()) return corrupt(defaults.status().message());
  CtrOptions options = *defaults;
  if (!DecodeOptions(options_text, &options)) return corrupt("unreadable ctr.options");
  auto created = CreateCtrModel(kind, options);
  if (!created.ok()) return corrupt(created.status().message());
  std::unique_ptr<CtrModel> m = std::move(*created);
  FRESHET_ASSIGN_OR_RETURN(std::vector<uint32_t> shape, r.U32("ctr.shape"));
  FRESHET_ASSIGN_OR_RETURN(std::vector<int64_t> ids, r.I64("ctr.feature_ids"));
  FRESHET_ASSIGN_OR_RETURN(std::vector<uint32_t> rows, r.U32("ctr.feature_rows"));
  // A shop model's field count is its spec's (checked by the shop loader); a Criteo / Avazu
  // model's is its format's.
  if (shape.size() != 2 || shape[0] < 1 || shape[0] > static_cast<uint32_t>(kMaxFields) ||
      (!shop && shape[0] != FieldNames(*format).size())) {
    return corrupt("bad ctr.shape");
  }
  m->format_ = *format;
  m->fields_ = static_cast<int>(shape[0]);
  m->map_ = std::make_unique<FeatureMap>(m->fields_, FeatureMapOptions{options.min_count, 0});
  std::vector<uint64_t> uids(ids.begin(), ids.end());
  if (!m->map_->Import(uids, rows, shape[1])) return corrupt("inconsistent feature rows");
  if (r.Has(kPrecisionEntry)) {
    FRESHET_ASSIGN_OR_RETURN(std::string text, r.Bytes(kPrecisionEntry));
    auto precision = ParsePrecision(text);
    if (!precision.ok()) return corrupt("entry '" + std::string(kPrecisionEntry) + "': " +
                                        precision.status().message());
    if (*precision != EmbedPrecision::kFloat && kind == "ftrl") {
      return corrupt("entry '" + std::string(kPrecisionEntry) +
                     "': an ftrl model has no embedding table");
    }
    m->precision_ = *precision;
  }
  m->serving_copy_ = use == CopyFor::kServing;
  FRESHET_RETURN_IF_ERROR(m->Init(m->fields_, shape[1]));
  m->table_rows_ = shape[1];
  Status s = m->LoadParams(r);
  if (!s.ok()) return corrupt(s.message());
  m->trained_ = true;
  return m;
}

Status CtrModel::SaveWith(const std::string& path,
                          const std::function<void(model::ModelWriter&)>& extra) const {
  if (!trained_) return Status::FailedPrecondition("the model is not trained");
  model::ModelWriter w;
  WriteEntries(w);
  if (extra) extra(w);
  return w.Commit(path);
}

void CtrModel::PredictEncoded(const uint32_t* rows, size_t n,
                              std::span<float> probabilities) const {
  assert(trained_ && probabilities.size() >= n);
  PredictRows(rows, n, probabilities.first(n), 1);
  for (size_t i = 0; i < n; ++i) probabilities[i] = Sigmoid(probabilities[i]);
}

Result<double> CtrModel::LearnEncoded(const uint32_t* rows, std::span<const float> labels) {
  assert(trained_);
  if (!can_learn()) return NotLearnable(kind(), precision_);
  if (serving_copy_) return NotInPlace(kind());
  if (labels.empty()) return 0.0;
  std::vector<uint32_t> order(labels.size());
  std::iota(order.begin(), order.end(), 0u);
  const double mean = TrainEpoch(rows, labels, order, 1, 1, FitOptions{});
  return mean * static_cast<double>(labels.size());
}

Result<std::unique_ptr<CtrModel>> CtrModel::Clone(CopyFor use) const {
  if (!trained_) return Status::FailedPrecondition("the model is not trained");
  model::ModelWriter w;
  WriteEntries(w);
  // A marker so that LoadFrom accepts any field count; the copy is never saved from here.
  w.PutBytes("shop.target", "clone");
  FRESHET_ASSIGN_OR_RETURN(model::ModelReader r,
                           model::ModelReader::Decode(w.Encode(), "(in-memory clone)"));
  return LoadFrom(r, use);
}

Status CtrModel::QuantizeEmbeddings(EmbedPrecision precision) {
  if (!trained_) return Status::FailedPrecondition("the model is not trained");
  if (precision_ != EmbedPrecision::kFloat) {
    return Status::FailedPrecondition("the model is already quantized (" +
                                      std::string(PrecisionName(precision_)) + ")");
  }
  if (precision == EmbedPrecision::kFloat) {
    return Status::InvalidArgument("quantize to fp16 or int8, not float");
  }
  FRESHET_RETURN_IF_ERROR(Quantize(precision));
  precision_ = precision;
  return Status::OK();
}

Status CtrModel::Quantize(EmbedPrecision) {
  return Status::InvalidArgument(
      "a " + std::string(kind()) +
      " model has one weight per feature and no embedding table to quantize (fm, deepfm and "
      "dcnv2 have one)");
}

Result<size_t> CtrModel::ObserveOnline(std::span<const uint64_t> ids, uint64_t step,
                                       std::span<uint32_t> rows) {
  assert(trained_ && rows.size() == ids.size());
  if (!can_learn()) {
    return Status::FailedPrecondition("the model is quantized to " +
                                      std::string(PrecisionName(precision_)) +
                                      " for serving; it cannot learn");
  }
  if (serving_copy_) return NotInPlace(kind());
  size_t admitted = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    bool fresh = false;
    rows[i] = map_->Observe(ids[i], step, &fresh);
    if (!fresh) continue;
    if (map_->rows() > table_rows_) {
      FRESHET_RETURN_IF_ERROR(GrowRows(map_->rows()));
      table_rows_ = map_->rows();
    }
    ResetRow(rows[i], static_cast<uint32_t>(FieldOf(ids[i])));
    ++admitted;
  }
  return admitted;
}

size_t CtrModel::ExpireOnline(uint64_t now, uint64_t max_age) {
  if (serving_copy_) return 0;  // its rows cannot restart their optimizer state
  map_->set_max_age(max_age);
  const size_t expired = map_->Expire(now);
  map_->set_max_age(0);
  return expired;
}

Status CtrModel::ExplainRows(const uint32_t*, std::span<float>, float*) const {
  return Status::InvalidArgument(std::string(kind()) +
                                 " has no linear part to attribute (explain needs ftrl, fm or "
                                 "deepfm)");
}

Result<QuantizeReport> QuantizeModelFile(const std::string& in, const std::string& out,
                                         EmbedPrecision precision) {
  if (precision == EmbedPrecision::kFloat) {
    return Status::InvalidArgument("quantize to fp16 or int8, not float");
  }
  FRESHET_ASSIGN_OR_RETURN(model::ModelReader r, model::ModelReader::Open(in));
  FRESHET_ASSIGN_OR_RETURN(std::string kind, r.Bytes("kind"));
  if (kind.compare(0, kKindPrefix.size(), kKindPrefix) != 0) {
    return Status::InvalidArgument("model file '" + in + "' holds a '" + kind +
                                   "' model; quantize takes a CTR or shop ranking model (fm, "
                                   "deepfm, dcnv2)");
  }
  if (r.Has(kPrecisionEntry)) {
    FRESHET_ASSIGN_OR_RETURN(std::string stored, r.Bytes(kPrecisionEntry));
    return Status::FailedPrecondition("model file '" + in + "' is already quantized (" + stored +
                                      "); quantize the float model it was made from");
  }
  if (kind == "ctr-ftrl") {
    return Status::InvalidArgument(
        "model file '" + in +
        "' is an ftrl model: one weight per feature and no embedding table, nothing to quantize "
        "(fm, deepfm and dcnv2 have one)");
  }
  FRESHET_ASSIGN_OR_RETURN(std::unique_ptr<CtrModel> m, CtrModel::LoadFrom(r));
  auto* net = dynamic_cast<FieldNetModel*>(m.get());
  assert(net != nullptr);  // every CTR kind but ftrl
  QuantizeReport report;
  report.kind = std::string(m->kind());
  report.shop = r.Has("shop.target");
  report.float_bytes = m->EmbeddingBytes();
  const Status s = m->QuantizeEmbeddings(precision);
  if (!s.ok()) return s.WithContext("model file '" + in + "'");
  const QuantizedTable& q = *net->quantized_embed();
  report.rows = q.rows();
  report.dim = q.dim();
  report.quantized_bytes = q.bytes();
  // The error against the float rows, which LoadFrom has checked.
  FRESHET_ASSIGN_OR_RETURN(std::vector<float> values, r.F32("net.embed"));
  const size_t k = static_cast<size_t>(q.dim());
  std::vector<float> row(k);
  double sum = 0;
  for (uint32_t i = 0; i < q.rows(); ++i) {
    q.ReadRow(i, row);
    double row_max = 0, row_err = 0;
    for (size_t d = 0; d < k; ++d) {
      const double x = values[i * k + d];
      const double e = std::abs(x - static_cast<double>(row[d]));
      row_max = std::max(row_max, std::abs(x));
      row_err = std::max(row_err, e);
      sum += e;
    }
    report.max_abs_error = std::max(report.max_abs_error, row_err);
    if (row_max > 0) report.max_row_error = std::max(report.max_row_error, row_err / row_max);
  }
  report.mean_abs_error = values.empty() ? 0 : sum / static_cast<double>(values.size());
  // Every entry as it was, in its order, but the float rows, replaced by the quantized ones.
  model::ModelWriter w;
  for (const std::string& name : r.names()) {
    if (name == "net.embed") {
      w.PutBytes(kPrecisionEntry, PrecisionName(precision));
      net->SaveEmbedding(w);
    } else {
      w.Copy(r, name);
    }
  }
  std::error_code ec;
  report.in_file_bytes = std::filesystem::file_size(in, ec);
  const Status written = w.Commit(out);
  if (!written.ok()) {
    return Status::IOError("cannot write the quantized model to '" + out +
                           "': " + written.message());
  }
  report.out_file_bytes = std::filesystem::file_size(out, ec);
  return report;
}

}  // namespace freshet::rank
