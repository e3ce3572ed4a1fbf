// freshet: flags -> options -> wire modules -> run. Only this file exits the process.

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/json_writer.h"
#include "core/status.h"
#include "core/time.h"
#include "ingest/ingest.h"
#include "model/registry.h"
#include "ctr_commands.h"
#include "model_commands.h"
#include "serve_command.h"
#include "io/reader.h"
#include "sim/simulator.h"
#include "store/event_store.h"
#include "store/stats.h"

namespace freshet {
namespace {

constexpr const char* kDefaultDataDir = "./freshet-data";

// Exit codes: 0 success, 1 the command failed, 2 bad command line (CLI11's own).
int Fail(const Status& status) {
  fmt::print(stderr, "freshet: error: {}\n", status.ToString());
  return 1;
}

// "ts=timestamp,user=visitorid" -> {{"ts","timestamp"},{"user","visitorid"}}.
Result<std::vector<std::pair<std::string, std::string>>> ParseFieldMap(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> map;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string entry = text.substr(start, end - start);
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
      return Status::InvalidArgument("--map entry '" + entry +
                                     "' is not FIELD=COLUMN (e.g. --map ts=timestamp,user=visitorid)");
    }
    map.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
    start = end + 1;
  }
  return map;
}

// --format given, or inferred from the first file's extension.
Result<io::Format> ResolveFormat(const std::string& flag, const std::vector<std::string>& files) {
  if (!flag.empty()) return io::ParseFormat(flag);
  std::string ext = std::filesystem::path(files.front()).extension().string();
  if (ext == ".csv") return io::Format::kCsv;
  if (ext == ".jsonl" || ext == ".json" || ext == ".ndjson") return io::Format::kJsonl;
  return Status::InvalidArgument("cannot tell the format of '" + files.front() +
                                 "' from its name; pass --format csv|jsonl|seq|movielens|"
                                 "diginetica|onlineretail");
}

struct IngestFlags {
  std::string data = kDefaultDataDir;
  std::string format;
  std::string map;
  std::string default_type;
  std::string durability = "batch";
  int64_t max_errors = -1;
  size_t batch_size = 8192;
  bool json = false;
  bool quiet = false;
  std::vector<std::string> files;
};

Result<ingest::IngestOptions> MakeIngestOptions(const IngestFlags& f) {
  ingest::IngestOptions options;
  FRESHET_ASSIGN_OR_RETURN(options.reader.field_map, ParseFieldMap(f.map));
  FRESHET_ASSIGN_OR_RETURN(options.format, ResolveFormat(f.format, f.files));
  if (!f.default_type.empty()) {
    options.reader.default_type = ParseEventType(f.default_type);
    if (!options.reader.default_type) {
      return Status::InvalidArgument("--type '" + f.default_type + "' is not an event type");
    }
  }
  if (f.batch_size == 0) return Status::InvalidArgument("--batch-size must be at least 1");
  options.batch_size = f.batch_size;
  options.max_errors = f.max_errors;
  options.rejects_path = ingest::DefaultRejectsPath(f.data);
  options.progress = !f.quiet;
  return options;
}

Result<std::unique_ptr<store::EventStore>> OpenStore(const std::string& dir,
                                                     const std::string& durability,
                                                     bool must_exist) {
  store::StoreOptions options;
  FRESHET_ASSIGN_OR_RETURN(options.durability, store::ParseDurability(durability));
  options.must_exist = must_exist;
  return store::EventStore::Open(options, dir);
}

void PrintSummary(const ingest::IngestSummary& s, std::string_view what) {
  fmt::print(stderr, "{}: {} accepted, {} duplicates, {} rejected in {:.2f} s ({:.0f} {}/s)\n",
             what, s.accepted, s.duplicates, s.rejected, s.seconds, s.events_per_s(), what);
  if (!s.rejects_path.empty()) fmt::print(stderr, "rejected records: {}\n", s.rejects_path);
}

int RunIngest(const IngestFlags& f, bool items) {
  auto options = MakeIngestOptions(f);
  if (!options.ok()) return Fail(options.status());
  auto store = OpenStore(f.data, f.durability, /*must_exist=*/false);
  if (!store.ok()) return Fail(store.status());
  ingest::IngestSummary summary;
  Status s = items ? ingest::IngestItems(**store, f.files, *options, std::cerr, &summary)
                   : ingest::IngestEvents(**store, f.files, *options, std::cerr, &summary);
  Status synced = (*store)->Sync();
  if (s.ok()) s = synced;
  PrintSummary(summary, items ? "items" : "events");
  if (f.json) fmt::print("{}\n", summary.ToJson());
  return s.ok() ? 0 : Fail(s);
}

int RunStats(const std::string& data, bool json, size_t top) {
  auto store = OpenStore(data, "batch", /*must_exist=*/true);
  if (!store.ok()) return Fail(store.status());
  store::EventTable table;
  Status s = (*store)->LoadEventTable(&table);
  if (!s.ok()) return Fail(s);
  auto stats = store::ComputeStats(**store, table, top);
  if (!stats.ok()) return Fail(stats.status());
  if (json) {
    fmt::print("{}\n", stats->ToJson());
  } else {
    fmt::print("store {}\n{}", data, stats->ToText());
  }
  return 0;
}

int RunSimulate(const sim::SimOptions& options, const std::string& out, bool json) {
  const auto start = std::chrono::steady_clock::now();
  auto summary = sim::WriteShop(options, out);
  if (!summary.ok()) return Fail(summary.status());
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (json) {
    JsonWriter w;
    w.BeginObject()
        .Key("events").Int(summary->events)
        .Key("users").Int(summary->users)
        .Key("items").Int(summary->items)
        .Key("sessions").Int(summary->sessions)
        .Key("seconds").Double(seconds)
        .Key("by_type").BeginObject();
    for (int t = 0; t < kNumEventTypes; ++t) {
      w.Key(EventTypeName(static_cast<EventType>(t))).Int(summary->by_type[t]);
    }
    w.EndObject().EndObject();
    fmt::print("{}\n", w.str());
    return 0;
  }
  fmt::print(stderr, "wrote {}/events.csv and {}/items.csv in {:.1f} s\n", out, out, seconds);
  fmt::print(stderr, "  {} events, {} users, {} items, {} sessions, {} .. {}\n  ", summary->events,
             summary->users, summary->items, summary->sessions,
             FormatTimestamp(summary->first_ts_ms), FormatTimestamp(summary->last_ts_ms));
  for (int t = 0; t < kNumEventTypes; ++t) {
    fmt::print(stderr, "{}={} ", EventTypeName(static_cast<EventType>(t)), summary->by_type[t]);
  }
  fmt::print(stderr, "\n");
  return 0;
}

void AddIngestFlags(CLI::App* cmd, IngestFlags& f, bool items) {
  cmd->add_option("--data", f.data, "data directory")->capture_default_str();
  cmd->add_option("--format", f.format,
                  items ? "csv or jsonl (default: from the file extension)"
                        : "csv, jsonl, seq, movielens, diginetica or onlineretail "
                          "(default: from the file extension)");
  cmd->add_option("--map", f.map,
                  "FIELD=COLUMN,... when the file's column names differ from the field names");
  cmd->add_option("--durability", f.durability, "sync, batch or none")->capture_default_str();
  cmd->add_option("--max-errors", f.max_errors,
                  "stop once more records than this are rejected (-1: never)")
      ->capture_default_str();
  cmd->add_option("--batch-size", f.batch_size, "records per store write")->capture_default_str();
  cmd->add_flag("--json", f.json, "print a JSON summary on stdout");
  cmd->add_flag("--quiet", f.quiet, "no progress output");
  cmd->add_option("files", f.files, "input files")->required();
  if (!items) {
    cmd->add_option("--type", f.default_type,
                    "event type for csv/jsonl files without a type column");
  }
}

int Main(int argc, char** argv) {
  CLI::App app{"freshet: learn from a shop's events and serve recommendations"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "freshet 0.1.0");

  sim::SimOptions sim_options;
  std::string sim_out = "./freshet-sim";
  bool sim_json = false;
  auto* simulate = app.add_subcommand("simulate", "generate a synthetic shop (events.csv, items.csv)");
  simulate->add_option("--users", sim_options.users, "users")->capture_default_str();
  simulate->add_option("--items", sim_options.items, "items")->capture_default_str();
  simulate->add_option("--days", sim_options.days, "days of traffic")->capture_default_str();
  simulate->add_option("--seed", sim_options.seed, "random seed")->capture_default_str();
  simulate->add_option("--out", sim_out, "output directory")->capture_default_str();
  simulate->add_flag("--json", sim_json, "print a JSON summary on stdout");

  IngestFlags ingest_flags;
  auto* ingest_cmd = app.add_subcommand("ingest", "validate events from files into the store");
  AddIngestFlags(ingest_cmd, ingest_flags, /*items=*/false);

  IngestFlags items_flags;
  auto* items_cmd = app.add_subcommand("items", "load an item catalog (csv / jsonl) into the store");
  AddIngestFlags(items_cmd, items_flags, /*items=*/true);

  std::string stats_data = kDefaultDataDir;
  bool stats_json = false;
  size_t stats_top = 10;
  auto* stats = app.add_subcommand("stats", "counts, time span, events by type, top items");
  stats->add_option("--data", stats_data, "data directory")->capture_default_str();
  stats->add_flag("--json", stats_json, "print JSON on stdout");
  stats->add_option("--top", stats_top, "how many top items")->capture_default_str();

  app::TrainFlags train_flags;
  std::string kinds;
  for (std::string_view k : model::ModelKinds()) kinds += (kinds.empty() ? "" : "|") + std::string(k);
  auto* train = app.add_subcommand("train", "train a recommendation model on the store's events");
  train->add_option("--data", train_flags.data, "data directory")->capture_default_str();
  train->add_option("--model", train_flags.model, kinds)->required();
  train->add_option("--param", train_flags.params,
                    "model options KEY=VALUE,... (an unknown key lists the known ones)");
  train->add_option("--epochs", train_flags.epochs, "most epochs (models that train in epochs)");
  train->add_option("--threads", train_flags.threads, "worker threads (0: one per core)")
      ->capture_default_str();
  train->add_option("--seed", train_flags.seed, "random seed")->capture_default_str();
  train->add_option("--protocol", train_flags.protocol,
                    "what to hold out: loo, temporal[:F], or none to train on everything")
      ->capture_default_str();
  train->add_option("--out", train_flags.out, "model file (default DATA/models/KIND.fmdl)");
  train->add_flag("--quiet", train_flags.quiet, "no progress output");
  app::CtrTrainFlags ctr_train_flags;
  app::AddCtrTrainFlags(train, ctr_train_flags);

  app::EvalFlags eval_flags;
  auto* eval = app.add_subcommand("eval", "evaluate a model on the held-out events");
  eval->add_option("--data", eval_flags.data, "data directory")->capture_default_str();
  eval->add_option("--model", eval_flags.model_files,
                   "model file; repeat to compare several in one table")
      ->required();
  eval->add_option("--protocol", eval_flags.protocol,
                   "loo or temporal[:F] (default: the protocol the model was trained with)");
  eval->add_option("--candidates", eval_flags.candidates,
                   "full (rank the catalog) or sampled:N (the target and N random negatives)")
      ->capture_default_str();
  eval->add_option("--k", eval_flags.ks, "cutoffs")->capture_default_str();
  eval->add_option("--threads", eval_flags.threads, "worker threads (0: one per core)")
      ->capture_default_str();
  eval->add_option("--seed", eval_flags.seed, "seed of sampled negatives")->capture_default_str();
  eval->add_option("--json", eval_flags.json_out,
                   "write the report as JSON (an array of reports for several models)");
  eval->add_option("--html", eval_flags.html_out,
                   "write a self-contained HTML report (a comparison for several models)");
  eval->add_flag("--quiet", eval_flags.quiet, "no progress output");
  app::CtrEvalFlags ctr_eval_flags;
  app::AddCtrEvalFlags(eval, ctr_eval_flags);

  app::ReplayFlags replay_flags;
  auto* replay = app.add_subcommand(
      "replay", "prequential replay: fit before a time cut, then walk the rest event by event, "
                "frozen and learning online");
  replay->add_option("--data", replay_flags.data, "data directory")->capture_default_str();
  replay->add_option("--model", replay_flags.model, "model kind: pop, swing, itemknn, bpr, sasrec")
      ->required();
  replay->add_option("--param", replay_flags.params, "model options, k=v[,k=v...]");
  replay->add_option("--holdout", replay_flags.holdout,
                     "share of interactions (by time) walked after the offline fit")
      ->capture_default_str();
  replay->add_option("--batch", replay_flags.batch,
                     "events per online micro-batch (scored before, learned after)")
      ->capture_default_str();
  replay->add_option("--windows", replay_flags.windows, "report windows over time")
      ->capture_default_str();
  replay->add_option("--online-learning-rate", replay_flags.online_learning_rate,
                     "step size of the online updates (0: the model's default)")
      ->capture_default_str();
  replay->add_option("--threads", replay_flags.threads, "worker threads (0: one per core)")
      ->capture_default_str();
  replay->add_option("--seed", replay_flags.seed, "seed of the fit and the online steps")
      ->capture_default_str();
  replay->add_option("--json", replay_flags.json_out, "write the result as JSON");
  replay->add_option("--html", replay_flags.html_out, "write an HTML report (inline SVG)");
  replay->add_flag("--quiet", replay_flags.quiet, "no progress output");

  app::ServeFlags serve_flags;
  auto* serve = app.add_subcommand("serve", "serve recommendations and accept events over HTTP");
  serve->add_option("--data", serve_flags.data, "data directory")->capture_default_str();
  serve->add_option("--model", serve_flags.model_files,
                    "model file to serve; repeat for several (the first is primary)");
  serve->add_option("--rank", serve_flags.rank_files,
                    "shop ranking model to serve (freshet train --task click|cart|buy); repeat, "
                    "one per target");
  serve->add_option("--bind", serve_flags.bind, "address to listen on")->capture_default_str();
  serve->add_option("--port", serve_flags.port, "port (0: any free port)")->capture_default_str();
  serve->add_option("--threads", serve_flags.threads, "server threads (0: one per core)")
      ->capture_default_str();
  serve->add_option("--api-keys", serve_flags.api_keys_file,
                    "file of 'ROLE KEY' lines (roles: read, write, admin); FRESHET_API_KEYS="
                    "'ROLE:KEY,...' adds more");
  serve->add_flag("--insecure-no-auth", serve_flags.insecure_no_auth,
                  "accept requests without an API key (loopback testing only)");
  serve->add_option("--durability", serve_flags.durability,
                    "when POST /v1/events answers: sync (fsynced) or batch (in the WAL, fsynced "
                    "every 200 ms)")
      ->capture_default_str();
  serve->add_option("--max-k", serve_flags.max_k, "largest k a request may ask for")
      ->capture_default_str();
  serve->add_option("--index", serve_flags.index,
                    "retrieval for vector models: auto (exact below --exact-below items, else "
                    "HNSW), exact or hnsw")
      ->capture_default_str();
  serve->add_option("--exact-below", serve_flags.exact_below,
                    "with --index auto: catalogs smaller than this are scanned exactly")
      ->capture_default_str();
  serve->add_option("--hnsw-ef", serve_flags.hnsw_ef,
                    "HNSW search beam width (recall against latency)")
      ->capture_default_str();
  serve->add_option("--hnsw-m", serve_flags.hnsw_m, "HNSW links per node")->capture_default_str();
  serve->add_option("--body-limit-mb", serve_flags.body_limit_mb, "largest request body, MiB")
      ->capture_default_str();
  serve->add_option("--read-timeout", serve_flags.read_timeout_s,
                    "seconds a request may take to arrive (also the keep-alive idle limit)")
      ->capture_default_str();
  serve->add_option("--port-file", serve_flags.port_file,
                    "write the port to this file once listening");
  serve->add_flag("--no-online-learning", serve_flags.no_online_learning,
                  "serve the models as loaded (by default they keep learning from accepted events)");
  serve->add_option("--online-batch", serve_flags.online_batch,
                    "events per online learning step at most")
      ->capture_default_str();
  serve->add_option("--online-publish-ms", serve_flags.online_publish_ms,
                    "how often the learned models replace the served ones")
      ->capture_default_str();
  serve->add_option("--online-admit-after", serve_flags.online_admit_after,
                    "interactions before a new item gets a row in the models")
      ->capture_default_str();
  serve->add_option("--online-expire-days", serve_flags.online_expire_days,
                    "items learned online and unseen this long (event time) leave the ranking, "
                    "and the ranker's feature ids unseen as long lose their own rows; 0 never")
      ->capture_default_str();
  serve->add_option("--online-learning-rate", serve_flags.online_learning_rate,
                    "online step size (0: each model's default)")
      ->capture_default_str();
  serve->add_option("--snapshot-dir", serve_flags.snapshot_dir,
                    "where learned models are snapshotted for restarts (default DATA/snapshots)");
  serve->add_option("--snapshot-interval-s", serve_flags.snapshot_interval_s,
                    "seconds between snapshots of the learned models")
      ->capture_default_str();
  serve->add_flag("--quiet", serve_flags.quiet, "less output");
  app::AddServeStreamFlags(serve, &serve_flags);

  app::QuantizeFlags quantize_flags;
  CLI::App* quantize = nullptr;
  app::AddQuantizeCommand(&app, quantize_flags, &quantize);

  CLI11_PARSE(app, argc, argv);

  if (simulate->parsed()) return RunSimulate(sim_options, sim_out, sim_json);
  if (ingest_cmd->parsed()) return RunIngest(ingest_flags, /*items=*/false);
  if (items_cmd->parsed()) return RunIngest(items_flags, /*items=*/true);
  if (stats->parsed()) return RunStats(stats_data, stats_json, stats_top);
  if (train->parsed()) return app::DispatchTrain(ctr_train_flags, train_flags);
  if (eval->parsed()) return app::DispatchEval(ctr_eval_flags, eval_flags);
  if (replay->parsed()) return app::RunReplay(replay_flags);
  if (serve->parsed()) return app::RunServe(serve_flags);
  if (quantize->parsed()) return app::RunQuantize(quantize_flags);
  return 2;
}

}  // namespace
}  // namespace freshet

int main(int argc, char** argv) {
  try {
    return freshet::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "freshet: internal error: %s\n", e.what());
    return 1;
  }
}
