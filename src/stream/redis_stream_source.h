#pragma once

// Live shop events from a Redis stream, read through a consumer group (docs/api.md, "Live events
// from Redis Streams"). One thread per source:
//
//   (re)connect: AUTH / SELECT, XGROUP CREATE <stream> <group> <start_id> MKSTREAM (BUSYGROUP
//                is fine), then re-read this consumer's own pending entries (XREADGROUP ... 0)
//   loop:        every claim_interval_ms, XAUTOCLAIM entries other consumers left pending for
//                longer than claim_idle_ms; otherwise XREADGROUP ... BLOCK block_ms ... >
//   each batch:  decode (stream/redis_entry.h) -> sink -> dead-letter the rejected -> XACK
//
// Delivery is at least once from Redis and exactly once into the store: an entry is acknowledged
// only after the sink returned OK (the events are durable), and a redelivered entry carries the
// same dedupe key, so the store drops the second copy. Entries that cannot become events go to
// the dead-letter stream `<stream>:rejected` with the reason, then are acknowledged.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "store/event_store.h"
#include "stream/redis_entry.h"

namespace freshet::stream {

struct RedisStreamOptions {
  // redis://[[user]:password@]host[:port][/db].
  std::string url = "redis://127.0.0.1:6379";
  // The stream key. Required.
  std::string stream;
  // The consumer group; created (with the stream) when missing.
  std::string group = "freshet";
  // This consumer's name within the group; empty: "<hostname>-<pid>". A stable name per replica
  // lets a restarted process re-read its own pending entries at once instead of waiting
  // claim_idle_ms for XAUTOCLAIM.
  std::string consumer;
  // Where a group created by this source starts: "0" reads the whole stream (events written
  // before freshet started are consumed), "$" only entries added from now on.
  std::string start_id = "0";
  // Entries per XREADGROUP / XAUTOCLAIM (COUNT). Larger batches amortise the store's sync;
  // smaller ones lower the latency of the first event of a burst.
  size_t count = 512;
  // XREADGROUP BLOCK time. Bounds how long Stop() waits; an idle source wakes this often.
  int block_ms = 250;
  // Pending entries idle longer than this are taken over from other (dead) consumers. Too low
  // steals entries a live but slow consumer is still writing (harmless: deduped, but wasted).
  int64_t claim_idle_ms = 30000;
  // How often XAUTOCLAIM runs (and the pending gauge is refreshed).
  int claim_interval_ms = 1000;
  // Connect timeout, and the socket timeout added to block_ms for each command.
  int timeout_ms = 2000;
  // Reconnect and sink-retry backoff: doubles from min to max, with +-25% jitter.
  int backoff_min_ms = 50;
  int backoff_max_ms = 5000;
  // Dead-letter stream, trimmed to about this many entries (MAXLEN ~). Empty name:
  // "<stream>:rejected".
  std::string dead_letter_stream;
  int64_t dead_letter_maxlen = 100000;
  // Log state changes (connected, connection lost, sink failing / recovered) on stderr.
  bool log = true;
};

// Takes one batch of validated events: keys[i] is events[i]'s dedupe key. OK means every event
// is durable (or a duplicate) and may be acknowledged; any error means nothing of the batch is
// acknowledged and it will be offered again. InvalidArgument means an event cannot be stored:
// the source then offers the events one at a time and dead-letters those still refused.
// serve::Service::Ingest has exactly this contract.
using EventSink = std::function<Status(
    std::span<const Event> events, std::span<const std::string> keys, store::AppendStats* stats)>;

// A snapshot of the source's counters (all since Create).
struct RedisStreamCounters {
  uint64_t entries_read = 0;      // entries delivered by XREADGROUP / XAUTOCLAIM
  uint64_t events_accepted = 0;   // written to the store
  uint64_t events_duplicate = 0;  // already in the store (redelivery, repeated event_id)
  uint64_t entries_rejected = 0;  // sent to the dead-letter stream
  uint64_t entries_acked = 0;     // XACKed
  uint64_t entries_claimed = 0;   // taken over by XAUTOCLAIM
  uint64_t reconnects = 0;        // successful connections after the first
  uint64_t sink_errors = 0;       // failed sink calls (each retried)
  uint64_t redis_errors = 0;      // failed connections and commands
  int64_t pending = -1;           // this consumer's pending entries, at the last check; -1: unknown
  bool connected = false;
};

class RedisStreamSource {
 public:
  // Checks the options (InvalidArgument: a malformed URL, no stream, count or timeouts out of
  // range) and resolves the consumer name. Connects to nothing yet. `sink` is called on the
  // source's thread only and must stay callable until Stop() returns.
  static Result<std::unique_ptr<RedisStreamSource>> Create(const RedisStreamOptions& options,
                                                           EventSink sink);
  ~RedisStreamSource();  // Stop()
  RedisStreamSource(const RedisStreamSource&) = delete;
  RedisStreamSource& operator=(const RedisStreamSource&) = delete;

  // Connects once and starts the thread. Returns an error, and starts nothing, when Redis answers
  // but refuses the setup (wrong password, the key is not a stream, no permission). When Redis
  // cannot be reached, logs it and starts anyway: the thread keeps reconnecting with backoff.
  // REQUIRES: called at most once.
  Status Start();

  // Ends the thread and returns once it has. A batch being written is finished and acknowledged
  // first (or left pending when its sink call fails); Stop() waits about block_ms plus one sink
  // call at most (plus timeout_ms while Redis hangs or a connect is under way). Idempotent; call
  // from one thread at a time, not concurrently with Start().
  void Stop();

  RedisStreamCounters counters() const;  // Thread-safe.
  const std::string& consumer() const { return options_.consumer; }
  const RedisStreamOptions& options() const { return options_; }

  // Appends the counters in the Prometheus text format: freshet_redis_entries_total{outcome=...},
  // freshet_redis_acked_total, freshet_redis_claimed_total, freshet_redis_reconnects_total,
  // freshet_redis_sink_errors_total, freshet_redis_errors_total, freshet_redis_connected,
  // freshet_redis_pending, freshet_redis_ack_lag_seconds (summary: entry id time -> XACK, p50 /
  // p99 over the last 4096 entries). Thread-safe.
  void RenderMetrics(std::string* out) const;

 private:
  class Connection;
  RedisStreamSource(const RedisStreamOptions& options, RedisUrl url, EventSink sink);

  void Run();
  // Connects and sets up the group. On failure *fatal says whether Redis refused the setup (as
  // opposed to being unreachable).
  Status Connect(bool* fatal);
  void Disconnect(const Status& why);
  // One round: reads (or claims) one batch and processes it. Errors are Redis errors (the
  // connection is then dropped); a failing sink is retried inside.
  Status Step();
  Status ReadGroup(const std::string& from_id, bool block, std::vector<StreamEntry>* entries);
  Status AutoClaim(std::vector<StreamEntry>* entries);
  Status RefreshPending();
  Status Process(std::vector<StreamEntry>& entries);
  // Offers the batch to the sink until it is taken or Stop() is called (false).
  // An event the sink refuses with InvalidArgument joins `rejected` (by entry index).
  bool Deliver(std::vector<Event>& events, std::vector<std::string>& keys,
               const std::vector<size_t>& entry_of,
               std::vector<std::pair<size_t, FieldError>>& rejected);
  Status DeadLetter(const StreamEntry& entry, const FieldError& problem);
  Status Ack(const std::vector<StreamEntry>& entries);
  // Sleeps the current backoff (interrupted by Stop) and doubles it. False when stopping.
  bool Backoff(int* backoff_ms);
  void Log(const std::string& line) const;

  RedisStreamOptions options_;
  RedisUrl url_;
  EventSink sink_;
  EntryDecoder decoder_;              // the source thread's only
  std::unique_ptr<Connection> conn_;  // the source thread's only (and Start's, before it)

  // Read state, the source thread's only.
  bool pending_phase_ = true;  // re-reading our own pending entries
  std::string pending_cursor_ = "0";
  std::string claim_cursor_ = "0-0";
  std::chrono::steady_clock::time_point next_claim_{};
  bool ever_connected_ = false;
  bool down_logged_ = false;  // "connection lost" was logged; the next success logs again
  bool sink_failing_ = false;
  uint64_t jitter_state_;

  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;  // with stop_cv_: interruptible backoff sleeps
  std::condition_variable stop_cv_;

  std::atomic<uint64_t> entries_read_{0}, events_accepted_{0}, events_duplicate_{0},
      entries_rejected_{0}, entries_acked_{0}, entries_claimed_{0}, reconnects_{0}, sink_errors_{0},
      redis_errors_{0};
  std::atomic<int64_t> pending_{-1};
  std::atomic<bool> connected_{false};

  static constexpr size_t kLagSamples = 4096;
  mutable std::mutex lag_mu_;     // guards the lag fields below
  std::vector<double> lag_ring_;  // the last kLagSamples lags, seconds
  size_t lag_next_ = 0;
  uint64_t lag_count_ = 0;
  double lag_sum_ = 0;
};

}  // namespace freshet::stream
