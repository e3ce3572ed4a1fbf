#pragma once

// API keys and their roles. A request names its key in `Authorization: Bearer KEY` or
// `X-API-Key: KEY`; the key's role decides what it may call:
//   read  - every GET endpoint and POST /v1/score (reads only)
//   write - read, plus POST /v1/events
//   admin - write, plus the model endpoints (activate, rollback)
// Keys come from a file (one "ROLE KEY" per line, '#' comments) and / or the FRESHET_API_KEYS
// environment variable ("ROLE:KEY,ROLE:KEY"). Keys are at least 16 characters of
// [A-Za-z0-9._~+/=-], so a typo'd or trivially guessable key is refused at startup.

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace freshet::serve {

enum class Role { kNone = 0, kRead = 1, kWrite = 2, kAdmin = 3 };  // ordered: each includes the last
std::string_view RoleName(Role role);

class ApiKeys {
 public:
  // Adds the keys of a key file's text; `origin` names it in errors ("keys.txt line 3: ...").
  // InvalidArgument for an unknown role, a short or malformed key, or a key given twice.
  Status AddFileText(std::string_view text, std::string_view origin);
  // Adds "ROLE:KEY,ROLE:KEY" (the FRESHET_API_KEYS format). Errors as AddFileText.
  Status AddList(std::string_view list, std::string_view origin);

  // The role of `key`, kNone when unknown. Compares in time independent of where keys differ.
  // Thread-safe (const).
  Role Find(std::string_view key) const;
  size_t size() const { return keys_.size(); }

 private:
  Status Add(std::string_view role, std::string_view key, const std::string& where);
  struct Entry {
    std::string key;
    Role role;
  };
  std::vector<Entry> keys_;
};

}  // namespace freshet::serve
