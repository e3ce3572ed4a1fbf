#include "rank/feature_map.h"

#include <algorithm>
#include <cassert>
#include <unordered_set>

#include "rank/dataset.h"

namespace freshet::rank {

FeatureMap::FeatureMap(int num_fields, const FeatureMapOptions& options)
    : num_fields_(num_fields), options_(options), next_row_(static_cast<uint32_t>(num_fields)) {
  assert(num_fields > 0 && num_fields <= kMaxFields);
  assert(options.min_count >= 1);
}

uint32_t FeatureMap::NewRow() {
  if (!free_rows_.empty()) {
    const uint32_t r = free_rows_.back();
    free_rows_.pop_back();
    return r;
  }
  return next_row_++;
}

void FeatureMap::Count(uint64_t id) {
  if (FieldOf(id) >= num_fields_) return;
  Entry& e = entries_[id];
  if (e.count < 0xffffffffu) ++e.count;
}

size_t FeatureMap::AdmitCounted() {
  std::vector<uint64_t> ready;
  for (const auto& [id, e] : entries_) {
    if (e.row == kNoRow && e.count >= options_.min_count) ready.push_back(id);
  }
  std::sort(ready.begin(), ready.end());
  for (uint64_t id : ready) entries_[id].row = NewRow();
  admitted_ += ready.size();
  return ready.size();
}

uint32_t FeatureMap::Observe(uint64_t id, uint64_t step, bool* new_row) {
  if (new_row != nullptr) *new_row = false;
  const int field = FieldOf(id);
  if (field >= num_fields_) return 0;
  Entry& e = entries_[id];
  if (e.count < 0xffffffffu) ++e.count;
  e.last_seen = step;
  if (e.row == kNoRow && e.count >= options_.min_count) {
    e.row = NewRow();
    ++admitted_;
    if (new_row != nullptr) *new_row = true;
  }
  return e.row == kNoRow ? static_cast<uint32_t>(field) : e.row;
}

size_t FeatureMap::Expire(uint64_t now) {
  if (options_.max_age == 0) return 0;
  size_t expired = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    if (e.last_seen == 0) e.last_seen = now;
    if (now > e.last_seen && now - e.last_seen > options_.max_age) {
      if (e.row != kNoRow) {
        free_rows_.push_back(e.row);
        --admitted_;
        ++expired;
      }
      entries_.erase(it++);  // flat_hash_map: erase leaves the other iterators valid
    } else {
      ++it;
    }
  }
  return expired;
}

uint32_t FeatureMap::Lookup(uint64_t id) const {
  const int field = FieldOf(id);
  if (field >= num_fields_) return 0;
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.row == kNoRow) return static_cast<uint32_t>(field);
  return it->second.row;
}

void FeatureMap::Encode(std::span<const uint64_t> ids, std::span<uint32_t> out) const {
  assert(ids.size() == out.size());
  for (size_t i = 0; i < ids.size(); ++i) out[i] = Lookup(ids[i]);
}

void FeatureMap::Export(std::vector<uint64_t>* ids, std::vector<uint32_t>* rows) const {
  ids->clear();
  rows->clear();
  for (const auto& [id, e] : entries_) {
    if (e.row != kNoRow) ids->push_back(id);
  }
  std::sort(ids->begin(), ids->end());
  for (uint64_t id : *ids) rows->push_back(entries_.at(id).row);
}

bool FeatureMap::Import(std::span<const uint64_t> ids, std::span<const uint32_t> rows,
                        uint32_t total_rows) {
  if (ids.size() != rows.size() || total_rows < static_cast<uint32_t>(num_fields_)) return false;
  entries_.clear();
  free_rows_.clear();
  std::unordered_set<uint32_t> used;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (rows[i] < static_cast<uint32_t>(num_fields_) || rows[i] >= total_rows ||
        FieldOf(ids[i]) >= num_fields_ || !used.insert(rows[i]).second) {
      return false;
    }
    Entry e;
    e.row = rows[i];
    e.count = options_.min_count;
    entries_[ids[i]] = e;
  }
  admitted_ = ids.size();
  next_row_ = total_rows;
  return true;
}

}  // namespace freshet::rank
