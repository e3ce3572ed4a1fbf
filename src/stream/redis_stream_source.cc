#include "stream/redis_stream_source.h"

#include <hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <future>
#include <limits>
#include <utility>

namespace freshet::stream {
namespace {

using Clock = std::chrono::steady_clock;

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

std::string_view ReplyText(const redisReply* r) {
  if (r == nullptr || r->str == nullptr) return {};
  return std::string_view(r->str, r->len);
}

bool IsText(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

// Errors Redis answers while it is starting or failing over: wait and retry, not a setup error.
bool IsTransientError(std::string_view message) {
  for (std::string_view prefix : {"LOADING", "BUSY ", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN"}) {
    if (message.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

int64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string DefaultConsumerName() {
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "freshet");
  }
  return std::string(host) + "-" + std::to_string(::getpid());
}

// Prometheus label values escape backslash, double quote and newline.
std::string LabelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// A sample value in the Prometheus text format.
std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// Parses one entry, [id, [field, value, ...]] or [id, nil] (deleted while pending). False for
// anything else.
bool ParseEntry(const redisReply* r, StreamEntry* out) {
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !IsText(r->element[0])) {
    return false;
  }
  out->id = std::string(ReplyText(r->element[0]));
  out->fields.clear();
  out->deleted = false;
  const redisReply* fields = r->element[1];
  if (fields == nullptr || fields->type == REDIS_REPLY_NIL) {
    out->deleted = true;
    return true;
  }
  if (fields->type != REDIS_REPLY_ARRAY || fields->elements % 2 != 0) return false;
  out->fields.reserve(fields->elements / 2);
  for (size_t i = 0; i + 1 < fields->elements; i += 2) {
    if (!IsText(fields->element[i]) || !IsText(fields->element[i + 1])) return false;
    out->fields.emplace_back(std::string(ReplyText(fields->element[i])),
                             std::string(ReplyText(fields->element[i + 1])));
  }
  return true;
}

Status ParseEntries(const redisReply* r, std::vector<StreamEntry>* entries) {
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY) {
    return Status::Internal("unexpected reply: entries are not an array");
  }
  for (size_t i = 0; i < r->elements; ++i) {
    // Redis 6.2's XAUTOCLAIM answers nil for an entry deleted while pending.
    if (r->element[i] == nullptr || r->element[i]->type == REDIS_REPLY_NIL) continue;
    StreamEntry e;
    if (!ParseEntry(r->element[i], &e)) {
      return Status::Internal("unexpected reply: a malformed stream entry");
    }
    entries->push_back(std::move(e));
  }
  return Status::OK();
}

}  // namespace

// One hiredis connection. Commands block for at most the socket timeout.
class RedisStreamSource::Connection {
 public:
  ~Connection() {
    if (ctx_ != nullptr) redisFree(ctx_);
  }

  // IOError naming the address when the connection cannot be made.
  static Result<std::unique_ptr<Connection>> Open(const RedisUrl& url, int connect_timeout_ms,
                                                  int command_timeout_ms) {
    auto conn = std::unique_ptr<Connection>(new Connection());
    const timeval connect_tv = {connect_timeout_ms / 1000, (connect_timeout_ms % 1000) * 1000};
    conn->ctx_ = redisConnectWithTimeout(url.host.c_str(), url.port, connect_tv);
    if (conn->ctx_ == nullptr) return Status::IOError("cannot allocate a redis context");
    if (conn->ctx_->err != 0) {
      return Status::IOError("cannot connect to " + url.ToString() + ": " + conn->ctx_->errstr);
    }
    const timeval command_tv = {command_timeout_ms / 1000, (command_timeout_ms % 1000) * 1000};
    if (redisSetTimeout(conn->ctx_, command_tv) != REDIS_OK) {
      return Status::IOError("cannot set the socket timeout: " + std::string(conn->ctx_->errstr));
    }
    (void)redisEnableKeepAlive(conn->ctx_);
    return conn;
  }

  // Sends one command and reads its reply into *reply (which may be an error reply). IOError when
  // the connection failed; the connection is then unusable.
  Status Command(const std::vector<std::string>& args, Reply* reply) {
    argv_.clear();
    argvlen_.clear();
    for (const std::string& a : args) {
      argv_.push_back(a.data());
      argvlen_.push_back(a.size());
    }
    void* r = redisCommandArgv(ctx_, static_cast<int>(args.size()), argv_.data(), argvlen_.data());
    if (r == nullptr) {
      std::string why = ctx_->errstr;
      if (ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        why = "timed out";
      }
      return Status::IOError(args[0] + ": " + (why.empty() ? "connection lost" : why));
    }
    reply->reset(static_cast<redisReply*>(r));
    return Status::OK();
  }

 private:
  Connection() = default;
  redisContext* ctx_ = nullptr;
  std::vector<const char*> argv_;
  std::vector<size_t> argvlen_;
};

Result<std::unique_ptr<RedisStreamSource>> RedisStreamSource::Create(
    const RedisStreamOptions& options, EventSink sink) {
  FRESHET_ASSIGN_OR_RETURN(RedisUrl url, ParseRedisUrl(options.url));
  auto bad = [](std::string why) { return Status::InvalidArgument("redis stream: " + why); };
  if (options.stream.empty()) return bad("the stream name is empty (give --stream NAME)");
  if (options.group.empty()) return bad("the consumer group name is empty");
  if (options.count < 1 || options.count > 100000) return bad("count must be 1 to 100000");
  if (options.block_ms < 1 || options.block_ms > 60000) return bad("block_ms must be 1 to 60000");
  if (options.claim_idle_ms < 1) return bad("claim_idle_ms must be at least 1");
  if (options.claim_interval_ms < 1) return bad("claim_interval_ms must be at least 1");
  if (options.timeout_ms < 1) return bad("timeout_ms must be at least 1");
  if (options.backoff_min_ms < 1 || options.backoff_max_ms < options.backoff_min_ms) {
    return bad("backoff must satisfy 1 <= backoff_min_ms <= backoff_max_ms");
  }
  if (options.start_id != "0" && options.start_id != "$" && !EntryIdMillis(options.start_id)) {
    return bad("start_id must be '0', '$' or an entry id");
  }
  if (!sink) return bad("no sink");
  return std::unique_ptr<RedisStreamSource>(
      new RedisStreamSource(options, std::move(url), std::move(sink)));
}

RedisStreamSource::RedisStreamSource(const RedisStreamOptions& options, RedisUrl url,
                                     EventSink sink)
    : options_(options), url_(std::move(url)), sink_(std::move(sink)) {
  if (options_.consumer.empty()) options_.consumer = DefaultConsumerName();
  if (options_.dead_letter_stream.empty())
    options_.dead_letter_stream = options_.stream + ":rejected";
  // Seeded per process so that replicas restarted together do not retry in step; never zero.
  jitter_state_ = (static_cast<uint64_t>(Clock::now().time_since_epoch().count()) ^
                   (static_cast<uint64_t>(::getpid()) << 32)) |
                  1;
  lag_ring_.reserve(kLagSamples);
}

RedisStreamSource::~RedisStreamSource() { Stop(); }

Status RedisStreamSource::Start() {
  assert(!thread_.joinable());
  std::promise<Status> first;
  std::future<Status> first_result = first.get_future();
  // The promise moves into the thread, which outlives this call.
  thread_ = std::thread([this, first = std::move(first)]() mutable {
    // A write to a socket Redis has closed raises SIGPIPE in the writing thread: block it here
    // so that the write fails with EPIPE and becomes a reconnect instead of ending the process.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    bool fatal = false;
    Status s = Connect(&fatal);
    if (!s.ok() && fatal) {
      first.set_value(s);
      return;
    }
    if (!s.ok()) {
      ++redis_errors_;
      Log(s.message() + "; retrying in the background");
      down_logged_ = true;
    }
    first.set_value(Status::OK());
    Run();
  });
  Status s = first_result.get();
  if (!s.ok()) thread_.join();
  return s;
}

void RedisStreamSource::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_.store(true);
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

RedisStreamCounters RedisStreamSource::counters() const {
  RedisStreamCounters c;
  c.entries_read = entries_read_.load();
  c.events_accepted = events_accepted_.load();
  c.events_duplicate = events_duplicate_.load();
  c.entries_rejected = entries_rejected_.load();
  c.entries_acked = entries_acked_.load();
  c.entries_claimed = entries_claimed_.load();
  c.reconnects = reconnects_.load();
  c.sink_errors = sink_errors_.load();
  c.redis_errors = redis_errors_.load();
  c.pending = pending_.load();
  c.connected = connected_.load();
  return c;
}

void RedisStreamSource::Log(const std::string& line) const {
  if (!options_.log) return;
  std::fprintf(stderr, "freshet: redis stream '%s': %s\n", options_.stream.c_str(), line.c_str());
}

void RedisStreamSource::Run() {
  int backoff_ms = options_.backoff_min_ms;
  while (!stop_.load()) {
    if (conn_ == nullptr) {
      bool fatal = false;
      if (Status s = Connect(&fatal); !s.ok()) {
        ++redis_errors_;
        if (!down_logged_) {
          Log(s.message() + "; retrying");
          down_logged_ = true;
        }
        if (!Backoff(&backoff_ms)) break;
        continue;
      }
      backoff_ms = options_.backoff_min_ms;
    }
    if (Status s = Step(); !s.ok()) {
      ++redis_errors_;
      Disconnect(s);
    }
  }
  conn_.reset();
  connected_.store(false);
}

Status RedisStreamSource::Connect(bool* fatal) {
  *fatal = false;
  const int command_timeout = options_.block_ms + options_.timeout_ms;
  FRESHET_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                           Connection::Open(url_, options_.timeout_ms, command_timeout));
  Reply reply;
  // An error reply during setup is the operator's to fix (wrong password, not a stream), unless
  // Redis is only starting up.
  auto setup_error = [&](const std::string& what) {
    const std::string message(ReplyText(reply.get()));
    *fatal = !IsTransientError(message);
    return Status::FailedPrecondition(what + " on " + url_.ToString() + ": " + message);
  };
  if (!url_.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!url_.user.empty()) auth.push_back(url_.user);
    auth.push_back(url_.password);
    FRESHET_RETURN_IF_ERROR(conn->Command(auth, &reply));
    if (reply->type == REDIS_REPLY_ERROR) return setup_error("AUTH failed");
  }
  if (url_.db != 0) {
    FRESHET_RETURN_IF_ERROR(conn->Command({"SELECT", std::to_string(url_.db)}, &reply));
    if (reply->type == REDIS_REPLY_ERROR) return setup_error("SELECT " + std::to_string(url_.db));
  }
  FRESHET_RETURN_IF_ERROR(conn->Command(
      {"XGROUP", "CREATE", options_.stream, options_.group, options_.start_id, "MKSTREAM"},
      &reply));
  if (reply->type == REDIS_REPLY_ERROR && ReplyText(reply.get()).substr(0, 9) != "BUSYGROUP") {
    return setup_error("XGROUP CREATE " + options_.stream + " " + options_.group);
  }
  conn_ = std::move(conn);
  // Our own pending entries first: what a previous run of this consumer read but did not ack.
  pending_phase_ = true;
  pending_cursor_ = "0";
  claim_cursor_ = "0-0";
  next_claim_ = Clock::now();
  connected_.store(true);
  if (ever_connected_) {
    ++reconnects_;
    if (down_logged_) Log("reconnected to " + url_.ToString());
  } else {
    Log("connected to " + url_.ToString() + ", consuming as group '" + options_.group +
        "', consumer '" + options_.consumer + "'");
  }
  ever_connected_ = true;
  down_logged_ = false;
  return Status::OK();
}

void RedisStreamSource::Disconnect(const Status& why) {
  conn_.reset();
  connected_.store(false);
  if (!down_logged_) {
    Log("connection lost (" + why.message() + "); reconnecting with backoff");
    down_logged_ = true;
  }
}

bool RedisStreamSource::Backoff(int* backoff_ms) {
  // xorshift64: jitter spreads the reconnects of many replicas after a Redis restart.
  jitter_state_ ^= jitter_state_ << 13;
  jitter_state_ ^= jitter_state_ >> 7;
  jitter_state_ ^= jitter_state_ << 17;
  const double unit = static_cast<double>(jitter_state_ >> 11) * 0x1.0p-53;  // [0, 1)
  const auto sleep = std::chrono::milliseconds(
      std::max<int64_t>(1, static_cast<int64_t>(*backoff_ms * (0.75 + 0.5 * unit))));
  *backoff_ms = std::min(options_.backoff_max_ms, *backoff_ms * 2);
  std::unique_lock<std::mutex> lock(stop_mu_);
  return !stop_cv_.wait_for(lock, sleep, [this] { return stop_.load(); });
}

Status RedisStreamSource::Step() {
  std::vector<StreamEntry> entries;
  if (pending_phase_) {
    FRESHET_RETURN_IF_ERROR(ReadGroup(pending_cursor_, /*block=*/false, &entries));
    if (entries.empty()) {
      pending_phase_ = false;
      return Status::OK();
    }
    pending_cursor_ = entries.back().id;
    return Process(entries);
  }
  if (Clock::now() >= next_claim_) {
    FRESHET_RETURN_IF_ERROR(AutoClaim(&entries));
    if (claim_cursor_ == "0-0") {
      // A full pass over the group's pending entries: rest until the next interval.
      next_claim_ = Clock::now() + std::chrono::milliseconds(options_.claim_interval_ms);
      FRESHET_RETURN_IF_ERROR(RefreshPending());
    }
    if (!entries.empty()) return Process(entries);
    return Status::OK();
  }
  FRESHET_RETURN_IF_ERROR(ReadGroup(">", /*block=*/true, &entries));
  if (entries.empty()) return Status::OK();
  return Process(entries);
}

Status RedisStreamSource::ReadGroup(const std::string& from_id, bool block,
                                    std::vector<StreamEntry>* entries) {
  std::vector<std::string> args = {"XREADGROUP",      "GROUP", options_.group,
                                   options_.consumer, "COUNT", std::to_string(options_.count)};
  if (block) {
    args.push_back("BLOCK");
    args.push_back(std::to_string(options_.block_ms));
  }
  args.push_back("STREAMS");
  args.push_back(options_.stream);
  args.push_back(from_id);
  Reply reply;
  FRESHET_RETURN_IF_ERROR(conn_->Command(args, &reply));
  if (reply->type == REDIS_REPLY_NIL) return Status::OK();  // BLOCK timed out
  if (reply->type == REDIS_REPLY_ERROR) {
    // NOGROUP: the group (or the stream) went away, e.g. a Redis restart without persistence.
    // Reconnecting creates it again.
    return Status::IOError("XREADGROUP: " + std::string(ReplyText(reply.get())));
  }
  if (reply->type != REDIS_REPLY_ARRAY) return Status::IOError("XREADGROUP: unexpected reply");
  for (size_t s = 0; s < reply->elements; ++s) {
    const redisReply* stream = reply->element[s];
    if (stream == nullptr || stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) {
      return Status::IOError("XREADGROUP: unexpected reply");
    }
    if (Status st = ParseEntries(stream->element[1], entries); !st.ok()) {
      return Status::IOError("XREADGROUP: " + st.message());
    }
  }
  return Status::OK();
}

Status RedisStreamSource::AutoClaim(std::vector<StreamEntry>* entries) {
  Reply reply;
  FRESHET_RETURN_IF_ERROR(conn_->Command({"XAUTOCLAIM", options_.stream, options_.group,
                                          options_.consumer, std::to_string(options_.claim_idle_ms),
                                          claim_cursor_, "COUNT", std::to_string(options_.count)},
                                         &reply));
  if (reply->type == REDIS_REPLY_ERROR) {
    return Status::IOError("XAUTOCLAIM: " + std::string(ReplyText(reply.get())));
  }
  // [next start id, entries] (6.2), plus [deleted ids] (7.0).
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 || !IsText(reply->element[0])) {
    return Status::IOError("XAUTOCLAIM: unexpected reply");
  }
  const size_t before = entries->size();
  if (Status st = ParseEntries(reply->element[1], entries); !st.ok()) {
    return Status::IOError("XAUTOCLAIM: " + st.message());
  }
  claim_cursor_ = std::string(ReplyText(reply->element[0]));
  entries_claimed_ += entries->size() - before;
  return Status::OK();
}

Status RedisStreamSource::RefreshPending() {
  Reply reply;
  FRESHET_RETURN_IF_ERROR(conn_->Command({"XPENDING", options_.stream, options_.group}, &reply));
  // [count, smallest id, greatest id, [[consumer, count], ...] or nil]
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 4) return Status::OK();
  int64_t mine = 0;
  const redisReply* consumers = reply->element[3];
  if (consumers != nullptr && consumers->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < consumers->elements; ++i) {
      const redisReply* c = consumers->element[i];
      if (c == nullptr || c->type != REDIS_REPLY_ARRAY || c->elements != 2) continue;
      if (ReplyText(c->element[0]) == options_.consumer) {
        mine = std::strtoll(std::string(ReplyText(c->element[1])).c_str(), nullptr, 10);
      }
    }
  }
  pending_.store(mine);
  return Status::OK();
}

Status RedisStreamSource::Process(std::vector<StreamEntry>& entries) {
  entries_read_ += entries.size();
  std::vector<Event> events;
  std::vector<std::string> keys;
  std::vector<size_t> entry_of;  // events[j] came from entries[entry_of[j]]
  std::vector<std::pair<size_t, FieldError>> rejected;
  events.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const StreamEntry& entry = entries[i];
    if (entry.deleted) continue;  // nothing to store; acknowledged below
    Event e;
    FieldError problem;
    if (!decoder_.Decode(entry, &e, &problem)) {
      rejected.emplace_back(i, std::move(problem));
      continue;
    }
    keys.push_back(DedupeKey(e, options_.stream, entry.id));
    events.push_back(std::move(e));
    entry_of.push_back(i);
  }
  if (!events.empty() && !Deliver(events, keys, entry_of, rejected)) {
    // Stopping while the sink fails: the entries stay pending and are read again (deduped).
    return Status::OK();
  }
  for (const auto& [i, problem] : rejected) {
    FRESHET_RETURN_IF_ERROR(DeadLetter(entries[i], problem));
  }
  FRESHET_RETURN_IF_ERROR(Ack(entries));
  entries_rejected_ += rejected.size();
  return Status::OK();
}

bool RedisStreamSource::Deliver(std::vector<Event>& events, std::vector<std::string>& keys,
                                const std::vector<size_t>& entry_of,
                                std::vector<std::pair<size_t, FieldError>>& rejected) {
  int backoff_ms = options_.backoff_min_ms;
  auto failing = [&](const Status& s) {
    ++sink_errors_;
    if (!sink_failing_) {
      Log("cannot store events (" + s.ToString() + "); retrying, entries stay pending");
      sink_failing_ = true;
    }
  };
  auto taken = [&](const store::AppendStats& stats) {
    events_accepted_ += stats.accepted;
    events_duplicate_ += stats.duplicates;
    if (sink_failing_) {
      Log("storing events again");
      sink_failing_ = false;
    }
  };
  while (true) {
    store::AppendStats stats;
    const Status s = sink_(events, keys, &stats);
    if (s.ok()) {
      taken(stats);
      return true;
    }
    if (s.IsInvalidArgument()) {
      ++sink_errors_;
      break;
    }
    failing(s);
    if (!Backoff(&backoff_ms)) return false;
  }
  // The store refused an event that passed ValidateEvent: offer them one at a time so that only
  // the refused ones are dead-lettered.
  for (size_t j = 0; j < events.size(); ++j) {
    while (true) {
      store::AppendStats stats;
      const Status s = sink_(std::span<const Event>(&events[j], 1),
                             std::span<const std::string>(&keys[j], 1), &stats);
      if (s.ok()) {
        taken(stats);
        break;
      }
      if (s.IsInvalidArgument()) {
        rejected.emplace_back(entry_of[j], FieldError{"event", s.message()});
        break;
      }
      failing(s);
      if (!Backoff(&backoff_ms)) return false;
    }
  }
  return true;
}

Status RedisStreamSource::DeadLetter(const StreamEntry& entry, const FieldError& problem) {
  std::vector<std::string> args = {"XADD",
                                   options_.dead_letter_stream,
                                   "MAXLEN",
                                   "~",
                                   std::to_string(options_.dead_letter_maxlen),
                                   "*",
                                   "rejected_id",
                                   entry.id,
                                   "rejected_field",
                                   problem.field,
                                   "rejected_reason",
                                   "field '" + problem.field + "': " + problem.reason};
  for (const auto& [name, value] : entry.fields) {
    args.push_back(name);
    args.push_back(value);
  }
  Reply reply;
  FRESHET_RETURN_IF_ERROR(conn_->Command(args, &reply));
  if (reply->type == REDIS_REPLY_ERROR) {
    return Status::IOError("XADD " + options_.dead_letter_stream + ": " +
                           std::string(ReplyText(reply.get())));
  }
  return Status::OK();
}

Status RedisStreamSource::Ack(const std::vector<StreamEntry>& entries) {
  if (entries.empty()) return Status::OK();
  std::vector<std::string> args = {"XACK", options_.stream, options_.group};
  args.reserve(entries.size() + 3);
  for (const StreamEntry& e : entries) args.push_back(e.id);
  Reply reply;
  FRESHET_RETURN_IF_ERROR(conn_->Command(args, &reply));
  if (reply->type != REDIS_REPLY_INTEGER) {
    return Status::IOError("XACK: " + (reply->type == REDIS_REPLY_ERROR
                                           ? std::string(ReplyText(reply.get()))
                                           : std::string("unexpected reply")));
  }
  entries_acked_ += static_cast<uint64_t>(std::max<long long>(0, reply->integer));
  const int64_t now = WallMillis();
  std::lock_guard<std::mutex> lock(lag_mu_);
  for (const StreamEntry& e : entries) {
    const std::optional<int64_t> ms = EntryIdMillis(e.id);
    if (!ms) continue;
    const double lag = static_cast<double>(std::max<int64_t>(0, now - *ms)) / 1000.0;
    if (lag_ring_.size() < kLagSamples) {
      lag_ring_.push_back(lag);
    } else {
      lag_ring_[lag_next_] = lag;
    }
    lag_next_ = (lag_next_ + 1) % kLagSamples;
    ++lag_count_;
    lag_sum_ += lag;
  }
  return Status::OK();
}

void RedisStreamSource::RenderMetrics(std::string* out) const {
  const RedisStreamCounters c = counters();
  const std::string labels = "stream=\"" + LabelValue(options_.stream) + "\"";
  auto line = [&](std::string_view name, std::string_view extra, double v) {
    *out += name;
    *out += '{';
    *out += labels;
    *out += extra;
    *out += "} ";
    *out += Number(v);
    *out += '\n';
  };
  auto counter = [&](std::string_view name, std::string_view help, uint64_t v) {
    *out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " +
            std::string(name) + " counter\n";
    line(name, "", static_cast<double>(v));
  };
  *out +=
      "# HELP freshet_redis_entries_total Redis stream entries read, by outcome: read (delivered "
      "by XREADGROUP / XAUTOCLAIM), accepted (event stored), duplicate (already stored), "
      "rejected (sent to the dead-letter stream).\n# TYPE freshet_redis_entries_total counter\n";
  line("freshet_redis_entries_total", ",outcome=\"read\"", static_cast<double>(c.entries_read));
  line("freshet_redis_entries_total", ",outcome=\"accepted\"",
       static_cast<double>(c.events_accepted));
  line("freshet_redis_entries_total", ",outcome=\"duplicate\"",
       static_cast<double>(c.events_duplicate));
  line("freshet_redis_entries_total", ",outcome=\"rejected\"",
       static_cast<double>(c.entries_rejected));
  counter("freshet_redis_acked_total", "Entries acknowledged (XACK) after the store took them.",
          c.entries_acked);
  counter("freshet_redis_claimed_total",
          "Pending entries taken over from other consumers (XAUTOCLAIM).", c.entries_claimed);
  counter("freshet_redis_reconnects_total", "Connections to Redis made again after a loss.",
          c.reconnects);
  counter("freshet_redis_sink_errors_total",
          "Batches the store could not take (retried; entries stay pending).", c.sink_errors);
  counter("freshet_redis_errors_total", "Failed Redis connections and commands.", c.redis_errors);
  *out +=
      "# HELP freshet_redis_connected 1 while connected to Redis.\n"
      "# TYPE freshet_redis_connected gauge\n";
  line("freshet_redis_connected", "", c.connected ? 1 : 0);
  *out +=
      "# HELP freshet_redis_pending Entries pending (read, not acknowledged) for this "
      "consumer at the last check; -1 before the first.\n"
      "# TYPE freshet_redis_pending gauge\n";
  line("freshet_redis_pending", "", static_cast<double>(c.pending));
  std::vector<double> lags;
  uint64_t count = 0;
  double sum = 0;
  {
    std::lock_guard<std::mutex> lock(lag_mu_);
    lags = lag_ring_;
    count = lag_count_;
    sum = lag_sum_;
  }
  *out +=
      "# HELP freshet_redis_ack_lag_seconds From an entry's id time (when Redis took it) to "
      "its XACK; quantiles over the last 4096 entries.\n"
      "# TYPE freshet_redis_ack_lag_seconds summary\n";
  std::sort(lags.begin(), lags.end());
  for (double q : {0.5, 0.99}) {
    double v = std::numeric_limits<double>::quiet_NaN();
    if (!lags.empty()) {
      const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(lags.size())));
      v = lags[std::min(lags.size() - 1, rank == 0 ? 0 : rank - 1)];
    }
    line("freshet_redis_ack_lag_seconds", q == 0.5 ? ",quantile=\"0.5\"" : ",quantile=\"0.99\"", v);
  }
  *out += "freshet_redis_ack_lag_seconds_sum{" + labels + "} " + Number(sum);
  *out += "\nfreshet_redis_ack_lag_seconds_count{" + labels + "} " + std::to_string(count) + "\n";
}

}  // namespace freshet::stream
