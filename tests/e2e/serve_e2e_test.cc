// End to end: the real `freshet serve` on a loopback port, driven over HTTP. The shop is made by
// the CLI itself (simulate, items, ingest, train), as a user would.

#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "testing/http_client.h"
#include "testing/testing.h"

namespace freshet {
namespace {

using testing::Http;
using testing::HttpConnection;
using testing::HttpResult;
using testing::ServerProcess;

constexpr const char* kReadKey = "reader-key-00000000001";
constexpr const char* kWriteKey = "writer-key-00000000001";
constexpr const char* kAdminKey = "admin-key-000000000001";

std::string Auth(const char* key) { return std::string("Authorization: Bearer ") + key; }

// One simulated shop with two SASRec models and a Swing model, made once for the suite.
class ServeE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const std::string bin = testing::FreshetBinary();
    const std::string sim = dir_->Sub("sim");
    data_ = dir_->Sub("data");
    auto ok = [](const testing::CommandResult& r) {
      ASSERT_EQ(r.exit_code, 0) << r.err;
    };
    ok(testing::Run({bin, "simulate", "--users", "400", "--items", "300", "--days", "5", "--seed", "3",
            "--out", sim}));
    ok(testing::Run({bin, "items", "--data", data_, "--quiet", sim + "/items.csv"}));
    ok(testing::Run({bin, "ingest", "--data", data_, "--quiet", sim + "/events.csv"}));
    ok(testing::Run({bin, "train", "--data", data_, "--model", "sasrec", "--epochs", "2", "--quiet",
            "--param", "hidden=16,blocks=1", "--out", dir_->Sub("sasrec-a.fmdl")}));
    ok(testing::Run({bin, "train", "--data", data_, "--model", "sasrec", "--epochs", "1", "--seed", "9",
            "--quiet", "--param", "hidden=16,blocks=1", "--out", dir_->Sub("sasrec-b.fmdl")}));
    ok(testing::Run({bin, "train", "--data", data_, "--model", "swing", "--quiet", "--out",
            dir_->Sub("swing.fmdl")}));
    testing::WriteFile(dir_->Sub("keys.txt"), std::string("# test keys\nread ") + kReadKey +
                                                  "\nwrite " + kWriteKey + "\nadmin " +
                                                  kAdminKey + "\n");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  std::unique_ptr<ServerProcess> Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--data",  data_,
                                     "--model", dir_->Sub("sasrec-a.fmdl"),
                                     "--model", dir_->Sub("swing.fmdl"),
                                     "--api-keys", dir_->Sub("keys.txt"),
                                     "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<ServerProcess>(args, dir_->path().string());
    EXPECT_TRUE(p->WaitReady()) << p->Stderr();
    return p;
  }

  static testing::TempDir* dir_;
  static std::string data_;
};
testing::TempDir* ServeE2eTest::dir_ = nullptr;
std::string ServeE2eTest::data_;

TEST_F(ServeE2eTest, EveryEndpointAnswersOverHttp) {
  auto server = Start();
  const int port = server->port();
  EXPECT_EQ(Http(port, "GET", "/healthz").status, 200);
  EXPECT_EQ(Http(port, "GET", "/readyz").status, 200);
  HttpResult rec = Http(port, "GET", "/v1/recommend?user=u00001&k=5&explain=true",
                        "", {Auth(kReadKey), "X-Request-Id: abc-123"});
  ASSERT_EQ(rec.status, 200) << rec.body << rec.error;
  EXPECT_EQ(rec.headers["x-request-id"], "abc-123");
  EXPECT_EQ(rec.headers["content-type"], "application/json");
  EXPECT_NE(rec.body.find("\"request_id\":\"abc-123\""), std::string::npos);
  EXPECT_NE(rec.body.find("\"model_version\":\"v1 sasrec:sasrec-a.fmdl,swing:swing.fmdl\""),
            std::string::npos)
      << rec.body;
  // X-API-Key works as well as a bearer token; a query with escapes is decoded.
  HttpResult similar = Http(port, "GET", "/v1/similar?item=i%30%30%30%30%30%31&k=3", "",
                            {std::string("X-API-Key: ") + kReadKey});
  EXPECT_EQ(similar.status, 200) << similar.body;
  EXPECT_NE(similar.body.find("\"item\":\"i000001\""), std::string::npos) << similar.body;
  EXPECT_EQ(Http(port, "POST", "/v1/score", R"({"user":"u00001","items":["i000001","i000002"]})",
                 {Auth(kReadKey)})
                .status,
            200);
  HttpResult events = Http(port, "POST", "/v1/events",
                           R"({"user":"e2e-user","item":"i000003","type":"view"})",
                           {Auth(kWriteKey)});
  ASSERT_EQ(events.status, 200) << events.body;
  HttpResult user = Http(port, "GET", "/v1/users/e2e-user", "", {Auth(kReadKey)});
  ASSERT_EQ(user.status, 200) << user.body;
  EXPECT_NE(user.body.find("i000003"), std::string::npos);
  EXPECT_EQ(Http(port, "GET", "/v1/items/i000003", "", {Auth(kReadKey)}).status, 200);
  EXPECT_EQ(Http(port, "GET", "/v1/models", "", {Auth(kReadKey)}).status, 200);
  HttpResult metrics = Http(port, "GET", "/metrics", "", {Auth(kReadKey)});
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4");
  EXPECT_NE(metrics.body.find("freshet_http_requests_total{endpoint=\"events\",code=\"200\"} 1"),
            std::string::npos)
      << metrics.body;
  HttpResult search = Http(port, "GET", "/v1/search?q=coffee", "", {Auth(kReadKey)});
  EXPECT_EQ(search.status, 200) << search.body;
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Stderr();
}

TEST_F(ServeE2eTest, AuthAndBadRequestsGetJsonErrors) {
  auto server = Start({"--body-limit-mb", "1"});
  const int port = server->port();
  HttpResult none = Http(port, "GET", "/v1/recommend?user=u00001");
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.body.find("missing API key"), std::string::npos);
  EXPECT_EQ(Http(port, "GET", "/v1/recommend?user=u00001", "", {Auth("wrong-key-0000000000000")})
                .status,
            401);
  HttpResult forbidden = Http(port, "POST", "/v1/events",
                              R"({"user":"x","item":"i000001","type":"view"})", {Auth(kReadKey)});
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(Http(port, "POST", "/v1/models/activate", R"({"rollback":true})", {Auth(kWriteKey)})
                .status,
            403);
  HttpResult bad_json = Http(port, "POST", "/v1/events", "{not json", {Auth(kWriteKey)});
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_NE(bad_json.body.find("\"index\":0"), std::string::npos) << bad_json.body;
  HttpResult bad_escape = Http(port, "GET", "/v1/recommend?user=%zz", "", {Auth(kReadKey)});
  EXPECT_EQ(bad_escape.status, 400);
  EXPECT_NE(bad_escape.body.find("percent escape"), std::string::npos);
  // A body over the limit: 413, and the connection is closed.
  HttpResult big = Http(port, "POST", "/v1/events", std::string(2 << 20, ' '), {Auth(kWriteKey)});
  EXPECT_EQ(big.status, 413) << big.error;
  // Not HTTP at all.
  HttpConnection raw;
  ASSERT_TRUE(raw.Connect(port));
  ASSERT_TRUE(raw.Send("HELLO THERE\r\n\r\n"));
  EXPECT_EQ(raw.Read().status, 400);
  // The server is still fine.
  EXPECT_EQ(Http(port, "GET", "/v1/recommend?user=u00001", "", {Auth(kReadKey)}).status, 200);
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Stderr();
}

TEST_F(ServeE2eTest, HotSwapUnderConcurrentRequestsFailsNoRequest) {
  auto server = Start();
  const int port = server->port();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::mutex versions_mu;
  std::set<std::string> versions;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      HttpConnection conn;  // keep-alive: a swap must not break open connections either
      if (!conn.Connect(port)) {
        ++failed;
        return;
      }
      int i = 0;
      while (!stop.load()) {
        const std::string user = "u0000" + std::to_string((c * 7 + i++) % 10);
        HttpResult r = conn.Request("GET", "/v1/recommend?k=5&user=" + user, "", {Auth(kReadKey)});
        if (r.status != 200) {
          ++failed;
          if (!conn.Connect(port)) return;
          continue;
        }
        ++ok;
        const size_t at = r.body.find("\"model_version\":\"");
        const size_t end = r.body.find('"', at + 17);
        std::lock_guard lock(versions_mu);
        versions.insert(r.body.substr(at + 17, end - at - 17));
      }
    });
  }
  for (int swap = 0; swap < 10; ++swap) {
    const std::string file = dir_->Sub(swap % 2 == 0 ? "sasrec-b.fmdl" : "sasrec-a.fmdl");
    HttpResult a = Http(port, "POST", "/v1/models/activate",
                        "{\"files\":[\"" + file + "\",\"" + dir_->Sub("swing.fmdl") + "\"]}",
                        {Auth(kAdminKey)});
    EXPECT_EQ(a.status, 200) << a.body;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 40);
  EXPECT_GE(versions.size(), 3u) << "requests should have seen several model versions";
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Stderr();
}

TEST_F(ServeE2eTest, SigtermFinishesARequestInFlightAndKeepsItsEvents) {
  auto server = Start();
  const int port = server->port();
  // Half a request is on the wire when SIGTERM arrives; the rest follows.
  std::string body = "[";
  for (int i = 0; i < 200; ++i) {
    body += std::string(i ? "," : "") + "{\"user\":\"late-user\",\"item\":\"i00000" +
            std::to_string(i % 10) + "\",\"type\":\"view\",\"event_id\":\"late-" +
            std::to_string(i) + "\"}";
  }
  body += "]";
  const std::string head = std::string("POST /v1/events HTTP/1.1\r\nHost: x\r\n") +
                           Auth(kWriteKey) + "\r\nContent-Type: application/json\r\n" +
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  HttpConnection conn;
  ASSERT_TRUE(conn.Connect(port));
  HttpConnection idle;  // an idle keep-alive connection: closed at shutdown
  ASSERT_TRUE(idle.Connect(port));
  ASSERT_EQ(idle.Request("GET", "/healthz").status, 200);
  ASSERT_TRUE(conn.Send(head + body.substr(0, body.size() / 2)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  server->Signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(idle.ClosedByPeer()) << "idle connections are closed at shutdown";
  ASSERT_TRUE(conn.Send(body.substr(body.size() / 2)));
  HttpResult r = conn.Read();
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_NE(r.body.find("\"accepted\":200"), std::string::npos) << r.body;
  EXPECT_EQ(server->Wait(), 0) << server->Stderr();
  EXPECT_NE(server->Stderr().find("SIGTERM received"), std::string::npos);
  // Nothing listens any more; the events are in the store.
  EXPECT_EQ(Http(port, "GET", "/healthz").status, 0);
  auto again = Start();
  HttpResult user = Http(again->port(), "GET", "/v1/users/late-user", "", {Auth(kReadKey)});
  ASSERT_EQ(user.status, 200) << user.body;
  EXPECT_NE(user.body.find("\"events\":200"), std::string::npos) << user.body;
  again->Signal(SIGINT);
  EXPECT_EQ(again->Wait(), 0);
}

TEST_F(ServeE2eTest, RefusesToStartWithoutKeysOrWithBadFlags) {
  const std::string bin = testing::FreshetBinary();
  auto r = testing::Run({bin, "serve", "--data", data_, "--port", "0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no API keys"), std::string::npos) << r.err;
  testing::WriteFile(dir_->Sub("weak.txt"), "admin short\n");
  r = testing::Run({bin, "serve", "--data", data_, "--api-keys", dir_->Sub("weak.txt")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("weak.txt line 1"), std::string::npos) << r.err;
  r = testing::Run({bin, "serve", "--data", data_, "--insecure-no-auth", "--bind", "not-an-ip"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not an IP address"), std::string::npos) << r.err;
  r = testing::Run({bin, "serve", "--data", dir_->Sub("nothing-here"), "--insecure-no-auth"});
  EXPECT_EQ(r.exit_code, 1);
  r = testing::Run({bin, "serve", "--data", data_, "--insecure-no-auth", "--model", "/no/such.fmdl"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/no/such.fmdl"), std::string::npos) << r.err;
}

TEST_F(ServeE2eTest, InsecureModeWarnsAndServesWithoutKeys) {
  ServerProcess p({"--data", data_, "--insecure-no-auth"}, dir_->path().string());
  ASSERT_TRUE(p.WaitReady()) << p.Stderr();
  EXPECT_EQ(Http(p.port(), "GET", "/v1/recommend?user=u00001").status, 200);
  EXPECT_NE(p.Stderr().find("WARNING: --insecure-no-auth"), std::string::npos);
  p.Signal(SIGTERM);
  EXPECT_EQ(p.Wait(), 0);
}

}  // namespace
}  // namespace freshet
