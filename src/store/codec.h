#pragma once

// Byte layouts of the store's keys and values. Specified in docs/formats.md ("Store"); change
// both together and bump kEventFormatVersion / kStoreSchemaVersion.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/ids.h"
#include "core/status.h"

namespace freshet::store {

inline constexpr uint32_t kStoreSchemaVersion = 1;
inline constexpr uint8_t kEventFormatVersion = 1;
// version(1) type(1) ts(8) user(4) item(4) value(8): the part a training scan decodes.
inline constexpr size_t kEventFixedBytes = 26;
static_assert(kEventFixedBytes == 1 + 1 + 8 + 4 + 4 + 8, "update docs/formats.md");

// An event as stored: dense ids instead of string user / item.
struct StoredEvent {
  EventType type = EventType::kView;
  int64_t ts_ms = 0;
  UserId user = kNoId;
  ItemId item = kNoId;  // kNoId for a search without an item
  double value = 0.0;
  std::string event_id;
  std::string session;
  std::string query;
  KeyValues context;
};

// Big-endian so that RocksDB's bytewise order is numeric order.
inline void PutBigEndian64(char* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}
inline uint64_t GetBigEndian64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}
inline void PutBigEndian32(char* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}
inline uint32_t GetBigEndian32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::string EventKey(uint64_t seq);
std::string IdKey(uint32_t id);

void EncodeEvent(const StoredEvent& event, std::string* out);
// Decodes the whole record. Corruption when truncated or of an unknown version.
Status DecodeEvent(std::string_view bytes, StoredEvent* out);

// The fixed prefix only: what the columnar scan needs. REQUIRES: bytes.size() >= kEventFixedBytes
// and bytes[0] == kEventFormatVersion (checked by the caller).
inline void DecodeEventFixed(const char* p, EventType* type, int64_t* ts_ms, UserId* user,
                             ItemId* item, double* value) {
  *type = static_cast<EventType>(static_cast<uint8_t>(p[1]));
  std::memcpy(ts_ms, p + 2, 8);  // little-endian host; see docs/formats.md
  std::memcpy(user, p + 10, 4);
  std::memcpy(item, p + 14, 4);
  std::memcpy(value, p + 18, 8);
}

void EncodeItem(const Item& item, std::string* out);
Status DecodeItem(std::string_view bytes, Item* out);
void EncodeUser(const User& user, std::string* out);
Status DecodeUser(std::string_view bytes, User* out);

}  // namespace freshet::store
