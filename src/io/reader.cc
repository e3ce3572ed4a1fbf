// Format dispatch and the bookkeeping every reader shares. The readers themselves live in
// csv_reader.cc, jsonl_reader.cc and dataset_readers.cc. Choices reader.h leaves open:
//  - csv, diginetica and onlineretail need a header, so an empty file fails at Open; jsonl, seq
//    and movielens have none, so an empty file is simply no records;
//  - Next() finishes the line it is on: a seq line with many items can take a batch past
//    max_records by the rest of that line;
//  - blank lines are skipped everywhere but still counted, so line numbers match an editor's.

#include "io/reader.h"

#include <array>

#include "io/reader_internal.h"
#include "io/text.h"

namespace freshet::io {
namespace {

constexpr std::array<std::pair<std::string_view, Format>, 6> kFormats = {{
    {"csv", Format::kCsv},
    {"jsonl", Format::kJsonl},
    {"seq", Format::kSeq},
    {"movielens", Format::kMovieLens},
    {"diginetica", Format::kDiginetica},
    {"onlineretail", Format::kOnlineRetail},
}};

}  // namespace

Result<Format> ParseFormat(std::string_view name) {
  for (const auto& [n, f] : kFormats) {
    if (n == name) return f;
  }
  std::string known;
  for (const auto& [n, f] : kFormats) {
    if (!known.empty()) known += ", ";
    known += n;
  }
  return Status::InvalidArgument("unknown input format '" + std::string(name) +
                                 "'; known formats: " + known);
}

std::string_view FormatName(Format format) {
  for (const auto& [n, f] : kFormats) {
    if (f == format) return n;
  }
  return "unknown";
}

Result<std::unique_ptr<EventReader>> EventReader::Open(Format format, const std::string& path,
                                                       const ReaderOptions& options) {
  FRESHET_ASSIGN_OR_RETURN(std::unique_ptr<LineReader> in, LineReader::Open(path));
  switch (format) {
    case Format::kCsv:
      return internal::OpenCsvEvents(std::move(in), options);
    case Format::kJsonl:
      return internal::OpenJsonlEvents(std::move(in), options);
    case Format::kSeq:
      return internal::OpenSeqEvents(std::move(in), options);
    case Format::kMovieLens:
      return internal::OpenMovieLensEvents(std::move(in), options);
    case Format::kDiginetica:
      return internal::OpenDigineticaEvents(std::move(in), options);
    case Format::kOnlineRetail:
      return internal::OpenOnlineRetailEvents(std::move(in), options);
  }
  return Status::InvalidArgument(path + ": unknown input format");
}

Result<std::unique_ptr<ItemReader>> ItemReader::Open(Format format, const std::string& path,
                                                     const ReaderOptions& options) {
  if (format != Format::kCsv && format != Format::kJsonl) {
    return Status::InvalidArgument(path + ": item catalogs are read from csv or jsonl, not " +
                                   std::string(FormatName(format)));
  }
  FRESHET_ASSIGN_OR_RETURN(std::unique_ptr<LineReader> in, LineReader::Open(path));
  if (format == Format::kCsv) return internal::OpenCsvItems(std::move(in), options);
  return internal::OpenJsonlItems(std::move(in), options);
}

namespace internal {

Result<std::vector<std::string>> ResolveFieldNames(std::span<const std::string_view> fields,
                                                   const ReaderOptions& options,
                                                   std::string_view kind) {
  std::vector<std::string> names(fields.begin(), fields.end());
  for (const auto& [field, column] : options.field_map) {
    size_t i = 0;
    while (i < fields.size() && fields[i] != field) ++i;
    if (i == fields.size()) {
      return Status::InvalidArgument("field_map: '" + field + "' is not an " + std::string(kind) +
                                     " field (" + JoinNames(fields) + ")");
    }
    names[i] = column;
  }
  for (size_t i = 0; i < names.size(); ++i) {
    for (size_t j = i + 1; j < names.size(); ++j) {
      if (names[i] == names[j]) {
        return Status::InvalidArgument("field_map: '" + std::string(fields[i]) + "' and '" +
                                       std::string(fields[j]) + "' both read column '" + names[i] +
                                       "'");
      }
    }
  }
  return names;
}

std::string JoinNames(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

Reject MakeReject(const std::string& file, int64_t line, std::string field, std::string reason,
                  std::string_view raw) {
  Reject r;
  r.file = file;
  r.line = line;
  r.field = std::move(field);
  r.reason = std::move(reason);
  r.raw = CutForReject(raw);
  return r;
}

EventReaderBase::EventReaderBase(std::unique_ptr<LineReader> in, const ReaderOptions& options)
    : in_(std::move(in)), options_(options), key_prefix_("src:" + options.source_id + ":") {}

Status EventReaderBase::Next(size_t max_records, Batch& batch) {
  batch.Clear();
  // Zero would return an empty batch, which means end of file; read at least one record.
  if (max_records == 0) max_records = 1;
  while (batch.records.size() + batch.rejects.size() < max_records) {
    bool eof = false;
    FRESHET_RETURN_IF_ERROR(ReadRecord(batch, eof));
    if (eof) break;
  }
  return Status::OK();
}

void EventReaderBase::AddReject(Batch& batch, int64_t line, std::string field, std::string reason,
                                std::string_view raw) const {
  batch.rejects.push_back(MakeReject(in_->path(), line, std::move(field), std::move(reason), raw));
}

bool EventReaderBase::AddEvent(Batch& batch, Event&& event, int64_t line, int64_t index,
                               std::string_view raw, FieldRenames renames) const {
  if (auto error = ValidateEvent(event)) {
    std::string field = std::move(error->field);
    for (const auto& [from, to] : renames) {
      if (field == from) {
        field = to;
        break;
      }
    }
    AddReject(batch, line, std::move(field), std::move(error->reason), raw);
    return false;
  }
  Record& record = batch.records.emplace_back();
  if (!event.event_id.empty()) {
    record.dedupe_key.reserve(3 + event.event_id.size());
    record.dedupe_key = "id:";
    record.dedupe_key += event.event_id;
  } else {
    record.dedupe_key.reserve(key_prefix_.size() + 24);
    record.dedupe_key = key_prefix_;
    AppendInt(line, record.dedupe_key);
    if (index >= 0) {
      record.dedupe_key += ':';
      AppendInt(index, record.dedupe_key);
    }
  }
  record.event = std::move(event);
  record.line = line;
  return true;
}

ItemReaderBase::ItemReaderBase(std::unique_ptr<LineReader> in, const ReaderOptions& options)
    : in_(std::move(in)), options_(options) {}

Status ItemReaderBase::Next(size_t max_records, Batch& batch) {
  batch.Clear();
  if (max_records == 0) max_records = 1;
  while (batch.items.size() + batch.rejects.size() < max_records) {
    bool eof = false;
    FRESHET_RETURN_IF_ERROR(ReadRecord(batch, eof));
    if (eof) break;
  }
  return Status::OK();
}

void ItemReaderBase::AddReject(Batch& batch, int64_t line, std::string field, std::string reason,
                               std::string_view raw) const {
  batch.rejects.push_back(MakeReject(in_->path(), line, std::move(field), std::move(reason), raw));
}

bool ItemReaderBase::AddItem(Batch& batch, Item&& item, int64_t line, std::string_view raw) const {
  if (auto error = ValidateItem(item)) {
    AddReject(batch, line, std::move(error->field), std::move(error->reason), raw);
    return false;
  }
  batch.items.push_back(std::move(item));
  return true;
}

}  // namespace internal
}  // namespace freshet::io
