#include "model_commands.h"

#include <fmt/core.h>

#include <filesystem>
#include <map>

#include "eval/evaluator.h"
#include "core/time.h"
#include "eval/prequential.h"
#include "eval/report.h"
#include "eval/split.h"
#include "model/registry.h"
#include "store/event_store.h"

namespace freshet::app {
namespace {

int Fail(const Status& status) {
  fmt::print(stderr, "freshet: error: {}\n", status.ToString());
  return 1;
}

Result<std::unique_ptr<store::EventStore>> OpenExisting(const std::string& dir) {
  store::StoreOptions options;
  options.must_exist = true;
  return store::EventStore::Open(options, dir);
}

Result<std::vector<int>> ParseKs(const std::string& text) {
  std::vector<int> ks;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string part = text.substr(start, end - start);
    int64_t k = 0;
    Status s = model::ParseInt("--k", part, 1, 100000, &k);
    if (!s.ok()) return s;
    ks.push_back(static_cast<int>(k));
    start = end + 1;
  }
  if (ks.empty()) return Status::InvalidArgument("--k needs at least one cutoff, e.g. 5,10,20");
  return ks;
}

}  // namespace

int RunTrain(const TrainFlags& f) {
  auto params = model::ParseParams(f.params);
  if (!params.ok()) return Fail(params.status());
  if (f.epochs > 0) params->emplace_back("epochs", std::to_string(f.epochs));
  auto created = model::CreateModel(f.model, *params);
  if (!created.ok()) return Fail(created.status());
  std::unique_ptr<model::Recommender> recommender = std::move(*created);

  auto store = OpenExisting(f.data);
  if (!store.ok()) return Fail(store.status());
  store::EventTable table;
  if (Status s = (*store)->LoadEventTable(&table); !s.ok()) return Fail(s);

  model::FitOptions fit;
  fit.threads = f.threads;
  fit.seed = f.seed;
  fit.progress = !f.quiet;
  model::ModelMeta meta;
  meta.kind = std::string(recommender->kind());
  meta.dataset = f.data;

  // With a protocol, training sees only the training part, and validation queries drive early
  // stopping; "none" fits on everything (for serving), with no validation.
  std::unique_ptr<eval::Split> split;
  model::UserSequences all_sequences;
  model::TrainData data;
  eval::TestCases validation;
  if (f.protocol == "none") {
    meta.protocol = "none";
    all_sequences = model::BuildSequences(table);
    data.table = &table;
    data.sequences = &all_sequences;
  } else {
    auto protocol = eval::ParseProtocol(f.protocol);
    if (!protocol.ok()) return Fail(protocol.status());
    auto made = eval::MakeSplit(table, *protocol);
    if (!made.ok()) return Fail(made.status());
    split = std::make_unique<eval::Split>(std::move(*made));
    meta.protocol = split->protocol.Name();
    data = split->train_data();
    validation = eval::ValidationCases(*split);
    if (validation.size() > 0) {
      fit.validate = [&](const model::Recommender& m) {
        eval::EvalOptions options;
        options.ks = {10};
        options.threads = f.threads;
        options.progress = false;
        auto r = eval::Evaluate(m, *split, validation, options);
        std::vector<std::pair<std::string, double>> out;
        if (r.ok()) {
          out = {{"NDCG@10", r->Metric("NDCG@10")}, {"HR@10", r->Metric("HR@10")}};
        }
        return out;
      };
    }
  }
  if (!f.quiet) {
    fmt::print(stderr, "train {} on {} ({} events, {} users, {} items), protocol {}\n", meta.kind,
               f.data, table.size(), table.num_users, table.num_items, meta.protocol);
  }
  if (Status s = recommender->Fit(data, fit, &meta.report); !s.ok()) return Fail(s);
  meta.item_fingerprint = model::ItemFingerprint(**store, recommender->num_items());

  std::string out = f.out;
  if (out.empty()) {
    out = (std::filesystem::path(f.data) / "models" / (meta.kind + ".fmdl")).string();
  }
  if (Status s = model::SaveModel(*recommender, meta, out); !s.ok()) return Fail(s);
  fmt::print(stderr, "trained {} in {:.1f} s", meta.kind, meta.report.seconds);
  if (!meta.report.epochs.empty()) {
    fmt::print(stderr, " ({} epochs, kept epoch {})", meta.report.epochs.size(),
               meta.report.best_epoch);
  }
  fmt::print(stderr, " -> {}\n", out);
  return 0;
}

// Evaluates one model file on the store; the result carries the model's training report.
// Splits already made for this run, by protocol name: comparing several models rebuilds nothing.
using SplitCache = std::map<std::string, eval::Split>;

Result<eval::EvalResult> EvaluateFile(const EvalFlags& f, const std::string& file,
                                      const store::EventStore& store,
                                      const store::EventTable& table, SplitCache& splits) {
  FRESHET_ASSIGN_OR_RETURN(model::LoadedModel loaded, model::LoadModel(file));
  FRESHET_RETURN_IF_ERROR(model::CheckModelMatchesStore(loaded.meta, store));
  const std::string protocol_name = f.protocol.empty() ? loaded.meta.protocol : f.protocol;
  if (protocol_name == "none") {
    return Status::FailedPrecondition(
        file + " was trained on all events (--protocol none), so any held-out test would be "
        "training data; retrain it with --protocol loo or temporal[:F] to evaluate it");
  }
  FRESHET_ASSIGN_OR_RETURN(eval::Protocol protocol, eval::ParseProtocol(protocol_name));
  if (protocol.Name() != loaded.meta.protocol) {
    return Status::FailedPrecondition(
        file + " was trained with protocol " + loaded.meta.protocol +
        ", whose training data includes " + protocol.Name() + "'s test events; evaluate with " +
        "--protocol " + loaded.meta.protocol + " or retrain with --protocol " + protocol.Name());
  }
  // The split is rebuilt from the store, so it must hold exactly the data the model saw.
  if (table.num_items != loaded.meta.num_items) {
    return Status::FailedPrecondition(
        "the store has " + std::to_string(table.num_items) + " items, " + file +
        " was trained on " + std::to_string(loaded.meta.num_items) +
        "; retrain it on the current data");
  }
  FRESHET_ASSIGN_OR_RETURN(eval::Candidates candidates, eval::ParseCandidates(f.candidates));
  FRESHET_ASSIGN_OR_RETURN(std::vector<int> ks, ParseKs(f.ks));
  auto cached = splits.find(protocol.Name());
  if (cached == splits.end()) {
    FRESHET_ASSIGN_OR_RETURN(eval::Split made, eval::MakeSplit(table, protocol));
    cached = splits.emplace(protocol.Name(), std::move(made)).first;
  }
  const eval::Split& split = cached->second;
  eval::EvalOptions options;
  options.candidates = candidates;
  options.ks = ks;
  options.threads = f.threads;
  options.seed = f.seed;
  options.dataset = f.data;
  options.model = loaded.meta.kind;
  options.progress = !f.quiet;
  FRESHET_ASSIGN_OR_RETURN(eval::EvalResult result,
                           eval::Evaluate(*loaded.model, split, options));
  result.train = loaded.meta.report;
  return result;
}

int RunEval(const EvalFlags& f) {
  auto store = OpenExisting(f.data);
  if (!store.ok()) return Fail(store.status());
  store::EventTable table;
  if (Status s = (*store)->LoadEventTable(&table); !s.ok()) return Fail(s);
  std::vector<eval::EvalResult> results;
  SplitCache splits;
  for (const std::string& file : f.model_files) {
    auto r = EvaluateFile(f, file, **store, table, splits);
    if (!r.ok()) return Fail(r.status());
    results.push_back(std::move(*r));
  }
  fmt::print("{}", eval::FormatComparisonTable(results));
  if (!f.json_out.empty()) {
    // One report, or an array of them when several models were compared.
    std::string json;
    if (results.size() == 1) {
      json = eval::ReportJson(results[0]);
    } else {
      json = "[";
      for (size_t i = 0; i < results.size(); ++i) {
        json += (i > 0 ? "," : "") + eval::ReportJson(results[i]);
      }
      json += "]";
    }
    if (Status s = eval::WriteReportFile(f.json_out, json + "\n"); !s.ok()) return Fail(s);
  }
  if (!f.html_out.empty()) {
    std::string html = results.size() == 1 ? eval::ReportHtml(results[0])
                                           : eval::ComparisonHtml(results);
    if (Status s = eval::WriteReportFile(f.html_out, html); !s.ok()) return Fail(s);
  }
  return 0;
}

int RunReplay(const ReplayFlags& f) {
  auto params = model::ParseParams(f.params);
  if (!params.ok()) return Fail(params.status());
  if (f.batch == 0) return Fail(Status::InvalidArgument("--batch must be at least 1"));
  if (f.windows < 1) return Fail(Status::InvalidArgument("--windows must be at least 1"));
  auto store = OpenExisting(f.data);
  if (!store.ok()) return Fail(store.status());
  store::EventTable table;
  if (Status s = (*store)->LoadEventTable(&table); !s.ok()) return Fail(s);
  eval::PrequentialOptions options;
  options.holdout = f.holdout;
  options.batch = f.batch;
  options.windows = f.windows;
  options.threads = f.threads;
  options.seed = f.seed;
  options.progress = !f.quiet;
  options.online.learning_rate = f.online_learning_rate;
  options.online.seed = f.seed;
  options.dataset = f.data;
  auto result = eval::RunPrequential(table, f.model, *params, options);
  if (!result.ok()) return Fail(result.status());
  const eval::PrequentialResult& r = *result;
  fmt::print("replay {} on {}: {} interactions after {}, {} test cases, micro-batches of {}\n",
             r.model, r.dataset, r.events, FormatTimestamp(r.cut_ts_ms), r.frozen.cases, r.batch);
  fmt::print("{:<8} {:>8} {:>8} {:>9}\n", "", "HR@10", "NDCG@10", "Recall@20");
  fmt::print("{:<8} {:>8.4f} {:>8.4f} {:>9.4f}\n", "frozen", r.frozen.hr10, r.frozen.ndcg10,
             r.frozen.recall20);
  fmt::print("{:<8} {:>8.4f} {:>8.4f} {:>9.4f}\n", "online", r.online.hr10, r.online.ndcg10,
             r.online.recall20);
  fmt::print("window  HR@10 frozen -> online\n");
  for (size_t i = 0; i < r.windows.size(); ++i) {
    fmt::print("{:>6}  {:.4f} -> {:.4f}\n", i + 1, r.windows[i].frozen.hr10,
               r.windows[i].online.hr10);
  }
  if (!f.json_out.empty()) {
    if (Status s = eval::WriteReportFile(f.json_out, eval::PrequentialJson(r) + "\n"); !s.ok()) {
      return Fail(s);
    }
  }
  if (!f.html_out.empty()) {
    if (Status s = eval::WriteReportFile(f.html_out, eval::PrequentialHtml(r)); !s.ok()) {
      return Fail(s);
    }
  }
  return 0;
}

}  // namespace freshet::app
