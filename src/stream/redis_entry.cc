#include "stream/redis_entry.h"

#include <simdjson.h>

#include <cassert>
#include <cctype>
#include <charconv>

#include "core/json_writer.h"
#include "io/json_event.h"

namespace freshet::stream {
namespace {

bool ParseInt(std::string_view text, int64_t* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (a password may hold '@', ':' or '/'). False on a broken escape.
bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = HexDigit(in[i + 1]);
    const int lo = HexDigit(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

}  // namespace

std::string RedisUrl::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return "redis://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" +
         std::to_string(db);
}

Result<RedisUrl> ParseRedisUrl(std::string_view url) {
  auto bad = [&](std::string why) {
    return Status::InvalidArgument("redis URL '" + std::string(url) + "': " + std::move(why) +
                                   " (expected redis://[[user]:password@]host[:port][/db])");
  };
  constexpr std::string_view kScheme = "redis://";
  if (url.rfind("rediss://", 0) == 0) return bad("TLS (rediss://) is not supported");
  if (url.rfind(kScheme, 0) != 0) return bad("the scheme must be redis://");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return bad("query parameters are not supported");
  }
  RedisUrl out;
  // The last '@' separates the user info: a password may itself contain '@' unescaped.
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = info.find(':');
    if (colon == std::string_view::npos) {
      return bad("the part before '@' must be ':password' or 'user:password'");
    }
    if (!PercentDecode(info.substr(0, colon), &out.user) ||
        !PercentDecode(info.substr(colon + 1), &out.password)) {
      return bad("a broken %-escape in the user or password");
    }
    if (out.password.empty()) return bad("the password after ':' is empty");
  }
  std::string_view hostport = rest;
  std::string_view db;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    db = rest.substr(slash + 1);
  }
  std::string_view port;
  if (!hostport.empty() && hostport.front() == '[') {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos) return bad("'[' without ']' around an IPv6 address");
    out.host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after ']'");
      port = after.substr(1);
      if (port.empty()) return bad("the port after ':' is empty");
    }
  } else {
    const size_t colon = hostport.find(':');
    out.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      if (port.empty()) return bad("the port after ':' is empty");
    }
  }
  if (out.host.empty()) return bad("the host is missing");
  for (char c : out.host) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '@') {
      return bad("the host '" + out.host + "' is not a host name or address");
    }
  }
  if (!port.empty()) {
    int64_t p = 0;
    if (!ParseInt(port, &p) || p < 1 || p > 65535) {
      return bad("port '" + std::string(port) + "' is not a number in 1..65535");
    }
    out.port = static_cast<int>(p);
  }
  if (!db.empty()) {
    int64_t d = 0;
    if (!ParseInt(db, &d) || d < 0 || d > 1000000) {
      return bad("database '" + std::string(db) + "' is not a non-negative number");
    }
    out.db = static_cast<int>(d);
  }
  return out;
}

std::optional<int64_t> EntryIdMillis(std::string_view id) {
  const size_t dash = id.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  int64_t ms = 0;
  int64_t seq = 0;
  if (!ParseInt(id.substr(0, dash), &ms) || !ParseInt(id.substr(dash + 1), &seq) || ms < 0 ||
      seq < 0) {
    return std::nullopt;
  }
  return ms;
}

struct EntryDecoder::Impl {
  Result<io::JsonEventDecoder> decoder = io::JsonEventDecoder::Create({});
  simdjson::dom::parser parser;
  std::string json;  // scratch: the flat fields as a JSON object
};

EntryDecoder::EntryDecoder() : impl_(std::make_unique<Impl>()) {
  // The default options name every event field by its own name: Create cannot fail.
  assert(impl_->decoder.ok());
}

EntryDecoder::~EntryDecoder() = default;

bool EntryDecoder::Decode(const StreamEntry& entry, Event* event, FieldError* problem) {
  simdjson::dom::parser& parser = impl_->parser;
  std::string& json = impl_->json;
  const std::optional<int64_t> id_ms = EntryIdMillis(entry.id);
  if (entry.fields.empty()) {
    problem->field = "entry";
    problem->reason = "has no fields: give `event` (one JSON object) or user / item / type / ...";
    return false;
  }
  const std::string* event_json = nullptr;
  for (const auto& [name, value] : entry.fields) {
    if (name == "event") event_json = &value;
  }
  simdjson::dom::element doc;
  if (event_json != nullptr) {
    if (auto err = parser.parse(*event_json).get(doc)) {
      problem->field = "event";
      problem->reason = std::string("is not valid JSON: ") + simdjson::error_message(err);
      return false;
    }
  } else {
    // Flat pairs become the string values of one JSON object; a `context` field that holds a
    // JSON object is kept as an object (the decoder reads its keys as context).
    json.clear();
    json.push_back('{');
    for (const auto& [name, value] : entry.fields) {
      if (json.size() > 1) json.push_back(',');
      AppendJsonString(&json, name);
      json.push_back(':');
      if (name == "context" && !value.empty() && value.front() == '{') {
        simdjson::dom::element check;
        if (auto err = parser.parse(value).get(check); err || !check.is_object()) {
          problem->field = "context";
          problem->reason = "is not a JSON object";
          return false;
        }
        json += value;
      } else {
        AppendJsonString(&json, value);
      }
    }
    json.push_back('}');
    if (auto err = parser.parse(json).get(doc)) {
      // Cannot happen for strings we escaped ourselves, short of a hostile `context`.
      problem->field = "entry";
      problem->reason =
          std::string("cannot be read as a JSON object: ") + simdjson::error_message(err);
      return false;
    }
  }
  simdjson::dom::object object;
  if (doc.get_object().get(object)) {
    problem->field = "event";
    problem->reason = "must hold one JSON object";
    return false;
  }
  Event e;
  io::FieldProblem why;
  if (!impl_->decoder->Decode(object, id_ms, &e, &why)) {
    problem->field = std::move(why.field);
    problem->reason = std::move(why.reason);
    return false;
  }
  if (auto err = ValidateEvent(e)) {
    problem->field = std::move(err->field);
    problem->reason = std::move(err->reason);
    return false;
  }
  *event = std::move(e);
  return true;
}

std::string DedupeKey(const Event& event, std::string_view stream, std::string_view entry_id) {
  if (!event.event_id.empty()) return "id:" + event.event_id;
  std::string key = "redis:";
  key += stream;
  key += ':';
  key += entry_id;
  return key;
}

}  // namespace freshet::stream
