#pragma once

// Request-target parsing: "/v1/recommend?user=u%201&k=10" -> path "/v1/recommend" and the query
// pairs {("user", "u 1"), ("k", "10")}. Percent escapes are decoded in both; '+' is a space in the
// query only. Kept apart from the socket code so that the tests and the fuzz target reach it.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace freshet::http {

struct Target {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
};

// InvalidArgument naming the problem for: a target not starting with '/', a malformed or NUL
// percent escape, a control character, or more than 64 query parameters.
Result<Target> ParseTarget(std::string_view target);

}  // namespace freshet::http
