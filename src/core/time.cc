#include "core/time.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace freshet {
namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Reads exactly `n` digits at s[pos..]; advances pos.
bool ReadFixed(std::string_view s, size_t& pos, int n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  pos += n;
  return true;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

Status Bad(std::string_view text, std::string_view why) {
  return Status::InvalidArgument("'" + std::string(text) + "' " + std::string(why));
}

Result<int64_t> ParseNumeric(std::string_view text) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
    return Bad(text, "is not a number or ISO-8601 time");
  }
  if (v < 0) return Bad(text, "is a negative epoch time");
  // Epoch seconds stay below 1e11 until the year 5138; epoch milliseconds pass 1e11 in 1973.
  if (v < 1e11) return static_cast<int64_t>(std::llround(v * 1000.0));
  if (v < 1e14) return static_cast<int64_t>(std::llround(v));
  return Bad(text, "is too large for epoch seconds or milliseconds (microseconds are not "
                   "accepted)");
}

Result<int64_t> ParseIso(std::string_view text) {
  size_t pos = 0;
  int year = 0, month = 0, day = 0;
  if (!ReadFixed(text, pos, 4, year) || pos >= text.size() || text[pos++] != '-' ||
      !ReadFixed(text, pos, 2, month) || pos >= text.size() || text[pos++] != '-' ||
      !ReadFixed(text, pos, 2, day)) {
    return Bad(text, "is not an epoch number or ISO-8601 time (YYYY-MM-DD[THH:MM[:SS]][Z])");
  }
  if (month < 1 || month > 12) return Bad(text, "has month outside 1..12");
  if (day < 1 || day > DaysInMonth(year, month)) return Bad(text, "has an invalid day of month");
  int hour = 0, minute = 0, second = 0, millis = 0;
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == ' ' || text[pos] == 't')) {
    ++pos;
    if (!ReadFixed(text, pos, 2, hour) || pos >= text.size() || text[pos++] != ':' ||
        !ReadFixed(text, pos, 2, minute)) {
      return Bad(text, "has a malformed time of day (want HH:MM[:SS])");
    }
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!ReadFixed(text, pos, 2, second)) return Bad(text, "has malformed seconds");
      if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
        ++pos;
        int digits = 0;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
          if (digits < 3) millis = millis * 10 + (text[pos] - '0');
          ++digits;
          ++pos;
        }
        if (digits == 0) return Bad(text, "has an empty fraction of a second");
        for (int d = digits; d < 3; ++d) millis *= 10;
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return Bad(text, "has an invalid time of day");
  }
  int64_t offset_min = 0;
  if (pos < text.size()) {
    char c = text[pos];
    if (c == 'Z' || c == 'z') {
      ++pos;
    } else if (c == '+' || c == '-') {
      ++pos;
      int oh = 0, om = 0;
      if (!ReadFixed(text, pos, 2, oh)) return Bad(text, "has a malformed UTC offset");
      if (pos < text.size() && text[pos] == ':') ++pos;
      if (pos < text.size() && !ReadFixed(text, pos, 2, om)) {
        return Bad(text, "has a malformed UTC offset");
      }
      if (oh > 23 || om > 59) return Bad(text, "has an invalid UTC offset");
      offset_min = (oh * 60 + om) * (c == '-' ? -1 : 1);
    }
  }
  if (pos != text.size()) return Bad(text, "has trailing characters after the time");
  int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_min * 60;
  if (secs < 0) return Bad(text, "is before 1970-01-01");
  return secs * 1000 + millis;
}

}  // namespace

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's days_from_civil: shift the year to start in March so leap days come last.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

Result<int64_t> ParseTimestamp(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (text.empty()) return Status::InvalidArgument("is empty");
  // "2024-..." has a '-' at index 4; a plain number never does.
  if (text.size() >= 10 && text[4] == '-' && AllDigits(text.substr(0, 4))) return ParseIso(text);
  return ParseNumeric(text);
}

std::string FormatTimestamp(int64_t ts_ms) {
  int64_t secs = ts_ms >= 0 ? ts_ms / 1000 : (ts_ms - 999) / 1000;
  int millis = static_cast<int>(ts_ms - secs * 1000);
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t rem = secs - days * 86400;
  // civil_from_days (Hinnant).
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[40];
  int n = std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d",
                        static_cast<long long>(y), m, d, static_cast<int>(rem / 3600),
                        static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (millis != 0) {
    std::snprintf(buf, sizeof(buf), ".%03d", millis);
    out += buf;
  }
  out += 'Z';
  return out;
}

}  // namespace freshet
