#pragma once

// The pieces of the Redis Streams source that need no Redis: the connection URL, stream entry
// ids, and decoding one stream entry into an Event with the same decoder POST /v1/events uses
// (io::JsonEventDecoder), so that a record is accepted or rejected alike on both paths.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace freshet::stream {

// redis://[[user]:password@]host[:port][/db]. Defaults: port 6379, db 0, no password.
struct RedisUrl {
  std::string host;
  int port = 6379;
  std::string user;      // Redis 6 ACL user; empty: the default user
  std::string password;  // empty: no AUTH
  int db = 0;
  // "redis://host:port/db", the password left out (for log lines).
  std::string ToString() const;
};

// InvalidArgument naming what is wrong ("... the scheme must be redis://", "... port 99999 is
// not in 1..65535") for anything else. Percent-escapes in user and password are decoded.
Result<RedisUrl> ParseRedisUrl(std::string_view url);

// The millisecond part of an entry id "<ms>-<seq>"; nullopt when `id` is not of that form.
std::optional<int64_t> EntryIdMillis(std::string_view id);

// One entry as XREADGROUP / XAUTOCLAIM return it.
struct StreamEntry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;
  // The entry was deleted (XDEL, XTRIM) while pending: Redis returns its id with no fields.
  bool deleted = false;
};

// Turns entries into validated events. An entry is one of:
//  - a field `event` holding one JSON object, exactly as POST /v1/events accepts one record
//    (other fields of such an entry are ignored);
//  - flat field/value pairs (`user`, `item`, `type`, `ts`, `value`, `session`, `query`,
//    `event_id`; any other field becomes context, and a `context` field may hold a JSON
//    object), read as if they were the string values of one JSON object.
// A record without `ts` takes the entry id's millisecond time.
class EntryDecoder {
 public:
  EntryDecoder();
  ~EntryDecoder();
  EntryDecoder(const EntryDecoder&) = delete;
  EntryDecoder& operator=(const EntryDecoder&) = delete;

  // Returns true with *event set when the entry decodes and passes ValidateEvent; false with
  // *problem naming the field ("event" for an unusable `event` field, "entry" for an entry
  // with no fields) and the reason. Not thread-safe (one parser buffer); one per thread.
  bool Decode(const StreamEntry& entry, Event* event, FieldError* problem);

 private:
  struct Impl;  // keeps simdjson out of this header
  std::unique_ptr<Impl> impl_;
};

// The dedupe key of an event read from `stream` at entry `entry_id`: "id:<event_id>" when the
// event has one (as POST /v1/events), else "redis:<stream>:<entry_id>", so that an entry
// delivered twice is stored once.
std::string DedupeKey(const Event& event, std::string_view stream, std::string_view entry_id);

}  // namespace freshet::stream
