#pragma once

// From 64-bit feature ids to rows of embedding tables, with no collisions among admitted ids.
//
// Rows 0 .. num_fields - 1 are the per-field "rare / unknown" rows: an id that is not admitted
// (seen fewer than min_count times, never seen, or expired) uses the row of its field. Every
// admitted id has a row of its own. Offline, a counting pass over the training file (Count) is
// followed by AdmitCounted; online, Observe counts and admits on the fly and stamps the id with the
// step it was last seen at, and Expire frees rows of ids not seen for max_age steps so that they
// can be reused by new ids (the caller re-initialises a reused row: Observe says when).
//
// Not thread-safe: one writer (the trainer or the online learner), and readers only while no write
// runs. Training encodes samples to rows once, up front, so the hot loops never touch the map.

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <span>
#include <vector>

namespace freshet::rank {

struct FeatureMapOptions {
  // An id gets a row of its own once seen this often. Higher: fewer rows and less noise from ids
  // too rare to learn; lower: more memorisation. 1 admits every id.
  uint32_t min_count = 2;
  // Observe-based learners only: ids not seen for more than this many steps are expired by
  // Expire. 0 = never.
  uint64_t max_age = 0;
};

class FeatureMap {
 public:
  // REQUIRES: 0 < num_fields <= kMaxFields (dataset.h), min_count >= 1.
  FeatureMap(int num_fields, const FeatureMapOptions& options);

  int num_fields() const { return num_fields_; }
  const FeatureMapOptions& options() const { return options_; }
  // Rows in use, rare rows included: the size an embedding table needs. Rows freed by Expire
  // are still counted (they are reused before the count grows).
  uint32_t rows() const { return next_row_; }
  size_t admitted() const { return admitted_; }

  // Offline counting pass. Ids of fields >= num_fields are ignored.
  void Count(uint64_t id);
  // Gives a row to every counted id seen at least min_count times, in ascending id order (so the
  // mapping does not depend on the order of the file), and keeps the counts. Returns the number of
  // rows added.
  size_t AdmitCounted();

  // Online: counts one sighting of `id` at `step` (steps never decrease) and returns its row;
  // `new_row` is set when the id was admitted just now (its row may be a reused, expired one and
  // needs re-initialising).
  uint32_t Observe(uint64_t id, uint64_t step, bool* new_row = nullptr);
  // Frees the rows of admitted ids whose last sighting is more than max_age steps before `now`
  // (no-op when max_age == 0); they forget their counts. Returns how many were expired. Ids never
  // observed (admitted offline, or read from a model file: no step yet) are stamped `now` by the
  // first Expire that sees them, so their age counts from then.
  size_t Expire(uint64_t now);
  void set_max_age(uint64_t max_age) { options_.max_age = max_age; }

  // The row of `id`: its own when admitted, else its field's rare row. Const and allocation-free.
  uint32_t Lookup(uint64_t id) const;
  // Rows of every feature in `ids`. REQUIRES: out.size() == ids.size().
  void Encode(std::span<const uint64_t> ids, std::span<uint32_t> out) const;

  // Admitted ids and their rows, for model files (ascending id order).
  void Export(std::vector<uint64_t>* ids, std::vector<uint32_t>* rows) const;
  // Rebuilds from Export's output. Returns false when a row is a rare row or repeats, or `rows`
  // is below the largest row + 1.
  bool Import(std::span<const uint64_t> ids, std::span<const uint32_t> rows, uint32_t total_rows);

 private:
  static constexpr uint32_t kNoRow = 0xffffffffu;
  struct Entry {
    uint32_t row = kNoRow;
    uint32_t count = 0;
    uint64_t last_seen = 0;
  };

  uint32_t NewRow();

  int num_fields_;
  FeatureMapOptions options_;
  // Open addressing (Abseil's SwissTable): a lookup is one probe of a control group and one
  // entry, where std::unordered_map's nodes cost a chain of cache misses; serving looks up every
  // feature of every candidate (bench/feature_map_bench.cc, docs/benchmarks.md).
  absl::flat_hash_map<uint64_t, Entry> entries_;
  std::vector<uint32_t> free_rows_;
  uint32_t next_row_;
  size_t admitted_ = 0;
};

}  // namespace freshet::rank
