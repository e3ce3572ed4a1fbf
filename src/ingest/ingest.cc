#include "ingest/ingest.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>

#include "core/json_writer.h"
#include "core/progress.h"

namespace freshet::ingest {
namespace {

using Clock = std::chrono::steady_clock;

// Writes rejects to the console (the first few) and to the rejects file (all of them).
class RejectSink {
 public:
  RejectSink(const IngestOptions& options, std::ostream& errors, IngestSummary* summary)
      : options_(options), errors_(errors), summary_(summary) {}

  Status Add(const io::Reject& r) {
    ++summary_->rejected;
    if (static_cast<int64_t>(summary_->rejected) <= options_.print_rejects) {
      errors_ << r.file << ":" << r.line << ": ";
      if (!r.field.empty()) errors_ << "field '" << r.field << "': ";
      errors_ << r.reason << "\n";
    } else if (static_cast<int64_t>(summary_->rejected) == options_.print_rejects + 1) {
      errors_ << "... further rejects are only written to " << options_.rejects_path << "\n";
    }
    if (options_.rejects_path.empty()) return Status::OK();
    if (!out_.is_open()) {
      std::error_code ec;
      std::filesystem::create_directories(
          std::filesystem::path(options_.rejects_path).parent_path(), ec);
      out_.open(options_.rejects_path, std::ios::app);
      if (!out_) return Status::IOError("cannot write rejects file " + options_.rejects_path);
      summary_->rejects_path = options_.rejects_path;
    }
    JsonWriter w;
    w.BeginObject()
        .Key("file").String(r.file)
        .Key("line").Int(r.line)
        .Key("field").String(r.field)
        .Key("reason").String(r.reason)
        .Key("raw").String(r.raw)
        .EndObject();
    out_ << w.str() << '\n';
    if (!out_) return Status::IOError("cannot write rejects file " + options_.rejects_path);
    return Status::OK();
  }

  Status CheckLimit() const {
    if (options_.max_errors >= 0 && static_cast<int64_t>(summary_->rejected) > options_.max_errors) {
      return Status::ResourceExhausted(
          "stopped: " + std::to_string(summary_->rejected) + " records rejected, more than " +
          "--max-errors " + std::to_string(options_.max_errors) +
          (options_.rejects_path.empty() ? std::string() : "; see " + options_.rejects_path));
    }
    return Status::OK();
  }

  void Flush() {
    if (out_.is_open()) out_.flush();
  }

 private:
  const IngestOptions& options_;
  std::ostream& errors_;
  IngestSummary* summary_;
  std::ofstream out_;
};

std::string CanonicalSource(const std::string& path) {
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(path, ec);
  return ec ? path : canonical.string();
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

std::string IngestSummary::ToJson() const {
  JsonWriter w;
  w.BeginObject()
      .Key("accepted").Uint(accepted)
      .Key("duplicates").Uint(duplicates)
      .Key("rejected").Uint(rejected)
      .Key("items").Uint(items)
      .Key("seconds").Double(seconds)
      .Key("events_per_s").Double(events_per_s());
  if (!rejects_path.empty()) w.Key("rejects_file").String(rejects_path);
  w.EndObject();
  return w.Take();
}

std::string DefaultRejectsPath(const std::string& data_dir) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
  return (std::filesystem::path(data_dir) / "rejects" /
          (std::string(stamp) + "-" + std::to_string(::getpid()) + ".jsonl"))
      .string();
}

Status IngestEvents(store::EventStore& store, const std::vector<std::string>& files,
                    const IngestOptions& options, std::ostream& errors, IngestSummary* summary) {
  const auto start = Clock::now();
  RejectSink rejects(options, errors, summary);
  Status status;
  io::Batch batch;
  std::vector<Event> events;
  std::vector<std::string> keys;
  for (const std::string& file : files) {
    io::ReaderOptions reader_options = options.reader;
    reader_options.source_id = CanonicalSource(file);
    auto reader = io::EventReader::Open(options.format, file, reader_options);
    if (!reader.ok()) {
      status = reader.status();
      break;
    }
    Progress progress("ingest " + std::filesystem::path(file).filename().string(),
                      (*reader)->bytes_total(), "events", options.progress);
    while (status.ok()) {
      status = (*reader)->Next(options.batch_size, batch);
      if (!status.ok()) break;
      if (batch.records.empty() && batch.rejects.empty() && batch.items.empty()) break;
      for (const io::Reject& r : batch.rejects) {
        status = rejects.Add(r);
        if (!status.ok()) break;
      }
      if (!status.ok()) break;
      if (!batch.items.empty()) {
        status = store.PutItems(batch.items);
        if (!status.ok()) break;
        summary->items += batch.items.size();
      }
      events.clear();
      keys.clear();
      for (io::Record& r : batch.records) {
        events.push_back(std::move(r.event));
        keys.push_back(std::move(r.dedupe_key));
      }
      store::AppendStats stats;
      status = store.Append(events, keys, &stats);
      if (!status.ok()) break;
      summary->accepted += stats.accepted;
      summary->duplicates += stats.duplicates;
      progress.Update((*reader)->bytes_read(), summary->accepted + summary->duplicates);
      status = rejects.CheckLimit();
    }
    progress.Finish();
    if (!status.ok()) break;
  }
  rejects.Flush();
  summary->seconds = SecondsSince(start);
  return status;
}

Status IngestItems(store::EventStore& store, const std::vector<std::string>& files,
                   const IngestOptions& options, std::ostream& errors, IngestSummary* summary) {
  const auto start = Clock::now();
  RejectSink rejects(options, errors, summary);
  Status status;
  io::Batch batch;
  for (const std::string& file : files) {
    io::ReaderOptions reader_options = options.reader;
    reader_options.source_id = CanonicalSource(file);
    auto reader = io::ItemReader::Open(options.format, file, reader_options);
    if (!reader.ok()) {
      status = reader.status();
      break;
    }
    while (status.ok()) {
      status = (*reader)->Next(options.batch_size, batch);
      if (!status.ok()) break;
      if (batch.items.empty() && batch.rejects.empty()) break;
      for (const io::Reject& r : batch.rejects) {
        status = rejects.Add(r);
        if (!status.ok()) break;
      }
      if (!status.ok()) break;
      if (!batch.items.empty()) {
        status = store.PutItems(batch.items);
        if (!status.ok()) break;
        summary->items += batch.items.size();
        summary->accepted += batch.items.size();
      }
      status = rejects.CheckLimit();
    }
    if (!status.ok()) break;
  }
  rejects.Flush();
  summary->seconds = SecondsSince(start);
  return status;
}

}  // namespace freshet::ingest
