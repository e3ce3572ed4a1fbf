// The shop ranker through the real binary: simulate a shop, train a retrieval model and the
// click / cart / buy ranking models with `freshet train --task`, serve them with --rank, and ask
// the HTTP API for probabilities, a ranked recommend page under max_per_category, a cart, and
// bad requests.

#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "testing/http_client.h"
#include "testing/testing.h"

namespace freshet {
namespace {

using testing::Http;
using testing::ServerProcess;

// The elements of the array e[key] (empty, with a failure, when there is none). A local
// vector: iterating `x.get_array().value()` directly would dangle (value() of a temporary).
std::vector<simdjson::dom::element> Elems(simdjson::dom::element e, const char* key) {
  std::vector<simdjson::dom::element> out;
  simdjson::dom::array a;
  if (e[key].get_array().get(a)) {
    ADD_FAILURE() << "no array '" << key << "'";
    return out;
  }
  for (simdjson::dom::element x : a) out.push_back(x);
  return out;
}

class RankE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const std::string bin = testing::FreshetBinary();
    const std::string sim = dir_->Sub("sim");
    const std::string data = dir_->Sub("data");
    auto ok = [](const testing::CommandResult& r) { ASSERT_EQ(r.exit_code, 0) << r.err; };
    ok(testing::Run({bin, "simulate", "--users", "300", "--items", "150", "--days", "6", "--seed",
                     "9", "--out", sim}));
    ok(testing::Run({bin, "items", "--data", data, "--quiet", sim + "/items.csv"}));
    ok(testing::Run({bin, "ingest", "--data", data, "--quiet", sim + "/events.csv"}));
    ok(testing::Run({bin, "train", "--data", data, "--model", "swing", "--quiet", "--out",
                     dir_->Sub("swing.fmdl")}));
    for (const char* task : {"click", "cart", "buy"}) {
      ok(testing::Run({bin, "train", "--task", task, "--data", data, "--model", "ftrl", "--quiet",
                       "--out", dir_->Sub(std::string(task) + ".fmdl")}));
    }
    // The catalog's categories, for checking max_per_category.
    std::ifstream items(sim + "/items.csv");
    std::string line;
    std::getline(items, line);
    std::vector<std::string> header = Split(line);
    const size_t id_col = Find(header, "id"), cat_col = Find(header, "category");
    while (std::getline(items, line)) {
      std::vector<std::string> f = Split(line);
      if (f.size() > std::max(id_col, cat_col)) (*categories_)[f[id_col]] = f[cat_col];
    }
    server_ = new ServerProcess(
        {"--data", data, "--model", dir_->Sub("swing.fmdl"), "--rank", dir_->Sub("click.fmdl"),
         "--rank", dir_->Sub("cart.fmdl"), "--rank", dir_->Sub("buy.fmdl"), "--insecure-no-auth",
         "--threads", "2", "--online-publish-ms", "100"},
        dir_->path().string());
    ASSERT_TRUE(server_->WaitReady()) << server_->Stderr();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
    server_ = nullptr;
    dir_ = nullptr;
    categories_->clear();
  }

  // One CSV record (double-quoted fields may hold commas and "" for a quote).
  static std::vector<std::string> Split(const std::string& line) {
    std::vector<std::string> out(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quoted) {
        if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
          out.back() += '"';
          ++i;
        } else if (c == '"') {
          quoted = false;
        } else {
          out.back() += c;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        out.emplace_back();
      } else {
        out.back() += c;
      }
    }
    return out;
  }
  static size_t Find(const std::vector<std::string>& header, const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return i;
    }
    ADD_FAILURE() << "items.csv has no column " << name;
    return 0;
  }

  static testing::TempDir* dir_;
  static ServerProcess* server_;
  static std::map<std::string, std::string>* categories_;
};
testing::TempDir* RankE2eTest::dir_ = nullptr;
ServerProcess* RankE2eTest::server_ = nullptr;
std::map<std::string, std::string>* RankE2eTest::categories_ =
    new std::map<std::string, std::string>();

TEST_F(RankE2eTest, ScoreAnswersProbabilitiesInTheUnitInterval) {
  testing::HttpResult r = Http(server_->port(), "POST", "/v1/score",
                               "{\"user\":\"u00001\",\"items\":[\"i000001\",\"i000002\",\"i000050\"]}");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(r.body).value();
  size_t n = 0;
  for (simdjson::dom::element s : Elems(doc, "scores")) {
    for (const char* key : {"p_click", "p_cart", "p_buy"}) {
      double p = -1;
      ASSERT_FALSE(s[key].get_double().get(p)) << key << " missing: " << r.body;
      EXPECT_GE(p, 0.0) << key;
      EXPECT_LE(p, 1.0) << key;
    }
    ++n;
  }
  EXPECT_EQ(n, 3u);
  std::string_view version;
  ASSERT_FALSE(doc["ranker_version"].get_string().get(version)) << r.body;
  EXPECT_NE(version.find("buy:buy.fmdl"), std::string_view::npos) << r.body;
}

TEST_F(RankE2eTest, RecommendRespectsMaxPerCategory) {
  for (const char* user : {"u00001", "u00007", "u00020", "someone-new"}) {
    testing::HttpResult r =
        Http(server_->port(), "GET",
             std::string("/v1/recommend?user=") + user + "&k=10&max_per_category=2&objective=buy");
    ASSERT_EQ(r.status, 200) << r.body;
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(r.body).value();
    std::map<std::string, int> per_category;
    size_t n = 0;
    for (simdjson::dom::element it : Elems(doc, "items")) {
      const std::string item(std::string_view(it["item"].get_string().value()));
      ASSERT_TRUE(categories_->count(item)) << item;
      ++per_category[(*categories_)[item]];
      double p_buy = -1;
      EXPECT_FALSE(it["p_buy"].get_double().get(p_buy)) << r.body;
      ++n;
    }
    EXPECT_GT(n, 0u) << r.body;
    for (const auto& [category, count] : per_category) {
      EXPECT_LE(count, 2) << user << " " << category << ": " << r.body;
    }
  }
}

TEST_F(RankE2eTest, CartEndpointScoresTheCart) {
  const int port = server_->port();
  ASSERT_EQ(Http(port, "POST", "/v1/events",
                 "{\"user\":\"e2e-cart\",\"item\":\"i000003\",\"type\":\"cart\",\"value\":1}\n"
                 "{\"user\":\"e2e-cart\",\"item\":\"i000004\",\"type\":\"cart\",\"value\":3}\n")
                .status,
            200);
  testing::HttpResult r = Http(port, "GET", "/v1/users/e2e-cart/cart");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(r.body).value();
  double converts = -1;
  ASSERT_FALSE(doc["p_converts"].get_double().get(converts)) << r.body;
  EXPECT_GT(converts, 0.0);
  EXPECT_LT(converts, 1.0);
  EXPECT_EQ(Elems(doc, "items").size(), 2u) << r.body;
  EXPECT_EQ(Http(port, "GET", "/v1/users/nobody-here/cart").status, 404);
}

TEST_F(RankE2eTest, BadRequestsAre400WithAClearBody) {
  const int port = server_->port();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/v1/recommend?user=u00001&candidates=0", "candidates must be a whole number"},
      {"/v1/recommend?user=u00001&k=20&candidates=10", "candidates must be at least k (20)"},
      {"/v1/recommend?user=u00001&objective=ctr", "objective must be click, buy, value"},
      {"/v1/recommend?user=u00001&max_per_category=many", "max_per_category must be a whole"},
      {"/v1/recommend?user=u00001&diversity=1.5", "diversity must be a number from 0 to 1"},
  };
  for (const auto& [target, message] : cases) {
    testing::HttpResult r = Http(port, "GET", target);
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_NE(r.body.find(message), std::string::npos) << target << ": " << r.body;
    EXPECT_NE(r.body.find("\"code\":\"bad_request\""), std::string::npos) << r.body;
  }
  testing::HttpResult r =
      Http(port, "POST", "/v1/score?explain=maybe", "{\"user\":\"u00001\",\"items\":[\"i000001\"]}");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("explain must be true or false"), std::string::npos) << r.body;
}

TEST_F(RankE2eTest, ModelsListsTheRankModels) {
  testing::HttpResult r = Http(server_->port(), "GET", "/v1/models");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"targets\":[\"click\",\"cart\",\"buy\"]"), std::string::npos) << r.body;
}

// A --rank file that is missing, or is not a shop ranking model, stops the server at start with
// the file's name.
TEST(RankE2eStartTest, ABadRankFileStopsTheServerNamingIt) {
  testing::TempDir dir;
  const std::string bin = testing::FreshetBinary();
  auto ok = [](const testing::CommandResult& r) { ASSERT_EQ(r.exit_code, 0) << r.err; };
  ok(testing::Run({bin, "simulate", "--users", "20", "--items", "20", "--days", "1", "--out",
                   dir.Sub("sim")}));
  ok(testing::Run({bin, "items", "--data", dir.Sub("data"), "--quiet", dir.Sub("sim/items.csv")}));
  for (const std::string& file : {dir.Sub("missing.fmdl"), dir.Sub("sim/items.csv")}) {
    ServerProcess bad({"--data", dir.Sub("data"), "--rank", file, "--insecure-no-auth"},
                      dir.path().string());
    EXPECT_FALSE(bad.WaitReady());  // false: the process exited (it is reaped there)
    EXPECT_NE(bad.Stderr().find(file), std::string::npos) << bad.Stderr();
    EXPECT_NE(bad.Stderr().find("--rank"), std::string::npos) << bad.Stderr();
  }
}

// User and item ids in a model are the store's dense ids: a ranker trained on one store and
// served (or evaluated) over another would score the wrong items without a word, so both refuse
// it, naming the file. Store B holds the same shop's events without its catalog, so its items got
// their dense ids in order of first appearance instead of catalog order.
TEST(RankE2eStartTest, ARankModelFromAnotherStoreIsRefused) {
  testing::TempDir dir;
  const std::string bin = testing::FreshetBinary();
  auto ok = [](const testing::CommandResult& r) { ASSERT_EQ(r.exit_code, 0) << r.err; };
  ok(testing::Run({bin, "simulate", "--users", "60", "--items", "40", "--days", "3", "--seed",
                   "5", "--out", dir.Sub("sim")}));
  ok(testing::Run({bin, "items", "--data", dir.Sub("a"), "--quiet", dir.Sub("sim/items.csv")}));
  ok(testing::Run({bin, "ingest", "--data", dir.Sub("a"), "--quiet", dir.Sub("sim/events.csv")}));
  ok(testing::Run({bin, "ingest", "--data", dir.Sub("b"), "--quiet", dir.Sub("sim/events.csv")}));
  const std::string model = dir.Sub("click.fmdl");
  ok(testing::Run({bin, "train", "--task", "click", "--data", dir.Sub("a"), "--model", "ftrl",
                   "--quiet", "--out", model}));

  ServerProcess own({"--data", dir.Sub("a"), "--rank", model, "--insecure-no-auth"},
                    dir.path().string());
  EXPECT_TRUE(own.WaitReady()) << own.Stderr();

  ServerProcess other({"--data", dir.Sub("b"), "--rank", model, "--insecure-no-auth"},
                      dir.path().string());
  EXPECT_FALSE(other.WaitReady());
  EXPECT_NE(other.Stderr().find(model), std::string::npos) << other.Stderr();
  EXPECT_NE(other.Stderr().find("other data"), std::string::npos) << other.Stderr();

  testing::CommandResult eval = testing::Run(
      {bin, "eval", "--task", "click", "--data", dir.Sub("b"), "--model", model, "--quiet"});
  EXPECT_EQ(eval.exit_code, 1);
  EXPECT_NE(eval.err.find("other data"), std::string::npos) << eval.err;
}

// `freshet quantize` of a shop model: the int8 model serves --rank with probabilities close to
// the float model's, evaluates close to it, and the server, learning online by default, says at
// start that it will not learn the quantized ranker and keeps answering after labelled events.
TEST(RankE2eStartTest, AQuantizedShopModelServesAndIsNotLearnedOnline) {
  testing::TempDir dir;
  const std::string bin = testing::FreshetBinary();
  auto ok = [](const testing::CommandResult& r) { ASSERT_EQ(r.exit_code, 0) << r.err; };
  ok(testing::Run({bin, "simulate", "--users", "200", "--items", "100", "--days", "6", "--seed",
                   "3", "--out", dir.Sub("sim")}));
  ok(testing::Run({bin, "items", "--data", dir.Sub("data"), "--quiet", dir.Sub("sim/items.csv")}));
  ok(testing::Run(
      {bin, "ingest", "--data", dir.Sub("data"), "--quiet", dir.Sub("sim/events.csv")}));
  const std::string model = dir.Sub("click.fmdl"), q8 = dir.Sub("click-int8.fmdl");
  ok(testing::Run({bin, "train", "--task", "click", "--data", dir.Sub("data"), "--model",
                   "deepfm", "--epochs", "2", "--threads", "2", "--param",
                   "embed_dim=8,mlp=32:32", "--quiet", "--out", model}));
  ok(testing::Run({bin, "quantize", "--model", model, "--out", q8, "--precision", "int8"}));

  testing::CommandResult eval_f = testing::Run(
      {bin, "eval", "--task", "click", "--data", dir.Sub("data"), "--model", model, "--quiet"});
  testing::CommandResult eval_q = testing::Run(
      {bin, "eval", "--task", "click", "--data", dir.Sub("data"), "--model", q8, "--quiet"});
  ASSERT_EQ(eval_q.exit_code, 0) << eval_q.err;
  EXPECT_NEAR(testing::JsonNumber(eval_q.out, "AUC"), testing::JsonNumber(eval_f.out, "AUC"),
              0.005)
      << eval_q.out << eval_f.out;

  // Two servers side by side, each on its own copy of the store (a store has one process).
  std::filesystem::copy(dir.Sub("data"), dir.Sub("data2"),
                        std::filesystem::copy_options::recursive);
  ServerProcess served({"--data", dir.Sub("data"), "--rank", model, "--insecure-no-auth"},
                       dir.path().string());
  ASSERT_TRUE(served.WaitReady()) << served.Stderr();
  ServerProcess quantized({"--data", dir.Sub("data2"), "--rank", q8, "--insecure-no-auth",
                           "--online-publish-ms", "100"},
                          dir.path().string());
  ASSERT_TRUE(quantized.WaitReady()) << quantized.Stderr();
  EXPECT_NE(quantized.Stderr().find("online rank learning is off"), std::string::npos)
      << quantized.Stderr();
  EXPECT_NE(quantized.Stderr().find("quantized to int8"), std::string::npos)
      << quantized.Stderr();
  EXPECT_EQ(served.Stderr().find("online rank learning is off"), std::string::npos)
      << served.Stderr();
  const std::string body = "{\"user\":\"u00001\",\"items\":[\"i000001\",\"i000002\",\"i000050\"]}";
  auto p_clicks = [&](int port) {
    std::vector<double> out;
    testing::HttpResult r = Http(port, "POST", "/v1/score", body);
    EXPECT_EQ(r.status, 200) << r.body;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(r.body).get(doc)) return out;
    for (simdjson::dom::element s : Elems(doc, "scores")) {
      double p = -1;
      EXPECT_FALSE(s["p_click"].get_double().get(p)) << r.body;
      out.push_back(p);
    }
    return out;
  };
  const std::vector<double> a = p_clicks(served.port()), b = p_clicks(quantized.port());
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 0.02) << i;
  // Impressions and clicks the online learner would join and learn: the quantized server keeps
  // serving, and its ranker stays the loaded one.
  std::string events;
  for (int i = 0; i < 50; ++i) {
    events += "{\"user\":\"u00001\",\"item\":\"i000002\",\"type\":\"impression\",\"value\":1}\n";
    events += "{\"user\":\"u00001\",\"item\":\"i000002\",\"type\":\"click\"}\n";
  }
  ASSERT_EQ(Http(quantized.port(), "POST", "/v1/events", events).status, 200);
  ASSERT_EQ(Http(served.port(), "POST", "/v1/events", events).status, 200);
  usleep(1500 * 1000);  // several publish intervals (the float server's default is 1 s)
  testing::HttpResult after = Http(quantized.port(), "POST", "/v1/score", body);
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_NE(after.body.find("\"ranker_version\":\"r1 "), std::string::npos) << after.body;
  EXPECT_EQ(after.body.find("online steps"), std::string::npos) << after.body;
  // The float ranker, given the same events, learns them (the check above can fail).
  testing::HttpResult learned = Http(served.port(), "POST", "/v1/score", body);
  EXPECT_NE(learned.body.find("online steps"), std::string::npos) << learned.body;
}

}  // namespace
}  // namespace freshet
