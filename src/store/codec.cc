#include "store/codec.h"

#include <bit>

namespace freshet::store {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the store's fixed-width fields are little-endian (docs/formats.md)");

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

template <typename T>
void PutFixed(std::string* out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out->append(buf, sizeof(T));
}

class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return false;
      auto byte = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool String(std::string* s) {
    uint64_t n = 0;
    if (!Varint(&n) || n > in_.size()) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  template <typename T>
  bool Fixed(T* v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool KeyValuesField(KeyValues* kv) {
    uint64_t n = 0;
    if (!Varint(&n) || n > in_.size()) return false;
    kv->resize(n);
    for (auto& [k, v] : *kv) {
      if (!String(&k) || !String(&v)) return false;
    }
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string EventKey(uint64_t seq) {
  std::string key(8, '\0');
  PutBigEndian64(key.data(), seq);
  return key;
}

std::string IdKey(uint32_t id) {
  std::string key(4, '\0');
  PutBigEndian32(key.data(), id);
  return key;
}

void EncodeEvent(const StoredEvent& e, std::string* out) {
  out->clear();
  out->push_back(static_cast<char>(kEventFormatVersion));
  out->push_back(static_cast<char>(e.type));
  PutFixed(out, e.ts_ms);
  PutFixed(out, e.user);
  PutFixed(out, e.item);
  PutFixed(out, e.value);
  PutString(out, e.event_id);
  PutString(out, e.session);
  PutString(out, e.query);
  PutVarint(out, e.context.size());
  for (const auto& [k, v] : e.context) {
    PutString(out, k);
    PutString(out, v);
  }
}

Status DecodeEvent(std::string_view bytes, StoredEvent* out) {
  if (bytes.size() < kEventFixedBytes) {
    return Status::Corruption("event record of " + std::to_string(bytes.size()) +
                              " bytes is shorter than its fixed header");
  }
  if (static_cast<uint8_t>(bytes[0]) != kEventFormatVersion) {
    return Status::Corruption("event record has unknown format version " +
                              std::to_string(static_cast<uint8_t>(bytes[0])));
  }
  if (static_cast<uint8_t>(bytes[1]) >= kNumEventTypes) {
    return Status::Corruption("event record has unknown type " +
                              std::to_string(static_cast<uint8_t>(bytes[1])));
  }
  DecodeEventFixed(bytes.data(), &out->type, &out->ts_ms, &out->user, &out->item, &out->value);
  Decoder d(bytes.substr(kEventFixedBytes));
  if (!d.String(&out->event_id) || !d.String(&out->session) || !d.String(&out->query) ||
      !d.KeyValuesField(&out->context) || !d.done()) {
    return Status::Corruption("event record's variable part is truncated or malformed");
  }
  return Status::OK();
}

void EncodeItem(const Item& item, std::string* out) {
  out->clear();
  out->push_back(1);  // item format version
  PutString(out, item.id);
  PutString(out, item.title);
  PutString(out, item.category);
  PutString(out, item.brand);
  PutFixed(out, item.price);
  PutFixed(out, item.stock);
  PutVarint(out, item.attrs.size());
  for (const auto& [k, v] : item.attrs) {
    PutString(out, k);
    PutString(out, v);
  }
}

Status DecodeItem(std::string_view bytes, Item* out) {
  if (bytes.empty() || bytes[0] != 1) return Status::Corruption("item record has bad version");
  Decoder d(bytes.substr(1));
  if (!d.String(&out->id) || !d.String(&out->title) || !d.String(&out->category) ||
      !d.String(&out->brand) || !d.Fixed(&out->price) || !d.Fixed(&out->stock) ||
      !d.KeyValuesField(&out->attrs) || !d.done()) {
    return Status::Corruption("item record is truncated or malformed");
  }
  return Status::OK();
}

void EncodeUser(const User& user, std::string* out) {
  out->clear();
  out->push_back(1);  // user format version
  PutString(out, user.id);
  PutVarint(out, user.attrs.size());
  for (const auto& [k, v] : user.attrs) {
    PutString(out, k);
    PutString(out, v);
  }
}

Status DecodeUser(std::string_view bytes, User* out) {
  if (bytes.empty() || bytes[0] != 1) return Status::Corruption("user record has bad version");
  Decoder d(bytes.substr(1));
  if (!d.String(&out->id) || !d.KeyValuesField(&out->attrs) || !d.done()) {
    return Status::Corruption("user record is truncated or malformed");
  }
  return Status::OK();
}

}  // namespace freshet::store
