// Adapters for well-known public datasets, each with its own fixed layout: Amazon / ICLRec
// sequences, MovieLens ratings, DIGINETICA item views and UCI Online Retail transactions.

#include <unordered_set>

#include "core/time.h"
#include "io/reader_internal.h"
#include "io/text.h"

namespace freshet::io::internal {
namespace {

constexpr std::string_view kUnterminatedQuote =
    "has a quoted field whose closing quote never comes (an unbalanced '\"')";

bool IsBlank(std::string_view text) {
  for (char c : text) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

// Splits on runs of spaces and tabs.
void SplitWhitespace(std::string_view line, std::vector<std::string_view>& tokens) {
  tokens.clear();
  size_t i = 0;
  const size_t n = line.size();
  while (i < n) {
    while (i < n && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < n && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
}

// Splits on every occurrence of `separator` (which may be several bytes, like "::").
void SplitOn(std::string_view line, std::string_view separator,
             std::vector<std::string_view>& fields) {
  fields.clear();
  size_t start = 0;
  for (;;) {
    const size_t at = line.find(separator, start);
    if (at == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return;
    }
    fields.push_back(line.substr(start, at - start));
    start = at + separator.size();
  }
}

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// seq: "user item item ..." per line, oldest first, no timestamps.

class SeqReader final : public EventReaderBase {
 public:
  using EventReaderBase::EventReaderBase;

 protected:
  Status ReadRecord(Batch& batch, bool& eof) override {
    std::string_view line;
    int64_t line_no = 0;
    FRESHET_RETURN_IF_ERROR(in().NextLine(line, line_no, eof));
    if (eof) return Status::OK();
    SplitWhitespace(line, tokens_);
    if (tokens_.empty()) return Status::OK();
    if (tokens_.size() == 1) {
      AddReject(batch, line_no, "item", "the line has a user but no items", line);
      return Status::OK();
    }
    if (!IsAscii(line)) {
      for (size_t i = 0; i < tokens_.size(); ++i) {
        if (!IsValidUtf8(tokens_[i])) {
          AddReject(batch, line_no, i == 0 ? "user" : "item", "is not valid UTF-8", line);
          return Status::OK();
        }
      }
    }
    // The file gives only the order; synthetic times keep that order, so the last item is the
    // user's latest event, as leave-last-out evaluation expects.
    for (size_t i = 1; i < tokens_.size(); ++i) {
      const int64_t index = static_cast<int64_t>(i) - 1;
      Event event;
      event.user = tokens_[0];
      event.item = tokens_[i];
      event.type = EventType::kView;
      event.ts_ms = options().seq_start_ms + index * options().seq_step_ms;
      AddEvent(batch, std::move(event), line_no, index, line);
    }
    return Status::OK();
  }

 private:
  std::vector<std::string_view> tokens_;
};

// ---------------------------------------------------------------------------------------------
// movielens: u.data ("user\titem\trating\tts") or ratings.dat ("user::item::rating::ts").

class MovieLensReader final : public EventReaderBase {
 public:
  using EventReaderBase::EventReaderBase;

 protected:
  Status ReadRecord(Batch& batch, bool& eof) override {
    std::string_view line;
    int64_t line_no = 0;
    FRESHET_RETURN_IF_ERROR(in().NextLine(line, line_no, eof));
    if (eof || IsBlank(line)) return Status::OK();
    if (separator_.empty()) {
      // The first record decides for the whole file.
      if (line.find("::") != std::string_view::npos) {
        separator_ = "::";
      } else if (line.find('\t') != std::string_view::npos) {
        separator_ = "\t";
      } else {
        AddReject(batch, line_no, "",
                  "is neither u.data (user, item, rating, ts separated by tabs) nor "
                  "ratings.dat (separated by '::')",
                  line);
        return Status::OK();
      }
    }
    SplitOn(line, separator_, fields_);
    if (fields_.size() != 4) {
      AddReject(
          batch, line_no, "",
          "has " + std::to_string(fields_.size()) + " fields, want 4 (user, item, rating, ts)",
          line);
      return Status::OK();
    }
    const std::string_view user = TrimBlanks(fields_[0]);
    const std::string_view item = TrimBlanks(fields_[1]);
    if (!AllDigits(user)) {
      AddReject(batch, line_no, "user", Quote(user) + " is not a numeric id", line);
      return Status::OK();
    }
    if (!AllDigits(item)) {
      AddReject(batch, line_no, "item", Quote(item) + " is not a numeric id", line);
      return Status::OK();
    }
    Event event;
    if (!ParseDouble(fields_[2], event.value)) {
      AddReject(batch, line_no, "value", Quote(fields_[2]) + " is not a number (the rating)", line);
      return Status::OK();
    }
    int64_t seconds = 0;
    // MovieLens times are always epoch seconds; ParseTimestamp's seconds-or-milliseconds guess is
    // not needed, and a bound keeps the multiplication below from overflowing.
    if (!ParseInt64(fields_[3], seconds) || seconds < 0 || seconds > (int64_t{1} << 40)) {
      AddReject(batch, line_no, "ts", Quote(fields_[3]) + " is not a time in epoch seconds", line);
      return Status::OK();
    }
    event.user = user;
    event.item = item;
    event.type = EventType::kRate;
    event.ts_ms = seconds * 1000;
    AddEvent(batch, std::move(event), line_no, -1, line);
    return Status::OK();
  }

 private:
  std::string_view separator_;  // empty until the first record is seen
  std::vector<std::string_view> fields_;
};

// ---------------------------------------------------------------------------------------------
// diginetica: "session_id;user_id;item_id;timeframe;eventdate" with a header.

enum DigineticaColumn { kDgSession, kDgUser, kDgItem, kDgTimeframe, kDgDate };

constexpr std::pair<std::string_view, std::string_view> kDigineticaRenames[] = {
    {"user", "user_id"}, {"item", "item_id"}, {"session", "session_id"}, {"ts", "eventdate"}};

class DigineticaReader final : public EventReaderBase {
 public:
  DigineticaReader(std::unique_ptr<LineReader> in, const ReaderOptions& options, CsvHeader header)
      : EventReaderBase(std::move(in), options), splitter_(';'), header_(std::move(header)) {}

 protected:
  Status ReadRecord(Batch& batch, bool& eof) override {
    LineReader::CsvRecord record;
    FRESHET_RETURN_IF_ERROR(in().NextCsvRecord(';', record, eof));
    if (eof || IsBlank(record.text)) return Status::OK();
    if (record.unterminated) {
      AddReject(batch, record.line, "", std::string(kUnterminatedQuote), record.text);
      return Status::OK();
    }
    if (!splitter_.Split(record.text)) {
      AddReject(batch, record.line, ColumnName(splitter_.error_field()), splitter_.error(),
                record.text);
      return Status::OK();
    }
    const auto fields = splitter_.fields();
    if (fields.size() != header_.columns.size()) {
      AddReject(batch, record.line, "",
                "has " + std::to_string(fields.size()) + " fields, header has " +
                    std::to_string(header_.columns.size()),
                record.text);
      return Status::OK();
    }
    if (!IsAscii(record.text)) {
      for (size_t c = 0; c < fields.size(); ++c) {
        if (!IsValidUtf8(fields[c])) {
          AddReject(batch, record.line, ColumnName(c), "is not valid UTF-8", record.text);
          return Status::OK();
        }
      }
    }
    auto get = [&](int column) { return TrimBlanks(fields[header_.field_column[column]]); };

    const std::string_view session = get(kDgSession);
    if (session.empty()) {
      AddReject(batch, record.line, "session_id", "is empty", record.text);
      return Status::OK();
    }
    int64_t offset_ms = 0;
    const std::string_view timeframe = get(kDgTimeframe);
    if (!ParseInt64(timeframe, offset_ms) || offset_ms < 0) {
      AddReject(batch, record.line, "timeframe",
                Quote(timeframe) + " is not a whole, non-negative number of milliseconds",
                record.text);
      return Status::OK();
    }
    Result<int64_t> day = ParseTimestamp(get(kDgDate));
    if (!day.ok()) {
      AddReject(batch, record.line, "eventdate", day.status().message(), record.text);
      return Status::OK();
    }
    Event event;
    const std::string_view user = get(kDgUser);
    // Anonymous sessions still belong to someone; a per-session user keeps them apart.
    if (user.empty() || user == "NA") {
      event.user = "anon-";
      event.user += session;
    } else {
      event.user = user;
    }
    event.item = get(kDgItem);
    event.session = session;
    event.type = EventType::kView;
    event.ts_ms = *day + offset_ms;
    AddEvent(batch, std::move(event), record.line, -1, record.text, kDigineticaRenames);
    return Status::OK();
  }

 private:
  std::string ColumnName(size_t c) const {
    return c < header_.columns.size() ? header_.columns[c] : std::string();
  }

  CsvSplitter splitter_;
  CsvHeader header_;
};

// ---------------------------------------------------------------------------------------------
// onlineretail: the UCI Online Retail table, Latin-1 encoded.

enum RetailColumn {
  kRtInvoice,
  kRtStockCode,
  kRtDescription,
  kRtQuantity,
  kRtDate,
  kRtPrice,
  kRtCustomer,
  kRtCountry,
};

constexpr std::pair<std::string_view, std::string_view> kRetailRenames[] = {
    {"user", "CustomerID"},
    {"item", "StockCode"},
    {"session", "InvoiceNo"},
    {"ts", "InvoiceDate"},
    {"value", "Quantity"}};

// Reads `count_min`..`count_max` digits at text[pos..]; advances pos.
bool ReadDigits(std::string_view text, size_t& pos, int count_min, int count_max, int& out) {
  int count = 0;
  int value = 0;
  while (pos < text.size() && count < count_max && text[pos] >= '0' && text[pos] <= '9') {
    value = value * 10 + (text[pos] - '0');
    ++pos;
    ++count;
  }
  out = value;
  return count >= count_min;
}

bool Expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

// "DD/MM/YYYY HH:MM[:SS]", day before month, with one- or two-digit day, month and hour (the
// table circulates in both zero-padded and unpadded exports). UTC, as the data has no zone.
bool ParseRetailDate(std::string_view text, int64_t& ts_ms) {
  text = TrimBlanks(text);
  size_t pos = 0;
  int day, month, year, hour, minute, second = 0;
  if (!ReadDigits(text, pos, 1, 2, day) || !Expect(text, pos, '/') ||
      !ReadDigits(text, pos, 1, 2, month) || !Expect(text, pos, '/') ||
      !ReadDigits(text, pos, 4, 4, year) || !Expect(text, pos, ' ')) {
    return false;
  }
  while (pos < text.size() && text[pos] == ' ') ++pos;
  if (!ReadDigits(text, pos, 1, 2, hour) || !Expect(text, pos, ':') ||
      !ReadDigits(text, pos, 2, 2, minute)) {
    return false;
  }
  if (pos < text.size() && (!Expect(text, pos, ':') || !ReadDigits(text, pos, 2, 2, second))) {
    return false;
  }
  if (pos != text.size()) return false;
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || year < 1970 ||
      hour > 23 || minute > 59 || second > 59) {
    return false;
  }
  const int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  ts_ms = (days * 86400 + hour * 3600 + minute * 60 + second) * 1000;
  return true;
}

class OnlineRetailReader final : public EventReaderBase {
 public:
  OnlineRetailReader(std::unique_ptr<LineReader> in, const ReaderOptions& options, CsvHeader header)
      : EventReaderBase(std::move(in), options), splitter_(','), header_(std::move(header)) {}

 protected:
  Status ReadRecord(Batch& batch, bool& eof) override {
    LineReader::CsvRecord record;
    FRESHET_RETURN_IF_ERROR(in().NextCsvRecord(',', record, eof));
    if (eof || IsBlank(record.text)) return Status::OK();
    // Every byte is a character in Latin-1, so there is nothing to validate, only to convert;
    // the common all-ASCII record needs neither.
    const bool ascii = IsAscii(record.text);
    raw_.clear();
    if (!ascii) AppendLatin1AsUtf8(record.text, raw_);
    const std::string_view raw = ascii ? record.text : std::string_view(raw_);
    if (record.unterminated) {
      AddReject(batch, record.line, "", std::string(kUnterminatedQuote), raw);
      return Status::OK();
    }
    if (!splitter_.Split(record.text)) {
      AddReject(batch, record.line, ColumnName(splitter_.error_field()), splitter_.error(), raw);
      return Status::OK();
    }
    const auto fields = splitter_.fields();
    if (fields.size() != header_.columns.size()) {
      AddReject(batch, record.line, "",
                "has " + std::to_string(fields.size()) + " fields, header has " +
                    std::to_string(header_.columns.size()),
                raw);
      return Status::OK();
    }
    auto get = [&](int column) { return TrimBlanks(fields[header_.field_column[column]]); };
    // Text copied into the event, converted when the record is not ASCII.
    auto text = [&](int column) {
      std::string out;
      if (ascii) {
        out = get(column);
      } else {
        AppendLatin1AsUtf8(get(column), out);
      }
      return out;
    };

    const std::string invoice = text(kRtInvoice);
    if (invoice.empty()) {
      AddReject(batch, record.line, "InvoiceNo", "is empty", raw);
      return Status::OK();
    }
    std::string stock_code = text(kRtStockCode);
    if (stock_code.empty()) {
      AddReject(batch, record.line, "StockCode", "is empty", raw);
      return Status::OK();
    }
    double quantity = 0;
    if (!ParseDouble(get(kRtQuantity), quantity)) {
      AddReject(batch, record.line, "Quantity", Quote(text(kRtQuantity)) + " is not a number", raw);
      return Status::OK();
    }
    int64_t ts_ms = 0;
    if (!ParseRetailDate(get(kRtDate), ts_ms)) {
      AddReject(batch, record.line, "InvoiceDate",
                Quote(text(kRtDate)) + " is not a date DD/MM/YYYY HH:MM", raw);
      return Status::OK();
    }
    double price = -1.0;
    std::string price_text = text(kRtPrice);
    if (!price_text.empty() && !ParseDouble(price_text, price)) {
      AddReject(batch, record.line, "UnitPrice", Quote(price_text) + " is not a number", raw);
      return Status::OK();
    }

    Event event;
    std::string customer = text(kRtCustomer);
    // Exports that went through a spreadsheet write the numeric id as "17850.0".
    if (customer.size() > 2 && customer.ends_with(".0")) customer.resize(customer.size() - 2);
    if (customer.empty()) {
      event.user = "anon-" + invoice;
    } else {
      event.user = std::move(customer);
    }
    event.item = stock_code;
    event.type = EventType::kBuy;
    event.value = quantity;
    event.ts_ms = ts_ms;
    event.session = invoice;
    if (!price_text.empty()) event.context.emplace_back("price", std::move(price_text));
    std::string country = text(kRtCountry);
    if (!country.empty()) event.context.emplace_back("country", std::move(country));
    // A cancellation invoice ("C536379") or a negative quantity takes goods back.
    if (invoice[0] == 'C' || invoice[0] == 'c' || quantity < 0) {
      event.context.emplace_back("return", "1");
    }
    if (!AddEvent(batch, std::move(event), record.line, -1, raw, kRetailRenames)) {
      return Status::OK();
    }
    if (!seen_items_.contains(stock_code)) {
      Item item;
      item.id = stock_code;
      item.title = text(kRtDescription);
      item.price = price;
      batch.items.push_back(std::move(item));
      seen_items_.insert(std::move(stock_code));
    }
    return Status::OK();
  }

 private:
  std::string ColumnName(size_t c) const {
    return c < header_.columns.size() ? header_.columns[c] : std::string();
  }

  CsvSplitter splitter_;
  CsvHeader header_;
  std::string raw_;                             // the record converted to UTF-8
  std::unordered_set<std::string> seen_items_;  // stock codes already emitted as items
};

// Reads a fixed-format header and checks that every one of `names` is in it.
Result<CsvHeader> ReadFixedHeader(LineReader& in, char delimiter,
                                  const std::vector<std::string>& names, std::string_view format) {
  CsvSplitter splitter(delimiter);
  FRESHET_ASSIGN_OR_RETURN(CsvHeader header, ReadCsvHeader(in, splitter, names));
  for (size_t i = 0; i < names.size(); ++i) {
    if (header.field_column[i] >= 0) continue;
    std::vector<std::string_view> seen(header.columns.begin(), header.columns.end());
    std::vector<std::string_view> want(names.begin(), names.end());
    return Status::InvalidArgument(in.path() + ": no column '" + names[i] + "' in the header; a " +
                                   std::string(format) + " file has " + JoinNames(want) +
                                   ". The header has: " + JoinNames(seen));
  }
  return header;
}

}  // namespace

Result<std::unique_ptr<EventReader>> OpenSeqEvents(std::unique_ptr<LineReader> in,
                                                   const ReaderOptions& options) {
  return std::unique_ptr<EventReader>(std::make_unique<SeqReader>(std::move(in), options));
}

Result<std::unique_ptr<EventReader>> OpenMovieLensEvents(std::unique_ptr<LineReader> in,
                                                         const ReaderOptions& options) {
  return std::unique_ptr<EventReader>(std::make_unique<MovieLensReader>(std::move(in), options));
}

Result<std::unique_ptr<EventReader>> OpenDigineticaEvents(std::unique_ptr<LineReader> in,
                                                          const ReaderOptions& options) {
  // Order matches DigineticaColumn.
  const std::vector<std::string> names = {"session_id", "user_id", "item_id", "timeframe",
                                          "eventdate"};
  FRESHET_ASSIGN_OR_RETURN(CsvHeader header, ReadFixedHeader(*in, ';', names, "diginetica"));
  return std::unique_ptr<EventReader>(
      std::make_unique<DigineticaReader>(std::move(in), options, std::move(header)));
}

Result<std::unique_ptr<EventReader>> OpenOnlineRetailEvents(std::unique_ptr<LineReader> in,
                                                            const ReaderOptions& options) {
  // Order matches RetailColumn.
  const std::vector<std::string> names = {"InvoiceNo",   "StockCode", "Description", "Quantity",
                                          "InvoiceDate", "UnitPrice", "CustomerID",  "Country"};
  FRESHET_ASSIGN_OR_RETURN(CsvHeader header, ReadFixedHeader(*in, ',', names, "UCI Online Retail"));
  return std::unique_ptr<EventReader>(
      std::make_unique<OnlineRetailReader>(std::move(in), options, std::move(header)));
}

}  // namespace freshet::io::internal
