#include "testing/redis_server.h"

#include <fcntl.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>

namespace freshet::testing {
namespace {

void IgnoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

RedisReply Copy(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      return out;
    case REDIS_REPLY_NIL:
      out.type = RedisReply::Type::kNil;
      return out;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Copy(r->element[i]));
      return out;
    default:
      out.type = RedisReply::Type::kNone;
      out.str = "unknown reply type";
      return out;
  }
  out.str.assign(r->str, r->len);
  return out;
}

// A port the kernel just handed out on loopback, and closed again: free unless someone races us.
int FreePort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    if (port > 0 && port != 6379) return port;
  }
  return 0;
}

}  // namespace

std::string FindRedisServer() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/redis-server";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string RedisReply::DebugString() const {
  switch (type) {
    case Type::kNone:
      return "(no reply: " + str + ")";
    case Type::kString:
      return "\"" + str + "\"";
    case Type::kStatus:
      return str;
    case Type::kError:
      return "(error " + str + ")";
    case Type::kInteger:
      return std::to_string(integer);
    case Type::kNil:
      return "(nil)";
    case Type::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < elements.size(); ++i) {
        out += (i ? ", " : "") + elements[i].DebugString();
      }
      return out + "]";
    }
  }
  return "?";
}

RedisClient::~RedisClient() {
  if (ctx_ != nullptr) redisFree(static_cast<redisContext*>(ctx_));
}

RedisReply RedisClient::Command(const std::vector<std::string>& args) {
  IgnoreSigpipe();
  RedisReply out;
  if (ctx_ == nullptr) {
    const timeval tv = {2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr || c->err != 0) {
      out.str = c != nullptr ? c->errstr : "cannot allocate a context";
      if (c != nullptr) redisFree(c);
      return out;
    }
    const timeval command_tv = {10, 0};
    redisSetTimeout(c, command_tv);
    ctx_ = c;
  }
  auto* c = static_cast<redisContext*>(ctx_);
  std::vector<const char*> argv;
  std::vector<size_t> argvlen;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    argvlen.push_back(a.size());
  }
  void* r = redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), argvlen.data());
  if (r == nullptr) {
    out.str = c->errstr;
    redisFree(c);
    ctx_ = nullptr;
    return out;
  }
  out = Copy(static_cast<redisReply*>(r));
  freeReplyObject(r);
  return out;
}

RedisServer::RedisServer() : dir_(temp_.path().string()), port_(FreePort()) {}

RedisServer::~RedisServer() { Stop(); }

bool RedisServer::Start(std::string* error) {
  if (pid_ > 0) return true;
  const std::string binary = FindRedisServer();
  if (binary.empty()) {
    *error = "redis-server is not on PATH";
    return false;
  }
  if (port_ <= 0) {
    *error = "no free loopback port";
    return false;
  }
  const std::vector<std::string> argv = {binary,   "--port",       std::to_string(port_),
                                         "--bind", "127.0.0.1",    "--save",
                                         "",       "--appendonly", "yes",
                                         "--dir",  dir_,           "--daemonize",
                                         "no",     "--logfile",    dir_ + "/redis.log"};
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    // Never outlive the test: a crashed test binary takes its redis-server along.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
    }
    std::vector<char*> cargv;
    for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  if (pid_ < 0) {
    *error = "fork failed";
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "redis-server exited at start; its log:\n" + Log();
      return false;
    }
    RedisClient client(port_);
    const RedisReply pong = client.Command({"PING"});
    if (pong.type == RedisReply::Type::kStatus && pong.str == "PONG") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *error = "redis-server did not answer PING within 20 s; its log:\n" + Log();
  Stop();
  return false;
}

void RedisServer::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  // Redis exits after writing its append-only file; give it 20 s, then make sure.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
}

std::string RedisServer::Log() const { return ReadFile(dir_ + "/redis.log"); }

}  // namespace freshet::testing
