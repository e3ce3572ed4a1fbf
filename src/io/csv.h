#pragma once

// RFC 4180 CSV, in two pieces that a streaming reader combines:
//  - ScanCsvRecord finds where a record ends in a block of text, so that a quoted field may hold
//    newlines;
//  - CsvSplitter cuts one complete record into fields without allocating per field.
// Dialect: any one-byte delimiter; a field is quoted only when its first byte is '"'; inside
// quotes "" stands for one '"'; a '"' inside an unquoted field is kept as an ordinary character
// (real exports contain `5" screen`, and refusing them helps nobody). Record terminators are
// "\n" or "\r\n"; callers strip them before splitting.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace freshet::io {

struct CsvScan {
  // Offset of the '\n' that ends the first record in the scanned text, or npos when the text ends
  // first.
  size_t end = std::string_view::npos;
  // Newlines inside quoted fields before `end` (or before the end of the text); the record spans
  // 1 + newlines physical lines.
  int newlines = 0;
  // When end == npos: whether the text ended inside a quoted field (an unterminated quote if the
  // text was the rest of the file).
  bool in_quotes = false;
};

// Finds the end of the record that starts at text[0].
CsvScan ScanCsvRecord(std::string_view text, char delimiter);

// Splits records into fields. The field views point into the record passed to Split, or into
// the splitter's own scratch for quoted fields that contained "" escapes; they stay valid until
// the next Split call and while the record's storage is unchanged.
// Not thread-safe; use one splitter per reader.
class CsvSplitter {
 public:
  // REQUIRES: delimiter is neither '"', '\r' nor '\n'.
  explicit CsvSplitter(char delimiter);

  // Splits `record` (no terminator). Returns false when the record is malformed: a quoted field
  // without its closing quote, or a character other than the delimiter right after a closing
  // quote; then error_field() is the 0-based index of the bad field and error() says why.
  // An empty record is one empty field.
  bool Split(std::string_view record);

  std::span<const std::string_view> fields() const { return fields_; }
  size_t error_field() const { return error_field_; }
  const std::string& error() const { return error_; }
  char delimiter() const { return delimiter_; }

 private:
  bool SplitQuoted(std::string_view record);

  char delimiter_;
  std::vector<std::string_view> fields_;
  std::string scratch_;  // unescaped quoted fields; sized to the record before use, never resized
                         // during a split, so views into it stay put
  size_t error_field_ = 0;
  std::string error_;
};

}  // namespace freshet::io
