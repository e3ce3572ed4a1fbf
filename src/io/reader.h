#pragma once

// Streaming readers that turn files into validated events (and catalog items). A record-level
// problem never stops a reader: it becomes a Reject naming file, line, field and reason, and the
// reader moves on. Only an unreadable file is an error Status.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace freshet::io {

enum class Format {
  kCsv,           // header row names the event fields; other columns become context
  kJsonl,         // one JSON object per line, keys are the event fields
  kSeq,           // "user item item ..." per line, time order, no timestamps (Amazon / ICLRec)
  kMovieLens,     // u.data (tab: user item rating ts) or ratings.dat (user::item::rating::ts)
  kDiginetica,    // session_id;user_id;item_id;timeframe;eventdate
  kOnlineRetail,  // UCI Online Retail CSV, Latin-1
};

// "csv", "jsonl", "seq", "movielens", "diginetica", "onlineretail".
Result<Format> ParseFormat(std::string_view name);
std::string_view FormatName(Format format);

struct ReaderOptions {
  // Column / key name in the file for an event field, e.g. {"ts","timestamp"}, {"user","visitorid"}
  // (csv and jsonl only). Fields not listed use their own name.
  std::vector<std::pair<std::string, std::string>> field_map;

  // Event type for csv / jsonl files that have no type column. nullopt: the column is required.
  std::optional<EventType> default_type;

  // Identity of the source used in dedupe keys of records without an event_id; the caller
  // passes the file's canonical path so that re-running the same command yields the same keys.
  std::string source_id;

  // seq: the synthetic timestamp of a line's first event, and the step between its events.
  int64_t seq_start_ms = 946684800000LL;  // 2000-01-01T00:00:00Z
  int64_t seq_step_ms = 1000;

  // csv: the field separator (csv only; the adapters know their own).
  char csv_delimiter = ',';
};

// One accepted record.
struct Record {
  Event event;
  // "id:<event_id>" when the record has an event_id, else "src:<source_id>:<line>[:<index>]"
  // (index for formats with several events per line). Equal keys mean the same event.
  std::string dedupe_key;
  int64_t line = 0;  // 1-based line number in the file
};

// One rejected record.
struct Reject {
  std::string file;
  int64_t line = 0;    // 1-based
  std::string field;   // event field (or column) at fault; empty when the whole line is bad
  std::string reason;  // what is wrong, phrased so the file's author can fix it
  std::string raw;     // the offending line, cut to 512 bytes
};

// What one call to Next() produced. Cleared by Next().
struct Batch {
  std::vector<Record> records;
  std::vector<Item> items;  // catalog entries a format carries (onlineretail descriptions)
  std::vector<Reject> rejects;
  void Clear() {
    records.clear();
    items.clear();
    rejects.clear();
  }
};

class EventReader {
 public:
  virtual ~EventReader() = default;

  // Opens `path` for `format`. Returns NotFound / IOError when the file cannot be opened, and
  // InvalidArgument when its header is unusable (e.g. a csv with no user column), naming it.
  static Result<std::unique_ptr<EventReader>> Open(Format format, const std::string& path,
                                                   const ReaderOptions& options);

  // Reads on until `max_records` records (accepted plus rejected) are in `batch` or the file ends.
  // Returns OK with an empty batch at end of file; IOError on a read failure.
  virtual Status Next(size_t max_records, Batch& batch) = 0;

  // Bytes consumed so far and the file size, for progress reporting.
  virtual uint64_t bytes_read() const = 0;
  virtual uint64_t bytes_total() const = 0;
};

// Reads a catalog file (csv with a header, or jsonl) of items: id, title, category, brand, price,
// stock; other columns / keys become attrs. `field_map` maps as for events.
class ItemReader {
 public:
  virtual ~ItemReader() = default;
  static Result<std::unique_ptr<ItemReader>> Open(Format format, const std::string& path,
                                                  const ReaderOptions& options);
  // As EventReader::Next; records land in batch.items.
  virtual Status Next(size_t max_records, Batch& batch) = 0;
};

}  // namespace freshet::io
