#include "model_commands.h"

#include <fmt/core.h>

#include <filesystem>

#include "eval/evaluator.h"
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

int RunEval(const EvalFlags& f) {
  auto loaded = model::LoadModel(f.model_file);
  if (!loaded.ok()) return Fail(loaded.status());
  auto store = OpenExisting(f.data);
  if (!store.ok()) return Fail(store.status());
  if (Status s = model::CheckModelMatchesStore(loaded->meta, **store); !s.ok()) return Fail(s);

  const std::string protocol_name = f.protocol.empty() ? loaded->meta.protocol : f.protocol;
  if (protocol_name == "none") {
    return Fail(Status::FailedPrecondition(
        "the model was trained on all events (--protocol none), so any held-out test would be "
        "training data; retrain it with --protocol loo or temporal[:F] to evaluate it"));
  }
  auto protocol = eval::ParseProtocol(protocol_name);
  if (!protocol.ok()) return Fail(protocol.status());
  if (protocol->Name() != loaded->meta.protocol) {
    return Fail(Status::FailedPrecondition(
        "the model was trained with protocol " + loaded->meta.protocol +
        ", whose training data includes " + protocol->Name() +
        "'s test events; evaluate with --protocol " + loaded->meta.protocol +
        " or retrain with --protocol " + protocol->Name()));
  }
  auto candidates = eval::ParseCandidates(f.candidates);
  if (!candidates.ok()) return Fail(candidates.status());
  auto ks = ParseKs(f.ks);
  if (!ks.ok()) return Fail(ks.status());

  store::EventTable table;
  if (Status s = (*store)->LoadEventTable(&table); !s.ok()) return Fail(s);
  // The split is rebuilt from the store, so it must hold exactly the data the model saw.
  if (table.num_items != loaded->meta.num_items) {
    return Fail(Status::FailedPrecondition(
        "the store has " + std::to_string(table.num_items) + " items, the model was trained on " +
        std::to_string(loaded->meta.num_items) + "; retrain it on the current data"));
  }
  auto split = eval::MakeSplit(table, *protocol);
  if (!split.ok()) return Fail(split.status());

  eval::EvalOptions options;
  options.candidates = *candidates;
  options.ks = *ks;
  options.threads = f.threads;
  options.seed = f.seed;
  options.dataset = f.data;
  options.model = loaded->meta.kind;
  options.progress = !f.quiet;
  auto result = eval::Evaluate(*loaded->model, *split, options);
  if (!result.ok()) return Fail(result.status());
  result->train = loaded->meta.report;

  fmt::print("{}", eval::FormatComparisonTable({*result}));
  if (!f.json_out.empty()) {
    if (Status s = eval::WriteReportFile(f.json_out, eval::ReportJson(*result) + "\n"); !s.ok()) {
      return Fail(s);
    }
  }
  if (!f.html_out.empty()) {
    if (Status s = eval::WriteReportFile(f.html_out, eval::ReportHtml(*result)); !s.ok()) {
      return Fail(s);
    }
  }
  return 0;
}

}  // namespace freshet::app
