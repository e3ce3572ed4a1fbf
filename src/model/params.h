#pragma once

// Model hyper-parameters as text key=value pairs: what `freshet train --param k=v,...` passes,
// and what a model file stores, so that a loaded model re-applies exactly the options it was
// trained with (options that change a model's meaning are saved in its file; STYLE.md).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace freshet::model {

using Params = std::vector<std::pair<std::string, std::string>>;

// "hidden=64,blocks=2" -> {{"hidden","64"},{"blocks","2"}}. InvalidArgument naming a malformed
// entry. An empty text gives no params.
Result<Params> ParseParams(std::string_view text);
// The inverse of ParseParams (entries joined by ',').
std::string FormatParams(const Params& params);

// Parsers for option setters: InvalidArgument "<key>: '<text>' is not ... in [lo, hi]".
Status ParseDouble(std::string_view key, std::string_view text, double lo, double hi, double* out);
Status ParseInt(std::string_view key, std::string_view text, int64_t lo, int64_t hi,
                int64_t* out);
Status ParseChoice(std::string_view key, std::string_view text,
                   std::initializer_list<std::string_view> choices, std::string* out);
// "unknown parameter 'x' for <kind> (known: a, b, c)".
Status UnknownParam(std::string_view kind, std::string_view key, const Params& known);

// Implements an options struct's Set(key, value) over a table of fields. Each Field names a key
// and knows how to parse into and print from the struct.
template <typename Options>
struct Field {
  std::string_view key;
  Status (*set)(Options&, std::string_view key, std::string_view text);
  std::string (*get)(const Options&);
};

template <typename Options, size_t N>
Status SetField(std::string_view kind, const Field<Options> (&fields)[N], Options& options,
                std::string_view key, std::string_view text) {
  for (const Field<Options>& f : fields) {
    if (f.key == key) return f.set(options, key, text);
  }
  Params known;
  for (const Field<Options>& f : fields) known.emplace_back(std::string(f.key), f.get(options));
  return UnknownParam(kind, key, known);
}

template <typename Options, size_t N>
Params GetFields(const Field<Options> (&fields)[N], const Options& options) {
  Params out;
  for (const Field<Options>& f : fields) out.emplace_back(std::string(f.key), f.get(options));
  return out;
}

// Applies every entry of `params` through options.Set; stops at the first error.
template <typename Options>
Status ApplyParams(const Params& params, Options& options) {
  for (const auto& [k, v] : params) FRESHET_RETURN_IF_ERROR(options.Set(k, v));
  return Status::OK();
}

std::string FormatNumber(double v);

}  // namespace freshet::model
