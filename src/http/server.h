#pragma once

// The HTTP/1.1 transport: Boost.Beast over Asio, keep-alive, one io_context run by `threads`
// threads. It parses each request, turns it into a serve::ApiRequest (path and query decoded,
// API key and request id taken from the headers), calls the handler on the I/O thread and writes
// the answer back. The server knows nothing of recommendations; serve::Service does.
//
// Limits, each answered with a JSON error and the connection closed: a body above body_limit
// (413), headers above 16 KiB (431), a malformed request (400), a request that does not arrive
// in full within read_timeout (the connection is dropped; an idle keep-alive connection too).
//
// Shutdown (Shutdown(), e.g. on SIGTERM): stop accepting; requests already being read or handled
// finish and are answered with "Connection: close"; idle connections are closed; after
// drain_timeout whatever is left is cut. Then the threads end.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "serve/service.h"

namespace freshet::http {

struct ServerOptions {
  std::string bind = "127.0.0.1";  // 0.0.0.0 to listen on every interface
  uint16_t port = 8080;            // 0: a free port chosen by the kernel (see Server::port)
  int threads = 0;                 // I/O + handler threads; 0: one per core
  // Largest request body. Event batches are the big ones: 8 MiB is ~40k typical events.
  size_t body_limit = 8u << 20;
  // A request must arrive in full within this; also the idle keep-alive limit.
  std::chrono::milliseconds read_timeout{30000};
  // How long Shutdown waits for requests in flight before cutting connections.
  std::chrono::milliseconds drain_timeout{10000};
};

using Handler = std::function<serve::ApiResponse(const serve::ApiRequest&)>;

class Server {
 public:
  // Binds and starts the threads. IOError naming the address when it cannot bind (in use, no
  // permission); InvalidArgument for an unparsable bind address. `handler` must be thread-safe
  // and outlive the server.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options, Handler handler);
  ~Server();  // Shutdown() and Wait()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  // Begins the graceful shutdown described above and returns at once. Thread-safe, idempotent.
  void Shutdown();
  // Blocks until every thread has ended (after Shutdown).
  void Wait();

  struct Impl;  // the state; defined in server.cc (public only so its sessions can name it)

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace freshet::http
