#include "ctr_commands.h"

#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/json_writer.h"
#include "core/status.h"
#include "rank/ctr_model.h"
#include "rank/dataset.h"
#include "rank/metrics.h"

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

int RunCtrTrain(const CtrTrainFlags& ctr, const TrainFlags& flags) {
  if (ctr.train_file.empty()) return Usage("train --task ctr needs --train FILE");
  if (flags.out.empty()) return Usage("train --task ctr needs --out MODEL");
  if (ctr.format.empty()) return Usage("train --task ctr needs --format criteo|avazu");
  if (Given(ctr.cmd, "--data") || Given(ctr.cmd, "--protocol")) {
    return Usage("--data and --protocol are for --task rec; --task ctr reads --train / --valid");
  }
  auto format = rank::ParseCtrFormat(ctr.format);
  if (!format.ok()) return Usage("--format: " + format.status().message());
  auto options = rank::CtrDefaults(flags.model);
  if (!options.ok()) return Usage("--model: " + options.status().message());
  if (flags.epochs < 0) return Usage("--epochs must be >= 0");
  if (flags.epochs > 0) options->epochs = flags.epochs;
  options->seed = flags.seed;
  Status s = ApplyParams(flags.params, &*options);
  if (!s.ok()) return Usage(s.message());
  auto model = rank::CreateCtrModel(flags.model, *options);
  if (!model.ok()) return Usage(model.status().message());

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
               flags.model, train->size(), ctr.format, threads, options->epochs,
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
  auto report = (*model)->Fit(*train, valid.get(), fit);
  if (!report.ok()) return Fail(report.status());
  s = (*model)->Save(flags.out);
  if (!s.ok()) return Fail(s);
  const rank::EpochReport& best = report->epochs[static_cast<size_t>(report->best_epoch - 1)];
  fmt::print("{}: {} epochs, best {}; {} features admitted (min_count {}), {} rows; ", kind,
             report->epochs.size(), report->best_epoch, report->admitted_features,
             options->min_count, report->rows);
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
  fmt::print("{}\n", j.str());
  if (!flags.json_out.empty()) {
    std::ofstream out(flags.json_out, std::ios::trunc);
    out << j.str() << "\n";
    out.close();
    if (!out) return Fail(Status::IOError("cannot write " + flags.json_out));
  }
  return 0;
}

}  // namespace

void AddCtrTrainFlags(CLI::App* train, CtrTrainFlags& f) {
  f.cmd = train;
  train->add_option("--task", f.task, "rec (recommendation, the default) or ctr (click models)")
      ->capture_default_str();
  train->add_option("--format", f.format, "ctr: criteo or avazu");
  train->add_option("--train", f.train_file, "ctr: training file");
  train->add_option("--valid", f.valid_file,
                    "ctr: validation file (per-epoch AUC / logloss, early stopping)");
  train->add_option("--max-errors", f.max_errors, "ctr: bad input lines to skip before failing")
      ->capture_default_str();
}

void AddCtrEvalFlags(CLI::App* eval, CtrEvalFlags& f) {
  f.cmd = eval;
  eval->add_option("--task", f.task, "rec (recommendation, the default) or ctr (click models)")
      ->capture_default_str();
  eval->add_option("--format", f.format, "ctr: criteo or avazu (default: the model's)");
  eval->add_option("--test", f.test_file, "ctr: test file");
  eval->add_option("--max-errors", f.max_errors, "ctr: bad input lines to skip before failing")
      ->capture_default_str();
}

int DispatchTrain(const CtrTrainFlags& ctr, const TrainFlags& flags) {
  if (ctr.task == "ctr") return RunCtrTrain(ctr, flags);
  if (ctr.task != "rec") return Usage("--task must be rec or ctr, got '" + ctr.task + "'");
  for (const char* flag : {"--format", "--train", "--valid", "--max-errors"}) {
    if (Given(ctr.cmd, flag)) return Usage(std::string(flag) + " needs --task ctr");
  }
  return RunTrain(flags);
}

int DispatchEval(const CtrEvalFlags& ctr, const EvalFlags& flags) {
  if (ctr.task == "ctr") return RunCtrEval(ctr, flags);
  if (ctr.task != "rec") return Usage("--task must be rec or ctr, got '" + ctr.task + "'");
  for (const char* flag : {"--format", "--test", "--max-errors"}) {
    if (Given(ctr.cmd, flag)) return Usage(std::string(flag) + " needs --task ctr");
  }
  return RunEval(flags);
}

}  // namespace freshet::app
