// The generic csv readers: events and catalog items, with a header row naming the columns.

#include <array>

#include "core/time.h"
#include "io/reader_internal.h"
#include "io/text.h"

namespace freshet::io::internal {
namespace {

constexpr std::string_view kUnterminatedQuote =
    "has a quoted field whose closing quote never comes (an unbalanced '\"')";

// A line of nothing but spaces carries no record; skipping it is what people expect of a
// hand-edited file.
bool IsBlankLine(std::string_view text) {
  for (char c : text) {
    if (c != ' ') return false;
  }
  return true;
}

std::string KnownEventTypes() {
  std::string out;
  for (int t = 0; t < kNumEventTypes; ++t) {
    if (!out.empty()) out += ", ";
    out += EventTypeName(static_cast<EventType>(t));
  }
  return out;
}

std::string HeaderText(const CsvHeader& header) {
  std::vector<std::string_view> names(header.columns.begin(), header.columns.end());
  return JoinNames(names);
}

Status CheckDelimiter(const std::string& path, char delimiter) {
  if (delimiter == '"' || delimiter == '\r' || delimiter == '\n') {
    return Status::InvalidArgument(path + ": csv_delimiter cannot be a quote or a line break");
  }
  return Status::OK();
}

// "no column 'user'", or when field_map renamed it "no column 'visitorid' (mapped from field
// 'user')", followed by the header as read so the user can see what went wrong.
Status MissingColumn(const std::string& path, std::string_view field, const std::string& column,
                     const CsvHeader& header, std::string_view why) {
  std::string m = path + ": no column '" + column + "'";
  if (column != field) m += " (mapped from field '" + std::string(field) + "')";
  m += " in the header";
  if (!why.empty()) m += "; " + std::string(why);
  m += ". The header has: " + HeaderText(header);
  return Status::InvalidArgument(std::move(m));
}

// Reads the fields of one csv record into the splitter, or adds a reject for a record that is not
// well-formed csv. Shared by the event and item readers, which differ only in what the fields
// mean. Returns false when the caller has nothing more to do with the record.
template <typename Reader>
bool SplitRecord(Reader& reader, const LineReader::CsvRecord& record, CsvSplitter& splitter,
                 const CsvHeader& header, Batch& batch) {
  if (IsBlankLine(record.text)) return false;
  if (record.unterminated) {
    reader.RejectRecord(batch, record.line, "", std::string(kUnterminatedQuote), record.text);
    return false;
  }
  if (!splitter.Split(record.text)) {
    reader.RejectRecord(batch, record.line, reader.FieldOfColumn(splitter.error_field()),
                        splitter.error(), record.text);
    return false;
  }
  const auto fields = splitter.fields();
  if (fields.size() != header.columns.size()) {
    reader.RejectRecord(batch, record.line, "",
                        "has " + std::to_string(fields.size()) + " fields, header has " +
                            std::to_string(header.columns.size()),
                        record.text);
    return false;
  }
  // One check over the record settles the common all-ASCII case; only otherwise is each field
  // checked, so the reject can say which one is broken.
  if (!IsAscii(record.text)) {
    for (size_t c = 0; c < fields.size(); ++c) {
      if (!IsValidUtf8(fields[c])) {
        reader.RejectRecord(batch, record.line, reader.FieldOfColumn(c), "is not valid UTF-8",
                            record.text);
        return false;
      }
    }
  }
  return true;
}

class CsvEventReader final : public EventReaderBase {
 public:
  CsvEventReader(std::unique_ptr<LineReader> in, const ReaderOptions& options, CsvHeader header,
                 std::vector<std::string> names)
      : EventReaderBase(std::move(in), options),
        splitter_(options.csv_delimiter),
        header_(std::move(header)),
        names_(std::move(names)),
        known_types_(KnownEventTypes()) {
    for (int f = 0; f < kNumEventFields; ++f) column_[f] = header_.field_column[f];
    for (size_t c = 0; c < header_.columns.size(); ++c) {
      // A column without a name (a pandas index, a trailing comma) has no key to file it under.
      if (header_.column_field[c] < 0 && !header_.columns[c].empty()) context_columns_.push_back(c);
    }
  }

  // The name a reject uses for column `c`: the event field it feeds, else the column's own name.
  std::string FieldOfColumn(size_t c) const {
    if (c >= header_.columns.size()) return "";
    const int f = header_.column_field[c];
    return f >= 0 ? std::string(kEventFieldNames[f]) : header_.columns[c];
  }

  void RejectRecord(Batch& batch, int64_t line, std::string field, std::string reason,
                    std::string_view raw) const {
    AddReject(batch, line, std::move(field), std::move(reason), raw);
  }

 protected:
  Status ReadRecord(Batch& batch, bool& eof) override {
    LineReader::CsvRecord record;
    FRESHET_RETURN_IF_ERROR(in().NextCsvRecord(splitter_.delimiter(), record, eof));
    if (eof || !SplitRecord(*this, record, splitter_, header_, batch)) return Status::OK();
    const auto fields = splitter_.fields();
    auto get = [&](EventField f) -> std::string_view {
      const int c = column_[static_cast<int>(f)];
      return c < 0 ? std::string_view() : fields[c];
    };

    Event event;
    event.event_id = get(EventField::kEventId);
    event.user = get(EventField::kUser);
    event.item = get(EventField::kItem);
    event.session = get(EventField::kSession);
    event.query = get(EventField::kQuery);

    Result<int64_t> ts = ParseTimestamp(get(EventField::kTs));
    if (!ts.ok()) {
      AddReject(batch, record.line, "ts", Explain(EventField::kTs, ts.status().message()),
                record.text);
      return Status::OK();
    }
    event.ts_ms = *ts;

    const std::string_view type = TrimBlanks(get(EventField::kType));
    if (type.empty()) {
      if (!options().default_type.has_value()) {
        AddReject(batch, record.line, "type", Explain(EventField::kType, "is missing or empty"),
                  record.text);
        return Status::OK();
      }
      event.type = *options().default_type;
    } else if (auto parsed = ParseEventType(type)) {
      event.type = *parsed;
    } else {
      AddReject(
          batch, record.line, "type",
          Explain(EventField::kType, Quote(type) + " is not an event type (" + known_types_ + ")"),
          record.text);
      return Status::OK();
    }

    const std::string_view value = get(EventField::kValue);
    if (!TrimBlanks(value).empty() && !ParseDouble(value, event.value)) {
      AddReject(batch, record.line, "value",
                Explain(EventField::kValue, Quote(value) + " is not a number"), record.text);
      return Status::OK();
    }

    for (size_t c : context_columns_) {
      if (!fields[c].empty()) event.context.emplace_back(header_.columns[c], fields[c]);
    }
    AddEvent(batch, std::move(event), record.line, -1, record.text);
    return Status::OK();
  }

 private:
  // Adds the column's name to a reason when field_map renamed the field, so the reader of the
  // reject can find the column.
  std::string Explain(EventField f, std::string reason) const {
    const int i = static_cast<int>(f);
    if (names_[i] != kEventFieldNames[i]) reason += " (column '" + names_[i] + "')";
    return reason;
  }

  CsvSplitter splitter_;
  CsvHeader header_;
  std::vector<std::string> names_;  // column name of each event field
  std::array<int, kNumEventFields> column_{};
  std::vector<size_t> context_columns_;
  std::string known_types_;
};

class CsvItemReader final : public ItemReaderBase {
 public:
  CsvItemReader(std::unique_ptr<LineReader> in, const ReaderOptions& options, CsvHeader header)
      : ItemReaderBase(std::move(in), options),
        splitter_(options.csv_delimiter),
        header_(std::move(header)) {
    for (int f = 0; f < kNumItemFields; ++f) column_[f] = header_.field_column[f];
    for (size_t c = 0; c < header_.columns.size(); ++c) {
      if (header_.column_field[c] < 0 && !header_.columns[c].empty()) attr_columns_.push_back(c);
    }
  }

  std::string FieldOfColumn(size_t c) const {
    if (c >= header_.columns.size()) return "";
    const int f = header_.column_field[c];
    return f >= 0 ? std::string(kItemFieldNames[f]) : header_.columns[c];
  }

  void RejectRecord(Batch& batch, int64_t line, std::string field, std::string reason,
                    std::string_view raw) const {
    AddReject(batch, line, std::move(field), std::move(reason), raw);
  }

 protected:
  Status ReadRecord(Batch& batch, bool& eof) override {
    LineReader::CsvRecord record;
    FRESHET_RETURN_IF_ERROR(in().NextCsvRecord(splitter_.delimiter(), record, eof));
    if (eof || !SplitRecord(*this, record, splitter_, header_, batch)) return Status::OK();
    const auto fields = splitter_.fields();
    auto get = [&](ItemField f) -> std::string_view {
      const int c = column_[static_cast<int>(f)];
      return c < 0 ? std::string_view() : fields[c];
    };
    Item item;
    item.id = get(ItemField::kId);
    item.title = get(ItemField::kTitle);
    item.category = get(ItemField::kCategory);
    item.brand = get(ItemField::kBrand);
    const std::string_view price = get(ItemField::kPrice);
    if (!TrimBlanks(price).empty() && !ParseDouble(price, item.price)) {
      AddReject(batch, record.line, "price", Quote(price) + " is not a number", record.text);
      return Status::OK();
    }
    const std::string_view stock = get(ItemField::kStock);
    if (!TrimBlanks(stock).empty() && !ParseInt64(stock, item.stock)) {
      AddReject(batch, record.line, "stock", Quote(stock) + " is not an integer", record.text);
      return Status::OK();
    }
    for (size_t c : attr_columns_) {
      if (!fields[c].empty()) item.attrs.emplace_back(header_.columns[c], fields[c]);
    }
    AddItem(batch, std::move(item), record.line, record.text);
    return Status::OK();
  }

 private:
  CsvSplitter splitter_;
  CsvHeader header_;
  std::array<int, kNumItemFields> column_{};
  std::vector<size_t> attr_columns_;
};

}  // namespace

Result<CsvHeader> ReadCsvHeader(LineReader& in, CsvSplitter& splitter,
                                std::span<const std::string> names) {
  const std::string& path = in.path();
  LineReader::CsvRecord record;
  bool eof = false;
  do {
    FRESHET_RETURN_IF_ERROR(in.NextCsvRecord(splitter.delimiter(), record, eof));
  } while (!eof && IsBlankLine(record.text));
  if (eof) {
    return Status::InvalidArgument(path +
                                   ": the file is empty; a header row naming the columns is "
                                   "required");
  }
  const std::string where = path + ": line " + std::to_string(record.line) + ": the header ";
  if (record.unterminated) return Status::InvalidArgument(where + std::string(kUnterminatedQuote));
  if (!splitter.Split(record.text)) return Status::InvalidArgument(where + splitter.error());
  if (!IsValidUtf8(record.text)) return Status::InvalidArgument(where + "is not valid UTF-8");

  CsvHeader header;
  header.line = record.line;
  for (std::string_view f : splitter.fields()) header.columns.emplace_back(TrimBlanks(f));
  header.field_column.assign(names.size(), -1);
  header.column_field.assign(header.columns.size(), -1);
  for (size_t c = 0; c < header.columns.size(); ++c) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (header.columns[c] != names[i]) continue;
      if (header.field_column[i] >= 0) {
        return Status::InvalidArgument(where + "names column '" + names[i] + "' twice");
      }
      header.field_column[i] = static_cast<int>(c);
      header.column_field[c] = static_cast<int>(i);
    }
  }
  return header;
}

Result<std::unique_ptr<EventReader>> OpenCsvEvents(std::unique_ptr<LineReader> in,
                                                   const ReaderOptions& options) {
  const std::string path = in->path();
  FRESHET_RETURN_IF_ERROR(CheckDelimiter(path, options.csv_delimiter));
  FRESHET_ASSIGN_OR_RETURN(std::vector<std::string> names,
                           ResolveFieldNames(kEventFieldNames, options, "event"));
  CsvSplitter splitter(options.csv_delimiter);
  FRESHET_ASSIGN_OR_RETURN(CsvHeader header, ReadCsvHeader(*in, splitter, names));

  auto has = [&](EventField f) { return header.field_column[static_cast<int>(f)] >= 0; };
  auto missing = [&](EventField f, std::string_view why) {
    const int i = static_cast<int>(f);
    return MissingColumn(path, kEventFieldNames[i], names[i], header, why);
  };
  if (!has(EventField::kUser)) return missing(EventField::kUser, "");
  if (!has(EventField::kTs)) return missing(EventField::kTs, "every event needs a time");
  if (!has(EventField::kType) && !options.default_type.has_value()) {
    return missing(EventField::kType, "add one, or set a default event type");
  }
  // Only a file of nothing but searches may lack items.
  const bool search_only = !has(EventField::kType) && options.default_type == EventType::kSearch;
  if (!has(EventField::kItem) && !search_only) return missing(EventField::kItem, "");
  return std::unique_ptr<EventReader>(
      new CsvEventReader(std::move(in), options, std::move(header), std::move(names)));
}

Result<std::unique_ptr<ItemReader>> OpenCsvItems(std::unique_ptr<LineReader> in,
                                                 const ReaderOptions& options) {
  const std::string path = in->path();
  FRESHET_RETURN_IF_ERROR(CheckDelimiter(path, options.csv_delimiter));
  FRESHET_ASSIGN_OR_RETURN(std::vector<std::string> names,
                           ResolveFieldNames(kItemFieldNames, options, "item"));
  CsvSplitter splitter(options.csv_delimiter);
  FRESHET_ASSIGN_OR_RETURN(CsvHeader header, ReadCsvHeader(*in, splitter, names));
  if (header.field_column[static_cast<int>(ItemField::kId)] < 0) {
    return MissingColumn(path, "id", names[static_cast<int>(ItemField::kId)], header, "");
  }
  return std::unique_ptr<ItemReader>(new CsvItemReader(std::move(in), options, std::move(header)));
}

}  // namespace freshet::io::internal
