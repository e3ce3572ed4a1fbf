#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace freshet {

// Parses an event timestamp into milliseconds since the Unix epoch (UTC). Accepts
//  - an integer or decimal number of epoch seconds (< 1e11) or milliseconds (>= 1e11),
//  - ISO-8601: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.fff]]" (a space may replace the T),
//    optionally followed by "Z" or "+HH:MM" / "-HH:MM" / "+HHMM"; no offset means UTC.
// Returns InvalidArgument with the reason otherwise (the caller adds field and line).
Result<int64_t> ParseTimestamp(std::string_view text);

// Days in `month` (1..12) of the proleptic Gregorian `year`.
int DaysInMonth(int64_t year, int month);

// Days since 1970-01-01 of a proleptic Gregorian date. REQUIRES: month in 1..12, day in 1..31.
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

// "2024-05-01T12:34:56.789Z" (milliseconds shown only when non-zero).
std::string FormatTimestamp(int64_t ts_ms);

}  // namespace freshet
