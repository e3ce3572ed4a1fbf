#pragma once

// What the format readers share: field names, the way a record becomes a Record or a Reject, and
// the batch loop. Private to src/io; reader.h is the public face.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "io/csv.h"
#include "io/line_reader.h"
#include "io/reader.h"

namespace freshet::io::internal {

// Event fields by their names in csv headers and jsonl keys. Order is the enum's.
enum class EventField { kEventId, kTs, kUser, kItem, kType, kValue, kSession, kQuery };
inline constexpr std::string_view kEventFieldNames[] = {"event_id", "ts",    "user",    "item",
                                                        "type",     "value", "session", "query"};
inline constexpr int kNumEventFields = 8;

enum class ItemField { kId, kTitle, kCategory, kBrand, kPrice, kStock };
inline constexpr std::string_view kItemFieldNames[] = {"id",    "title", "category",
                                                       "brand", "price", "stock"};
inline constexpr int kNumItemFields = 6;

// The name each of `fields` has in the file: its own, or the one options.field_map gives it.
// InvalidArgument when the map names something that is not one of `fields` (`kind` is "event" or
// "item", for the message), or maps two fields to the same name.
Result<std::vector<std::string>> ResolveFieldNames(std::span<const std::string_view> fields,
                                                   const ReaderOptions& options,
                                                   std::string_view kind);

// "a, b, c": a header as the user wrote it, for error messages.
std::string JoinNames(std::span<const std::string_view> names);

// How an adapter with fixed column names calls the event fields that ValidateEvent reports, so a
// reject names the column the user sees (e.g. {"item", "StockCode"}).
using FieldRenames = std::span<const std::pair<std::string_view, std::string_view>>;

// The file, the options and the reject / record bookkeeping every event reader needs.
class EventReaderBase : public EventReader {
 public:
  EventReaderBase(std::unique_ptr<LineReader> in, const ReaderOptions& options);

  // Calls ReadRecord until the batch holds max_records records plus rejects or the file ends.
  Status Next(size_t max_records, Batch& batch) final;
  uint64_t bytes_read() const final { return in_->bytes_consumed(); }
  uint64_t bytes_total() const final { return in_->file_size(); }

 protected:
  // Reads one line or record of the file into `batch` (possibly nothing, for a blank line).
  // Sets eof at the end of the file. A non-OK status is an I/O failure.
  virtual Status ReadRecord(Batch& batch, bool& eof) = 0;

  // Appends a reject for `line`, with `raw` cut to 512 bytes.
  void AddReject(Batch& batch, int64_t line, std::string field, std::string reason,
                 std::string_view raw) const;

  // Validates `event` and appends it as a record (dedupe key from its event_id, else from the
  // line and, when index >= 0, the index within the line), or a reject naming the violated field,
  // renamed through `renames`. Returns whether it was accepted.
  bool AddEvent(Batch& batch, Event&& event, int64_t line, int64_t index, std::string_view raw,
                FieldRenames renames = {}) const;

  LineReader& in() { return *in_; }
  const ReaderOptions& options() const { return options_; }

 private:
  std::unique_ptr<LineReader> in_;
  ReaderOptions options_;
  std::string key_prefix_;  // "src:<source_id>:", precomputed because every record needs it
};

// As EventReaderBase, for catalog items (records land in batch.items).
class ItemReaderBase : public ItemReader {
 public:
  ItemReaderBase(std::unique_ptr<LineReader> in, const ReaderOptions& options);
  Status Next(size_t max_records, Batch& batch) final;

 protected:
  virtual Status ReadRecord(Batch& batch, bool& eof) = 0;
  void AddReject(Batch& batch, int64_t line, std::string field, std::string reason,
                 std::string_view raw) const;
  // Validates `item` and appends it or a reject.
  bool AddItem(Batch& batch, Item&& item, int64_t line, std::string_view raw) const;

  LineReader& in() { return *in_; }
  const ReaderOptions& options() const { return options_; }

 private:
  std::unique_ptr<LineReader> in_;
  ReaderOptions options_;
};

// The header of a csv-like file: its column names and where each wanted field sits.
struct CsvHeader {
  std::vector<std::string> columns;  // as written, blanks trimmed
  std::vector<int> field_column;     // per wanted name: its column index, or -1 when absent
  std::vector<int> column_field;     // per column: the wanted name's index, or -1
  int64_t line = 0;                  // the header's line number
};

// Reads the first non-blank record of `in` as a header and finds each of `names` in it.
// InvalidArgument (naming the file) when the file is empty, the header is malformed or not
// UTF-8, or one of `names` appears twice. A missing name is not an error here (field_column -1);
// the caller knows which are required.
Result<CsvHeader> ReadCsvHeader(LineReader& in, CsvSplitter& splitter,
                                std::span<const std::string> names);

// Reject for `file`: the one place that cuts raw text, so every reader cuts it the same way.
Reject MakeReject(const std::string& file, int64_t line, std::string field, std::string reason,
                  std::string_view raw);

// The format readers. Each takes an opened file and validates its header (if any) before
// returning.
Result<std::unique_ptr<EventReader>> OpenCsvEvents(std::unique_ptr<LineReader> in,
                                                   const ReaderOptions& options);
Result<std::unique_ptr<EventReader>> OpenJsonlEvents(std::unique_ptr<LineReader> in,
                                                     const ReaderOptions& options);
Result<std::unique_ptr<EventReader>> OpenSeqEvents(std::unique_ptr<LineReader> in,
                                                   const ReaderOptions& options);
Result<std::unique_ptr<EventReader>> OpenMovieLensEvents(std::unique_ptr<LineReader> in,
                                                         const ReaderOptions& options);
Result<std::unique_ptr<EventReader>> OpenDigineticaEvents(std::unique_ptr<LineReader> in,
                                                          const ReaderOptions& options);
Result<std::unique_ptr<EventReader>> OpenOnlineRetailEvents(std::unique_ptr<LineReader> in,
                                                            const ReaderOptions& options);
Result<std::unique_ptr<ItemReader>> OpenCsvItems(std::unique_ptr<LineReader> in,
                                                 const ReaderOptions& options);
Result<std::unique_ptr<ItemReader>> OpenJsonlItems(std::unique_ptr<LineReader> in,
                                                   const ReaderOptions& options);

}  // namespace freshet::io::internal
