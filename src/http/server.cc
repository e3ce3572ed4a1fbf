#include "http/server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <atomic>
#include <cctype>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/json_writer.h"
#include "http/target.h"

namespace freshet::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kHeaderLimit = 16 * 1024;

std::string_view SV(beast::string_view s) { return {s.data(), s.size()}; }

// A request id from the client is echoed when it is short and plain; otherwise one is made.
bool SaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

std::string ErrorBody(int status, std::string_view code, std::string_view message,
                      const std::string& request_id) {
  JsonWriter w;
  w.BeginObject();
  w.Key("request_id").String(request_id);
  w.Key("error").BeginObject();
  w.Key("code").String(code);
  w.Key("message").String(message);
  w.EndObject();
  w.EndObject();
  return w.Take();
}

}  // namespace

class Session;

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_id{1};
  std::string id_prefix;  // random per process, so ids from restarts do not collide
  // The acceptor and the drain timer are touched only on this strand.
  asio::strand<asio::io_context::executor_type> control = asio::make_strand(io);
  asio::steady_timer drain_timer{control};

  std::mutex sessions_mu;
  std::unordered_set<Session*> sessions;  // guarded by sessions_mu

  std::mutex wait_mu;
  bool joined = false;  // guarded by wait_mu

  std::string NextRequestId() {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s-%llx", id_prefix.c_str(),
                  static_cast<unsigned long long>(next_id.fetch_add(1)));
    return buf;
  }
  void Accept();
  void CloseIdleSessions();
  void CutAllSessions();
  // Called when a session ends: the last one to end during shutdown releases the drain timer,
  // the only work left, so that the threads' run() returns.
  void SessionEnded() {
    if (!stopping.load()) return;
    asio::post(control, [this] {
      std::lock_guard lock(sessions_mu);
      if (sessions.empty()) drain_timer.cancel();
    });
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server::Impl& server)
      : stream_(std::move(socket)), server_(server) {
    std::lock_guard lock(server_.sessions_mu);
    server_.sessions.insert(this);
  }
  ~Session() {
    {
      std::lock_guard lock(server_.sessions_mu);
      server_.sessions.erase(this);
    }
    server_.SessionEnded();
  }

  void Start() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

  // On the session's executor: close the connection unless a request is being read or handled.
  void CloseIfIdle() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_ && !(self->parser_ && self->parser_->got_some())) self->Close();
    });
  }
  void Cut() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Close(); });
  }

 private:
  void Read() {
    if (server_.stopping.load()) {
      Close();
      return;
    }
    parser_.emplace();
    parser_->body_limit(server_.options.body_limit);
    parser_->header_limit(kHeaderLimit);
    stream_.expires_after(server_.options.read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::eof || ec == asio::error::bad_descriptor) {
      Close();
      return;
    }
    const std::string request_id = server_.NextRequestId();
    if (ec == bhttp::error::body_limit) {
      SendError(413, "too_large",
                "the body is larger than " + std::to_string(server_.options.body_limit) +
                    " bytes; split it",
                request_id);
      return;
    }
    if (ec == bhttp::error::header_limit) {
      SendError(431, "headers_too_large", "the request headers exceed 16 KiB", request_id);
      return;
    }
    if (ec) {
      SendError(400, "bad_request", "malformed HTTP request: " + ec.message(), request_id);
      return;
    }
    Handle(parser_->release(), request_id);
  }

  void Handle(bhttp::request<bhttp::string_body> req, std::string request_id) {
    busy_ = true;
    serve::ApiRequest api;
    if (auto h = req.find("x-request-id"); h != req.end() && SaneRequestId(SV(h->value()))) {
      request_id = std::string(SV(h->value()));
    }
    api.request_id = request_id;
    const bool keep_alive = req.keep_alive() && !server_.stopping.load();
    auto target = ParseTarget(SV(req.target()));
    if (!target.ok()) {
      SendError(400, "bad_request", target.status().message(), request_id);
      return;
    }
    api.method = std::string(SV(req.method_string()));
    api.path = std::move(target->path);
    api.query = std::move(target->query);
    if (auto h = req.find(bhttp::field::authorization); h != req.end()) {
      const std::string_view v = SV(h->value());
      if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) {
        api.api_key = std::string(v.substr(7));
      }
    }
    if (auto h = req.find("x-api-key"); api.api_key.empty() && h != req.end()) {
      api.api_key = std::string(SV(h->value()));
    }
    api.body = std::move(req.body());
    serve::ApiResponse answer = server_.handler(api);
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(answer.status));
    res_.set(bhttp::field::server, "freshet");
    res_.set(bhttp::field::content_type, answer.content_type);
    res_.set("X-Request-Id", request_id);
    res_.keep_alive(keep_alive);
    res_.body() = std::move(answer.body);
    res_.prepare_payload();
    Write(!keep_alive);
  }

  void SendError(int status, std::string_view code, const std::string& message,
                 const std::string& request_id) {
    busy_ = true;
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(status));
    res_.set(bhttp::field::server, "freshet");
    res_.set(bhttp::field::content_type, "application/json");
    res_.set("X-Request-Id", request_id);
    res_.keep_alive(false);
    res_.body() = ErrorBody(status, code, message, request_id);
    res_.prepare_payload();
    Write(/*close=*/true);
  }

  void Write(bool close) {
    stream_.expires_after(server_.options.read_timeout);
    bhttp::async_write(stream_, res_,
                       [self = shared_from_this(), close](beast::error_code ec, size_t) {
                         self->busy_ = false;
                         if (ec) {
                           self->Close();
                         } else if (close) {
                           self->Linger();
                         } else {
                           self->Read();
                         }
                       });
  }

  // A lingering close: stop sending, then read and discard what the client still sends (the rest
  // of a refused 8 MB body, say) until it closes or kLinger passes. Closing at once with unread
  // input makes the kernel send a reset, and a client still sending would lose the answer.
  void Linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLinger);
    Drain();
  }
  void Drain() {
    stream_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) {
                                self->Close();
                              } else {
                                self->Drain();
                              }
                            });
  }
  static constexpr std::chrono::seconds kLinger{2};

  void Close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  Server::Impl& server_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> res_;
  std::array<char, 4096> drain_;
  bool busy_ = false;    // a request is being handled or its answer written
  bool closed_ = false;
};

void Server::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(io),
                        asio::bind_executor(control, [this](beast::error_code ec,
                                                            tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping.load()) return;
    } else {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(std::move(socket), *this)->Start();
    }
    if (!stopping.load()) Accept();
  }));
}

void Server::Impl::CloseIdleSessions() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mu);
    for (Session* s : sessions) {
      // A session being destroyed has no owner left: weak_from_this tells.
      if (auto p = s->weak_from_this().lock()) live.push_back(std::move(p));
    }
  }
  for (auto& s : live) s->CloseIfIdle();
}

void Server::Impl::CutAllSessions() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mu);
    for (Session* s : sessions) {
      if (auto p = s->weak_from_this().lock()) live.push_back(std::move(p));
    }
  }
  for (auto& s : live) s->Cut();
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->handler = std::move(handler);
  std::random_device rd;
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%08x", rd());
  impl->id_prefix = prefix;
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.bind, ec);
  if (ec) {
    return Status::InvalidArgument("--bind '" + options.bind + "' is not an IP address");
  }
  const tcp::endpoint endpoint(address, options.port);
  const std::string where = options.bind + ":" + std::to_string(options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("cannot listen on " + where + ": " + ec.message());
  impl->Accept();
  const int threads =
      options.threads > 0 ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Impl* raw = impl.get();
  for (int t = 0; t < threads; ++t) {
    impl->threads.emplace_back([raw] {
      // Handler exceptions are caught in serve::Service; an exception here is a transport bug:
      // log it and keep serving.
      for (;;) {
        try {
          raw->io.run();
          break;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "freshet serve: I/O thread: %s\n", e.what());
        }
      }
    });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

uint16_t Server::port() const {
  beast::error_code ec;
  const tcp::endpoint e = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : e.port();
}

void Server::Shutdown() {
  Impl& m = *impl_;
  if (m.stopping.exchange(true)) return;
  asio::post(m.control, [&m] {
    beast::error_code ignored;
    m.acceptor.close(ignored);
    m.drain_timer.expires_after(m.options.drain_timeout);
    m.drain_timer.async_wait([&m](beast::error_code ec) {
      if (!ec) m.CutAllSessions();
    });
    m.CloseIdleSessions();
    std::lock_guard lock(m.sessions_mu);
    if (m.sessions.empty()) m.drain_timer.cancel();
  });
}

void Server::Wait() {
  std::lock_guard lock(impl_->wait_mu);
  if (impl_->joined) return;
  for (std::thread& t : impl_->threads) t.join();
  impl_->joined = true;
}

Server::~Server() {
  Shutdown();
  Wait();
}

}  // namespace freshet::http
