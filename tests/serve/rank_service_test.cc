// The shop ranker in serving: loading, the second stage of recommend, the probabilities of score,
// the cart endpoint and online learning from joined labels, on a simulated shop.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "feature/feature_state.h"
#include "rank/shop_ranker.h"
#include "serve/service.h"
#include "sim_shop_fixture.h"

namespace freshet::serve {
namespace {

using testing::SimShop;

struct Json {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool ok = false;
  explicit Json(const std::string& text) {
    auto err = parser.parse(text).get(root);
    EXPECT_FALSE(err) << "not JSON (" << simdjson::error_message(err) << "): " << text;
    ok = !err;
  }
};

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

double Num(simdjson::dom::element e, const char* key) {
  double v = NAN;
  if (e[key].get_double().get(v)) return NAN;
  return v;
}
bool IsNull(simdjson::dom::element e, const char* key) {
  simdjson::dom::element v;
  return !e[key].get(v) && v.is_null();
}
std::string Str(simdjson::dom::element e, const char* key) {
  std::string_view s;
  if (e[key].get_string().get(s)) return "<none>";
  return std::string(s);
}

class RankServiceTest : public ::testing::Test {
 protected:
  // Event times for the online tests, `days` after a day from now: later than every event the
  // suite posts without a time (those get the server's clock), so that the label joiner, which
  // a restart replays the store into, does not find them late.
  static int64_t Later(int days) {
    static const int64_t base =
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count() +
        86400000;
    return base + days * int64_t{86400000};
  }

  static void SetUpTestSuite() { shop_ = new SimShop(); }
  static void TearDownTestSuite() {
    delete shop_;
    shop_ = nullptr;
  }

  void Open(std::vector<std::string> rank_files, bool online = false,
            size_t explain_features = 5, std::string snapshot_dir = "") {
    ServiceOptions o;
    o.explain_features = explain_features;
    o.insecure_no_auth = true;
    o.online.enabled = online;
    o.online.publish_ms = 1;
    o.online.rank_allowed_lateness_ms = 0;
    o.online.snapshot_dir = std::move(snapshot_dir);
    service_.reset();
    auto s = Service::Open(*shop_->store, ApiKeys(), o, {shop_->swing_file}, rank_files);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    service_ = std::move(*s);
  }
  void OpenAll(bool online = false) {
    Open({shop_->click_file, shop_->cart_file, shop_->buy_file}, online);
  }

  ApiResponse Get(const std::string& path,
                  std::vector<std::pair<std::string, std::string>> query = {}) {
    ApiRequest r;
    r.method = "GET";
    r.path = path;
    r.query = std::move(query);
    r.request_id = "t";
    return service_->Handle(r);
  }
  ApiResponse Post(const std::string& path, const std::string& body,
                   std::vector<std::pair<std::string, std::string>> query = {}) {
    ApiRequest r;
    r.method = "POST";
    r.path = path;
    r.query = std::move(query);
    r.body = body;
    r.request_id = "t";
    return service_->Handle(r);
  }
  // A user of the simulation with many interactions.
  static std::string ActiveUser() {
    store::EventTable t;
    EXPECT_TRUE(shop_->store->LoadEventTable(&t).ok());
    std::vector<int> n(t.num_users, 0);
    for (size_t i = 0; i < t.size(); ++i) n[t.user[i]] += IsInteraction(t.type[i]) ? 1 : 0;
    const UserId best = static_cast<UserId>(std::max_element(n.begin(), n.end()) - n.begin());
    return shop_->store->UserName(best);
  }
  static std::string CategoryOf(const std::string& item) {
    for (const Item& it : shop_->catalog) {
      if (it.id == item) return it.category;
    }
    return "";
  }
  static double PriceOf(const std::string& item) {
    for (const Item& it : shop_->catalog) {
      if (it.id == item) return it.price;
    }
    return NAN;
  }

  static SimShop* shop_;
  std::unique_ptr<Service> service_;
};
SimShop* RankServiceTest::shop_ = nullptr;

TEST_F(RankServiceTest, ScoreProbabilitiesEqualTheRankersOwnOnTheSameState) {
  OpenAll();
  const std::string user = ActiveUser();
  const std::vector<std::string> items = {"i000001", "i000010", "i000042", "i000077"};
  ApiResponse r = Post("/v1/score", "{\"user\":\"" + user +
                                        "\",\"items\":[\"i000001\",\"i000010\",\"i000042\","
                                        "\"i000077\"]}");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  EXPECT_NE(Str(j.root, "ranker_version").find("click:click.fmdl"), std::string::npos) << r.body;

  // The oracle: the ranker loaded on its own, over a feature state replayed from the store.
  auto ranker = rank::ShopRanker::Load({shop_->click_file, shop_->cart_file, shop_->buy_file});
  ASSERT_TRUE(ranker.ok()) << ranker.status().ToString();
  store::EventTable table;
  ASSERT_TRUE(shop_->store->LoadEventTable(&table).ok());
  feature::FeatureState state;
  for (size_t i = 0; i < table.size(); ++i) {
    state.Apply(table.user[i], table.item[i], table.type[i], table.ts_ms[i], table.value[i]);
  }
  auto catalog = rank::LoadShopCatalog(*shop_->store);
  ASSERT_TRUE(catalog.ok());
  std::vector<ItemId> ids;
  for (const std::string& name : items) ids.push_back(*shop_->store->FindItem(name));
  std::vector<rank::ShopScores> expected(ids.size());
  rank::ShopRanker::Scratch scratch;
  rank::ShopContext context;
  context.now_ms = state.clock_ms();
  context.position = 1;
  (*ranker)->Score(state, *catalog, *shop_->store->FindUser(user), ids, context, scratch, expected);

  size_t j_index = 0;
  for (simdjson::dom::element s : Elems(j.root, "scores")) {
    ASSERT_LT(j_index, items.size());
    EXPECT_EQ(Str(s, "item"), items[j_index]);
    const double p[3] = {Num(s, "p_click"), Num(s, "p_cart"), Num(s, "p_buy")};
    const double want[3] = {expected[j_index].p_click, expected[j_index].p_cart,
                            expected[j_index].p_buy};
    for (int t = 0; t < 3; ++t) {
      EXPECT_GE(p[t], 0.0) << r.body;
      EXPECT_LE(p[t], 1.0) << r.body;
      EXPECT_NEAR(p[t], want[t], 1e-6) << "target " << t << " item " << items[j_index];
    }
    EXPECT_FALSE(std::isnan(Num(s, "swing")));  // the retrieval scores stay
    ++j_index;
  }
  EXPECT_EQ(j_index, items.size());
}

TEST_F(RankServiceTest, ScoreWithoutARankerSaysSoAndRefusesExplain) {
  Open({});
  ApiResponse r = Post("/v1/score", "{\"user\":\"u00001\",\"items\":[\"i000001\"]}");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  EXPECT_TRUE(IsNull(j.root, "ranker_version"));
  EXPECT_NE(Str(j.root, "unranked").find("--rank"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("\"p_click\":"), std::string::npos) << r.body;
  r = Post("/v1/score", "{\"user\":\"u00001\",\"items\":[\"i000001\"]}", {{"explain", "true"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("explain needs ranking models"), std::string::npos) << r.body;
}

TEST_F(RankServiceTest, ExplainListsTheLargestContributionsFirst) {
  OpenAll();
  const std::string user = ActiveUser();
  ApiResponse r = Post("/v1/score", "{\"user\":\"" + user +
                                        "\",\"items\":[\"i000003\"],\"explain\":true}");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  simdjson::dom::element s = j.root["scores"].at(0).value();
  simdjson::dom::element click = s["explain"]["click"].value();
  const std::vector<simdjson::dom::element> features = Elems(click, "features");
  ASSERT_GT(features.size(), 0u) << r.body;
  EXPECT_LE(features.size(), 5u);
  double previous = INFINITY;
  for (simdjson::dom::element f : features) {
    EXPECT_NE(Str(f, "feature").find('='), std::string::npos) << r.body;
    const double c = std::fabs(Num(f, "contribution"));
    EXPECT_LE(c, previous + 1e-9) << "not ordered by |contribution|: " << r.body;
    previous = c;
  }
  EXPECT_FALSE(std::isnan(Num(click, "bias")));
  EXPECT_TRUE(s["explain"]["cart"].get_object().error() == simdjson::SUCCESS);
  EXPECT_TRUE(s["explain"]["buy"].get_object().error() == simdjson::SUCCESS);
}

// FTRL is linear: with every feature listed, bias + contributions is the logit of p_click.
TEST_F(RankServiceTest, AllContributionsAndTheBiasAddUpToTheClickLogit) {
  Open({shop_->click_file, shop_->cart_file, shop_->buy_file}, false, /*explain_features=*/1000);
  const std::string user = ActiveUser();
  for (const char* item : {"i000003", "i000050", "i000101"}) {
    ApiResponse r = Post("/v1/score", "{\"user\":\"" + user + "\",\"items\":[\"" + item +
                                          "\"],\"explain\":true}");
    ASSERT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    ASSERT_TRUE(j.ok) << r.body;
    simdjson::dom::element s = j.root["scores"].at(0).value();
    for (const char* target : {"click", "cart", "buy"}) {
      simdjson::dom::element e;
      ASSERT_FALSE(s["explain"][target].get(e)) << r.body;
      double logit = Num(e, "bias");
      for (simdjson::dom::element f : Elems(e, "features")) {
        logit += Num(f, "contribution");
      }
      const double p = Num(s, (std::string("p_") + target).c_str());
      EXPECT_NEAR(1 / (1 + std::exp(-logit)), p, 1e-4) << target << " " << item << ": " << r.body;
    }
  }
}

TEST_F(RankServiceTest, RecommendRanksTheCandidatesByTheObjective) {
  OpenAll();
  const std::string user = ActiveUser();
  for (const char* objective : {"click", "buy", "value"}) {
    ApiResponse r = Get("/v1/recommend", {{"user", user},
                                          {"k", "10"},
                                          {"candidates", "60"},
                                          {"objective", objective},
                                          {"fuse", "false"}});
    ASSERT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    EXPECT_EQ(Str(j.root, "objective"), objective);
    EXPECT_EQ(Num(j.root, "candidates"), 60) << r.body;
    double previous = INFINITY;
    size_t n = 0;
    for (simdjson::dom::element it : Elems(j.root, "items")) {
      const double p_click = Num(it, "p_click"), p_buy = Num(it, "p_buy");
      ASSERT_FALSE(std::isnan(p_click)) << r.body;
      EXPECT_FALSE(std::isnan(Num(it, "retrieval_score")));
      const double want = std::string(objective) == "click" ? p_click
                          : std::string(objective) == "buy"
                              ? p_buy
                              : p_buy * PriceOf(Str(it, "item"));
      EXPECT_NEAR(Num(it, "score"), want, 1e-4 * std::max(1.0, want)) << r.body;
      EXPECT_LE(Num(it, "score"), previous) << objective << ": not in objective order";
      previous = Num(it, "score");
      ++n;
    }
    EXPECT_EQ(n, 10u);
  }
  // The default objective is click when the ranker has a click model.
  ApiResponse r = Get("/v1/recommend", {{"user", user}});
  Json j(r.body);
  EXPECT_EQ(Str(j.root, "objective"), "click") << r.body;
}

// By default the ranker's order is fused with retrieval's: 1/(60 + rank) + 1/(60 + rank).
TEST_F(RankServiceTest, FusionAddsTheReciprocalRanksOfRetrievalAndTheRanker) {
  OpenAll();
  const std::string user = ActiveUser();
  ApiResponse base = Get("/v1/recommend", {{"user", user}, {"k", "30"}, {"candidates", "30"},
                                           {"objective", "retrieval"}});
  ApiResponse fused = Get("/v1/recommend", {{"user", user}, {"k", "30"}, {"candidates", "30"}});
  ASSERT_EQ(base.status, 200) << base.body;
  ASSERT_EQ(fused.status, 200) << fused.body;
  Json b(base.body), f(fused.body);
  EXPECT_TRUE(f.root["fused"].get_bool().value()) << fused.body;
  EXPECT_EQ(Str(f.root, "objective"), "click");
  std::vector<std::string> retrieval;
  for (simdjson::dom::element it : Elems(b.root, "items")) retrieval.push_back(Str(it, "item"));
  std::map<std::string, double> p_click;
  for (simdjson::dom::element it : Elems(f.root, "items")) p_click[Str(it, "item")] = Num(it, "p_click");
  ASSERT_EQ(retrieval.size(), 30u);
  ASSERT_EQ(p_click.size(), 30u);
  std::vector<std::string> by_click = retrieval;
  std::stable_sort(by_click.begin(), by_click.end(),
                   [&](const std::string& x, const std::string& y) { return p_click[x] > p_click[y]; });
  std::map<std::string, double> want;
  for (size_t r = 0; r < 30; ++r) {
    want[retrieval[r]] += 1 / (60.0 + r);
    want[by_click[r]] += 1 / (60.0 + r);
  }
  double previous = INFINITY;
  for (simdjson::dom::element it : Elems(f.root, "items")) {
    EXPECT_NEAR(Num(it, "score"), want[Str(it, "item")], 1e-6) << Str(it, "item");
    EXPECT_LE(Num(it, "score"), previous);
    previous = Num(it, "score");
  }
  EXPECT_EQ(Get("/v1/recommend", {{"user", user}, {"fuse", "maybe"}}).status, 400);
}

TEST_F(RankServiceTest, TheRankerReordersWhatRetrievalFound) {
  OpenAll();
  const std::string user = ActiveUser();
  auto items = [&](const char* objective) {
    ApiResponse r = Get("/v1/recommend", {{"user", user},
                                          {"k", "10"},
                                          {"candidates", "10"},
                                          {"objective", objective},
                                          {"fuse", "false"}});
    EXPECT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    std::vector<std::string> out;
    for (simdjson::dom::element it : Elems(j.root, "items")) {
      out.push_back(Str(it, "item"));
    }
    return out;
  };
  std::vector<std::string> retrieval = items("retrieval"), ranked = items("click");
  ASSERT_EQ(retrieval.size(), 10u);
  EXPECT_NE(retrieval, ranked) << "ranking changed nothing";
  std::sort(retrieval.begin(), retrieval.end());
  std::sort(ranked.begin(), ranked.end());
  EXPECT_EQ(retrieval, ranked) << "with candidates = k the ranker only reorders";
}

TEST_F(RankServiceTest, MaxPerCategoryHoldsWithAndWithoutTheRanker) {
  for (bool with_ranker : {true, false}) {
    if (with_ranker) {
      OpenAll();
    } else {
      Open({});
    }
    const std::string user = ActiveUser();
    ApiResponse r = Get("/v1/recommend", {{"user", user}, {"k", "12"}, {"max_per_category", "2"}});
    ASSERT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    std::map<std::string, int> per_category;
    size_t n = 0;
    for (simdjson::dom::element it : Elems(j.root, "items")) {
      ++per_category[CategoryOf(Str(it, "item"))];
      ++n;
    }
    EXPECT_EQ(n, 12u) << r.body;  // 6 categories x 2 fill the page
    for (const auto& [category, count] : per_category) {
      EXPECT_LE(count, 2) << category << " with_ranker=" << with_ranker << ": " << r.body;
    }
    EXPECT_EQ(Str(j.root, "objective"), with_ranker ? "click" : "retrieval");
  }
}

TEST_F(RankServiceTest, BadRecommendParametersAre400NamingTheParameter) {
  Open({shop_->click_file});
  const std::string user = ActiveUser();
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"candidates", "0", "candidates must be a whole number from 1 to 1000"},
      {"candidates", "5000", "candidates must be a whole number from 1 to 1000"},
      {"candidates", "abc", "candidates must be a whole number"},
      {"candidates", "5", "candidates must be at least k (10)"},
      {"objective", "teleport", "objective must be click, buy, value"},
      {"objective", "buy", "objective=buy needs a buy ranking model"},
      {"objective", "value", "objective=value needs a buy ranking model"},
      {"max_per_category", "-1", "max_per_category must be a whole number"},
      {"max_per_category", "x", "max_per_category must be a whole number"},
      {"diversity", "2", "diversity must be a number from 0 to 1"},
      {"diversity", "nan", "diversity must be a number from 0 to 1"},
      {"diversity", "0.5x", "diversity must be a number from 0 to 1"},
  };
  for (const auto& [name, value, message] : cases) {
    ApiResponse r = Get("/v1/recommend", {{"user", user}, {name, value}});
    EXPECT_EQ(r.status, 400) << name << "=" << value << ": " << r.body;
    EXPECT_NE(r.body.find(message), std::string::npos) << name << "=" << value << ": " << r.body;
  }
  Open({});
  ApiResponse r = Get("/v1/recommend", {{"user", user}, {"objective", "click"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("none is loaded (freshet serve --rank FILE)"), std::string::npos) << r.body;
}

TEST_F(RankServiceTest, DiversitySpreadsTheFirstItemsOverCategories) {
  OpenAll();
  const std::string user = ActiveUser();
  auto distinct = [&](const char* diversity) {
    ApiResponse r = Get("/v1/recommend", {{"user", user}, {"k", "6"}, {"diversity", diversity}});
    EXPECT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    std::map<std::string, int> c;
    for (simdjson::dom::element it : Elems(j.root, "items")) {
      ++c[CategoryOf(Str(it, "item"))];
    }
    return c.size();
  };
  EXPECT_GE(distinct("1"), 5u);  // 6 categories in the shop, all with candidates
  EXPECT_GE(distinct("1"), distinct("0"));
}

TEST_F(RankServiceTest, CartShowsTheCartItsConversionAndPerItemProbabilities) {
  OpenAll();
  const std::string events =
      "[{\"user\":\"carter\",\"item\":\"i000005\",\"type\":\"view\",\"ts\":1704500000000},"
      "{\"user\":\"carter\",\"item\":\"i000005\",\"type\":\"cart\",\"value\":2,\"ts\":1704500001000},"
      "{\"user\":\"carter\",\"item\":\"i000017\",\"type\":\"cart\",\"value\":1,\"ts\":1704500002000}]";
  ASSERT_EQ(Post("/v1/events", events).status, 200);
  ApiResponse r = Get("/v1/users/carter/cart");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  const double converts = Num(j.root, "p_converts");
  std::vector<std::string> items;
  double none = 1;
  for (simdjson::dom::element it : Elems(j.root, "items")) {
    items.push_back(Str(it, "item"));
    const double p = Num(it, "p_buy");
    EXPECT_GE(p, 0.0) << r.body;
    EXPECT_LE(p, 1.0) << r.body;
    none *= 1 - p;
  }
  EXPECT_EQ(items, (std::vector<std::string>{"i000005", "i000017"})) << r.body;
  EXPECT_NEAR(converts, 1 - none, 1e-5) << r.body;

  // Bought: the item leaves the cart.
  ASSERT_EQ(Post("/v1/events", "{\"user\":\"carter\",\"item\":\"i000005\",\"type\":\"buy\","
                               "\"ts\":1704500003000}")
                .status,
            200);
  r = Get("/v1/users/carter/cart");
  Json after(r.body);
  items.clear();
  for (simdjson::dom::element it : Elems(after.root, "items")) {
    items.push_back(Str(it, "item"));
  }
  EXPECT_EQ(items, (std::vector<std::string>{"i000017"})) << r.body;

  EXPECT_EQ(Get("/v1/users/nobody-at-all/cart").status, 404);
  EXPECT_EQ(Get("/v1/users/carter/cart", {{"k", "1"}}).status, 400);
}

TEST_F(RankServiceTest, CartWithoutACartModelListsTheCartUnscored) {
  Open({shop_->click_file});
  ASSERT_EQ(Post("/v1/events", "{\"user\":\"carter2\",\"item\":\"i000009\",\"type\":\"cart\"}")
                .status,
            200);
  ApiResponse r = Get("/v1/users/carter2/cart");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  EXPECT_TRUE(IsNull(j.root, "p_converts"));
  EXPECT_NE(Str(j.root, "unscored").find("no cart model"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("i000009"), std::string::npos);
}

TEST_F(RankServiceTest, ModelsListsTheRanker) {
  OpenAll();
  ApiResponse r = Get("/v1/models");
  ASSERT_EQ(r.status, 200);
  Json j(r.body);
  simdjson::dom::element rank = j.root["rank"].value();
  EXPECT_EQ(Str(rank, "version").rfind("r1 ", 0), 0u) << r.body;
  std::vector<std::string> targets;
  for (simdjson::dom::element t : Elems(rank, "targets")) {
    targets.emplace_back(std::string_view(t.get_string().value()));
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"click", "cart", "buy"}));
  EXPECT_EQ(Elems(rank, "models").size(), 3u);
  Open({});
  Json none(Get("/v1/models").body);
  EXPECT_TRUE(IsNull(none.root, "rank"));
}

TEST_F(RankServiceTest, ARankFileThatDoesNotLoadStopsOpenNamingIt) {
  ServiceOptions o;
  auto missing = Service::Open(*shop_->store, ApiKeys(), o, {}, {shop_->dir.Sub("nope.fmdl")});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.fmdl"), std::string::npos)
      << missing.status().ToString();
  // A retrieval model is not a ranking model.
  auto wrong = Service::Open(*shop_->store, ApiKeys(), o, {}, {shop_->swing_file});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("swing.fmdl"), std::string::npos)
      << wrong.status().ToString();
  auto twice = Service::Open(*shop_->store, ApiKeys(), o, {}, {shop_->click_file, shop_->click_file});
  EXPECT_FALSE(twice.ok());
}

// Online: impressions joined with later clicks reach the ranker, which learns them and is
// published; the clicked item's p_click rises for the user.
TEST_F(RankServiceTest, JoinedClicksAreLearnedOnlineAndPublished) {
  OpenAll(/*online=*/true);
  auto p_click = [&] {
    ApiResponse r = Post("/v1/score", "{\"user\":\"fan\",\"items\":[\"i000011\"]}");
    EXPECT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    return Num(j.root["scores"].at(0).value(), "p_click");
  };
  const double before = p_click();
  // Each round: the item shown and clicked; then an hour later (past the 30-minute click
  // window) the next round, whose events decide the previous round's anchors.
  std::string events;
  int64_t ts = Later(0);
  for (int round = 0; round < 40; ++round, ts += 3600 * 1000) {
    events += "{\"user\":\"fan\",\"item\":\"i000011\",\"type\":\"impression\",\"value\":1,\"ts\":" +
              std::to_string(ts) + "}\n";
    events += "{\"user\":\"fan\",\"item\":\"i000011\",\"type\":\"click\",\"value\":1,\"ts\":" +
              std::to_string(ts + 1000) + "}\n";
  }
  ASSERT_EQ(Post("/v1/events", events).status, 200);
  ASSERT_TRUE(service_->LearnNow().ok());
  const std::string metrics = Get("/metrics").body;
  EXPECT_NE(metrics.find("freshet_rank_examples_total{target=\"click\",label=\"positive\"} 39"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("freshet_rank_learned_total{target=\"click\"} 0"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("freshet_rank_publishes_total 1"), std::string::npos) << metrics;
  // "fan" is new to the models: its id (and its crosses) got rows of their own online.
  EXPECT_EQ(metrics.find("freshet_rank_features_admitted_total 0"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("freshet_rank_features_admitted_total"), std::string::npos) << metrics;
  Json models(Get("/v1/models").body);
  EXPECT_NE(Str(models.root["rank"].value(), "version").find("online steps"), std::string::npos);
  EXPECT_GT(p_click(), before);
}

// Restarts keep what the ranker learned online: the snapshot holds the learned weights, and the
// labels decided after it (from events already in the store) are learned again at the restart.
TEST_F(RankServiceTest, LearnedRankerWeightsAndLaterLabelsSurviveARestart) {
  freshet::testing::TempDir snapshots;
  const std::vector<std::string> files = {shop_->click_file, shop_->cart_file, shop_->buy_file};
  auto p_click = [&](const char* user) {
    ApiResponse r = Post("/v1/score", std::string("{\"user\":\"") + user +
                                          "\",\"items\":[\"i000013\"]}");
    EXPECT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    return Num(j.root["scores"].at(0).value(), "p_click");
  };
  // Rounds an hour apart (past the 30-minute click window): each round decides the one before.
  auto rounds = [](const char* user, int64_t ts, int n) {
    std::string events;
    for (int round = 0; round < n; ++round, ts += 3600 * 1000) {
      for (const char* type : {"impression", "click"}) {
        events += std::string("{\"user\":\"") + user + "\",\"item\":\"i000013\",\"type\":\"" +
                  type + "\",\"value\":1,\"ts\":" + std::to_string(ts) + "}\n";
        ts += 1000;
      }
    }
    return events;
  };
  Open(files, /*online=*/true, 5, snapshots.path().string());
  ASSERT_EQ(Post("/v1/events", rounds("keeper", Later(10), 20)).status, 200);
  ASSERT_TRUE(service_->LearnNow().ok());
  ASSERT_TRUE(service_->Snapshot().ok());
  const double learned = p_click("keeper");
  ASSERT_TRUE(std::filesystem::exists(snapshots.path() / "rank" / "LATEST"));

  // The same weights after a restart, labelled as restored.
  Open(files, /*online=*/true, 5, snapshots.path().string());
  EXPECT_GT(service_->rank_restored_from_seq(), 0u);
  Json models(Get("/v1/models").body);
  EXPECT_NE(Str(models.root["rank"].value(), "version").find("restored from snapshot"),
            std::string::npos)
      << Str(models.root["rank"].value(), "version");
  EXPECT_EQ(p_click("keeper"), learned);

  // Labels decided after the snapshot, then a stop without one: the restart learns them again.
  ASSERT_EQ(Post("/v1/events", rounds("keeper", Later(13), 10)).status, 200);
  Open(files, /*online=*/true, 5, snapshots.path().string());
  const std::string metrics = Get("/metrics").body;
  EXPECT_NE(metrics.find("freshet_rank_examples_total{target=\"click\",label=\"positive\"} 10"),
            std::string::npos)
      << metrics;
  ASSERT_TRUE(service_->LearnNow().ok());
  const std::string relearned = Get("/metrics").body;
  EXPECT_NE(relearned.find("freshet_rank_learned_total{target=\"click\"} 10"), std::string::npos)
      << relearned;
  EXPECT_NE(p_click("keeper"), learned);

  // Other --rank files than the snapshot's: it is not used.
  Open({shop_->click_file}, /*online=*/true, 5, snapshots.path().string());
  EXPECT_EQ(service_->rank_restored_from_seq(), 0u);
}

// A retrained ranker is swapped in without a restart, and rolled back; a file that does not load
// leaves the served ranker alone.
TEST_F(RankServiceTest, ARankerIsActivatedAndRolledBackWhileServing) {
  OpenAll(/*online=*/true);
  auto rank_version = [&] {
    Json models(Get("/v1/models").body);
    return Str(models.root["rank"].value(), "version");
  };
  auto p_buy_is_null = [&] {
    ApiResponse r = Post("/v1/score", "{\"user\":\"fan\",\"items\":[\"i000011\"]}");
    EXPECT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    return IsNull(j.root["scores"].at(0).value(), "p_buy");
  };
  const std::string first = rank_version();
  EXPECT_FALSE(p_buy_is_null());
  EXPECT_EQ(Post("/v1/models/activate", "{\"rank_rollback\":true}").status, 409)
      << "nothing to roll back to yet";

  ApiResponse r = Post("/v1/models/activate",
                       "{\"rank\":[\"" + shop_->click_file + "\"]}");
  ASSERT_EQ(r.status, 200) << r.body;
  Json activated(r.body);
  EXPECT_EQ(Str(activated.root, "previous_rank"), first);
  const std::string second = Str(activated.root, "activated_rank");
  EXPECT_EQ(second.find("buy:"), std::string::npos) << second;
  EXPECT_EQ(rank_version(), second);
  EXPECT_TRUE(p_buy_is_null()) << "the activated ranker has no buy model";

  ApiResponse bad = Post("/v1/models/activate", "{\"rank\":[\"" + shop_->swing_file + "\"]}");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("not activated"), std::string::npos) << bad.body;
  EXPECT_EQ(rank_version(), second);
  EXPECT_EQ(Post("/v1/models/activate",
                 "{\"rank\":[\"" + shop_->click_file + "\"],\"rollback\":true}").status,
            400)
      << "one operation per request";

  ASSERT_EQ(Post("/v1/models/activate", "{\"rank_rollback\":true}").status, 200);
  EXPECT_EQ(rank_version(), first);
  EXPECT_FALSE(p_buy_is_null());
  // Learning goes on from the ranker served now.
  std::string events;
  int64_t ts = Later(20);
  for (int round = 0; round < 5; ++round, ts += 3600 * 1000) {
    events += "{\"user\":\"swapper\",\"item\":\"i000011\",\"type\":\"impression\",\"value\":1,"
              "\"ts\":" + std::to_string(ts) + "}\n";
  }
  ASSERT_EQ(Post("/v1/events", events).status, 200);
  ASSERT_TRUE(service_->LearnNow().ok());
  EXPECT_NE(rank_version().find("online steps"), std::string::npos) << rank_version();
}

// An impression still waiting for its label when the server stops is joined after the restart.
TEST_F(RankServiceTest, AnAnchorOpenAtARestartIsJoinedAfterIt) {
  OpenAll(/*online=*/true);
  const int64_t ts = Later(30);  // after every other event of the suite
  auto event = [](const char* type, int64_t at) {
    return std::string("{\"user\":\"restarter\",\"item\":\"i000017\",\"type\":\"") + type +
           "\",\"value\":1,\"ts\":" + std::to_string(at) + "}\n";
  };
  ASSERT_EQ(Post("/v1/events", event("impression", ts)).status, 200);
  OpenAll(/*online=*/true);  // the open impression is only in the store now
  EXPECT_NE(Get("/metrics").body.find("freshet_rank_pending_anchors 2"), std::string::npos)
      << "the click and buy anchors of the impression";
  ASSERT_EQ(Post("/v1/events", event("click", ts + 1000) + event("view", ts + 7200 * 1000)).status,
            200);
  const std::string metrics = Get("/metrics").body;
  EXPECT_NE(metrics.find("freshet_rank_examples_total{target=\"click\",label=\"positive\"} 1"),
            std::string::npos)
      << metrics;
}

}  // namespace
}  // namespace freshet::serve
