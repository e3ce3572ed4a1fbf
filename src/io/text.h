#pragma once

// Small text helpers the readers share: encoding checks and conversions, number parsing that
// accepts exactly what a person would write in a data file, and the cut of a line kept in a reject.
// Private to src/io.

#include <cstdint>
#include <string>
#include <string_view>

namespace freshet::io {

// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
bool IsValidUtf8(std::string_view text);

// True when every byte of `text` is below 0x80, the common case the readers test first because it
// makes the UTF-8 check and the Latin-1 conversion unnecessary.
bool IsAscii(std::string_view text);

// Appends `latin1` to `out` as UTF-8: each byte >= 0x80 is the code point of the same value
// (ISO-8859-1) and becomes two bytes.
void AppendLatin1AsUtf8(std::string_view latin1, std::string& out);

// Strips ASCII spaces and tabs from both ends.
std::string_view TrimBlanks(std::string_view text);

// Parses a whole finite decimal number ("3", "-1.5", "+2", "1e3"); surrounding blanks are allowed.
// Returns false for anything else, including "", "nan", "inf" and "1.5x".
bool ParseDouble(std::string_view text, double& out);

// Parses a whole base-10 integer with an optional sign; surrounding blanks are allowed.
bool ParseInt64(std::string_view text, int64_t& out);

// "'text'": how messages show a value from the file.
std::string Quote(std::string_view text);

// Appends the decimal text of `value` to `out`.
void AppendInt(int64_t value, std::string& out);

// `line` cut to at most `max_bytes`, backing off so that a multi-byte UTF-8 sequence is not split.
std::string CutForReject(std::string_view line, size_t max_bytes = 512);

}  // namespace freshet::io
