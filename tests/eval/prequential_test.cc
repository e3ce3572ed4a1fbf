#include "eval/prequential.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <string>

#include "fixtures.h"

namespace freshet::eval {
namespace {

using testing::AddEvent;

// A shop whose tastes change half-way: users walk chain A (i -> i + 1) before time 500000 and
// chain B (i -> i + 7) after it, over 40 items; the second half also brings items 40..49, which
// only follow chain B from item 3.
store::EventTable DriftingShop() {
  store::EventTable t;
  t.num_users = 400;
  t.num_items = 50;
  int64_t ts = 1000;
  for (int phase = 0; phase < 2; ++phase) {
    for (UserId u = phase * 200; u < (phase + 1) * 200; ++u) {
      ItemId item = (u * 13) % 40;
      for (int k = 0; k < 6; ++k) {
        AddEvent(t, u, item, ts += 1000);
        // A cart after a view of the same item is the same sequence step.
        if (item % 3 == 0) AddEvent(t, u, item, ts += 1000, EventType::kCart);
        if (phase == 1 && item == 3 && k < 5) {
          item = 40 + u % 10;  // the new items
        } else {
          item = phase == 0 ? (item + 1) % 40 : (item % 40 + 7) % 40;
        }
      }
    }
  }
  return t;
}

PrequentialOptions Options() {
  PrequentialOptions o;
  o.holdout = 0.5;
  o.batch = 16;
  o.windows = 4;
  o.threads = 2;
  o.progress = false;
  o.dataset = "drifting";
  return o;
}

TEST(PrequentialTest, OnlineLearningFollowsTheDriftTheFrozenModelMisses) {
  const store::EventTable table = DriftingShop();
  for (const char* kind : {"swing", "itemknn", "pop"}) {
    auto r = RunPrequential(table, kind, {}, Options());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->frozen.cases, r->online.cases);
    EXPECT_GT(r->frozen.cases, 500u);
    EXPECT_GT(r->new_item_events, 0u);
    EXPECT_EQ(r->windows.size(), 4u);
    if (std::string(kind) != "pop") {
      // The frozen graph knows only chain A: online must learn chain B by a wide margin.
      EXPECT_GT(r->online.hr10, r->frozen.hr10 + 0.2) << kind;
      EXPECT_GT(r->windows.back().online.hr10, r->windows.back().frozen.hr10) << kind;
    }
    EXPECT_GE(r->online.recall20, r->online.hr10) << kind;
  }
}

TEST(PrequentialTest, EarlyStoppingSeesEachUsersLastStepBeforeTheCut) {
  // BPR stops early on the held-out last step of each user's pre-cut history; a hold-out that
  // kept the step's cart row in training would make every validation target a history item,
  // scoring 0 in every epoch.
  PrequentialOptions o = Options();
  auto r = RunPrequential(DriftingShop(), "bpr", {{"epochs", "5"}, {"dim", "8"}}, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->train.epochs.empty());
  ASSERT_FALSE(r->train.epochs.front().validation.empty());
  double best = 0;
  for (const auto& e : r->train.epochs) best = std::max(best, e.validation.back().second);
  EXPECT_GT(best, 0.05);
}

TEST(PrequentialTest, JsonAndHtmlCarryBothWalksAndTheWindows) {
  auto r = RunPrequential(DriftingShop(), "swing", {}, Options());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::string json = PrequentialJson(*r);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_FALSE(parser.parse(json).get(root)) << json;
  double hr = -1;
  EXPECT_FALSE(root["frozen"]["HR@10"].get_double().get(hr));
  EXPECT_NEAR(hr, r->frozen.hr10, 1e-6);
  EXPECT_FALSE(root["online"]["NDCG@10"].get_double().get(hr));
  EXPECT_FALSE(root["online"]["Recall@20"].get_double().get(hr));
  simdjson::dom::array windows;
  ASSERT_FALSE(root["windows"].get_array().get(windows));
  EXPECT_EQ(windows.size(), 4u);
  std::string_view model;
  EXPECT_FALSE(root["model"].get_string().get(model));
  EXPECT_EQ(model, "swing");
  const std::string html = PrequentialHtml(*r);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("HR@10 per window"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos) << "the page must not fetch anything";
  EXPECT_EQ(html.find("<link"), std::string::npos) << "the page must not fetch anything";
}

TEST(PrequentialTest, BadSettingsAreErrors) {
  PrequentialOptions o = Options();
  o.holdout = 1.5;
  EXPECT_TRUE(RunPrequential(DriftingShop(), "swing", {}, o).status().IsInvalidArgument());
  EXPECT_TRUE(RunPrequential(DriftingShop(), "nope", {}, Options()).status().IsInvalidArgument());
  store::EventTable empty;
  EXPECT_FALSE(RunPrequential(empty, "pop", {}, Options()).ok());
}

}  // namespace
}  // namespace freshet::eval
