#pragma once

// External string id <-> dense id, assigned in first-seen order from 0. An open-addressing table
// of (hash tag, id) slots over one vector of names: a lookup touches one slot array entry and one
// name, where std::unordered_map touches a bucket, a node and the key (see docs/benchmarks.md:
// the map was 18% of ingest time). Not thread-safe; EventStore guards it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace freshet::store {

class Dictionary {
 public:
  Dictionary() { slots_.assign(kInitialSlots, Slot{}); }

  std::optional<uint32_t> Find(std::string_view name) const {
    uint64_t h = Hash(name);
    for (size_t i = h & mask(); ; i = (i + 1) & mask()) {
      const Slot& s = slots_[i];
      if (s.id == kEmpty) return std::nullopt;
      if (s.tag == static_cast<uint32_t>(h >> 32) && names_[s.id] == name) return s.id;
    }
  }

  // REQUIRES: name is not present (Find returned nullopt). Returns the new id.
  uint32_t Add(std::string name) {
    auto id = static_cast<uint32_t>(names_.size());
    // Keep the load factor at or below 1/2 so probe runs stay short.
    if ((names_.size() + 1) * 2 > slots_.size()) Grow();
    Insert(Hash(name), id);
    names_.push_back(std::move(name));
    return id;
  }

  const std::string& name(uint32_t id) const { return names_[id]; }
  size_t size() const { return names_.size(); }

  // 64-bit FNV-1a with a final avalanche (splitmix64's finaliser): ids are short strings, where
  // FNV is fast; the finaliser spreads the low bits used for the slot index.
  static uint64_t Hash(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
  }

 private:
  static constexpr uint32_t kEmpty = 0xffffffffu;
  static constexpr size_t kInitialSlots = 64;
  struct Slot {
    uint32_t tag = 0;  // high half of the hash: most mismatches fail without touching a name
    uint32_t id = kEmpty;
  };

  size_t mask() const { return slots_.size() - 1; }

  void Insert(uint64_t h, uint32_t id) {
    size_t i = h & mask();
    while (slots_[i].id != kEmpty) i = (i + 1) & mask();
    slots_[i] = Slot{static_cast<uint32_t>(h >> 32), id};
  }

  void Grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, Slot{});
    for (uint32_t id = 0; id < names_.size(); ++id) Insert(Hash(names_[id]), id);
  }

  std::vector<Slot> slots_;  // size is a power of two
  std::vector<std::string> names_;
};

}  // namespace freshet::store
