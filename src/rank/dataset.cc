#include "rank/dataset.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "nn/random.h"

namespace freshet::rank {
namespace {

constexpr int kCriteoNumeric = 13;
constexpr int kCriteoCategorical = 26;
constexpr int kCriteoColumns = 1 + kCriteoNumeric + kCriteoCategorical;
constexpr std::string_view kAvazuHeader =
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
    "app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,"
    "C18,C19,C20,C21";
constexpr int kAvazuColumns = 24;
constexpr int kAvazuCategorical = kAvazuColumns - 3;  // C1 .. C21 columns
constexpr int kMaxQuotedErrors = 10;

std::vector<std::string> AvazuColumnNames() {
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= kAvazuHeader.size()) {
    size_t comma = kAvazuHeader.find(',', start);
    if (comma == std::string_view::npos) comma = kAvazuHeader.size();
    names.emplace_back(kAvazuHeader.substr(start, comma - start));
    start = comma + 1;
  }
  return names;
}

// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool ParseInt(std::string_view s, int64_t* v) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Splits `line` at `sep` into at most `max` views; returns the number of fields found (which
// may exceed max: the excess is counted, not stored).
int Split(std::string_view line, char sep, std::string_view* out, int max) {
  int n = 0;
  size_t start = 0;
  while (true) {
    const size_t pos = line.find(sep, start);
    const size_t end = pos == std::string_view::npos ? line.size() : pos;
    if (n < max) out[n] = line.substr(start, end - start);
    ++n;
    if (pos == std::string_view::npos) return n;
    start = pos + 1;
  }
}

uint64_t HashNumber(int field, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return HashFeature(field, std::string_view(buf, static_cast<size_t>(end - buf)));
}

class Parser {
 public:
  Parser(std::string_view origin, CtrFormat format, const CtrReadOptions& options,
         CtrReadReport* report)
      : origin_(origin), format_(format), options_(options), report_(report) {
    data_.format = format;
    data_.num_fields = static_cast<int>(FieldNames(format).size());
    data_.num_numeric = format == CtrFormat::kCriteo ? kCriteoNumeric : 0;
    if (format == CtrFormat::kAvazu) column_names_ = AvazuColumnNames();
  }

  // Returns false when reading should stop (an error or max_rows reached).
  bool Line(std::string_view line, int64_t line_no) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // The header is optional (Kaggle's train.csv has it; split files often do not), but a
    // header with other columns is an error rather than a bad data line.
    if (format_ == CtrFormat::kAvazu && line_no == 1 && line.starts_with("id,")) {
      if (line != kAvazuHeader) {
        status_ = Status::InvalidArgument(Where(line_no) + "not an Avazu header: expected '" +
                                          std::string(kAvazuHeader.substr(0, 40)) + "...'");
        return false;
      }
      return true;
    }
    if (line.empty()) return true;
    ++report_->lines;
    std::string why = format_ == CtrFormat::kCriteo ? Criteo(line, line_no) : Avazu(line, line_no);
    if (why.empty()) {
      ++report_->samples;
      return options_.max_rows == 0 || data_.size() < options_.max_rows;
    }
    ++report_->errors;
    if (static_cast<int>(report_->first_errors.size()) < kMaxQuotedErrors) {
      report_->first_errors.push_back(why);
    }
    if (static_cast<int64_t>(report_->errors) > options_.max_errors) {
      std::string message = why;
      if (options_.max_errors > 0) {
        message.append(" (").append(std::to_string(report_->errors));
        message.append(" bad lines, more than --max-errors ");
        message.append(std::to_string(options_.max_errors)).append(")");
      }
      status_ = Status::InvalidArgument(std::move(message));
      return false;
    }
    return true;
  }

  Result<CtrDataset> Finish() {
    if (!status_.ok()) return status_;
    return std::move(data_);
  }
  void Fail(Status s) { status_ = std::move(s); }

 private:
  std::string Where(int64_t line_no) const {
    return std::string(origin_) + ":" + std::to_string(line_no) + ": ";
  }

  static bool ParseLabel(std::string_view s, float* label) {
    if (s == "0" || s == "1") {
      *label = s == "1" ? 1.0f : 0.0f;
      return true;
    }
    return false;
  }

  // Appends one sample; returns an empty string or the reason the line is bad.
  std::string Criteo(std::string_view line, int64_t line_no) {
    std::string_view cols[kCriteoColumns];
    const int n = Split(line, '\t', cols, kCriteoColumns);
    if (n != kCriteoColumns) {
      return Where(line_no) + "expected " + std::to_string(kCriteoColumns) +
             " tab-separated columns (label I1..I13 C1..C26), found " + std::to_string(n);
    }
    float label;
    if (!ParseLabel(cols[0], &label)) {
      return Where(line_no) + "field label: '" + std::string(cols[0].substr(0, 40)) +
             "' is not 0 or 1";
    }
    uint64_t ids[kCriteoColumns - 1];
    float numeric[kCriteoNumeric];
    for (int f = 0; f < kCriteoNumeric; ++f) {
      std::string_view v = cols[1 + f];
      if (v.empty()) {
        ids[f] = HashFeature(f, "");
        numeric[f] = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      int64_t x;
      if (!ParseInt(v, &x)) {
        return Where(line_no) + "field I" + std::to_string(f + 1) + ": '" +
               std::string(v.substr(0, 40)) + "' is not an integer";
      }
      ids[f] = HashNumber(f, CriteoBucket(x));
      numeric[f] = std::log1p(static_cast<float>(std::max<int64_t>(x, 0)));
    }
    for (int c = 0; c < kCriteoCategorical; ++c) {
      ids[kCriteoNumeric + c] = HashFeature(kCriteoNumeric + c, cols[1 + kCriteoNumeric + c]);
    }
    data_.labels.push_back(label);
    data_.features.insert(data_.features.end(), ids, ids + kCriteoColumns - 1);
    data_.numeric.insert(data_.numeric.end(), numeric, numeric + kCriteoNumeric);
    return {};
  }

  std::string Avazu(std::string_view line, int64_t line_no) {
    std::string_view cols[kAvazuColumns];
    const int n = Split(line, ',', cols, kAvazuColumns);
    if (n != kAvazuColumns) {
      return Where(line_no) + "expected " + std::to_string(kAvazuColumns) +
             " comma-separated columns (id,click,hour,C1,...,C21), found " + std::to_string(n);
    }
    float label;
    if (!ParseLabel(cols[1], &label)) {
      return Where(line_no) + "field click: '" + std::string(cols[1].substr(0, 40)) +
             "' is not 0 or 1";
    }
    int64_t hour;
    const std::string_view h = cols[2];
    int64_t yy = 0, mm = 0, dd = 0, hh = 0;
    const bool ok = h.size() == 8 && ParseInt(h, &hour) && ParseInt(h.substr(0, 2), &yy) &&
                    ParseInt(h.substr(2, 2), &mm) && ParseInt(h.substr(4, 2), &dd) &&
                    ParseInt(h.substr(6, 2), &hh) && mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31 &&
                    hh >= 0 && hh <= 23;
    if (!ok) {
      return Where(line_no) + "field hour: '" + std::string(h.substr(0, 40)) +
             "' is not a YYMMDDHH time";
    }
    uint64_t ids[kAvazuCategorical + 2];
    for (int c = 0; c < kAvazuCategorical; ++c) ids[c] = HashFeature(c, cols[3 + c]);
    const int64_t days =
        DaysFromCivil(2000 + yy, static_cast<unsigned>(mm), static_cast<unsigned>(dd));
    ids[kAvazuCategorical] = HashNumber(kAvazuCategorical, hh);
    ids[kAvazuCategorical + 1] = HashNumber(kAvazuCategorical + 1, ((days % 7) + 11) % 7);
    data_.labels.push_back(label);
    data_.features.insert(data_.features.end(), ids, ids + kAvazuCategorical + 2);
    return {};
  }

  std::string_view origin_;
  CtrFormat format_;
  CtrReadOptions options_;
  CtrReadReport* report_;
  CtrDataset data_;
  std::vector<std::string> column_names_;
  Status status_;
};

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

}  // namespace

std::string_view FormatName(CtrFormat format) {
  return format == CtrFormat::kCriteo ? "criteo" : "avazu";
}

Result<CtrFormat> ParseCtrFormat(std::string_view name) {
  if (name == "criteo") return CtrFormat::kCriteo;
  if (name == "avazu") return CtrFormat::kAvazu;
  return Status::InvalidArgument("unknown CTR format '" + std::string(name) +
                                 "' (known: criteo, avazu)");
}

uint64_t HashFeature(int field, std::string_view value) {
  // Eight bytes at a time through the SplitMix64 finaliser, seeded by the field and the length,
  // so that "ab","" and "a","b" differ and fields differ before the field bits are even set.
  uint64_t h =
      nn::Rng::Mix(0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(field + 1) ^ value.size());
  size_t i = 0;
  for (; i + 8 <= value.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, value.data() + i, 8);
    h = nn::Rng::Mix(h ^ w);
  }
  uint64_t tail = 0;
  if (i < value.size()) std::memcpy(&tail, value.data() + i, value.size() - i);
  h = nn::Rng::Mix(h ^ tail ^ 0xff51afd7ed558ccdULL);
  return static_cast<uint64_t>(field) << kFieldShift | (h >> (64 - kFieldShift));
}

int64_t CriteoBucket(int64_t v) {
  if (v <= 2) return v;
  const double l = std::log(static_cast<double>(v));
  return static_cast<int64_t>(std::floor(l * l));
}

std::vector<std::string> FieldNames(CtrFormat format) {
  std::vector<std::string> names;
  if (format == CtrFormat::kCriteo) {
    for (int i = 1; i <= kCriteoNumeric; ++i)
      names.push_back(std::string("I").append(std::to_string(i)));
    for (int i = 1; i <= kCriteoCategorical; ++i)
      names.push_back(std::string("C").append(std::to_string(i)));
  } else {
    std::vector<std::string> cols = AvazuColumnNames();
    names.assign(cols.begin() + 3, cols.end());
    names.push_back("hour_of_day");
    names.push_back("weekday");
  }
  return names;
}

Result<CtrDataset> ParseCtrText(std::string_view text, std::string_view origin, CtrFormat format,
                                const CtrReadOptions& options, CtrReadReport* report) {
  CtrReadReport local;
  if (report == nullptr) report = &local;
  *report = {};
  Parser parser(origin, format, options, report);
  int64_t line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    if (!parser.Line(text.substr(start, end - start), ++line_no)) break;
    start = end + 1;
  }
  return parser.Finish();
}

Result<CtrDataset> ReadCtrFile(const std::string& path, CtrFormat format,
                               const CtrReadOptions& options, CtrReadReport* report) {
  std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound("no such file: " + path);
    return Status::IOError("cannot open " + path + ": " + std::strerror(err));
  }
  CtrReadReport local;
  if (report == nullptr) report = &local;
  *report = {};
  Parser parser(path, format, options, report);
  char* buf = nullptr;
  size_t cap = 0;
  int64_t line_no = 0;
  ssize_t len;
  errno = 0;
  while ((len = ::getline(&buf, &cap, file.get())) >= 0) {
    std::string_view line(buf, static_cast<size_t>(len));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!parser.Line(line, ++line_no)) break;
  }
  const bool read_error = std::ferror(file.get()) != 0;
  std::free(buf);
  if (read_error) parser.Fail(Status::IOError("error reading " + path));
  return parser.Finish();
}

}  // namespace freshet::rank
