#include "io/csv.h"

#include <cassert>
#include <cstring>

namespace freshet::io {

CsvScan ScanCsvRecord(std::string_view text, char delimiter) {
  // The only states that matter for finding the end are "inside quotes" or not; the extra states
  // tell an opening quote (at a field start) and an escaped quote ("") from literal ones.
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };
  State state = State::kFieldStart;
  CsvScan scan;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    switch (state) {
      case State::kFieldStart:
        if (c == '\n') {
          scan.end = i;
          return scan;
        }
        if (c == '"') {
          state = State::kQuoted;
        } else if (c != delimiter) {
          state = State::kUnquoted;
        }
        break;
      case State::kUnquoted:
        if (c == '\n') {
          scan.end = i;
          return scan;
        }
        if (c == delimiter) state = State::kFieldStart;
        break;
      case State::kQuoted:
        if (c == '"') {
          state = State::kQuoteInQuoted;
        } else if (c == '\n') {
          ++scan.newlines;
        }
        break;
      case State::kQuoteInQuoted:
        if (c == '\n') {
          scan.end = i;
          return scan;
        }
        if (c == '"') {
          state = State::kQuoted;  // "" is an escaped quote; still inside
        } else if (c == delimiter) {
          state = State::kFieldStart;
        } else {
          state = State::kUnquoted;  // malformed; the splitter reports it
        }
        break;
    }
  }
  scan.in_quotes = state == State::kQuoted;
  return scan;
}

CsvSplitter::CsvSplitter(char delimiter) : delimiter_(delimiter) {
  assert(delimiter != '"' && delimiter != '\r' && delimiter != '\n');
}

bool CsvSplitter::Split(std::string_view record) {
  fields_.clear();
  if (record.empty()) {
    fields_.emplace_back();
    return true;
  }
  if (std::memchr(record.data(), '"', record.size()) != nullptr) return SplitQuoted(record);
  // No quote anywhere: every delimiter separates fields, so memchr can jump between them.
  const char* p = record.data();
  const char* end = p + record.size();
  for (;;) {
    const auto* d = static_cast<const char*>(std::memchr(p, delimiter_, end - p));
    if (d == nullptr) {
      fields_.emplace_back(p, end - p);
      return true;
    }
    fields_.emplace_back(p, d - p);
    p = d + 1;
  }
}

bool CsvSplitter::SplitQuoted(std::string_view record) {
  if (scratch_.size() < record.size()) scratch_.resize(record.size());
  char* out = scratch_.data();
  const size_t n = record.size();
  size_t pos = 0;
  for (;;) {
    if (pos < n && record[pos] == '"') {
      // Quoted field: find the closing quote, noting whether any "" escape needs undoing.
      size_t j = pos + 1;
      bool escaped = false;
      size_t close;
      for (;;) {
        const auto* q = static_cast<const char*>(std::memchr(record.data() + j, '"', n - j));
        if (q == nullptr) {
          error_field_ = fields_.size();
          error_ = "has a quoted field with no closing quote";
          return false;
        }
        const size_t k = static_cast<size_t>(q - record.data());
        if (k + 1 < n && record[k + 1] == '"') {
          escaped = true;
          j = k + 2;
          continue;
        }
        close = k;
        break;
      }
      std::string_view content = record.substr(pos + 1, close - pos - 1);
      if (escaped) {
        char* start = out;
        for (size_t i = 0; i < content.size(); ++i) {
          *out++ = content[i];
          if (content[i] == '"') ++i;  // skip the second quote of the pair
        }
        fields_.emplace_back(start, out - start);
      } else {
        fields_.push_back(content);
      }
      pos = close + 1;
      if (pos == n) return true;
      if (record[pos] != delimiter_) {
        error_field_ = fields_.size() - 1;
        error_ =
            "has a character after the closing quote of a quoted field (a quote inside a "
            "quoted field must be doubled: \"\")";
        return false;
      }
      ++pos;
      if (pos == n) {
        fields_.emplace_back();  // a trailing delimiter ends with an empty field
        return true;
      }
      continue;
    }
    const auto* d = static_cast<const char*>(std::memchr(record.data() + pos, delimiter_, n - pos));
    if (d == nullptr) {
      fields_.push_back(record.substr(pos));
      return true;
    }
    const size_t k = static_cast<size_t>(d - record.data());
    fields_.push_back(record.substr(pos, k - pos));
    pos = k + 1;
    if (pos == n) {
      fields_.emplace_back();
      return true;
    }
  }
}

}  // namespace freshet::io
