#include "http/target.h"

namespace freshet::http {
namespace {

constexpr size_t kMaxParams = 64;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes `in` into *out; plus_is_space for query components.
Status Decode(std::string_view in, bool plus_is_space, std::string_view what, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("the " + std::string(what) + " has a control character");
    }
    if (c == '%') {
      const int hi = i + 2 < in.size() ? HexValue(in[i + 1]) : -1;
      const int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
      if (i + 2 >= in.size() || hi < 0 || lo < 0) {
        return Status::InvalidArgument("the " + std::string(what) +
                                       " has a malformed percent escape (use %XX with two hex "
                                       "digits)");
      }
      const char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') {
        return Status::InvalidArgument("the " + std::string(what) + " has an escaped NUL (%00)");
      }
      out->push_back(decoded);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return Status::OK();
}

}  // namespace

Result<Target> ParseTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return Status::InvalidArgument("the request target must be a path starting with '/'");
  }
  if (const size_t hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }
  Target t;
  const size_t q = target.find('?');
  FRESHET_RETURN_IF_ERROR(Decode(target.substr(0, q), false, "path", &t.path));
  if (q == std::string_view::npos) return t;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    if (t.query.size() == kMaxParams) {
      return Status::InvalidArgument("more than " + std::to_string(kMaxParams) +
                                     " query parameters");
    }
    const size_t eq = pair.find('=');
    std::string key, value;
    FRESHET_RETURN_IF_ERROR(Decode(pair.substr(0, eq), true, "query string", &key));
    if (eq != std::string_view::npos) {
      FRESHET_RETURN_IF_ERROR(Decode(pair.substr(eq + 1), true, "query string", &value));
    }
    t.query.emplace_back(std::move(key), std::move(value));
  }
  return t;
}

}  // namespace freshet::http
