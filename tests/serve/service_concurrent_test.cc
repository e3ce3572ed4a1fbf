// serve::Service under concurrency (also run under ThreadSanitizer): readers on every read
// endpoint while writers post events and an admin swaps models.

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "serve/service.h"
#include "shop_fixture.h"
#include "sim_shop_fixture.h"

namespace freshet::serve {
namespace {

// Readers on every endpoint, event writers and model swaps at once; with `online`, the learner
// also steps and publishes copies every few milliseconds.
void ReadsEventsAndSwaps(bool online) {
  testing::Shop shop;
  ServiceOptions o;
  o.insecure_no_auth = true;
  o.online.enabled = online;
  o.online.batch = 8;
  o.online.interval_ms = 2;
  o.online.publish_ms = 5;
  auto opened = Service::Open(*shop.store, ApiKeys(), o, {shop.sasrec_file, shop.swing_file});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Service& service = **opened;
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, reads{0};
  auto request = [](const char* method, std::string path,
                    std::vector<std::pair<std::string, std::string>> query, std::string body) {
    ApiRequest r;
    r.method = method;
    r.path = std::move(path);
    r.query = std::move(query);
    r.body = std::move(body);
    r.request_id = "c";
    return r;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      int i = 0;
      while (!stop.load()) {
        const std::string user = "w" + std::to_string((t + i++) % 5);
        const ApiRequest reqs[] = {
            request("GET", "/v1/recommend", {{"user", user}, {"k", "5"}, {"explain", "true"}}, ""),
            request("GET", "/v1/search", {{"q", "item"}, {"user", user}}, ""),
            request("POST", "/v1/score", {}, "{\"user\":\"" + user + "\",\"items\":[\"i01\"]}"),
            request("GET", "/v1/similar", {{"item", "i02"}}, ""),
            request("GET", "/metrics", {}, "")};
        for (const ApiRequest& r : reqs) {
          ApiResponse a = service.Handle(r);
          if (a.status != 200) ++errors;
          ++reads;
        }
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 60; ++i) {
        // Every seventh event brings an item new to the catalog and the models.
        const std::string item =
            i % 7 == 6 ? "new" + std::to_string(t * 100 + i) : testing::ItemName(i % 30);
        const std::string body = "{\"user\":\"w" + std::to_string((t * 3 + i) % 5) +
                                 "\",\"item\":\"" + item +
                                 "\",\"type\":\"view\"}";
        if (service.Handle(request("POST", "/v1/events", {}, body)).status != 200) ++errors;
      }
    });
  }
  for (int i = 0; i < 6; ++i) {
    const std::string file = i % 2 == 0 ? shop.sasrec2_file : shop.sasrec_file;
    if (service.Handle(request("POST", "/v1/models/activate", {}, "{\"file\":\"" + file + "\"}"))
            .status != 200) {
      ++errors;
    }
  }
  while (reads.load() < 200) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_TRUE(service.LearnNow().ok());
}

TEST(ServiceConcurrentTest, ReadsEventsAndSwapsInterleaveWithoutErrors) {
  ReadsEventsAndSwaps(/*online=*/false);
}

TEST(ServiceConcurrentTest, OnlineLearningPublishesWhileServing) {
  ReadsEventsAndSwaps(/*online=*/true);
}

// The shop ranker: readers score, recommend (ranked, re-ranked) and read carts while writers post
// impressions, clicks and carts whose joined labels the rank learner learns and publishes every
// few milliseconds.
TEST(ServiceConcurrentTest, RankerServesWhileTheRankLearnerPublishes) {
  testing::SimShop shop;
  ServiceOptions o;
  o.insecure_no_auth = true;
  o.online.enabled = true;
  o.online.batch = 8;
  o.online.interval_ms = 2;
  o.online.publish_ms = 3;
  o.online.rank_allowed_lateness_ms = 0;
  auto opened = Service::Open(*shop.store, ApiKeys(), o, {shop.swing_file},
                              {shop.click_file, shop.cart_file, shop.buy_file});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Service& service = **opened;
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, reads{0};
  auto request = [](const char* method, std::string path,
                    std::vector<std::pair<std::string, std::string>> query, std::string body) {
    ApiRequest r;
    r.method = method;
    r.path = std::move(path);
    r.query = std::move(query);
    r.body = std::move(body);
    r.request_id = "c";
    return r;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      int i = 0;
      while (!stop.load()) {
        const std::string user = "r" + std::to_string((t + i++) % 4);
        const ApiRequest reqs[] = {
            request("GET", "/v1/recommend",
                    {{"user", user}, {"k", "5"}, {"candidates", "40"}, {"max_per_category", "2"},
                     {"diversity", "0.3"}},
                    ""),
            request("GET", "/v1/recommend", {{"user", "u00003"}, {"objective", "value"}}, ""),
            request("POST", "/v1/score", {},
                    "{\"user\":\"" + user + "\",\"items\":[\"i000001\",\"i000002\"],\"explain\":true}"),
            request("GET", "/v1/users/" + user + "/cart", {}, ""),
            request("GET", "/metrics", {}, "")};
        for (const ApiRequest& r : reqs) {
          ApiResponse a = service.Handle(r);
          // A user with no event yet has no cart (404) until the writers' first events.
          if (a.status != 200 && !(a.status == 404 && r.path.ends_with("/cart"))) ++errors;
          ++reads;
        }
      }
    });
  }
  threads.emplace_back([&] {
    int64_t ts = 1704700000000;
    for (int i = 0; i < 80; ++i, ts += 20 * 60 * 1000) {
      const std::string user = "r" + std::to_string(i % 4);
      const std::string item = "i0000" + std::to_string(10 + i % 30);
      std::string body = "{\"user\":\"" + user + "\",\"item\":\"" + item +
                         "\",\"type\":\"impression\",\"ts\":" + std::to_string(ts) + "}\n";
      if (i % 3 == 0) {
        body += "{\"user\":\"" + user + "\",\"item\":\"" + item +
                "\",\"type\":\"click\",\"ts\":" + std::to_string(ts + 1000) + "}\n";
      }
      if (i % 5 == 0) {
        body += "{\"user\":\"" + user + "\",\"item\":\"" + item +
                "\",\"type\":\"cart\",\"ts\":" + std::to_string(ts + 2000) + "}\n";
      }
      if (service.Handle(request("POST", "/v1/events", {}, body)).status != 200) ++errors;
    }
  });
  while (reads.load() < 100) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  threads.back().join();
  threads.pop_back();
  stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_TRUE(service.LearnNow().ok());
  ASSERT_NE(service.ranker(), nullptr);
  EXPECT_GT(service.ranker()->online_steps, 0u);
}

}  // namespace
}  // namespace freshet::serve
