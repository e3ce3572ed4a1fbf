#include "model/params.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace freshet::model {

Result<Params> ParseParams(std::string_view text) {
  Params out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (entry.empty()) continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == entry.size()) {
      return Status::InvalidArgument("parameter '" + std::string(entry) +
                                     "' is not KEY=VALUE (e.g. hidden=64,epochs=50)");
    }
    out.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return out;
}

std::string FormatParams(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += ',';
    out += k + "=" + v;
  }
  return out;
}

Status ParseDouble(std::string_view key, std::string_view text, double lo, double hi,
                   double* out) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v) || v < lo ||
      v > hi) {
    return Status::InvalidArgument(std::string(key) + ": '" + std::string(text) +
                                   "' is not a number in [" + FormatNumber(lo) + ", " +
                                   FormatNumber(hi) + "]");
  }
  *out = v;
  return Status::OK();
}

Status ParseInt(std::string_view key, std::string_view text, int64_t lo, int64_t hi,
                int64_t* out) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < lo || v > hi) {
    return Status::InvalidArgument(std::string(key) + ": '" + std::string(text) +
                                   "' is not an integer in [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + "]");
  }
  *out = v;
  return Status::OK();
}

Status ParseChoice(std::string_view key, std::string_view text,
                   std::initializer_list<std::string_view> choices, std::string* out) {
  std::string list;
  for (std::string_view c : choices) {
    if (c == text) {
      *out = std::string(text);
      return Status::OK();
    }
    list += list.empty() ? "" : ", ";
    list += c;
  }
  return Status::InvalidArgument(std::string(key) + ": '" + std::string(text) +
                                 "' is not one of " + list);
}

Status UnknownParam(std::string_view kind, std::string_view key, const Params& known) {
  std::string list;
  for (const auto& [k, v] : known) list += (list.empty() ? "" : ", ") + k + "=" + v;
  return Status::InvalidArgument("unknown parameter '" + std::string(key) + "' for " +
                                 std::string(kind) + " (known, with defaults: " + list + ")");
}

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.10g", v);
  return buf;
}

}  // namespace freshet::model
