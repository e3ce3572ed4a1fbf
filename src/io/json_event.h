#pragma once

// One JSON object to one Event, exactly as the jsonl reader decodes a line: shared by
// `freshet ingest --format jsonl` and the HTTP API's POST /v1/events, so that a record is accepted
// or rejected alike on both paths.

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "io/reader.h"

namespace freshet::io {

// Why a record was refused: the event field (or "context") and a reason its author can act on.
struct FieldProblem {
  std::string field;
  std::string reason;
};

class JsonEventDecoder {
 public:
  // Keys as options.field_map renames them, options.default_type for records without "type".
  // InvalidArgument for a field_map that names no event field.
  static Result<JsonEventDecoder> Create(const ReaderOptions& options);

  // Decodes `object` into *event: the event fields by key, a "context" object and any other
  // scalar key as context. A record without "ts" takes default_ts_ms (nullopt: "ts is missing").
  // Returns false with *problem set when a field has the wrong type or an unparsable value.
  // Does not run ValidateEvent (the caller does, as for every reader). Thread-safe (const).
  bool Decode(simdjson::dom::object object, std::optional<int64_t> default_ts_ms, Event* event,
              FieldProblem* problem) const;

 private:
  JsonEventDecoder() = default;
  bool Fail(int field, std::string reason, FieldProblem* problem) const;

  std::vector<std::string> names_;  // the key of each event field
  std::optional<EventType> default_type_;
  std::string known_types_;  // "impression, view, ...", for messages
};

}  // namespace freshet::io
