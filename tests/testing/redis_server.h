#pragma once

// A real redis-server for tests: started on a free loopback port with its own directory
// (append-only persistence, so a restart on the same port and directory keeps the streams and
// consumer groups), stopped with SIGTERM in the destructor. And a small synchronous client on
// hiredis for the test's own commands (XADD, XPENDING, ...).

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace freshet::testing {

// The redis-server on PATH, or empty when there is none.
std::string FindRedisServer();

// A reply, copied out of hiredis.
struct RedisReply {
  enum class Type { kNone, kString, kStatus, kInteger, kNil, kArray, kError };
  Type type = Type::kNone;           // kNone: no reply (the connection failed; str says why)
  std::string str;                   // kString, kStatus, kError, kNone
  long long integer = 0;             // kInteger
  std::vector<RedisReply> elements;  // kArray
  bool ok() const { return type != Type::kNone && type != Type::kError; }
  // A readable rendering for assertion messages.
  std::string DebugString() const;
};

// One connection; reconnects on the next Command after a failure. Not thread-safe: one per
// thread. SIGPIPE is ignored process-wide on first use (a test writes to a Redis it stopped).
class RedisClient {
 public:
  explicit RedisClient(int port) : port_(port) {}
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  RedisReply Command(const std::vector<std::string>& args);

 private:
  int port_;
  void* ctx_ = nullptr;  // redisContext
};

class RedisServer {
 public:
  // Picks a free loopback port (never 6379) and a fresh directory; Start() runs the server.
  RedisServer();
  ~RedisServer();  // Stop(); the directory is removed.
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts redis-server (same port and directory on every call) and waits until it answers
  // PING. False with *error set when it does not within 20 s.
  bool Start(std::string* error);
  // SIGTERM and wait: Redis flushes its append-only file on the way out.
  void Stop();
  bool running() const { return pid_ > 0; }

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  // The server's log (for failure messages).
  std::string Log() const;

 private:
  TempDir temp_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace freshet::testing

// Skips the current test with a visible message when redis-server is not installed.
#define FRESHET_REDIS_OR_SKIP()                                                      \
  if (::freshet::testing::FindRedisServer().empty()) {                               \
    GTEST_SKIP() << "SKIPPED: redis-server is not on PATH (Debian: apt-get install " \
                    "redis-server; scripts/setup.sh installs it)";                   \
  }
