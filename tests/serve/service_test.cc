#include "serve/service.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <string>
#include <vector>

#include "shop_fixture.h"

namespace freshet::serve {
namespace {

using testing::ChainNext;
using testing::ItemName;
using testing::Shop;

constexpr const char* kRead = "read-key-0123456789";
constexpr const char* kWrite = "write-key-0123456789";
constexpr const char* kAdmin = "admin-key-0123456789";

ApiKeys Keys() {
  ApiKeys keys;
  EXPECT_TRUE(keys.AddList(std::string("read:") + kRead + ",write:" + kWrite + ",admin:" + kAdmin,
                           "test")
                  .ok());
  return keys;
}

// Parsed once per response; the document lives as long as the Json.
struct Json {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  explicit Json(const std::string& text) {
    auto err = parser.parse(text).get(root);
    EXPECT_FALSE(err) << "not JSON: " << text;
  }
  simdjson::dom::element operator[](const char* key) const { return root[key].value(); }
  std::string Str(const char* key) const {
    std::string_view s;
    if (root[key].get_string().get(s)) return "<not a string>";
    return std::string(s);
  }
};

class ServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shop_ = new Shop(); }
  static void TearDownTestSuite() {
    delete shop_;
    shop_ = nullptr;
  }
  void SetUp() override {
    auto s = Service::Open(*shop_->store, Keys(), {}, {shop_->sasrec_file, shop_->swing_file});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    service_ = std::move(*s);
  }

  ApiResponse Get(const std::string& path,
                  std::vector<std::pair<std::string, std::string>> query = {},
                  const char* key = kRead) {
    ApiRequest r;
    r.method = "GET";
    r.path = path;
    r.query = std::move(query);
    r.api_key = key;
    r.request_id = "t-" + std::to_string(++n_);
    return service_->Handle(r);
  }
  ApiResponse Post(const std::string& path, const std::string& body, const char* key = kAdmin) {
    ApiRequest r;
    r.method = "POST";
    r.path = path;
    r.body = body;
    r.api_key = key;
    r.request_id = "t-" + std::to_string(++n_);
    return service_->Handle(r);
  }
  // The item ids of a recommend / similar answer, in order.
  static std::vector<std::string> Items(const ApiResponse& r) {
    Json j(r.body);
    std::vector<std::string> out;
    simdjson::dom::array a;
    if (j["items"].get_array().get(a)) return out;
    for (auto e : a) out.emplace_back(std::string_view(e["item"].get_string().value()));
    return out;
  }
  // A user whose last viewed item is `last` (from the shop's chain walk), with that history.
  static std::string UserEndingAt(int* last) {
    store::EventTable t;
    EXPECT_TRUE(shop_->store->LoadEventTable(&t).ok());
    std::vector<int> last_item(t.num_users, -1);
    for (size_t i = 0; i < t.size(); ++i) last_item[t.user[i]] = static_cast<int>(t.item[i]);
    *last = -1;
    const std::string name = shop_->store->UserName(3);
    const std::string item = shop_->store->ItemName(static_cast<ItemId>(last_item[3]));
    *last = std::stoi(item.substr(1));
    return name;
  }

  static Shop* shop_;
  std::unique_ptr<Service> service_;
  int n_ = 0;
};
Shop* ServiceTest::shop_ = nullptr;

TEST_F(ServiceTest, RecommendFollowsThePlantedChainForAKnownUser) {
  int last = -1;
  const std::string user = UserEndingAt(&last);
  ApiResponse r = Get("/v1/recommend", {{"user", user}, {"k", "3"}});
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  EXPECT_EQ(j.Str("model"), "sasrec");
  EXPECT_TRUE(j["fallback"].is_null());
  EXPECT_EQ(j.Str("request_id"), "t-1");
  EXPECT_NE(j.Str("model_version").find("sasrec"), std::string::npos);
  const auto items = Items(r);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0], ItemName(ChainNext(last))) << r.body;
}

TEST_F(ServiceTest, UnknownUserGetsTrendingItemsMarkedAsFallback) {
  ApiResponse r = Get("/v1/recommend", {{"user", "never-seen"}, {"k", "5"}});
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  EXPECT_EQ(j.Str("fallback"), "popular");
  EXPECT_EQ(Items(r).size(), 5u);
}

TEST_F(ServiceTest, AnEventMakesANewUserPersonalisedAtOnce) {
  const int start = 4;
  std::string body;
  for (int k = 0, i = start; k < 3; ++k, i = ChainNext(i)) {
    body += "{\"user\":\"fresh-user\",\"item\":\"" + ItemName(i) + "\",\"type\":\"view\",\"ts\":" +
            std::to_string(1800000000000 + k) + "}\n";
  }
  ApiResponse e = Post("/v1/events", body, kWrite);
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(Json(e.body)["accepted"].get_uint64().value(), 3u);
  ApiResponse r = Get("/v1/recommend", {{"user", "fresh-user"}, {"k", "3"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(Json(r.body)["fallback"].is_null());
  const int last = ChainNext(ChainNext(start));
  EXPECT_EQ(Items(r).front(), ItemName(ChainNext(last))) << r.body;
  ApiResponse u = Get("/v1/users/fresh-user");
  ASSERT_EQ(u.status, 200) << u.body;
  Json uj(u.body);
  EXPECT_EQ(uj["interactions"].get_uint64().value(), 3u);
  EXPECT_EQ(std::string_view(uj["recent"].at(0).get_string().value()), ItemName(last));
}

TEST_F(ServiceTest, FiltersExcludeSeenKeepACategoryAndNeverShowOutOfStock) {
  int last = -1;
  const std::string user = UserEndingAt(&last);
  ApiResponse seen = Get("/v1/users/" + user);
  ASSERT_EQ(seen.status, 200);
  std::vector<std::string> history;
  const Json seen_json(seen.body);
  // Named: value() of a temporary result is a reference into it.
  const simdjson::dom::array recent = seen_json["recent"].get_array().value();
  for (auto e : recent) {
    history.emplace_back(std::string_view(e.get_string().value()));
  }
  ApiResponse r = Get("/v1/recommend", {{"user", user}, {"k", "20"}, {"exclude", "seen"}});
  ASSERT_EQ(r.status, 200) << r.body;
  for (const std::string& item : Items(r)) {
    EXPECT_EQ(std::find(history.begin(), history.end(), item), history.end()) << item;
    EXPECT_NE(item, ItemName(7));  // out of stock
  }
  ApiResponse even = Get("/v1/recommend", {{"user", user}, {"k", "30"}, {"category", "even"}});
  ASSERT_EQ(even.status, 200);
  const auto items = Items(even);
  EXPECT_EQ(items.size(), 15u);  // every even item: the filter does not lose k
  for (const std::string& item : items) EXPECT_EQ(std::stoi(item.substr(1)) % 2, 0) << item;
  ApiResponse pop = Get("/v1/recommend", {{"user", "nobody"}, {"k", "30"}});
  for (const std::string& item : Items(pop)) EXPECT_NE(item, ItemName(7));
}

TEST_F(ServiceTest, HnswRetrievalAgreesAndKeepsKUnderFilters) {
  ServiceOptions o;
  o.index.kind = "hnsw";
  auto hnsw = Service::Open(*shop_->store, Keys(), o, {shop_->sasrec_file});
  ASSERT_TRUE(hnsw.ok()) << hnsw.status().ToString();
  int last = -1;
  const std::string user = UserEndingAt(&last);
  auto ask = [&](Service& s, std::vector<std::pair<std::string, std::string>> query) {
    ApiRequest r;
    r.method = "GET";
    r.path = "/v1/recommend";
    r.query = std::move(query);
    r.api_key = kRead;
    r.request_id = "h";
    return s.Handle(r);
  };
  ApiResponse a = ask(**hnsw, {{"user", user}, {"k", "5"}});
  ApiResponse b = ask(*service_, {{"user", user}, {"k", "5"}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(Items(a).front(), ItemName(ChainNext(last)));
  EXPECT_EQ(Items(a), Items(b));  // 30 items: the graph finds the exact top 5
  ApiResponse even = ask(**hnsw, {{"user", user}, {"k", "30"}, {"category", "even"}});
  EXPECT_EQ(Items(even).size(), 15u) << even.body;
  ApiResponse models = Get("/v1/models");
  EXPECT_NE(models.body.find("\"retrieval\":\"exact\""), std::string::npos) << models.body;
}

TEST_F(ServiceTest, ExplainGivesAReasonPerItem) {
  int last = -1;
  const std::string user = UserEndingAt(&last);
  for (const char* model : {"sasrec", "swing"}) {
    ApiResponse r =
        Get("/v1/recommend", {{"user", user}, {"k", "3"}, {"explain", "true"}, {"model", model}});
    ASSERT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    EXPECT_EQ(j.Str("model"), model);
    const simdjson::dom::array items = j["items"].get_array().value();
    for (auto item : items) {
      std::string_view reason;
      ASSERT_FALSE(item["reason"].get_string().get(reason)) << r.body;
      EXPECT_FALSE(reason.empty());
    }
  }
}

TEST_F(ServiceTest, BadRecommendRequestsSayWhatToFix) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> query;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{}, "user is required"},
      {{{"user", ""}}, "user is required"},
      {{{"user", std::string(300, 'x')}}, "1 to 256 bytes"},
      {{{"user", "u"}, {"k", "0"}}, "k must be a whole number from 1 to 500"},
      {{{"user", "u"}, {"k", "ten"}}, "not 'ten'"},
      {{{"user", "u"}, {"k", "501"}}, "from 1 to 500"},
      {{{"user", "u"}, {"exclude", "cheap"}}, "exclude takes seen and / or bought"},
      {{{"user", "u"}, {"category", "shoes"}}, "category 'shoes' is not in the catalog"},
      {{{"user", "u"}, {"explain", "maybe"}}, "explain must be true or false"},
      {{{"user", "u"}, {"model", "bpr"}}, "no active bpr model"},
      {{{"user", "u"}, {"limit", "3"}}, "unknown query parameter 'limit'"},
  };
  for (const Case& c : cases) {
    ApiResponse r = Get("/v1/recommend", c.query);
    EXPECT_EQ(r.status, 400) << c.message;
    Json j(r.body);
    std::string_view message = j["error"]["message"].get_string().value();
    EXPECT_NE(message.find(c.message), std::string_view::npos) << message;
    EXPECT_EQ(std::string_view(j["error"]["code"].get_string().value()), "bad_request");
  }
}

TEST_F(ServiceTest, SimilarItems) {
  ApiResponse r = Get("/v1/similar", {{"item", ItemName(3)}, {"k", "4"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const auto items = Items(r);
  EXPECT_EQ(items.size(), 4u);
  EXPECT_EQ(std::find(items.begin(), items.end(), ItemName(3)), items.end());
  ApiResponse swing = Get("/v1/similar", {{"item", ItemName(3)}, {"k", "2"}, {"model", "swing"}});
  ASSERT_EQ(swing.status, 200) << swing.body;
  EXPECT_EQ(Json(swing.body).Str("model"), "swing");
  EXPECT_EQ(Get("/v1/similar", {{"item", "nope"}}).status, 404);
  EXPECT_EQ(Get("/v1/similar", {}).status, 400);
}

TEST_F(ServiceTest, ScoreKeepsTheRequestOrderAndNamesBadItems) {
  ApiResponse r = Post("/v1/score",
                       R"({"user":"u003","items":["i05","i01","i12"],"context":{"page":"home"}})",
                       kRead);
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  auto scores = j["scores"].get_array().value();
  ASSERT_EQ(scores.size(), 3u);
  EXPECT_EQ(std::string_view(scores.at(0)["item"].get_string().value()), "i05");
  EXPECT_EQ(std::string_view(scores.at(2)["item"].get_string().value()), "i12");
  EXPECT_TRUE(scores.at(0)["sasrec"].is_double());
  EXPECT_TRUE(scores.at(0)["swing"].is_double());
  // An id the store does not know: the whole request is refused, naming it. Integer ids are
  // read as their decimal text.
  ApiResponse number = Post("/v1/score", R"({"user":"u003","items":[12]})", kRead);
  EXPECT_EQ(number.status, 404);
  EXPECT_NE(number.body.find("items[0]: unknown item '12'"), std::string::npos) << number.body;
  ApiResponse bad = Post("/v1/score", R"({"user":"u003","items":["i05","nope"]})", kRead);
  EXPECT_EQ(bad.status, 404);
  EXPECT_NE(bad.body.find("items[1]: unknown item 'nope'"), std::string::npos) << bad.body;
  EXPECT_EQ(Post("/v1/score", "not json", kRead).status, 400);
  EXPECT_EQ(Post("/v1/score", R"([1,2])", kRead).status, 400);
  EXPECT_EQ(Post("/v1/score", R"({"items":["i01"]})", kRead).status, 400);
  EXPECT_EQ(Post("/v1/score", R"({"user":"u","items":"i01"})", kRead).status, 400);
  EXPECT_EQ(Post("/v1/score", R"({"user":"u","items":[{"a":1}]})", kRead).status, 400);
  EXPECT_EQ(Post("/v1/score", R"({"user":"u","items":[],"extra":1})", kRead).status, 400);
  std::string many = R"({"user":"u","items":[)";
  for (int i = 0; i < 1001; ++i) many += std::string(i ? "," : "") + "\"i01\"";
  EXPECT_EQ(Post("/v1/score", many + "]}", kRead).status, 413);
}

TEST_F(ServiceTest, EventsAcceptedRejectedAndDuplicatesAreReportedPerRecord) {
  const uint64_t before = shop_->store->counts().events;
  ApiResponse r = Post("/v1/events",
                       R"([{"event_id":"ev-1","user":"a","item":"i01","type":"view"},)"
                       R"({"user":"a","item":"i02","type":"teleport"},)"
                       R"({"user":"a","type":"view"},)"
                       R"({"user":"a","item":"i03","type":"buy","value":"lots"},)"
                       R"(42,)"
                       R"({"event_id":"ev-1","user":"a","item":"i01","type":"view"}])",
                       kWrite);
  ASSERT_EQ(r.status, 207) << r.body;
  Json j(r.body);
  EXPECT_EQ(j["received"].get_uint64().value(), 6u);
  EXPECT_EQ(j["accepted"].get_uint64().value(), 1u);
  EXPECT_EQ(j["duplicates"].get_uint64().value(), 1u);
  auto rejected = j["rejected"].get_array().value();
  ASSERT_EQ(rejected.size(), 4u);
  const std::vector<std::pair<uint64_t, std::string>> want = {
      {1, "type"}, {2, "item"}, {3, "value"}, {4, ""}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(rejected.at(i)["index"].get_uint64().value(), want[i].first);
    EXPECT_EQ(std::string_view(rejected.at(i)["field"].get_string().value()), want[i].second);
    EXPECT_FALSE(std::string_view(rejected.at(i)["reason"].get_string().value()).empty());
  }
  EXPECT_EQ(shop_->store->counts().events, before + 1);  // durable before the answer
  // The same id again: a duplicate, nothing written.
  ApiResponse again =
      Post("/v1/events", R"({"event_id":"ev-1","user":"a","item":"i01","type":"view"})", kWrite);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Json(again.body)["duplicates"].get_uint64().value(), 1u);
  EXPECT_EQ(shop_->store->counts().events, before + 1);
  // JSON lines with a bad line in the middle; a pretty-printed single object.
  ApiResponse lines = Post("/v1/events",
                           "{\"user\":\"b\",\"item\":\"i04\",\"type\":\"view\"}\n{oops\n"
                           "{\"user\":\"b\",\"item\":\"i05\",\"type\":\"cart\"}\n",
                           kWrite);
  ASSERT_EQ(lines.status, 207) << lines.body;
  EXPECT_EQ(Json(lines.body)["accepted"].get_uint64().value(), 2u);
  EXPECT_NE(lines.body.find("\"index\":1"), std::string::npos);
  ApiResponse pretty =
      Post("/v1/events", "{\n  \"user\": \"c\",\n  \"item\": \"i06\",\n  \"type\": \"view\"\n}",
           kWrite);
  EXPECT_EQ(pretty.status, 200) << pretty.body;
  // Nothing usable.
  ApiResponse none = Post("/v1/events", R"([{"user":"a"}])", kWrite);
  EXPECT_EQ(none.status, 400);
  EXPECT_NE(none.body.find("no event accepted"), std::string::npos);
  EXPECT_EQ(Post("/v1/events", "  ", kWrite).status, 400);
  EXPECT_EQ(Post("/v1/events", "[1,", kWrite).status, 400);
}

TEST_F(ServiceTest, TooManyEventsInOneRequestIs413) {
  std::string body = "[";
  for (int i = 0; i < 10001; ++i) {
    body += std::string(i ? "," : "") + R"({"user":"z","item":"i01","type":"view"})";
  }
  ApiResponse r = Post("/v1/events", body + "]", kWrite);
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("at most 10000"), std::string::npos);
}

TEST_F(ServiceTest, SearchFindsTitlesFiltersAndReranksForAUser) {
  ApiResponse r = Get("/v1/search", {{"q", "number 12"}, {"k", "3"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Items(r).front(), "i12");
  EXPECT_FALSE(Json(r.body)["personalised"].get_bool().value());
  ApiResponse odd = Get("/v1/search", {{"q", "item"}, {"k", "30"}, {"category", "odd"}});
  ASSERT_EQ(odd.status, 200) << odd.body;
  const auto odd_items = Items(odd);
  EXPECT_EQ(odd_items.size(), 14u);  // 15 odd items, i07 out of stock
  for (const std::string& item : odd_items) EXPECT_EQ(std::stoi(item.substr(1)) % 2, 1) << item;
  // Every title matches "item" equally: a known user's model decides the order.
  int last = -1;
  const std::string user = UserEndingAt(&last);
  ApiResponse mine = Get("/v1/search", {{"q", "item"}, {"k", "3"}, {"user", user}});
  ASSERT_EQ(mine.status, 200) << mine.body;
  EXPECT_TRUE(Json(mine.body)["personalised"].get_bool().value());
  EXPECT_EQ(Items(mine).front(), ItemName(ChainNext(last))) << mine.body;
  ApiResponse nothing = Get("/v1/search", {{"q", "?!"}});
  ASSERT_EQ(nothing.status, 200);
  EXPECT_TRUE(Items(nothing).empty());
  EXPECT_EQ(Get("/v1/search", {}).status, 400);
  EXPECT_EQ(Get("/v1/search", {{"q", std::string(5000, 'a')}}).status, 400);
  EXPECT_EQ(Get("/v1/search", {{"q", "x"}, {"category", "nope"}}).status, 400);
}

TEST_F(ServiceTest, ItemsAndUsers) {
  ApiResponse item = Get("/v1/items/i03");
  ASSERT_EQ(item.status, 200) << item.body;
  Json j(item.body);
  EXPECT_EQ(j.Str("category"), "odd");
  EXPECT_EQ(j["stock"].get_int64().value(), 5);
  EXPECT_EQ(Get("/v1/items/nope").status, 404);
  EXPECT_EQ(Get("/v1/users/nope").status, 404);
  ApiResponse user = Get("/v1/users/u003");
  ASSERT_EQ(user.status, 200) << user.body;
  EXPECT_GT(Json(user.body)["top_categories"].get_array().value().size(), 0u);
  EXPECT_EQ(Get("/v1/items/").status, 404);
}

TEST_F(ServiceTest, RolesDecideWhoMayCallWhat) {
  ApiRequest r;
  r.method = "GET";
  r.path = "/v1/recommend";
  r.query = {{"user", "u"}};
  r.request_id = "x";
  EXPECT_EQ(service_->Handle(r).status, 401);  // no key
  r.api_key = "not-a-key-at-all-000";
  ApiResponse unknown = service_->Handle(r);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_NE(unknown.body.find("unknown API key"), std::string::npos);
  for (const char* key : {kRead, kWrite, kAdmin}) {
    r.api_key = key;
    EXPECT_EQ(service_->Handle(r).status, 200) << key;
  }
  const std::string event = R"({"user":"role-test","item":"i01","type":"view"})";
  ApiResponse denied = Post("/v1/events", event, kRead);
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(denied.body.find("needs 'write'"), std::string::npos) << denied.body;
  EXPECT_EQ(Post("/v1/events", event, kWrite).status, 200);
  EXPECT_EQ(Post("/v1/models/activate", R"({"rollback":true})", kWrite).status, 403);
  // Health needs no key; metrics needs one.
  r.path = "/healthz";
  r.query.clear();
  r.api_key.clear();
  EXPECT_EQ(service_->Handle(r).status, 200);
  r.path = "/metrics";
  EXPECT_EQ(service_->Handle(r).status, 401);
}

TEST_F(ServiceTest, ActivateSwapsRollsBackAndKeepsTheOldSetOnFailure) {
  const std::string before = Json(Get("/v1/models").body).Str("model_version");
  ApiResponse a = Post("/v1/models/activate", "{\"file\":\"" + shop_->sasrec2_file + "\"}");
  ASSERT_EQ(a.status, 200) << a.body;
  const std::string after = Json(a.body).Str("activated");
  EXPECT_NE(after, before);
  // One file replaces the model of its kind; the swing model stays.
  EXPECT_NE(after.find("sasrec:sasrec2.fmdl,swing:swing.fmdl"), std::string::npos) << after;
  EXPECT_EQ(Json(Get("/v1/models").body).Str("model_version"), after);
  // A missing file and a corrupt one: refused, the active set unchanged.
  ApiResponse missing = Post("/v1/models/activate", R"({"file":"/no/such/model.fmdl"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("/no/such/model.fmdl"), std::string::npos) << missing.body;
  const std::string corrupt = shop_->dir.Sub("corrupt.fmdl");
  {
    std::string bytes = freshet::testing::ReadFile(shop_->sasrec2_file);
    bytes[bytes.size() / 2] ^= 0x5a;
    freshet::testing::WriteFile(corrupt, bytes);
  }
  ApiResponse bad = Post("/v1/models/activate", "{\"file\":\"" + corrupt + "\"}");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Json(Get("/v1/models").body).Str("model_version"), after);
  // Rollback returns to the set before the activation.
  ApiResponse back = Post("/v1/models/activate", R"({"rollback":true})");
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(Json(back.body).Str("activated"), before);
  EXPECT_EQ(Post("/v1/models/activate", R"({"file":1})").status, 400);
  EXPECT_EQ(Post("/v1/models/activate", R"({})").status, 400);
  EXPECT_EQ(Post("/v1/models/activate", R"({"rollback":true,"file":"x"})").status, 400);
}

TEST_F(ServiceTest, RoutingErrorsAndHealth) {
  EXPECT_EQ(Get("/v2/recommend").status, 404);
  ApiResponse method = Post("/v1/recommend", "", kAdmin);
  EXPECT_EQ(method.status, 405);
  EXPECT_NE(method.body.find("allowed: GET"), std::string::npos);
  EXPECT_EQ(Get("/readyz").status, 200);
  service_->SetDraining();
  EXPECT_EQ(Get("/readyz").status, 503);
}

TEST_F(ServiceTest, MetricsCountRequestsInPrometheusText) {
  Get("/v1/recommend", {{"user", "u001"}});
  Get("/v1/recommend", {{"k", "x"}});
  ApiResponse m = Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(m.body.find("freshet_http_requests_total{endpoint=\"recommend\",code=\"200\"} 1"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("freshet_http_requests_total{endpoint=\"recommend\",code=\"400\"} 1"),
            std::string::npos);
  EXPECT_NE(m.body.find("freshet_http_request_duration_seconds_bucket{endpoint=\"recommend\","
                        "le=\"+Inf\"} 2"),
            std::string::npos);
  EXPECT_NE(m.body.find("freshet_model_info{"), std::string::npos);
  EXPECT_NE(m.body.find("freshet_store_events "), std::string::npos);
}

TEST(ServiceOpenTest, AModelFromOtherDataIsRefusedNamingTheFile) {
  Shop a;
  Shop b;  // same items, so check by a store that lacks them
  freshet::testing::TempDir other;
  store::StoreOptions so;
  auto empty = store::EventStore::Open(so, other.Sub("data"));
  ASSERT_TRUE(empty.ok());
  auto s = Service::Open(**empty, Keys(), {}, {a.sasrec_file});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(a.sasrec_file), std::string::npos) << s.status().ToString();
}

TEST(ApiKeysTest, ParsesFilesAndListsAndRefusesWeakKeys) {
  ApiKeys keys;
  ASSERT_TRUE(keys.AddFileText("# comment\nread  reader-key-0000000001\n\nadmin boss-key-00000000001 "
                               "# trailing\n",
                               "keys.txt")
                  .ok());
  ASSERT_TRUE(keys.AddList("write:writer-key-000000001", "env").ok());
  EXPECT_EQ(keys.Find("reader-key-0000000001"), Role::kRead);
  EXPECT_EQ(keys.Find("boss-key-00000000001"), Role::kAdmin);
  EXPECT_EQ(keys.Find("writer-key-000000001"), Role::kWrite);
  EXPECT_EQ(keys.Find("reader-key-000000000"), Role::kNone);
  EXPECT_EQ(keys.Find(""), Role::kNone);
  const Status short_key = keys.AddFileText("read short\n", "k.txt");
  EXPECT_NE(short_key.message().find("k.txt line 1"), std::string::npos);
  EXPECT_NE(short_key.message().find("at least 16"), std::string::npos);
  EXPECT_NE(keys.AddList("owner:xxxxxxxxxxxxxxxxxxxx", "env").message().find("unknown role"),
            std::string::npos);
  EXPECT_NE(keys.AddList("read:reader-key-0000000001", "env").message().find("twice"),
            std::string::npos);
  EXPECT_FALSE(keys.AddList("read:bad key with spaces!!", "env").ok());
  EXPECT_FALSE(keys.AddFileText("justonetoken\n", "k.txt").ok());
}

}  // namespace
}  // namespace freshet::serve
