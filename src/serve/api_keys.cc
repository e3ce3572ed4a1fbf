#include "serve/api_keys.h"

#include <cctype>

namespace freshet::serve {
namespace {

constexpr size_t kMinKeyLength = 16;

bool KeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '~' ||
         c == '+' || c == '/' || c == '=' || c == '-';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Equal without an early exit on the first differing byte.
bool SameKey(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kNone: return "none";
    case Role::kRead: return "read";
    case Role::kWrite: return "write";
    case Role::kAdmin: return "admin";
  }
  return "none";
}

Status ApiKeys::Add(std::string_view role_name, std::string_view key, const std::string& where) {
  Role role;
  if (role_name == "read") {
    role = Role::kRead;
  } else if (role_name == "write") {
    role = Role::kWrite;
  } else if (role_name == "admin") {
    role = Role::kAdmin;
  } else {
    return Status::InvalidArgument(where + ": unknown role '" + std::string(role_name) +
                                   "' (read, write or admin)");
  }
  if (key.size() < kMinKeyLength) {
    return Status::InvalidArgument(where + ": the key is " + std::to_string(key.size()) +
                                   " characters; use at least " + std::to_string(kMinKeyLength) +
                                   " (e.g. `head -c 24 /dev/urandom | base64`)");
  }
  for (char c : key) {
    if (!KeyChar(c)) {
      return Status::InvalidArgument(where + ": the key has a character outside " +
                                     "[A-Za-z0-9._~+/=-]");
    }
  }
  for (const Entry& e : keys_) {
    if (e.key == key) return Status::InvalidArgument(where + ": the key is given twice");
  }
  keys_.push_back({std::string(key), role});
  return Status::OK();
}

Status ApiKeys::AddFileText(std::string_view text, std::string_view origin) {
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = Trim(line);
    if (line.empty()) continue;
    const std::string where = std::string(origin) + " line " + std::to_string(line_no);
    size_t space = 0;
    while (space < line.size() && !std::isspace(static_cast<unsigned char>(line[space]))) {
      ++space;
    }
    if (space == line.size()) {
      return Status::InvalidArgument(where + ": expected 'ROLE KEY'");
    }
    FRESHET_RETURN_IF_ERROR(Add(line.substr(0, space), Trim(line.substr(space)), where));
  }
  return Status::OK();
}

Status ApiKeys::AddList(std::string_view list, std::string_view origin) {
  size_t n = 0;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view entry = Trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    ++n;
    if (entry.empty()) continue;
    const std::string where = std::string(origin) + " entry " + std::to_string(n);
    const size_t colon = entry.find(':');
    if (colon == std::string_view::npos) {
      return Status::InvalidArgument(where + ": expected 'ROLE:KEY'");
    }
    FRESHET_RETURN_IF_ERROR(Add(Trim(entry.substr(0, colon)), Trim(entry.substr(colon + 1)), where));
  }
  return Status::OK();
}

Role ApiKeys::Find(std::string_view key) const {
  Role found = Role::kNone;
  for (const Entry& e : keys_) {
    if (SameKey(e.key, key)) found = e.role;
  }
  return found;
}

}  // namespace freshet::serve
