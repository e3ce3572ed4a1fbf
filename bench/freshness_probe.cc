// The event side of bench/freshness.sh: streams events into a running `freshet serve` at a fixed
// rate, half through POST /v1/events and half through a Redis stream, and measures state
// freshness with probe events:
//
//   HTTP probe:  POST one view of a fresh item for a probe user; once the 200 arrives (the event
//                is acknowledged), GET /v1/users/{probe} until its newest recent item is that
//                item. Freshness = acknowledgement -> first answer that reflects the event.
//   Redis probe: XADD the same kind of event, then poll GET /v1/users/{probe}. Freshness = XADD
//                -> first answer that reflects it (includes the consumer's read and the store
//                write before its XACK).
//
//   freshness_probe PORT REDIS_PORT STREAM EVENTS_PER_S SECONDS ITEMS USERS
//
// Prints one JSON object: events sent per path, errors, and freshness p50 / p99 / max in ms.

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// A keep-alive HTTP/1.1 connection to 127.0.0.1 with just enough parsing for freshet's answers.
class Http {
 public:
  explicit Http(int port) : port_(port) { Connect(); }
  ~Http() {
    if (fd_ >= 0) close(fd_);
  }
  // Returns the status (0 on a transport error) and the body.
  int Request(const std::string& method, const std::string& target, const std::string& body,
              std::string* answer) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !Connect()) return 0;
      std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
      if (!body.empty()) req += "Content-Type: application/json\r\n";
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      if (!SendAll(req)) {
        Reset();
        continue;
      }
      const int status = ReadAnswer(answer);
      if (status == 0) {
        Reset();
        continue;
      }
      return status;
    }
    return 0;
  }

 private:
  bool Connect() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      Reset();
      return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return true;
  }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    buf_.clear();
  }
  bool SendAll(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  int ReadAnswer(std::string* body) {
    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return 0;
    }
    const int status = std::atoi(buf_.c_str() + 9);
    size_t length = 0;
    const size_t cl = buf_.find("Content-Length: ");
    if (cl != std::string::npos && cl < header_end) length = std::strtoul(buf_.c_str() + cl + 16, nullptr, 10);
    while (buf_.size() < header_end + 4 + length) {
      if (!Fill()) return 0;
    }
    body->assign(buf_, header_end + 4, length);
    buf_.erase(0, header_end + 4 + length);
    return status;
  }
  bool Fill() {
    char tmp[65536];
    const ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int port_;
  int fd_ = -1;
  std::string buf_;
};

std::string EventJson(const std::string& user, const std::string& item) {
  return "{\"user\":\"" + user + "\",\"item\":\"" + item + "\",\"type\":\"view\"}";
}

struct Stats {
  std::mutex mu;
  std::vector<double> http_ms, redis_ms;
  std::atomic<uint64_t> http_events{0}, redis_events{0}, errors{0};
};

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// Polls the probe user until `item` is their newest recent item; ms since `since`, or -1.
double WaitReflected(Http& http, const std::string& user, const std::string& item,
                     Clock::time_point since) {
  std::string body;
  const std::string needle = "\"recent\":[\"" + item + "\"";
  for (int i = 0; i < 20000; ++i) {
    if (http.Request("GET", "/v1/users/" + user, "", &body) == 200 &&
        body.find(needle) != std::string::npos) {
      return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr,
                 "usage: freshness_probe PORT REDIS_PORT STREAM EVENTS_PER_S SECONDS ITEMS USERS\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int redis_port = std::atoi(argv[2]);
  const std::string stream = argv[3];
  const double rate = std::atof(argv[4]);
  const double seconds = std::atof(argv[5]);
  const int items = std::atoi(argv[6]);
  const int users = std::atoi(argv[7]);
  Stats stats;
  std::atomic<bool> stop{false};
  const auto start = Clock::now();
  auto item_name = [](int i) {
    char b[32];
    std::snprintf(b, sizeof b, "i%06d", i);
    return std::string(b);
  };
  auto user_name = [](int u) {
    char b[32];
    std::snprintf(b, sizeof b, "u%06d", u);
    return std::string(b);
  };

  // Streamers: batches of 50 events every 10 ms per path share, to reach `rate` in total.
  std::vector<std::thread> threads;
  const int batch = 50;
  const double batches_per_s = rate / 2.0 / batch;  // per path
  threads.emplace_back([&] {  // HTTP
    Http http(port);
    std::string body, answer;
    uint64_t n = 0;
    for (uint64_t b = 0; !stop; ++b) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(b / batches_per_s));
      std::this_thread::sleep_until(due);
      body.clear();
      for (int k = 0; k < batch; ++k, ++n) {
        body += EventJson(user_name(static_cast<int>(n * 7919 % users)),
                          item_name(static_cast<int>(n * 104729 % items))) + "\n";
      }
      if (http.Request("POST", "/v1/events", body, &answer) != 200) {
        stats.errors++;
      } else {
        stats.http_events += batch;
      }
    }
  });
  threads.emplace_back([&] {  // Redis
    redisContext* c = redisConnect("127.0.0.1", redis_port);
    if (c == nullptr || c->err) {
      std::fprintf(stderr, "freshness_probe: cannot reach Redis on %d\n", redis_port);
      stats.errors++;
      return;
    }
    uint64_t n = 1u << 30;
    for (uint64_t b = 0; !stop; ++b) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(b / batches_per_s));
      std::this_thread::sleep_until(due);
      for (int k = 0; k < batch; ++k, ++n) {
        const std::string json = EventJson(user_name(static_cast<int>(n * 7919 % users)),
                                           item_name(static_cast<int>(n * 104729 % items)));
        redisAppendCommand(c, "XADD %s * event %b", stream.c_str(), json.data(), json.size());
      }
      for (int k = 0; k < batch; ++k) {
        redisReply* r = nullptr;
        if (redisGetReply(c, reinterpret_cast<void**>(&r)) != REDIS_OK || r == nullptr ||
            r->type == REDIS_REPLY_ERROR) {
          stats.errors++;
        } else {
          stats.redis_events++;
        }
        if (r) freeReplyObject(r);
      }
    }
    redisFree(c);
  });
  // Probes: every 100 ms, alternately through HTTP and Redis.
  threads.emplace_back([&] {
    Http http(port);
    redisContext* c = redisConnect("127.0.0.1", redis_port);
    std::string answer;
    for (int p = 0; !stop; ++p) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const std::string user = "probe" + std::to_string(p % 16);
      const std::string item = item_name(p * 37 % items);
      const std::string json = EventJson(user, item);
      if (p % 2 == 0) {
        if (http.Request("POST", "/v1/events", json, &answer) != 200) {
          stats.errors++;
          continue;
        }
        const double ms = WaitReflected(http, user, item, Clock::now());
        std::lock_guard lock(stats.mu);
        if (ms >= 0) stats.http_ms.push_back(ms); else stats.errors++;
      } else if (c != nullptr && !c->err) {
        const auto sent = Clock::now();
        redisReply* r = static_cast<redisReply*>(
            redisCommand(c, "XADD %s * event %b", stream.c_str(), json.data(), json.size()));
        if (r) freeReplyObject(r);
        const double ms = WaitReflected(http, user, item, sent);
        std::lock_guard lock(stats.mu);
        if (ms >= 0) stats.redis_ms.push_back(ms); else stats.errors++;
      }
    }
    if (c) redisFree(c);
  });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (std::thread& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::lock_guard lock(stats.mu);
  std::printf(
      "{\"seconds\":%.1f,\"http_events\":%llu,\"redis_events\":%llu,\"events_per_s\":%.0f,"
      "\"errors\":%llu,\"http_probes\":%zu,\"http_freshness_ms\":{\"p50\":%.3f,\"p99\":%.3f,"
      "\"max\":%.3f},\"redis_probes\":%zu,\"redis_freshness_ms\":{\"p50\":%.3f,\"p99\":%.3f,"
      "\"max\":%.3f}}\n",
      elapsed, static_cast<unsigned long long>(stats.http_events.load()),
      static_cast<unsigned long long>(stats.redis_events.load()),
      (stats.http_events + stats.redis_events) / elapsed,
      static_cast<unsigned long long>(stats.errors.load()), stats.http_ms.size(),
      Pct(stats.http_ms, 0.5), Pct(stats.http_ms, 0.99), Pct(stats.http_ms, 1.0),
      stats.redis_ms.size(), Pct(stats.redis_ms, 0.5), Pct(stats.redis_ms, 0.99),
      Pct(stats.redis_ms, 1.0));
  return 0;
}
