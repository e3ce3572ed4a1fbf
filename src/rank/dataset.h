#pragma once

// Click-through-rate samples and the Criteo / Avazu Kaggle readers (docs/models.md, "Ranking
// (CTR)").
//
// A sample is a label and one feature id per field. Every field has exactly one id per sample
// (a missing value has its own id), so a batch of samples is a dense [samples, fields] block of
// ids and the models need no per-sample lengths. A feature id holds its field in the top 8 bits
// and a 56-bit hash of the value below, so equal strings in different fields never share an id
// and the field of an id can be read back from it (FeatureMap's per-field rare rows).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace freshet::rank {

// Persisted in model files: never renumber.
enum class CtrFormat : uint8_t {
  // Criteo Display Advertising Challenge: tab-separated, no header, label I1..I13 C1..C26; an
  // empty field is missing. I1..I13 become categorical ids by the Kaggle-winning log buckets.
  kCriteo = 0,
  // Avazu CTR prediction: CSV, id,click,hour,C1,banner_pos,...,C21, with or without that header
  // line. `id` is dropped; `hour` (YYMMDDHH) becomes two fields, hour of day and weekday.
  kAvazu = 1,
};

std::string_view FormatName(CtrFormat format);
// "criteo" or "avazu"; InvalidArgument otherwise.
Result<CtrFormat> ParseCtrFormat(std::string_view name);

inline constexpr int kFieldShift = 56;
inline constexpr int kMaxFields = 256;
// The id of `value` in `field`. REQUIRES: 0 <= field < kMaxFields.
uint64_t HashFeature(int field, std::string_view value);
inline int FieldOf(uint64_t feature) { return static_cast<int>(feature >> kFieldShift); }

// The Kaggle-winning transform of a Criteo count: v > 2 ? floor(ln(v)^2) : v, kept as an integer
// bucket (negative values stay as they are).
int64_t CriteoBucket(int64_t v);

// The names of the categorical fields of a format, in sample order.
std::vector<std::string> FieldNames(CtrFormat format);

struct CtrDataset {
  CtrFormat format = CtrFormat::kCriteo;
  int num_fields = 0;              // feature ids per sample
  int num_numeric = 0;             // raw numeric values per sample (Criteo 13, Avazu 0)
  std::vector<float> labels;       // 0 or 1
  std::vector<uint64_t> features;  // [size() * num_fields]; id of field f of sample i at i * F + f
  // [size() * num_numeric]: log(1 + max(v, 0)) of Criteo's I1..I13, NaN when missing. Kept for
  // models that read dense inputs; the four models here use the bucketed ids only.
  std::vector<float> numeric;

  size_t size() const { return labels.size(); }
};

struct CtrReadOptions {
  // Bad lines tolerated before reading fails. 0: the first bad line is an error. Skipped lines
  // are counted in the report and the first few are quoted there.
  int64_t max_errors = 0;
  size_t max_rows = 0;  // stop after this many samples; 0 = all
};

struct CtrReadReport {
  uint64_t lines = 0;                     // data lines read (not the header)
  uint64_t samples = 0;                   // lines that became samples
  uint64_t errors = 0;                    // lines skipped
  std::vector<std::string> first_errors;  // at most 10, each naming file, line, field and reason
};

// Reads a whole file. NotFound / IOError for the file; InvalidArgument "FILE:LINE: field NAME:
// REASON" for a bad line (wrong column count, a label that is not 0 or 1, a numeric field that
// is not an integer, an Avazu hour that is not YYMMDDHH, an Avazu header with other columns) once
// more than options.max_errors lines were bad. `report` may be null.
Result<CtrDataset> ReadCtrFile(const std::string& path, CtrFormat format,
                               const CtrReadOptions& options = {}, CtrReadReport* report = nullptr);
// The same over text held in memory; `origin` stands for the file name in errors.
Result<CtrDataset> ParseCtrText(std::string_view text, std::string_view origin, CtrFormat format,
                                const CtrReadOptions& options = {},
                                CtrReadReport* report = nullptr);

}  // namespace freshet::rank
