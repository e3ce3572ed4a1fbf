// Online learning while serving: accepted events reach the served models through the learner
// (Service::LearnNow drives it deterministically here; the thread does the same on its own).

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "serve/service.h"
#include "shop_fixture.h"

namespace freshet::serve {
namespace {

using testing::ItemName;
using testing::Shop;

class OnlineServiceTest : public ::testing::Test {
 protected:
  void Open(bool online, const std::string& index = "auto", const std::string& snapshots = "") {
    ServiceOptions o;
    o.index.kind = index;
    o.online.snapshot_dir = snapshots;
    o.insecure_no_auth = true;
    o.online.enabled = online;
    o.online.publish_ms = 3600 * 1000;  // only LearnNow publishes
    o.online.interval_ms = 3600 * 1000;
    o.online.batch = 1000000;           // and the thread never fills a batch
    auto s = Service::Open(*shop_.store, ApiKeys(), o, {shop_.swing_file, shop_.sasrec_file});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    service_ = std::move(*s);
  }
  ApiResponse Call(const char* method, const std::string& path,
                   std::vector<std::pair<std::string, std::string>> query = {},
                   std::string body = "") {
    ApiRequest r;
    r.method = method;
    r.path = path;
    r.query = std::move(query);
    r.body = std::move(body);
    r.request_id = "o-" + std::to_string(++n_);
    return service_->Handle(r);
  }
  static std::vector<std::string> Items(const ApiResponse& r) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::vector<std::string> out;
    if (parser.parse(r.body).get(root)) return out;
    simdjson::dom::array a;
    if (root["items"].get_array().get(a)) return out;
    for (auto e : a) out.emplace_back(std::string_view(e["item"].get_string().value()));
    return out;
  }
  static std::string Version(const ApiResponse& r) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::string_view v;
    if (parser.parse(r.body).get(root) || root["model_version"].get_string().get(v)) return "";
    return std::string(v);
  }
  // 40 new shoppers each view i04 and then "fresh1", an item nobody has seen.
  void PostNewPattern() {
    std::string body;
    for (int u = 0; u < 40; ++u) {
      const std::string user = "n" + std::to_string(u);
      body += "{\"user\":\"" + user + "\",\"item\":\"" + ItemName(4) +
              "\",\"type\":\"view\",\"ts\":1800000000000}\n";
      body += "{\"user\":\"" + user + "\",\"item\":\"fresh1\",\"type\":\"view\",\"ts\":1800000001000}\n";
    }
    ApiResponse r = Call("POST", "/v1/events", {}, body);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // A shopper whose only event is a view of i04.
  void PostProbe() {
    ApiResponse r = Call("POST", "/v1/events", {},
                         "{\"user\":\"probe\",\"item\":\"" + ItemName(4) + "\",\"type\":\"view\"," +
                             "\"ts\":1800000002000}");
    ASSERT_EQ(r.status, 200) << r.body;
  }

  Shop shop_;
  std::unique_ptr<Service> service_;
  int n_ = 0;
};

TEST_F(OnlineServiceTest, ANewItemBecomesRecommendableOnceLearned) {
  Open(/*online=*/true);
  PostNewPattern();
  PostProbe();
  for (const char* model : {"swing", "sasrec"}) {
    auto before = Items(Call("GET", "/v1/recommend", {{"user", "probe"}, {"k", "5"}, {"model", model}}));
    EXPECT_EQ(std::count(before.begin(), before.end(), "fresh1"), 0)
        << model << ": recommended before any learning step";
  }
  const std::string version_before = Version(Call("GET", "/v1/models"));
  ASSERT_TRUE(service_->LearnNow().ok());
  const std::string version_after = Version(Call("GET", "/v1/models"));
  EXPECT_NE(version_after, version_before);
  EXPECT_NE(version_after.find("online steps"), std::string::npos) << version_after;
  for (const char* model : {"swing", "sasrec"}) {
    auto after = Items(Call("GET", "/v1/recommend", {{"user", "probe"}, {"k", "5"}, {"model", model}}));
    EXPECT_EQ(std::count(after.begin(), after.end(), "fresh1"), 1)
        << model << ": the item every i04 viewer took next is not recommended after i04";
  }
  auto similar = Items(Call("GET", "/v1/similar", {{"item", ItemName(4)}, {"k", "5"}, {"model", "swing"}}));
  EXPECT_EQ(std::count(similar.begin(), similar.end(), "fresh1"), 1);
  const std::string metrics = Call("GET", "/metrics").body;
  // 40 pattern examples + 40 first views of i04 + the probe's view: all learned.
  EXPECT_NE(metrics.find("freshet_online_examples_total{outcome=\"learned\"} 81"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("freshet_online_lag_seconds{stage=\"step\",quantile=\"0.99\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("freshet_online_publishes_total 1"), std::string::npos);
}

TEST_F(OnlineServiceTest, ANewItemEntersTheHnswIndex) {
  Open(/*online=*/true, "hnsw");
  PostNewPattern();
  PostProbe();
  ASSERT_TRUE(service_->LearnNow().ok());
  ApiResponse models = Call("GET", "/v1/models");
  EXPECT_NE(models.body.find("\"retrieval\":\"hnsw\""), std::string::npos) << models.body;
  auto after = Items(Call("GET", "/v1/recommend", {{"user", "probe"}, {"k", "5"}, {"model", "sasrec"}}));
  EXPECT_EQ(std::count(after.begin(), after.end(), "fresh1"), 1)
      << "the new item is not retrievable through the HNSW index";
}

TEST_F(OnlineServiceTest, AnActivationIsNeverOverwrittenByAnOlderLearner) {
  Open(/*online=*/true);
  PostNewPattern();
  ASSERT_TRUE(service_->LearnNow().ok());  // the learners now copy the loaded set
  PostProbe();
  ApiResponse a = Call("POST", "/v1/models/activate", {},
                       "{\"files\":[\"" + shop_.sasrec2_file + "\"]}");
  ASSERT_EQ(a.status, 200) << a.body;
  const std::string activated = Version(a);
  ASSERT_TRUE(service_->LearnNow().ok());
  const std::string now = Version(Call("GET", "/v1/models"));
  // The learner restarted from the activated set: its copy names the activated file.
  EXPECT_NE(now.find("sasrec2.fmdl"), std::string::npos) << now;
  EXPECT_EQ(now.find("swing"), std::string::npos) << now;
  // Rollback goes to the set before the activation, not to an online copy of the new one.
  ApiResponse r = Call("POST", "/v1/models/activate", {}, "{\"rollback\":true}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(Version(r).find("swing"), std::string::npos) << Version(r);
}

TEST_F(OnlineServiceTest, ARestartResumesFromTheSnapshotUnlessTheModelFileChanged) {
  const std::string snapshots = shop_.dir.Sub("snapshots");
  Open(/*online=*/true, "auto", snapshots);
  PostNewPattern();
  ASSERT_TRUE(service_->LearnNow().ok());
  ASSERT_TRUE(service_->Snapshot().ok());
  const auto learned = Items(Call("GET", "/v1/similar", {{"item", ItemName(4)}, {"model", "swing"}}));
  service_.reset();

  Open(/*online=*/true, "auto", snapshots);
  EXPECT_GT(service_->restored_from_seq(), 0u);
  EXPECT_NE(Version(Call("GET", "/v1/models")).find("restored from snapshot"), std::string::npos);
  // The learned edges came back: i04's neighbours are those it had before the restart.
  EXPECT_EQ(Items(Call("GET", "/v1/similar", {{"item", ItemName(4)}, {"model", "swing"}})), learned);
  service_.reset();

  // The model file retrained to the same path: its snapshot no longer applies.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  shop_.Train("swing", "", shop_.swing_file, 3);
  Open(/*online=*/true, "auto", snapshots);
  EXPECT_EQ(service_->restored_from_seq(), 0u);
}

TEST_F(OnlineServiceTest, WithOnlineLearningOffTheModelsStayAsLoaded) {
  Open(/*online=*/false);
  const std::string before = Version(Call("GET", "/v1/models"));
  PostNewPattern();
  ASSERT_TRUE(service_->LearnNow().ok());
  EXPECT_EQ(Version(Call("GET", "/v1/models")), before);
  EXPECT_EQ(Call("GET", "/metrics").body.find("freshet_online"), std::string::npos);
}

}  // namespace
}  // namespace freshet::serve
