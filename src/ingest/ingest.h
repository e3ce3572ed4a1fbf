#pragma once

// The ingest pipeline: files -> readers -> validated records -> the event store, with rejects
// reported and written to a file, and a summary. Shared by `freshet ingest` and `freshet items`.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/reader.h"
#include "store/event_store.h"

namespace freshet::ingest {

struct IngestOptions {
  io::Format format = io::Format::kCsv;
  io::ReaderOptions reader;  // field_map and default_type; source_id is set per file
  // Events per store write. Larger batches amortise the write; each is acknowledged at once.
  size_t batch_size = 8192;
  // Stop (with an error) once more than this many records were rejected; < 0: never stop.
  int64_t max_errors = -1;
  // Where rejected records go, one JSON object per line; created on the first reject.
  std::string rejects_path;
  // How many rejects are also printed to the error stream; the rest only go to the file.
  int64_t print_rejects = 20;
  bool progress = true;  // progress on stderr
};

struct IngestSummary {
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t items = 0;  // catalog entries written (formats that carry them, and `items`)
  double seconds = 0;
  std::string rejects_path;  // empty when nothing was rejected
  double events_per_s() const { return seconds > 0 ? (accepted + duplicates) / seconds : 0; }
  // {"accepted":…, "duplicates":…, "rejected":…, "items":…, "seconds":…, "events_per_s":…}
  std::string ToJson() const;
};

// Reads every file in order into `store`. Each reject is printed to `errors` (up to
// options.print_rejects) as "FILE:LINE: field 'F': REASON" and written to options.rejects_path.
// Returns OK when every file was read (rejects do not make it fail); NotFound / IOError for a file
// that cannot be read, InvalidArgument for an unusable header, ResourceExhausted when
// options.max_errors was exceeded. In every case `summary` counts what was done, and every event
// counted as accepted is durable in the store.
Status IngestEvents(store::EventStore& store, const std::vector<std::string>& files,
                    const IngestOptions& options, std::ostream& errors, IngestSummary* summary);

// As IngestEvents, for catalog files (csv / jsonl of items).
Status IngestItems(store::EventStore& store, const std::vector<std::string>& files,
                   const IngestOptions& options, std::ostream& errors, IngestSummary* summary);

// "DIR/rejects/20261122T054413Z-<pid>.jsonl": a unique name for one run's rejects.
std::string DefaultRejectsPath(const std::string& data_dir);

}  // namespace freshet::ingest
