#include "store/event_store.h"

#include "store/dictionary.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace freshet::store {
namespace {

// Column families, in the order they are opened. Names are persisted: never rename.
enum Cf : size_t { kDefault, kEvents, kItems, kUsers, kDict, kDedupe, kMeta, kNumCf };
constexpr const char* kCfNames[kNumCf] = {"default", "events", "items", "users",
                                          "dict",    "dedupe", "meta"};
// Dictionary keys: prefix byte, then the big-endian dense id; the value is the external id.
constexpr char kUserDictPrefix = 'u';
constexpr char kItemDictPrefix = 'i';
constexpr const char* kSchemaKey = "schema_version";

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::OK();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(msg));
  return Status::IOError(std::move(msg));
}

std::string DictKey(char prefix, uint32_t id) {
  std::string key(5, prefix);
  PutBigEndian32(key.data() + 1, id);
  return key;
}

// Assigns dense ids for one write batch: known names keep their id, new ones are numbered after
// the dictionary in first-seen order and their dictionary entries go into the same batch, so an
// id is durable exactly when the records that use it are. The names must outlive the assigner.
class IdAssigner {
 public:
  IdAssigner(const Dictionary& dict, char prefix, rocksdb::ColumnFamilyHandle* cf,
             rocksdb::WriteBatch& batch)
      : dict_(dict), prefix_(prefix), cf_(cf), batch_(batch) {}

  // REQUIRES: the dictionary's lock held (shared is enough).
  uint32_t Resolve(std::string_view name) {
    if (auto id = dict_.Find(name)) return *id;
    auto it = pending_.find(name);
    if (it != pending_.end()) return it->second;
    auto id = static_cast<uint32_t>(dict_.size() + added_.size());
    pending_.emplace(name, id);
    added_.emplace_back(name);
    batch_.Put(cf_, DictKey(prefix_, id), name);
    return id;
  }

  // After the batch is written. REQUIRES: the dictionary's lock held exclusively.
  void Commit(Dictionary& dict) {
    for (std::string& name : added_) dict.Add(std::move(name));
    added_.clear();
  }

 private:
  const Dictionary& dict_;
  char prefix_;
  rocksdb::ColumnFamilyHandle* cf_;
  rocksdb::WriteBatch& batch_;
  std::unordered_map<std::string_view, uint32_t> pending_;
  std::vector<std::string> added_;
};

rocksdb::CompressionType BestCompression() {
  auto supported = rocksdb::GetSupportedCompressions();
  for (auto c : {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), c) != supported.end()) return c;
  }
  return rocksdb::kNoCompression;
}

}  // namespace

Result<Durability> ParseDurability(std::string_view name) {
  if (name == "sync") return Durability::kSync;
  if (name == "batch") return Durability::kBatch;
  if (name == "none") return Durability::kNone;
  return Status::InvalidArgument("unknown durability '" + std::string(name) +
                                 "' (want sync, batch or none)");
}

std::string_view DurabilityName(Durability d) {
  switch (d) {
    case Durability::kSync: return "sync";
    case Durability::kBatch: return "batch";
    case Durability::kNone: return "none";
  }
  return "unknown";
}

struct EventStore::Impl {
  StoreOptions options;
  std::string dir;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cf;  // owned; destroyed before db
  rocksdb::WriteOptions write_options;

  // Serialises writers: sequence numbers and new dictionary ids are assigned under it.
  std::mutex write_mu;
  uint64_t next_seq = 0;  // guarded by write_mu; mirrored in next_seq_published for readers
  std::atomic<uint64_t> next_seq_published{0};

  mutable std::shared_mutex dict_mu;
  Dictionary users;  // guarded by dict_mu
  Dictionary items;  // guarded by dict_mu

  // kBatch: a thread that fsyncs the WAL every sync_interval_ms.
  std::thread syncer;
  std::mutex syncer_mu;
  std::condition_variable syncer_cv;
  bool stopping = false;  // guarded by syncer_mu

  ~Impl() {
    if (syncer.joinable()) {
      {
        std::lock_guard lock(syncer_mu);
        stopping = true;
      }
      syncer_cv.notify_all();
      syncer.join();
    }
    if (db) {
      if (options.durability == Durability::kNone) {
        (void)db->Flush(rocksdb::FlushOptions(), cf);
      } else {
        (void)db->SyncWAL();
      }
      for (auto* h : cf) (void)db->DestroyColumnFamilyHandle(h);
      cf.clear();
      (void)db->Close();
    }
  }

  void SyncLoop() {
    std::unique_lock lock(syncer_mu);
    while (!stopping) {
      syncer_cv.wait_for(lock, std::chrono::milliseconds(options.sync_interval_ms));
      if (stopping) break;
      lock.unlock();
      (void)db->SyncWAL();  // a failure here resurfaces on the next write or Sync()
      lock.lock();
    }
  }

  Status LoadDictionaries() {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf[kDict]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      if (k.size() != 5) return Status::Corruption("dictionary key of bad length");
      Dictionary& d = k[0] == kUserDictPrefix ? users : items;
      if (k[0] != kUserDictPrefix && k[0] != kItemDictPrefix) {
        return Status::Corruption("dictionary key with unknown prefix");
      }
      uint32_t id = GetBigEndian32(k.data() + 1);
      if (id != d.size()) {
        return Status::Corruption("dictionary ids are not contiguous at id " + std::to_string(id));
      }
      d.Add(it->value().ToString());
    }
    return FromRocks(it->status(), "reading dictionaries");
  }

  Status LoadNextSeq() {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf[kEvents]));
    it->SeekToLast();
    if (it->Valid()) {
      if (it->key().size() != 8) return Status::Corruption("event key of bad length");
      next_seq = GetBigEndian64(it->key().data()) + 1;
    }
    next_seq_published.store(next_seq);
    return FromRocks(it->status(), "finding the last event");
  }

  Status CheckSchema() {
    std::string v;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf[kMeta], kSchemaKey, &v);
    if (s.IsNotFound()) {
      return FromRocks(db->Put(write_options, cf[kMeta], kSchemaKey,
                               std::to_string(kStoreSchemaVersion)),
                       "writing schema version");
    }
    FRESHET_RETURN_IF_ERROR(FromRocks(s, "reading schema version"));
    if (v != std::to_string(kStoreSchemaVersion)) {
      return Status::FailedPrecondition("store in " + dir + " has schema version " + v +
                                        "; this freshet reads version " +
                                        std::to_string(kStoreSchemaVersion));
    }
    return Status::OK();
  }
};

EventStore::EventStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventStore::~EventStore() = default;

Result<std::unique_ptr<EventStore>> EventStore::Open(const StoreOptions& options,
                                                     const std::string& dir) {
  namespace fs = std::filesystem;
  // RocksDB lives in DIR/store; DIR also holds rejects/ and, later, models and snapshots.
  const std::string db_dir = (fs::path(dir) / "store").string();
  std::error_code ec;
  if (!fs::exists(fs::path(db_dir) / "CURRENT", ec)) {
    if (options.must_exist) {
      return Status::NotFound("no freshet store in '" + dir +
                              "' (create one with `freshet ingest --data " + dir + " ...`)");
    }
    fs::create_directories(db_dir, ec);
    if (ec) {
      return Status::IOError("cannot create data directory '" + db_dir + "': " + ec.message());
    }
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->dir = dir;
  impl->write_options.sync = options.durability == Durability::kSync;
  impl->write_options.disableWAL = options.durability == Durability::kNone;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  db_options.max_open_files = 512;
  db_options.keep_log_file_num = 4;
  if (options.memtable_budget_bytes > 0) {
    db_options.write_buffer_manager =
        std::make_shared<rocksdb::WriteBufferManager>(options.memtable_budget_bytes);
  }

  auto cache = rocksdb::NewLRUCache(64 << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (size_t i = 0; i < kNumCf; ++i) {
    rocksdb::ColumnFamilyOptions cf_options;
    cf_options.OptimizeLevelStyleCompaction();
    cf_options.write_buffer_size = options.write_buffer_bytes;
    // Flush each full buffer on its own rather than two merged (OptimizeLevelStyleCompaction's
    // choice): a full buffer is not kept in memory waiting for the next.
    cf_options.min_write_buffer_number_to_merge = 1;
    cf_options.compression = BestCompression();
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
    if (i == kDedupe || i == kDict || i == kItems || i == kUsers) {
      // Point lookups, most of them misses (a new event's dedupe key): bloom filters answer
      // those without reading a block.
      table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      cf_options.memtable_whole_key_filtering = true;
      cf_options.memtable_prefix_bloom_size_ratio = 0.05;
    }
    if (i == kEvents) table.block_size = 64 << 10;  // sequential scans: fewer, larger blocks
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    descriptors.emplace_back(kCfNames[i], cf_options);
  }

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, db_dir, descriptors, &impl->cf, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return Status::IOError("data directory '" + dir +
                             "' is in use by another freshet process (" + s.ToString() + ")");
    }
    return FromRocks(s, "opening store in '" + dir + "'");
  }
  impl->db.reset(raw);
  FRESHET_RETURN_IF_ERROR(impl->CheckSchema());
  FRESHET_RETURN_IF_ERROR(impl->LoadDictionaries());
  FRESHET_RETURN_IF_ERROR(impl->LoadNextSeq());
  if (options.durability == Durability::kBatch) {
    impl->syncer = std::thread([p = impl.get()] { p->SyncLoop(); });
  }
  return std::unique_ptr<EventStore>(new EventStore(std::move(impl)));
}

Status EventStore::Append(std::span<const Event> events, std::span<const std::string> dedupe_keys,
                          AppendStats* stats) {
  assert(events.size() == dedupe_keys.size());
  for (size_t i = 0; i < events.size(); ++i) {
    if (auto err = ValidateEvent(events[i])) {
      return Status::InvalidArgument("event #" + std::to_string(i) + ": field '" + err->field +
                                     "' " + err->reason);
    }
  }
  Impl& m = *impl_;
  std::lock_guard write_lock(m.write_mu);

  // Which events are duplicates: of a stored key, or of an earlier event in this batch.
  std::vector<bool> duplicate(events.size(), false);
  {
    std::unordered_set<std::string_view> in_batch;
    std::vector<rocksdb::Slice> lookup;
    std::vector<size_t> lookup_index;
    for (size_t i = 0; i < events.size(); ++i) {
      if (dedupe_keys[i].empty()) continue;
      if (!in_batch.insert(dedupe_keys[i]).second) {
        duplicate[i] = true;
        continue;
      }
      lookup.emplace_back(dedupe_keys[i]);
      lookup_index.push_back(i);
    }
    if (!lookup.empty()) {
      std::vector<rocksdb::PinnableSlice> values(lookup.size());
      std::vector<rocksdb::Status> statuses(lookup.size());
      m.db->MultiGet(rocksdb::ReadOptions(), m.cf[kDedupe], lookup.size(), lookup.data(),
                     values.data(), statuses.data());
      for (size_t j = 0; j < lookup.size(); ++j) {
        if (statuses[j].ok()) {
          duplicate[lookup_index[j]] = true;
        } else if (!statuses[j].IsNotFound()) {
          return FromRocks(statuses[j], "looking up dedupe keys");
        }
      }
    }
  }

  // New dictionary entries become visible only after the write succeeds.
  rocksdb::WriteBatch batch;
  IdAssigner user_ids(m.users, kUserDictPrefix, m.cf[kDict], batch);
  IdAssigner item_ids(m.items, kItemDictPrefix, m.cf[kDict], batch);
  std::string value;
  StoredEvent stored;
  uint64_t seq = m.next_seq;
  AppendStats local;
  local.seqs.reserve(events.size());
  {
    std::shared_lock dict_lock(m.dict_mu);  // only this thread writes the dictionaries
    for (size_t i = 0; i < events.size(); ++i) {
      if (duplicate[i]) {
        ++local.duplicates;
        local.seqs.push_back(AppendStats::kDuplicate);
        continue;
      }
      local.seqs.push_back(seq);
      const Event& e = events[i];
      stored.type = e.type;
      stored.ts_ms = e.ts_ms;
      stored.user = user_ids.Resolve(e.user);
      stored.item = e.item.empty() ? kNoId : item_ids.Resolve(e.item);
      stored.value = e.value;
      stored.event_id = e.event_id;
      stored.session = e.session;
      stored.query = e.query;
      stored.context = e.context;
      EncodeEvent(stored, &value);
      std::string key = EventKey(seq);
      batch.Put(m.cf[kEvents], key, value);
      if (!dedupe_keys[i].empty()) batch.Put(m.cf[kDedupe], dedupe_keys[i], key);
      ++seq;
      ++local.accepted;
    }
  }
  if (batch.Count() > 0) {
    FRESHET_RETURN_IF_ERROR(FromRocks(m.db->Write(m.write_options, &batch), "writing events"));
  }
  {
    std::unique_lock dict_lock(m.dict_mu);
    user_ids.Commit(m.users);
    item_ids.Commit(m.items);
  }
  m.next_seq = seq;
  m.next_seq_published.store(seq, std::memory_order_release);
  if (stats != nullptr) {
    stats->accepted += local.accepted;
    stats->duplicates += local.duplicates;
    stats->seqs.insert(stats->seqs.end(), local.seqs.begin(), local.seqs.end());
  }
  return Status::OK();
}

// Writes catalog-like records (items, users) keyed by the dense id of record.id.
template <typename Record, typename EncodeFn>
Status EventStore::PutRecords(std::span<const Record> records, bool users, EncodeFn encode) {
  Impl& m = *impl_;
  Dictionary& dict = users ? m.users : m.items;
  std::lock_guard write_lock(m.write_mu);
  rocksdb::WriteBatch batch;
  IdAssigner ids(dict, users ? kUserDictPrefix : kItemDictPrefix, m.cf[kDict], batch);
  std::string value;
  {
    std::shared_lock dict_lock(m.dict_mu);
    for (const Record& record : records) {
      encode(record, &value);
      batch.Put(m.cf[users ? kUsers : kItems], IdKey(ids.Resolve(record.id)), value);
    }
  }
  FRESHET_RETURN_IF_ERROR(
      FromRocks(m.db->Write(m.write_options, &batch), users ? "writing users" : "writing items"));
  std::unique_lock dict_lock(m.dict_mu);
  ids.Commit(dict);
  return Status::OK();
}

Status EventStore::PutItems(std::span<const Item> items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (auto err = ValidateItem(items[i])) {
      return Status::InvalidArgument("item #" + std::to_string(i) + ": field '" + err->field +
                                     "' " + err->reason);
    }
  }
  return PutRecords(items, /*users=*/false, EncodeItem);
}

Status EventStore::PutUsers(std::span<const User> users) {
  for (size_t i = 0; i < users.size(); ++i) {
    if (users[i].id.empty()) {
      return Status::InvalidArgument("user #" + std::to_string(i) + ": field 'id' is empty");
    }
  }
  return PutRecords(users, /*users=*/true, EncodeUser);
}

Status EventStore::GetItem(ItemId id, Item* out) const {
  std::string v;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->cf[kItems], IdKey(id), &v);
  if (s.IsNotFound()) return Status::NotFound("item has no catalog entry");
  FRESHET_RETURN_IF_ERROR(FromRocks(s, "reading item"));
  return DecodeItem(v, out);
}

Status EventStore::GetUser(UserId id, User* out) const {
  std::string v;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->cf[kUsers], IdKey(id), &v);
  if (s.IsNotFound()) return Status::NotFound("user has no attributes");
  FRESHET_RETURN_IF_ERROR(FromRocks(s, "reading user"));
  return DecodeUser(v, out);
}

std::optional<UserId> EventStore::FindUser(std::string_view name) const {
  std::shared_lock lock(impl_->dict_mu);
  return impl_->users.Find(name);
}

std::optional<ItemId> EventStore::FindItem(std::string_view name) const {
  std::shared_lock lock(impl_->dict_mu);
  return impl_->items.Find(name);
}

std::string EventStore::UserName(UserId id) const {
  std::shared_lock lock(impl_->dict_mu);
  assert(id < impl_->users.size());
  return impl_->users.name(id);
}

std::string EventStore::ItemName(ItemId id) const {
  std::shared_lock lock(impl_->dict_mu);
  assert(id < impl_->items.size());
  return impl_->items.name(id);
}

StoreCounts EventStore::counts() const {
  StoreCounts c;
  c.events = impl_->next_seq_published.load(std::memory_order_acquire);
  std::shared_lock lock(impl_->dict_mu);
  c.users = static_cast<uint32_t>(impl_->users.size());
  c.items = static_cast<uint32_t>(impl_->items.size());
  return c;
}

Status EventStore::Scan(uint64_t from_seq,
                        const std::function<bool(uint64_t, const StoredEvent&)>& fn) const {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = 4 << 20;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->cf[kEvents]));
  StoredEvent event;
  for (it->Seek(EventKey(from_seq)); it->Valid(); it->Next()) {
    uint64_t seq = GetBigEndian64(it->key().data());
    Status s = DecodeEvent(std::string_view(it->value().data(), it->value().size()), &event);
    if (!s.ok()) return s.WithContext("event seq " + std::to_string(seq));
    if (!fn(seq, event)) return Status::OK();
  }
  return FromRocks(it->status(), "scanning events");
}

Status EventStore::LoadEventTable(EventTable* table) const {
  Impl& m = *impl_;
  table->Clear();
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = 4 << 20;
  const rocksdb::Snapshot* snapshot;
  {
    // Snapshot and dictionary sizes taken together: every id in the scan is below the sizes.
    std::lock_guard write_lock(m.write_mu);
    snapshot = m.db->GetSnapshot();
    table->Reserve(m.next_seq);
    std::shared_lock dict_lock(m.dict_mu);
    table->num_users = static_cast<uint32_t>(m.users.size());
    table->num_items = static_cast<uint32_t>(m.items.size());
  }
  ro.snapshot = snapshot;
  Status result;
  {
    std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(ro, m.cf[kEvents]));
    EventType type;
    int64_t ts;
    UserId user;
    ItemId item;
    double value;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      rocksdb::Slice v = it->value();
      if (v.size() < kEventFixedBytes || static_cast<uint8_t>(v[0]) != kEventFormatVersion ||
          static_cast<uint8_t>(v[1]) >= kNumEventTypes) {
        result = Status::Corruption("event seq " +
                                    std::to_string(GetBigEndian64(it->key().data())) +
                                    ": record is truncated or of an unknown version");
        break;
      }
      DecodeEventFixed(v.data(), &type, &ts, &user, &item, &value);
      table->seq.push_back(GetBigEndian64(it->key().data()));
      table->ts_ms.push_back(ts);
      table->user.push_back(user);
      table->item.push_back(item);
      table->type.push_back(type);
      table->value.push_back(static_cast<float>(value));
    }
    if (result.ok()) result = FromRocks(it->status(), "scanning events");
  }
  m.db->ReleaseSnapshot(snapshot);
  FRESHET_RETURN_IF_ERROR(result);
  table->SortByTime();
  return Status::OK();
}

Status EventStore::ScanItems(const std::function<bool(ItemId, const Item&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf[kItems]));
  Item item;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 4) return Status::Corruption("item key of bad length");
    uint32_t id = GetBigEndian32(it->key().data());
    FRESHET_RETURN_IF_ERROR(
        DecodeItem(std::string_view(it->value().data(), it->value().size()), &item)
            .WithContext("item " + std::to_string(id)));
    if (!fn(id, item)) return Status::OK();
  }
  return FromRocks(it->status(), "scanning items");
}

Status EventStore::Sync() {
  if (impl_->options.durability == Durability::kNone) {
    return FromRocks(impl_->db->Flush(rocksdb::FlushOptions(), impl_->cf), "flushing");
  }
  return FromRocks(impl_->db->SyncWAL(), "syncing the write-ahead log");
}

Status EventStore::PutMeta(std::string_view key, std::string_view value) {
  return FromRocks(impl_->db->Put(impl_->write_options, impl_->cf[kMeta], key, value),
                   "writing metadata");
}

Result<std::optional<std::string>> EventStore::GetMeta(std::string_view key) const {
  std::string v;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->cf[kMeta], key, &v);
  if (s.IsNotFound()) return std::optional<std::string>();
  FRESHET_RETURN_IF_ERROR(FromRocks(s, "reading metadata"));
  return std::optional<std::string>(std::move(v));
}

uint64_t EventStore::ApproximateSizeBytes() const {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(
           std::filesystem::path(impl_->dir) / "store", ec)) {
    if (entry.is_regular_file(ec)) total += entry.file_size(ec);
  }
  return total;
}

const std::string& EventStore::dir() const { return impl_->dir; }

}  // namespace freshet::store
