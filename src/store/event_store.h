#pragma once

// The embedded event store: RocksDB in a data directory, with column families for events
// (keyed by a big-endian sequence number), items, users, the string -> dense id dictionaries,
// dedupe keys and metadata. Byte layouts: docs/formats.md.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/ids.h"
#include "core/status.h"
#include "store/codec.h"
#include "store/event_table.h"

namespace freshet::store {

enum class Durability {
  kSync,   // fsync the write-ahead log before Append returns: survives power loss, slowest.
  kBatch,  // WAL written before Append returns, fsynced every sync_interval_ms: survives a
           // process crash (kill -9); a power loss may lose the last interval.
  kNone,   // no WAL; data reaches disk at memtable flush or Close. A crash loses what was not
           // flushed. For bulk loads that can be re-run.
};
Result<Durability> ParseDurability(std::string_view name);  // "sync", "batch", "none"
std::string_view DurabilityName(Durability d);

struct StoreOptions {
  Durability durability = Durability::kBatch;
  // kBatch only: how often the WAL is fsynced. Lower narrows the power-loss window, costs IOPS.
  int sync_interval_ms = 200;
  // RocksDB write buffer per column family. Larger buffers ingest faster and use more memory.
  size_t write_buffer_bytes = 64 << 20;
  // All memtables of all column families together. Past it RocksDB flushes, so the store's
  // memory stays bounded under a steady stream instead of holding up to six write buffers per
  // column family (0: no bound). The serving freshness benchmark at 10,000 events/s grew 120 MB
  // of memtables in four minutes without it.
  size_t memtable_budget_bytes = 128 << 20;
  // Open an existing store only; NotFound when `dir` holds none.
  bool must_exist = false;
};

struct AppendStats {
  static constexpr uint64_t kDuplicate = ~uint64_t{0};
  size_t accepted = 0;    // newly written
  size_t duplicates = 0;  // dedupe key already stored, or repeated within the batch
  // Appended to by each successful Append, one entry per event in order: the sequence number it
  // was written at, or kDuplicate. Lets a caller act on exactly the events that were written.
  std::vector<uint64_t> seqs;
};

struct StoreCounts {
  uint64_t events = 0;  // events written (next sequence number)
  uint32_t users = 0;   // dictionary sizes
  uint32_t items = 0;
};

class EventStore {
 public:
  // Opens or creates the store in `dir` (created with parents when missing). Errors: IOError when
  // the directory cannot be used or another process holds it; FailedPrecondition when it was
  // written by an incompatible schema version; Corruption when RocksDB reports it.
  static Result<std::unique_ptr<EventStore>> Open(const StoreOptions& options,
                                                  const std::string& dir);
  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Appends events in order, assigning each new event the next sequence number and dense ids for
  // first-seen users / items. dedupe_keys[i] identifies events[i] ("id:<event_id>",
  // "src:<file>:<line>"); an event whose key is already stored, or repeats earlier in the batch,
  // is counted as a duplicate and not written. An empty key means "never a duplicate".
  // REQUIRES: dedupe_keys.size() == events.size().
  // Returns OK once the accepted events are durable under options.durability. Returns
  // InvalidArgument naming the first invalid event (index and field); then nothing of the batch
  // is written. IOError when the write fails (nothing of the batch is acknowledged).
  // Thread-safe; appends are serialised.
  Status Append(std::span<const Event> events, std::span<const std::string> dedupe_keys,
                AppendStats* stats);

  // Inserts or replaces catalog entries (by item id), assigning dense ids to new items. Durable as
  // Append. InvalidArgument naming the first invalid item; then nothing is written. Thread-safe.
  Status PutItems(std::span<const Item> items);
  Status PutUsers(std::span<const User> users);

  // NotFound when the item has no catalog entry.
  Status GetItem(ItemId id, Item* out) const;
  Status GetUser(UserId id, User* out) const;

  // Dictionary lookups. Thread-safe with concurrent appends.
  std::optional<UserId> FindUser(std::string_view name) const;
  std::optional<ItemId> FindItem(std::string_view name) const;
  std::string UserName(UserId id) const;  // REQUIRES: id < counts().users
  std::string ItemName(ItemId id) const;  // REQUIRES: id < counts().items
  StoreCounts counts() const;

  // Calls fn(seq, event) for events with sequence number >= from_seq, in sequence order, until fn
  // returns false. Corruption when a record cannot be decoded.
  Status Scan(uint64_t from_seq,
              const std::function<bool(uint64_t seq, const StoredEvent& event)>& fn) const;

  // Materialises every event into `table` (cleared first), sorted by (ts, seq). The fast path for
  // training: decodes only the fixed-width fields.
  Status LoadEventTable(EventTable* table) const;

  // Calls fn for each catalog entry in dense-id order until it returns false.
  Status ScanItems(const std::function<bool(ItemId id, const Item& item)>& fn) const;

  // Makes everything appended so far durable (fsync WAL; flush memtables when durability is none).
  Status Sync();

  // Metadata values (stream offsets and the like), durable as Append.
  Status PutMeta(std::string_view key, std::string_view value);
  Result<std::optional<std::string>> GetMeta(std::string_view key) const;

  // Approximate bytes on disk.
  uint64_t ApproximateSizeBytes() const;
  const std::string& dir() const;

 private:
  struct Impl;
  explicit EventStore(std::unique_ptr<Impl> impl);
  template <typename Record, typename EncodeFn>
  Status PutRecords(std::span<const Record> records, bool users, EncodeFn encode);
  std::unique_ptr<Impl> impl_;
};

}  // namespace freshet::store
