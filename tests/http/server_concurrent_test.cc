// The transport under concurrency (also run under ThreadSanitizer): many keep-alive clients,
// then a shutdown while they are still sending.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "http/server.h"
#include "testing/http_client.h"

namespace freshet::http {
namespace {

TEST(ServerConcurrentTest, ManyClientsThenAGracefulShutdown) {
  std::atomic<int> handled{0};
  ServerOptions o;
  o.port = 0;
  o.threads = 3;
  o.drain_timeout = std::chrono::milliseconds(2000);
  auto server = Server::Start(o, [&](const serve::ApiRequest& r) {
    ++handled;
    serve::ApiResponse a;
    a.body = "{\"path\":\"" + r.path + "\",\"n\":" + std::to_string(r.query.size()) + "}";
    return a;
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  std::atomic<int> ok{0}, bad{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c) {
    clients.emplace_back([&] {
      testing::HttpConnection conn;
      if (!conn.Connect(port)) return;
      while (!stop.load()) {
        testing::HttpResult r = conn.Request("GET", "/x?a=1&b=2");
        if (r.status == 200 && r.body == "{\"path\":\"/x\",\"n\":2}") {
          ++ok;
        } else if (r.status != 0) {
          ++bad;  // an answer, but a wrong one
        }
        if (r.status == 0 || r.headers["connection"] == "close") {
          if (!conn.Connect(port)) return;  // refused after shutdown: done
        }
      }
    });
  }
  while (ok.load() < 300) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  (*server)->Shutdown();
  (*server)->Wait();
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GE(handled.load(), ok.load());
  // Nothing listens any more.
  testing::HttpConnection after;
  EXPECT_FALSE(after.Connect(port));
}

TEST(ServerConcurrentTest, BindErrorsAreReported) {
  ServerOptions o;
  o.port = 0;
  o.threads = 1;
  auto first = Server::Start(o, [](const serve::ApiRequest&) { return serve::ApiResponse(); });
  ASSERT_TRUE(first.ok());
  o.port = (*first)->port();
  auto second = Server::Start(o, [](const serve::ApiRequest&) { return serve::ApiResponse(); });
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on 127.0.0.1:"), std::string::npos);
  o.bind = "nowhere";
  EXPECT_FALSE(Server::Start(o, [](const serve::ApiRequest&) { return serve::ApiResponse(); }).ok());
}

}  // namespace
}  // namespace freshet::http
