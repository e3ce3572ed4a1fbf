// The jsonl readers: one JSON object per line, keys named like the csv columns.

#include <simdjson.h>

#include <array>

#include "core/time.h"
#include "io/json_event.h"
#include "io/reader_internal.h"
#include "io/text.h"

namespace freshet::io::internal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Lines are parsed in place in the reader's buffer, which keeps this much slack after each line.
static_assert(LineReader::kPadding >= simdjson::SIMDJSON_PADDING);

bool IsBlankJsonLine(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

std::string_view JsonTypeName(element_type type) {
  switch (type) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown JSON value";
}

// The text of an integer element (which the caller has checked is INT64 or UINT64).
// value_unsafe() below: each accessor is called only after type() said it applies.
void AppendInteger(const element& value, std::string& out) {
  if (value.type() == element_type::UINT64) {
    const uint64_t u = value.get_uint64().value_unsafe();
    out += std::to_string(u);
  } else {
    const int64_t i = value.get_int64().value_unsafe();
    AppendInt(i, out);
  }
}

// An id field: a string as is, an integer as its decimal text (public logs often store ids as
// numbers), null as absent. Returns false with `why` for anything else.
bool IdText(const element& value, std::string& out, std::string& why) {
  switch (value.type()) {
    case element_type::STRING: {
      const std::string_view s = value.get_string().value_unsafe();
      out.assign(s);
      return true;
    }
    case element_type::INT64:
    case element_type::UINT64:
      out.clear();
      AppendInteger(value, out);
      return true;
    case element_type::NULL_VALUE:
      out.clear();
      return true;
    case element_type::DOUBLE:
      why = "is a number with a fraction or exponent (" + simdjson::minify(value) +
            "); ids must be strings or integers";
      return false;
    default:
      why = "must be a string or an integer, not " + std::string(JsonTypeName(value.type()));
      return false;
  }
}

// Free text for context / attrs: strings as is, other scalars as written in JSON, nested objects
// and arrays as their minified JSON (kept rather than dropped, so nothing the file said is lost).
// Returns false for null, which means "no value".
bool AnyText(const element& value, std::string& out) {
  switch (value.type()) {
    case element_type::STRING: {
      const std::string_view s = value.get_string().value_unsafe();
      out.assign(s);
      return true;
    }
    case element_type::INT64:
    case element_type::UINT64:
      out.clear();
      AppendInteger(value, out);
      return true;
    case element_type::NULL_VALUE:
      return false;
    default:
      out = simdjson::minify(value);
      return true;
  }
}

// A number, or a string holding one (spreadsheet exports quote everything). Null is absent.
// Returns false with `why` otherwise.
bool NumberValue(const element& value, std::optional<double>& out, std::string& why) {
  switch (value.type()) {
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: {
      const double d = value.get_double().value_unsafe();
      out = d;
      return true;
    }
    case element_type::STRING: {
      const std::string_view s = value.get_string().value_unsafe();
      if (TrimBlanks(s).empty()) {
        out.reset();
        return true;
      }
      double d = 0;
      if (!ParseDouble(s, d)) {
        why = Quote(s) + " is not a number";
        return false;
      }
      out = d;
      return true;
    }
    case element_type::NULL_VALUE:
      out.reset();
      return true;
    default:
      why = "must be a number, not " + std::string(JsonTypeName(value.type()));
      return false;
  }
}

// An integer, or a string holding one; null or "" leave `out` unchanged. Returns false with
// `why` otherwise.
bool IntegerValue(const element& value, int64_t& out, std::string& why) {
  switch (value.type()) {
    case element_type::INT64:
      out = value.get_int64().value_unsafe();
      return true;
    case element_type::STRING: {
      const std::string_view s = value.get_string().value_unsafe();
      if (TrimBlanks(s).empty()) return true;
      if (!ParseInt64(s, out)) {
        why = Quote(s) + " is not an integer";
        return false;
      }
      return true;
    }
    case element_type::NULL_VALUE:
      return true;
    case element_type::UINT64:
    case element_type::DOUBLE:
      why = simdjson::minify(value) + " is not an integer of at most 63 bits";
      return false;
    default:
      why = "must be an integer, not " + std::string(JsonTypeName(value.type()));
      return false;
  }
}

// The index of the field whose (mapped) key is `key`, or -1.
int FindKey(const std::vector<std::string>& names, std::string_view key) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == key) return static_cast<int>(i);
  }
  return -1;
}

// Parses one line into `object`. Returns false with the reason when the line is not a JSON
// object.
bool ParseObject(simdjson::dom::parser& parser, std::string_view line,
                 simdjson::dom::object& object, std::string& why) {
  element doc;
  // realloc_if_needed = false: the line sits in the reader's buffer with padding after it.
  if (auto error = parser.parse(line.data(), line.size(), false).get(doc)) {
    why = std::string("is not valid JSON: ") + simdjson::error_message(error);
    return false;
  }
  if (doc.get_object().get(object)) {
    why = "is " + std::string(JsonTypeName(doc.type())) + ", not a JSON object";
    return false;
  }
  return true;
}

}  // namespace
}  // namespace freshet::io::internal

namespace freshet::io {

using internal::AnyText;
using internal::EventField;
using internal::FindKey;
using internal::IdText;
using internal::JsonTypeName;
using internal::kEventFieldNames;
using internal::NumberValue;
using internal::ResolveFieldNames;
using simdjson::dom::element_type;

Result<JsonEventDecoder> JsonEventDecoder::Create(const ReaderOptions& options) {
  FRESHET_ASSIGN_OR_RETURN(std::vector<std::string> names,
                           ResolveFieldNames(kEventFieldNames, options, "event"));
  JsonEventDecoder d;
  d.names_ = std::move(names);
  d.default_type_ = options.default_type;
  for (int t = 0; t < kNumEventTypes; ++t) {
    if (!d.known_types_.empty()) d.known_types_ += ", ";
    d.known_types_ += EventTypeName(static_cast<EventType>(t));
  }
  return d;
}

bool JsonEventDecoder::Fail(int f, std::string reason, FieldProblem* problem) const {
  if (names_[f] != kEventFieldNames[f]) reason += " (key '" + names_[f] + "')";
  problem->field = std::string(kEventFieldNames[f]);
  problem->reason = std::move(reason);
  return false;
}

bool JsonEventDecoder::Decode(simdjson::dom::object object, std::optional<int64_t> default_ts_ms,
                              Event* out, FieldProblem* problem) const {
  Event event;
  bool has_ts = false;
  bool has_type = false;
  std::string text;
  std::string why;
  for (auto [key, value] : object) {
    const int f = FindKey(names_, key);
    if (f < 0) {
      if (key == "context" && value.type() == element_type::OBJECT) {
        const simdjson::dom::object context = value.get_object().value_unsafe();
        for (auto [ckey, cvalue] : context) {
          if (AnyText(cvalue, text)) event.context.emplace_back(std::string(ckey), text);
        }
      } else if (key == "context" && value.type() != element_type::NULL_VALUE) {
        problem->field = "context";
        problem->reason = "must be an object, not " + std::string(JsonTypeName(value.type()));
        return false;
      } else if (AnyText(value, text)) {
        event.context.emplace_back(std::string(key), text);
      }
      continue;
    }
    const auto field = static_cast<EventField>(f);
    switch (field) {
      case EventField::kEventId:
      case EventField::kUser:
      case EventField::kItem:
      case EventField::kSession: {
        std::string& dst = field == EventField::kEventId ? event.event_id
                           : field == EventField::kUser  ? event.user
                           : field == EventField::kItem  ? event.item
                                                         : event.session;
        if (!IdText(value, dst, why)) return Fail(f, std::move(why), problem);
        break;
      }
      case EventField::kQuery:
        if (value.type() == element_type::OBJECT || value.type() == element_type::ARRAY) {
          return Fail(f, "must be a string, not " + std::string(JsonTypeName(value.type())),
                      problem);
        }
        if (!AnyText(value, event.query)) event.query.clear();
        break;
      case EventField::kTs: {
        const element_type type = value.type();
        if (type == element_type::NULL_VALUE) break;
        if (type == element_type::STRING) {
          const std::string_view s = value.get_string().value_unsafe();
          text.assign(s);
        } else if (type == element_type::INT64 || type == element_type::UINT64 ||
                   type == element_type::DOUBLE) {
          // Through the same text parser as csv, so seconds vs milliseconds is decided alike.
          (void)AnyText(value, text);
        } else {
          return Fail(f, "must be a number or a string, not " + std::string(JsonTypeName(type)),
                      problem);
        }
        Result<int64_t> ts = ParseTimestamp(text);
        if (!ts.ok()) return Fail(f, ts.status().message(), problem);
        event.ts_ms = *ts;
        has_ts = true;
        break;
      }
      case EventField::kType: {
        if (value.type() == element_type::NULL_VALUE) break;
        std::string_view s;
        if (value.get_string().get(s)) {
          return Fail(f, "must be a string, not " + std::string(JsonTypeName(value.type())),
                      problem);
        }
        auto type = ParseEventType(TrimBlanks(s));
        if (!type) return Fail(f, Quote(s) + " is not an event type (" + known_types_ + ")", problem);
        event.type = *type;
        has_type = true;
        break;
      }
      case EventField::kValue: {
        std::optional<double> number;
        if (!NumberValue(value, number, why)) return Fail(f, std::move(why), problem);
        event.value = number.value_or(0.0);
        break;
      }
    }
  }
  if (!has_ts) {
    if (!default_ts_ms) return Fail(static_cast<int>(EventField::kTs), "is missing", problem);
    event.ts_ms = *default_ts_ms;
  }
  if (!has_type) {
    if (!default_type_) return Fail(static_cast<int>(EventField::kType), "is missing", problem);
    event.type = *default_type_;
  }
  *out = std::move(event);
  return true;
}

}  // namespace freshet::io

namespace freshet::io::internal {
namespace {

class JsonlEventReader final : public EventReaderBase {
 public:
  JsonlEventReader(std::unique_ptr<LineReader> in, const ReaderOptions& options,
                   JsonEventDecoder decoder)
      : EventReaderBase(std::move(in), options), decoder_(std::move(decoder)) {}

 protected:
  Status ReadRecord(Batch& batch, bool& eof) override {
    std::string_view line;
    int64_t line_no = 0;
    FRESHET_RETURN_IF_ERROR(in().NextLine(line, line_no, eof));
    if (eof || IsBlankJsonLine(line)) return Status::OK();
    std::string why;
    simdjson::dom::object object;
    if (!ParseObject(parser_, line, object, why)) {
      AddReject(batch, line_no, "", std::move(why), line);
      return Status::OK();
    }
    Event event;
    FieldProblem problem;
    if (!decoder_.Decode(object, std::nullopt, &event, &problem)) {
      AddReject(batch, line_no, std::move(problem.field), std::move(problem.reason), line);
      return Status::OK();
    }
    AddEvent(batch, std::move(event), line_no, -1, line);
    return Status::OK();
  }

 private:
  JsonEventDecoder decoder_;
  simdjson::dom::parser parser_;
};

class JsonlItemReader final : public ItemReaderBase {
 public:
  JsonlItemReader(std::unique_ptr<LineReader> in, const ReaderOptions& options,
                  std::vector<std::string> names)
      : ItemReaderBase(std::move(in), options), names_(std::move(names)) {}

 protected:
  Status ReadRecord(Batch& batch, bool& eof) override {
    std::string_view line;
    int64_t line_no = 0;
    FRESHET_RETURN_IF_ERROR(in().NextLine(line, line_no, eof));
    if (eof || IsBlankJsonLine(line)) return Status::OK();
    std::string why;
    simdjson::dom::object object;
    if (!ParseObject(parser_, line, object, why)) {
      AddReject(batch, line_no, "", std::move(why), line);
      return Status::OK();
    }
    Item item;
    std::string text;
    for (auto [key, value] : object) {
      const int f = FindKey(names_, key);
      if (f < 0) {
        if (key == "attrs" && value.type() == element_type::OBJECT) {
          const simdjson::dom::object attrs = value.get_object().value_unsafe();
          for (auto [akey, avalue] : attrs) {
            if (AnyText(avalue, text)) item.attrs.emplace_back(std::string(akey), text);
          }
        } else if (AnyText(value, text)) {
          item.attrs.emplace_back(std::string(key), text);
        }
        continue;
      }
      switch (static_cast<ItemField>(f)) {
        case ItemField::kId:
          if (!IdText(value, item.id, why)) return RejectField(batch, line_no, f, why, line);
          break;
        case ItemField::kTitle:
        case ItemField::kCategory:
        case ItemField::kBrand: {
          std::string& out = f == static_cast<int>(ItemField::kTitle)      ? item.title
                             : f == static_cast<int>(ItemField::kCategory) ? item.category
                                                                           : item.brand;
          if (value.type() == element_type::OBJECT || value.type() == element_type::ARRAY) {
            return RejectField(batch, line_no, f,
                               "must be a string, not " + std::string(JsonTypeName(value.type())),
                               line);
          }
          if (!AnyText(value, out)) out.clear();
          break;
        }
        case ItemField::kPrice: {
          std::optional<double> number;
          if (!NumberValue(value, number, why)) return RejectField(batch, line_no, f, why, line);
          item.price = number.value_or(-1.0);
          break;
        }
        case ItemField::kStock:
          if (!IntegerValue(value, item.stock, why))
            return RejectField(batch, line_no, f, why, line);
          break;
      }
    }
    AddItem(batch, std::move(item), line_no, line);
    return Status::OK();
  }

 private:
  Status RejectField(Batch& batch, int64_t line, int f, std::string reason, std::string_view raw) {
    if (names_[f] != kItemFieldNames[f]) reason += " (key '" + names_[f] + "')";
    AddReject(batch, line, std::string(kItemFieldNames[f]), std::move(reason), raw);
    return Status::OK();
  }

  std::vector<std::string> names_;
  simdjson::dom::parser parser_;
};

}  // namespace

Result<std::unique_ptr<EventReader>> OpenJsonlEvents(std::unique_ptr<LineReader> in,
                                                     const ReaderOptions& options) {
  FRESHET_ASSIGN_OR_RETURN(JsonEventDecoder decoder, JsonEventDecoder::Create(options));
  return std::unique_ptr<EventReader>(
      std::make_unique<JsonlEventReader>(std::move(in), options, std::move(decoder)));
}

Result<std::unique_ptr<ItemReader>> OpenJsonlItems(std::unique_ptr<LineReader> in,
                                                   const ReaderOptions& options) {
  FRESHET_ASSIGN_OR_RETURN(std::vector<std::string> names,
                           ResolveFieldNames(kItemFieldNames, options, "item"));
  return std::unique_ptr<ItemReader>(
      std::make_unique<JsonlItemReader>(std::move(in), options, std::move(names)));
}

}  // namespace freshet::io::internal
