#pragma once

// Test-side HTTP: a plain-socket HTTP/1.1 client (so a test can send half a request, or reuse a
// keep-alive connection), and a `freshet serve` child process started on a free loopback port.

#include <sys/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace freshet::testing {

struct HttpResult {
  int status = 0;  // 0: no answer (error says why)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string error;
};

class HttpConnection {
 public:
  HttpConnection() = default;
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Connects to 127.0.0.1:port; false when refused.
  bool Connect(int port);
  // Sends raw bytes; false on error.
  bool Send(const std::string& bytes);
  // Reads one response (headers and a Content-Length body), waiting up to timeout_ms.
  HttpResult Read(int timeout_ms = 10000);
  // A whole request: method, target, body, extra headers ("Name: value").
  HttpResult Request(const std::string& method, const std::string& target,
                     const std::string& body = "", const std::vector<std::string>& headers = {});
  // True when the server has closed the connection (a read returns end of stream).
  bool ClosedByPeer(int timeout_ms = 2000);
  void Close();

 private:
  int fd_ = -1;
  std::string buffer_;
};

// One request on a fresh connection.
HttpResult Http(int port, const std::string& method, const std::string& target,
                const std::string& body = "", const std::vector<std::string>& headers = {});

// `freshet serve` with `args` (--port 0 and --port-file are added), its output in files.
class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& args, const std::string& work_dir,
                         const std::vector<std::string>& env = {});
  ~ServerProcess();  // SIGKILL if still running
  // Waits until the port file appears (true) or the process exits (false).
  bool WaitReady(int timeout_ms = 60000);
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits for the exit; the exit code, or -signal.
  int Wait(int timeout_ms = 30000);
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string port_file_, err_file_;
};

}  // namespace freshet::testing
