#include "ctr_commands.h"

#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <chrono>
#include <functional>
#include <memory>
#include <tuple>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/json_writer.h"
#include "core/status.h"
#include "model/registry.h"
#include "rank/ctr_model.h"
#include "rank/dataset.h"
#include "rank/feature_spec.h"
#include "rank/metrics.h"
#include "rank/shop_samples.h"
#include "store/event_store.h"

namespace freshet::app {
namespace {

int Fail(const Status& status) {
  fmt::print(stderr, "freshet: error: {}\n", status.ToString());
  return 1;
}

int Usage(const std::string& message) {
  fmt::print(stderr, "freshet: error: {}\n", message);
  return 2;
}

// Prints an eval command's JSON to stdout and, with --json, to that file too.
int PrintJson(const std::string& json, const std::string& path) {
  fmt::print("{}\n", json);
  if (path.empty()) return 0;
  std::ofstream out(path, std::ios::trunc);
  out << json << "\n";
  out.close();
  if (!out) return Fail(Status::IOError("cannot write " + path));
  return 0;
}

bool Given(CLI::App* cmd, const std::string& flag) {
  return cmd != nullptr && cmd->get_option(flag)->count() > 0;
}

// `--param` for CTR models: KEY=VALUE,... over CtrOptions; mlp widths are separated by ':'.
Status ApplyParams(const std::string& text, rank::CtrOptions* o) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("--param entry '" + item + "' is not KEY=VALUE");
    }
    const Status s = rank::SetCtrOption(item.substr(0, eq), item.substr(eq + 1), o);
    if (!s.ok()) return Status::InvalidArgument("--param: " + s.message());
  }
  return Status::OK();
}

// Progress of one epoch on stderr: a redrawn line on a terminal, a plain line every 5 s
// otherwise (core/progress.h's behaviour, with the running loss added).
class EpochProgress {
 public:
  EpochProgress(std::string kind, bool enabled)
      : kind_(std::move(kind)), enabled_(enabled), tty_(::isatty(STDERR_FILENO) == 1) {}

  void Step(const rank::StepProgress& p) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (p.epoch != epoch_) {
      epoch_ = p.epoch;
      start_ = last_ = now;
    }
    const auto interval = tty_ ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
    if (now - last_ < interval) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(p.samples_done) / elapsed : 0;
    const double left = rate > 0 ? static_cast<double>(p.samples_total - p.samples_done) / rate : 0;
    const std::string line = fmt::format(
        "{} epoch {}: {:5.1f}% {}/{} samples, loss {:.4f}, {:.0f} samples/s, ETA {}m{:02}s", kind_,
        p.epoch, 100.0 * static_cast<double>(p.samples_done) / p.samples_total, p.samples_done,
        p.samples_total, p.mean_loss, rate, static_cast<int>(left) / 60,
        static_cast<int>(left) % 60);
    if (tty_) {
      fmt::print(stderr, "\r{}   ", line);
      drawn_ = true;
    } else {
      fmt::print(stderr, "{}\n", line);
    }
  }
  // Ends a redrawn line before an epoch summary.
  void EndLine() {
    if (tty_ && drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }

 private:
  std::string kind_;
  bool enabled_;
  bool tty_;
  bool drawn_ = false;
  int epoch_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
};

Result<rank::CtrDataset> Read(const std::string& path, rank::CtrFormat format, int64_t max_errors,
                              const char* what, bool quiet) {
  rank::CtrReadReport report;
  const auto start = std::chrono::steady_clock::now();
  auto data = rank::ReadCtrFile(path, format, {.max_errors = max_errors}, &report);
  if (!data.ok()) return data.status();
  if (!quiet) {
    fmt::print(stderr, "read {} {}: {} samples in {:.1f} s", what, path, report.samples,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (report.errors > 0) fmt::print(stderr, ", {} bad lines skipped", report.errors);
    fmt::print(stderr, "\n");
    for (const std::string& e : report.first_errors) fmt::print(stderr, "  skipped: {}\n", e);
  }
  if (data->size() == 0) return Status::InvalidArgument(path + " holds no samples");
  return data;
}

// The untrained model --model / --epochs / --seed / --param ask for; 0, or Usage's exit code.
int CreateFromFlags(const TrainFlags& flags, std::unique_ptr<rank::CtrModel>* out) {
  auto options = rank::CtrDefaults(flags.model);
  if (!options.ok()) return Usage("--model: " + options.status().message());
  if (flags.epochs < 0) return Usage("--epochs must be >= 0");
  if (flags.epochs > 0) options->epochs = flags.epochs;
  options->seed = flags.seed;
  Status s = ApplyParams(flags.params, &*options);
  if (!s.ok()) return Usage(s.message());
  auto model = rank::CreateCtrModel(flags.model, *options);
  if (!model.ok()) return Usage(model.status().message());
  *out = std::move(*model);
  return 0;
}

int RunCtrTrain(const CtrTrainFlags& ctr, const TrainFlags& flags) {
  if (ctr.train_file.empty()) return Usage("train --task ctr needs --train FILE");
  if (flags.out.empty()) return Usage("train --task ctr needs --out MODEL");
  if (ctr.format.empty()) return Usage("train --task ctr needs --format criteo|avazu");
  if (Given(ctr.cmd, "--data") || Given(ctr.cmd, "--protocol")) {
    return Usage("--data and --protocol are for --task rec; --task ctr reads --train / --valid");
  }
  auto format = rank::ParseCtrFormat(ctr.format);
  if (!format.ok()) return Usage("--format: " + format.status().message());
  std::unique_ptr<rank::CtrModel> ctr_model;
  if (int code = CreateFromFlags(flags, &ctr_model); code != 0) return code;

  auto train = Read(ctr.train_file, *format, ctr.max_errors, "train", flags.quiet);
  if (!train.ok()) return Fail(train.status());
  std::unique_ptr<rank::CtrDataset> valid;
  if (!ctr.valid_file.empty()) {
    auto v = Read(ctr.valid_file, *format, ctr.max_errors, "valid", flags.quiet);
    if (!v.ok()) return Fail(v.status());
    valid = std::make_unique<rank::CtrDataset>(std::move(*v));
  }
  const int threads = flags.threads > 0
                          ? flags.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!flags.quiet) {
    fmt::print(stderr, "training {} on {} samples ({}), {} thread(s), up to {} epochs{}\n",
               flags.model, train->size(), ctr.format, threads, ctr_model->options().epochs,
               valid ? ", early stopping on validation logloss" : "");
  }
  const std::string kind = flags.model;
  EpochProgress progress(kind, !flags.quiet);
  rank::FitOptions fit;
  fit.threads = threads;
  fit.on_step = [&](const rank::StepProgress& p) { progress.Step(p); };
  fit.on_epoch = [&](const rank::EpochReport& e) {
    progress.EndLine();
    if (flags.quiet) return;
    const double rate = e.seconds > 0 ? static_cast<double>(train->size()) / e.seconds : 0;
    std::string line = fmt::format("{} epoch {}: train loss {:.4f}, {:.2f} s ({:.0f} samples/s)",
                                   kind, e.epoch, e.train_loss, e.seconds, rate);
    if (!std::isnan(e.valid_auc)) {
      line += fmt::format(", valid AUC {:.4f} logloss {:.4f}{}", e.valid_auc, e.valid_logloss,
                          e.best ? " (best)" : "");
    }
    fmt::print(stderr, "{}\n", line);
  };
  auto report = ctr_model->Fit(*train, valid.get(), fit);
  if (!report.ok()) return Fail(report.status());
  Status s = ctr_model->Save(flags.out);
  if (!s.ok()) return Fail(s);
  const rank::EpochReport& best = report->epochs[static_cast<size_t>(report->best_epoch - 1)];
  fmt::print("{}: {} epochs, best {}; {} features admitted (min_count {}), {} rows; ", kind,
             report->epochs.size(), report->best_epoch, report->admitted_features,
             ctr_model->options().min_count, report->rows);
  if (!std::isnan(best.valid_auc)) {
    fmt::print("valid AUC {:.4f} logloss {:.4f}; ", best.valid_auc, best.valid_logloss);
  }
  fmt::print("model written to {}\n", flags.out);
  return 0;
}

int RunCtrEval(const CtrEvalFlags& ctr, const EvalFlags& flags) {
  if (ctr.test_file.empty()) return Usage("eval --task ctr needs --test FILE");
  if (flags.model_files.size() != 1) return Usage("eval --task ctr takes exactly one --model");
  if (Given(ctr.cmd, "--data") || Given(ctr.cmd, "--protocol") || Given(ctr.cmd, "--html") ||
      Given(ctr.cmd, "--candidates") || Given(ctr.cmd, "--k")) {
    return Usage("--data, --protocol, --candidates, --k and --html are for --task rec");
  }
  auto model = rank::CtrModel::Load(flags.model_files[0]);
  if (!model.ok()) return Fail(model.status());
  rank::CtrFormat format = (*model)->format();
  if (!ctr.format.empty()) {
    auto f = rank::ParseCtrFormat(ctr.format);
    if (!f.ok()) return Usage("--format: " + f.status().message());
    if (*f != format) {
      return Fail(Status::InvalidArgument("the model was trained on " +
                                          std::string(rank::FormatName(format)) +
                                          " data, --format " + ctr.format + " was given"));
    }
  }
  auto test = Read(ctr.test_file, format, ctr.max_errors, "test", flags.quiet);
  if (!test.ok()) return Fail(test.status());
  const int threads = flags.threads > 0
                          ? flags.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<float> p(test->size());
  (*model)->Predict(*test, p, threads);
  const double auc = rank::Auc(p, test->labels);
  const double logloss = rank::LogLoss(p, test->labels);
  double positives = 0;
  for (float y : test->labels) positives += y;
  JsonWriter j;
  j.BeginObject();
  j.Key("task").String("ctr");
  j.Key("format").String(rank::FormatName(format));
  j.Key("model").String((*model)->kind());
  j.Key("model_file").String(flags.model_files[0]);
  j.Key("test").String(ctr.test_file);
  j.Key("samples").Uint(test->size());
  j.Key("positive_rate").Double(positives / static_cast<double>(test->size()));
  j.Key("metrics").BeginObject();
  j.Key("AUC").Double(auc);
  j.Key("logloss").Double(logloss);
  j.EndObject();
  j.EndObject();
  return PrintJson(j.str(), flags.json_out);
}


// ---- --task click | cart | buy: shop ranking models over the store's history ----

bool IsShopTask(const std::string& task) {
  return task == "click" || task == "cart" || task == "buy";
}

rank::ShopTarget ShopTargetOf(const std::string& task) {
  return task == "click" ? rank::ShopTarget::kClick
         : task == "cart" ? rank::ShopTarget::kCart
                          : rank::ShopTarget::kBuy;
}

// "90s", "30m", "2h", "3d" or plain milliseconds.
Result<int64_t> ParseDuration(const std::string& flag, const std::string& text) {
  int64_t unit = 1;
  std::string digits = text;
  if (!text.empty()) {
    switch (text.back()) {
      case 's': unit = 1000; break;
      case 'm': unit = 60 * 1000; break;
      case 'h': unit = 3600 * 1000; break;
      case 'd': unit = 86400 * 1000LL; break;
      default: break;
    }
    if (unit != 1) digits.pop_back();
  }
  int64_t v = 0;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, v);
  if (digits.empty() || ec != std::errc() || ptr != end || v <= 0 || v > 365LL * 86400 * 1000 / unit) {
    return Status::InvalidArgument(flag + " must be a positive duration such as 90s, 30m, 2h or "
                                   "3d, got '" + text + "'");
  }
  return v * unit;
}

// Progress of the replay on stderr: a plain line every 5 s (a redrawn one on a terminal).
std::function<void(size_t, size_t)> ReplayProgress(bool quiet) {
  if (quiet) return nullptr;
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  auto start = std::make_shared<std::chrono::steady_clock::time_point>(
      std::chrono::steady_clock::now());
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  return [last, start, tty](size_t done, size_t total) {
    const auto now = std::chrono::steady_clock::now();
    const bool end = done == total;
    if (!end && now - *last < (tty ? std::chrono::milliseconds(250) : std::chrono::seconds(5))) {
      return;
    }
    *last = now;
    const double s = std::chrono::duration<double>(now - *start).count();
    const std::string line =
        fmt::format("replaying events: {}/{} ({:.1f}%), {:.1f} s", done, total,
                    100.0 * static_cast<double>(done) / static_cast<double>(total), s);
    if (tty) {
      fmt::print(stderr, "\r{}   {}", line, end ? "\n" : "");
    } else {
      fmt::print(stderr, "{}\n", line);
    }
  };
}

struct ShopData {
  std::unique_ptr<store::EventStore> store;
  store::EventTable table;
  rank::ShopCatalog catalog;
};

Result<ShopData> OpenShopData(const std::string& dir, bool quiet) {
  store::StoreOptions options;
  options.must_exist = true;
  ShopData d;
  FRESHET_ASSIGN_OR_RETURN(d.store, store::EventStore::Open(options, dir));
  FRESHET_RETURN_IF_ERROR(d.store->LoadEventTable(&d.table));
  FRESHET_ASSIGN_OR_RETURN(d.catalog, rank::LoadShopCatalog(*d.store));
  if (d.table.size() == 0) return Status::InvalidArgument("the store in " + dir + " holds no events");
  if (!quiet) {
    fmt::print(stderr, "read {}: {} events, {} catalog items\n", dir, d.table.size(),
               d.catalog.size());
  }
  return d;
}

void PrintSamples(const rank::ShopSamples& s, rank::ShopTarget target) {
  auto rate = [](const rank::CtrDataset& d) {
    double p = 0;
    for (float y : d.labels) p += y;
    return d.size() > 0 ? p / static_cast<double>(d.size()) : 0.0;
  };
  const int t = static_cast<int>(target);
  fmt::print(stderr,
             "{} examples: {} train (positive rate {:.4f}), {} valid ({:.4f}); joiner: {} anchors, "
             "{} undecided and {} decided early at the end (window past the history: left "
             "out), {} late, {} duplicates\n",
             rank::ShopTargetName(target), s.train.size(), rate(s.train), s.valid.size(),
             rate(s.valid), s.joiner.anchors[t], s.joiner.pending, s.censored,
             s.joiner.late_anchors, s.joiner.duplicates);
}

struct Scores {
  double auc = 0, logloss = 0, gauc = 0;
};

Scores Measure(std::span<const float> p, const rank::ShopSamples& s) {
  return {rank::Auc(p, s.valid.labels), rank::LogLoss(p, s.valid.labels),
          rank::Gauc(p, s.valid.labels, s.valid_users)};
}

int RunShopTrain(const CtrTrainFlags& ctr, const TrainFlags& flags) {
  if (ctr.spec_file == "help") {
    fmt::print("{}", rank::FeatureSpec::SourceHelp());
    return 0;
  }
  if (flags.out.empty()) return Usage("train --task " + ctr.task + " needs --out MODEL");
  if (Given(ctr.cmd, "--format") || Given(ctr.cmd, "--train") || Given(ctr.cmd, "--valid") ||
      Given(ctr.cmd, "--max-errors") || Given(ctr.cmd, "--protocol")) {
    return Usage("--format, --train, --valid, --max-errors and --protocol are not for --task " +
                 ctr.task + " (it reads the store in --data; --holdout sets the split)");
  }
  if (!(ctr.holdout > 0 && ctr.holdout < 1)) return Usage("--holdout must be in (0, 1)");
  rank::ShopSampleOptions so;
  so.target = ShopTargetOf(ctr.task);
  so.holdout = ctr.holdout;
  for (auto [flag, text, out] :
       {std::tuple{"--click-window", &ctr.click_window, &so.joiner.click_window_ms},
        std::tuple{"--cart-window", &ctr.cart_window, &so.joiner.cart_window_ms},
        std::tuple{"--buy-window", &ctr.buy_window, &so.joiner.buy_window_ms}}) {
    auto v = ParseDuration(flag, *text);
    if (!v.ok()) return Usage(v.status().message());
    *out = *v;
  }
  std::unique_ptr<rank::CtrModel> ctr_model;
  if (int code = CreateFromFlags(flags, &ctr_model); code != 0) return code;

  // The built-in defaults are config/shop_rank.spec (click, buy) and config/shop_cart.spec.
  const bool cart = so.target == rank::ShopTarget::kCart;
  auto spec = !ctr.spec_file.empty() ? rank::FeatureSpec::ReadFile(ctr.spec_file)
              : cart ? rank::FeatureSpec::Parse(rank::FeatureSpec::DefaultCartText(),
                                                "(built-in config/shop_cart.spec)")
                     : rank::FeatureSpec::Parse(rank::FeatureSpec::DefaultText(),
                                                "(built-in config/shop_rank.spec)");
  if (!spec.ok()) return Fail(spec.status());
  auto data = OpenShopData(flags.data, flags.quiet);
  if (!data.ok()) return Fail(data.status());
  so.progress = ReplayProgress(flags.quiet);
  auto samples = rank::BuildShopSamples(data->table, data->catalog, &*spec, so);
  if (!samples.ok()) return Fail(samples.status());
  if (!flags.quiet) PrintSamples(*samples, so.target);
  if (samples->train.size() == 0) {
    return Fail(Status::InvalidArgument("no training example before the split; lower --holdout"));
  }

  const int threads = flags.threads > 0
                          ? flags.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!flags.quiet) {
    fmt::print(stderr, "training {} ({} model) on {} samples of {} fields, {} thread(s)\n",
               flags.model, ctr.task, samples->train.size(), spec->num_slots(), threads);
  }
  const std::string kind = flags.model;
  EpochProgress progress(kind, !flags.quiet);
  rank::FitOptions fit;
  fit.threads = threads;
  fit.on_step = [&](const rank::StepProgress& p) { progress.Step(p); };
  fit.on_epoch = [&](const rank::EpochReport& e) {
    progress.EndLine();
    if (flags.quiet) return;
    std::string line = fmt::format("{} epoch {}: train loss {:.4f}, {:.2f} s", kind, e.epoch,
                                   e.train_loss, e.seconds);
    if (!std::isnan(e.valid_auc)) {
      line += fmt::format(", valid AUC {:.4f} logloss {:.4f}{}", e.valid_auc, e.valid_logloss,
                          e.best ? " (best)" : "");
    }
    fmt::print(stderr, "{}\n", line);
  };
  const bool has_valid = samples->valid.size() > 0;
  if (!has_valid && !flags.quiet) {
    fmt::print(stderr,
               "warning: no validation example: the holdout ({} of the time span) is shorter "
               "than the label window, or holds no anchor; training without early stopping\n",
               ctr.holdout);
  }
  auto report = ctr_model->Fit(samples->train, has_valid ? &samples->valid : nullptr, fit);
  if (!report.ok()) return Fail(report.status());
  rank::ShopModelMeta meta;
  meta.target = so.target;
  meta.windows = so.joiner;
  meta.split_ms = samples->split_ms;
  meta.holdout = ctr.holdout;
  meta.num_items = data->store->counts().items;
  meta.item_fingerprint = model::ItemFingerprint(*data->store, meta.num_items);
  if (so.target == rank::ShopTarget::kCart) {
    meta.buy_delays_ms = rank::BuyDelayQuantiles(samples->train_open_ms, samples->train.labels);
  }
  Status s = rank::SaveShopModel(flags.out, *ctr_model, *spec, meta);
  if (!s.ok()) return Fail(s);
  fmt::print("{} {}: {} epochs, best {}; {} features admitted, {} rows; ", ctr.task, kind,
             report->epochs.size(), report->best_epoch, report->admitted_features, report->rows);
  if (has_valid) {
    std::vector<float> p(samples->valid.size());
    ctr_model->Predict(samples->valid, p, threads);
    const Scores m = Measure(p, *samples);
    fmt::print("valid AUC {:.4f} logloss {:.4f} GAUC {:.4f}; ", m.auc, m.logloss, m.gauc);
  }
  fmt::print("model written to {}\n", flags.out);
  return 0;
}

int RunShopEval(const CtrEvalFlags& ctr, const EvalFlags& flags) {
  if (flags.model_files.size() != 1) return Usage("eval --task " + ctr.task + " takes one --model");
  if (Given(ctr.cmd, "--format") || Given(ctr.cmd, "--test") || Given(ctr.cmd, "--protocol") ||
      Given(ctr.cmd, "--candidates") || Given(ctr.cmd, "--k") || Given(ctr.cmd, "--html")) {
    return Usage("--format, --test, --protocol, --candidates, --k and --html are not for --task " +
                 ctr.task);
  }
  if (Given(ctr.cmd, "--holdout") && !(ctr.holdout > 0 && ctr.holdout < 1)) {
    return Usage("--holdout must be in (0, 1)");
  }
  auto loaded = rank::LoadShopModel(flags.model_files[0]);
  if (!loaded.ok()) return Fail(loaded.status());
  const rank::ShopTarget target = ShopTargetOf(ctr.task);
  if (loaded->meta.target != target) {
    return Fail(Status::InvalidArgument(
        "model file '" + flags.model_files[0] + "' is a " +
        rank::ShopTargetName(loaded->meta.target) + " model; --task " + ctr.task + " was given"));
  }
  auto data = OpenShopData(flags.data, flags.quiet);
  if (!data.ok()) return Fail(data.status());
  if (Status s = rank::CheckShopModelMatchesStore(loaded->meta, *data->store,
                                                  flags.model_files[0]);
      !s.ok()) {
    return Fail(s);
  }
  rank::ShopSampleOptions so;
  so.target = target;
  so.joiner = loaded->meta.windows;
  if (Given(ctr.cmd, "--holdout")) {
    so.holdout = ctr.holdout;
  } else {
    so.split_ms = loaded->meta.split_ms;
  }
  so.progress = ReplayProgress(flags.quiet);
  auto samples = rank::BuildShopSamples(data->table, data->catalog, &loaded->spec, so);
  if (!samples.ok()) return Fail(samples.status());
  if (!flags.quiet) PrintSamples(*samples, target);
  if (samples->valid.size() == 0) {
    return Fail(Status::InvalidArgument("no " + ctr.task +
                                        " example falls after the split time to evaluate on"));
  }
  const int threads = flags.threads > 0
                          ? flags.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<float> p(samples->valid.size());
  loaded->model->Predict(samples->valid, p, threads);
  const Scores m = Measure(p, *samples);
  rank::LogisticBaseline baseline;
  std::vector<float> bp(samples->valid.size());
  const bool have_baseline = baseline.Fit(samples->train_base, samples->train.labels,
                                          rank::BaselineColumns(target));
  Scores b;
  if (have_baseline) {
    baseline.Predict(samples->valid_base, bp);
    b = Measure(bp, *samples);
  }
  double positives = 0;
  for (float y : samples->valid.labels) positives += y;
  JsonWriter j;
  j.BeginObject();
  j.Key("task").String(ctr.task);
  j.Key("model").String(loaded->model->kind());
  j.Key("model_file").String(flags.model_files[0]);
  j.Key("data").String(flags.data);
  j.Key("split_ms").Int(samples->split_ms);
  j.Key("samples").Uint(samples->valid.size());
  j.Key("train_samples").Uint(samples->train.size());
  j.Key("positive_rate").Double(positives / static_cast<double>(samples->valid.size()));
  j.Key("metrics").BeginObject();
  j.Key("AUC").Double(m.auc);
  j.Key("logloss").Double(m.logloss);
  j.Key("GAUC").Double(m.gauc);
  j.EndObject();
  if (have_baseline) {
    j.Key("baseline").BeginObject();
    j.Key("name").String(rank::BaselineName(target));
    j.Key("AUC").Double(b.auc);
    j.Key("logloss").Double(b.logloss);
    j.Key("GAUC").Double(b.gauc);
    j.EndObject();
  }
  if (target == rank::ShopTarget::kCart && !loaded->meta.buy_delays_ms.empty()) {
    // Carts seen later than at the add: the validation adds still open (not yet bought or
    // removed) at each age, scored as CartConversion scores them (conditioned on the age) and as
    // the model scores a fresh add, against whether they were bought after all.
    j.Key("open_carts").BeginArray();
    for (const int hours : {1, 6, 24, 48}) {
      const int64_t age_ms = int64_t{hours} * 3600000;
      std::vector<float> fresh, aged, labels;
      for (size_t i = 0; i < p.size(); ++i) {
        if (samples->valid_open_ms[i] <= age_ms) continue;
        fresh.push_back(p[i]);
        aged.push_back(rank::ConditionOnAge(p[i], loaded->meta.buy_delays_ms, age_ms));
        labels.push_back(samples->valid.labels[i]);
      }
      auto mean = [](const std::vector<float>& v) {
        double s = 0;
        for (float x : v) s += x;
        return v.empty() ? 0.0 : s / static_cast<double>(v.size());
      };
      j.BeginObject();
      j.Key("age_hours").Int(hours);
      j.Key("samples").Uint(labels.size());
      j.Key("positive_rate").Double(mean(labels));
      j.Key("mean_p_at_age").Double(mean(aged));
      j.Key("mean_p_as_fresh_add").Double(mean(fresh));
      j.Key("logloss_at_age").Double(labels.empty() ? 0.0 : rank::LogLoss(aged, labels));
      j.Key("logloss_as_fresh_add").Double(labels.empty() ? 0.0 : rank::LogLoss(fresh, labels));
      j.EndObject();
    }
    j.EndArray();
  }
  j.EndObject();
  return PrintJson(j.str(), flags.json_out);
}

}  // namespace

void AddCtrTrainFlags(CLI::App* train, CtrTrainFlags& f) {
  f.cmd = train;
  train->add_option("--task", f.task,
                    "rec (recommendation, the default), ctr (Criteo / Avazu click models), or "
                    "click, cart, buy (shop ranking models over the store)")
      ->capture_default_str();
  train->add_option("--format", f.format, "ctr: criteo or avazu");
  train->add_option("--train", f.train_file, "ctr: training file");
  train->add_option("--valid", f.valid_file,
                    "ctr: validation file (per-epoch AUC / logloss, early stopping)");
  train->add_option("--max-errors", f.max_errors, "ctr: bad input lines to skip before failing")
      ->capture_default_str();
  train->add_option("--spec", f.spec_file,
                    "click|cart|buy: feature spec file (default: the built-in "
                    "config/shop_rank.spec, config/shop_cart.spec for cart); 'help' lists the "
                    "sources");
  train->add_option("--holdout", f.holdout,
                    "click|cart|buy: last fraction of the time span kept for validation")
      ->capture_default_str();
  train->add_option("--click-window", f.click_window,
                    "click|cart|buy: an impression is a click if clicked / viewed within this")
      ->capture_default_str();
  train->add_option("--cart-window", f.cart_window,
                    "click|cart|buy: a cart add converts if bought within this")
      ->capture_default_str();
  train->add_option("--buy-window", f.buy_window,
                    "click|cart|buy: an impression is a buy if bought within this")
      ->capture_default_str();
}

void AddCtrEvalFlags(CLI::App* eval, CtrEvalFlags& f) {
  f.cmd = eval;
  eval->add_option("--task", f.task,
                   "rec (recommendation, the default), ctr (Criteo / Avazu click models), or "
                   "click, cart, buy (shop ranking models over the store)")
      ->capture_default_str();
  eval->add_option("--format", f.format, "ctr: criteo or avazu (default: the model's)");
  eval->add_option("--test", f.test_file, "ctr: test file");
  eval->add_option("--max-errors", f.max_errors, "ctr: bad input lines to skip before failing")
      ->capture_default_str();
  eval->add_option("--holdout", f.holdout,
                   "click|cart|buy: evaluate on the last fraction of the time span (default: the "
                   "model's own validation split)");
}

int DispatchTrain(const CtrTrainFlags& ctr, const TrainFlags& flags) {
  if (ctr.task == "ctr") {
    for (const char* flag :
         {"--spec", "--holdout", "--click-window", "--cart-window", "--buy-window"}) {
      if (Given(ctr.cmd, flag)) return Usage(std::string(flag) + " needs --task click|cart|buy");
    }
    return RunCtrTrain(ctr, flags);
  }
  if (IsShopTask(ctr.task)) return RunShopTrain(ctr, flags);
  if (ctr.task != "rec") {
    return Usage("--task must be rec, ctr, click, cart or buy, got '" + ctr.task + "'");
  }
  for (const char* flag : {"--format", "--train", "--valid", "--max-errors"}) {
    if (Given(ctr.cmd, flag)) return Usage(std::string(flag) + " needs --task ctr");
  }
  for (const char* flag :
       {"--spec", "--holdout", "--click-window", "--cart-window", "--buy-window"}) {
    if (Given(ctr.cmd, flag)) return Usage(std::string(flag) + " needs --task click|cart|buy");
  }
  return RunTrain(flags);
}

int DispatchEval(const CtrEvalFlags& ctr, const EvalFlags& flags) {
  if (ctr.task == "ctr") {
    if (Given(ctr.cmd, "--holdout")) return Usage("--holdout needs --task click|cart|buy");
    return RunCtrEval(ctr, flags);
  }
  if (IsShopTask(ctr.task)) return RunShopEval(ctr, flags);
  if (ctr.task != "rec") {
    return Usage("--task must be rec, ctr, click, cart or buy, got '" + ctr.task + "'");
  }
  for (const char* flag : {"--format", "--test", "--max-errors"}) {
    if (Given(ctr.cmd, flag)) return Usage(std::string(flag) + " needs --task ctr");
  }
  if (Given(ctr.cmd, "--holdout")) return Usage("--holdout needs --task click|cart|buy");
  return RunEval(flags);
}

void AddQuantizeCommand(CLI::App* app, QuantizeFlags& f, CLI::App** cmd) {
  CLI::App* q = app->add_subcommand(
      "quantize",
      "store a ranking model's embedding table as fp16 or int8 for serving (fm, deepfm, dcnv2; "
      "--task ctr or click|cart|buy models); the quantized model serves and cannot learn");
  q->add_option("--model", f.model, "the trained float model file")->required();
  q->add_option("--out", f.out, "the quantized model file to write")->required();
  q->add_option("--precision", f.precision,
                "fp16 (IEEE half) or int8 (one float scale per row)")
      ->required();
  q->add_option("--json", f.json_out, "write the report as JSON to this file too");
  q->add_flag("--quiet", f.quiet, "no summary on stderr");
  *cmd = q;
}

int RunQuantize(const QuantizeFlags& f) {
  if (f.precision != "fp16" && f.precision != "int8") {
    return Usage("--precision must be fp16 or int8, got '" + f.precision + "'");
  }
  const rank::EmbedPrecision precision = f.precision == "fp16" ? rank::EmbedPrecision::kF16
                                                               : rank::EmbedPrecision::kInt8;
  auto report = rank::QuantizeModelFile(f.model, f.out, precision);
  if (!report.ok()) return Fail(report.status());
  const rank::QuantizeReport& r = *report;
  const size_t float_total = r.float_bytes.values + r.float_bytes.optimizer;
  if (!f.quiet) {
    fmt::print(stderr,
               "{} {}model: {} embedding rows x {}; table in memory {:.2f} MB float ({:.2f} MB "
               "rows + {:.2f} MB optimizer state) -> {:.2f} MB {}; file {:.2f} MB -> {:.2f} MB; "
               "largest error {:.3g} ({:.3g} of its row's largest value); written to {}\n",
               r.kind, r.shop ? "shop " : "CTR ", r.rows, r.dim, float_total / 1e6,
               r.float_bytes.values / 1e6, r.float_bytes.optimizer / 1e6,
               r.quantized_bytes / 1e6, f.precision, r.in_file_bytes / 1e6,
               r.out_file_bytes / 1e6, r.max_abs_error, r.max_row_error, f.out);
  }
  JsonWriter j;
  j.BeginObject();
  j.Key("model").String(r.kind);
  j.Key("shop").Bool(r.shop);
  j.Key("model_file").String(f.model);
  j.Key("out").String(f.out);
  j.Key("precision").String(f.precision);
  j.Key("rows").Uint(r.rows);
  j.Key("embed_dim").Int(r.dim);
  j.Key("table_bytes").BeginObject();
  j.Key("float_rows").Uint(r.float_bytes.values);
  j.Key("float_optimizer_state").Uint(r.float_bytes.optimizer);
  j.Key("quantized").Uint(r.quantized_bytes);
  j.EndObject();
  j.Key("file_bytes").BeginObject();
  j.Key("in").Uint(r.in_file_bytes);
  j.Key("out").Uint(r.out_file_bytes);
  j.EndObject();
  j.Key("error").BeginObject();
  j.Key("max_abs").Double(r.max_abs_error);
  j.Key("mean_abs").Double(r.mean_abs_error);
  j.Key("max_relative_to_row_max").Double(r.max_row_error);
  j.EndObject();
  j.EndObject();
  return PrintJson(j.str(), f.json_out);
}

}  // namespace freshet::app
