// `freshet train` and `freshet eval` driven as a user would, on a simulated shop.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing/testing.h"

namespace freshet {
namespace {

using freshet::testing::CommandResult;
using freshet::testing::FreshetBinary;
using freshet::testing::JsonNumber;
using freshet::testing::ReadFile;
using freshet::testing::Run;
using freshet::testing::TempDir;

CommandResult Freshet(std::vector<std::string> args) {
  args.insert(args.begin(), FreshetBinary());
  return Run(args);
}

// One simulated shop ingested once for all tests of this file.
class TrainEvalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto sim = Freshet({"simulate", "--users", "600", "--items", "300", "--days", "10", "--seed",
                        "5", "--out", dir_->Sub("sim")});
    ASSERT_EQ(sim.exit_code, 0) << sim.err;
    auto ingest = Freshet({"ingest", "--data", Data(), "--quiet", dir_->Sub("sim/events.csv")});
    ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string Data() { return dir_->Sub("data"); }
  static std::string Model(const std::string& name) { return dir_->Sub("models/" + name); }
  static TempDir* dir_;
};
TempDir* TrainEvalTest::dir_ = nullptr;

TEST_F(TrainEvalTest, TrainedModelsBeatPopularityAndReportsAreWritten) {
  for (const char* kind : {"pop", "swing"}) {
    auto t = Freshet({"train", "--data", Data(), "--model", kind, "--quiet", "--out",
                      Model(std::string(kind) + ".fmdl")});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    EXPECT_NE(t.err.find("trained " + std::string(kind)), std::string::npos) << t.err;
  }
  auto e = Freshet({"eval", "--data", Data(), "--quiet", "--model", Model("pop.fmdl"), "--model",
                    Model("swing.fmdl"), "--json", dir_->Sub("cmp.json"), "--html",
                    dir_->Sub("cmp.html")});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NE(e.out.find("swing"), std::string::npos) << e.out;

  auto single = Freshet({"eval", "--data", Data(), "--quiet", "--model", Model("swing.fmdl"),
                         "--candidates", "sampled:50", "--k", "10", "--json",
                         dir_->Sub("swing.json"), "--html", dir_->Sub("swing.html")});
  ASSERT_EQ(single.exit_code, 0) << single.err;
  std::string json = ReadFile(dir_->Sub("swing.json"));
  EXPECT_NE(json.find("\"model\":\"swing\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"protocol\":\"loo\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"candidates\":\"sampled:50\""), std::string::npos) << json;
  const double swing_hr = JsonNumber(json, "HR@10");
  EXPECT_GT(swing_hr, 0.0);
  std::string html = ReadFile(dir_->Sub("swing.html"));
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);

  std::string both = ReadFile(dir_->Sub("cmp.json"));
  ASSERT_FALSE(both.empty());
  EXPECT_EQ(both.front(), '[');
  // Full ranking: Swing's HR@10 is the second report's; it must clearly beat popularity's.
  size_t second = both.find("{\"dataset\"", 2);  // the first report starts at 1
  ASSERT_NE(second, std::string::npos);
  const double pop_hr = JsonNumber(both.substr(0, second), "HR@10");
  const double swing_full_hr = JsonNumber(both.substr(second), "HR@10");
  EXPECT_GT(swing_full_hr, 1.5 * pop_hr) << both;
}

TEST_F(TrainEvalTest, AnEpochModelShowsProgressAndStopsEarly) {
  auto t = Freshet({"train", "--data", Data(), "--model", "bpr", "--epochs", "3", "--param",
                    "dim=8", "--threads", "2", "--out", Model("bpr.fmdl")});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.err.find("bpr epoch 1: loss"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("validation NDCG@10"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("(3 epochs, kept epoch"), std::string::npos) << t.err;
  auto e = Freshet({"eval", "--data", Data(), "--quiet", "--model", Model("bpr.fmdl"), "--json",
                    dir_->Sub("bpr.json")});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  std::string json = ReadFile(dir_->Sub("bpr.json"));
  EXPECT_NE(json.find("\"epochs\":[{\"epoch\":1,"), std::string::npos) << json;
}

TEST_F(TrainEvalTest, MistakesGetMessagesThatSayWhatToFix) {
  auto unknown = Freshet({"train", "--data", Data(), "--model", "gpt5"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("known: pop"), std::string::npos) << unknown.err;

  auto bad_param = Freshet({"train", "--data", Data(), "--model", "swing", "--param", "wat=1"});
  EXPECT_EQ(bad_param.exit_code, 1);
  EXPECT_NE(bad_param.err.find("unknown parameter 'wat'"), std::string::npos) << bad_param.err;

  auto no_store = Freshet({"train", "--data", dir_->Sub("nothing"), "--model", "pop"});
  EXPECT_EQ(no_store.exit_code, 1);
  EXPECT_NE(no_store.err.find("freshet ingest"), std::string::npos) << no_store.err;

  auto all = Freshet({"train", "--data", Data(), "--model", "pop", "--protocol", "none", "--quiet",
                      "--out", Model("pop-all.fmdl")});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  auto leak = Freshet({"eval", "--data", Data(), "--model", Model("pop-all.fmdl")});
  EXPECT_EQ(leak.exit_code, 1);
  EXPECT_NE(leak.err.find("trained on all events"), std::string::npos) << leak.err;

  ASSERT_EQ(Freshet({"train", "--data", Data(), "--model", "pop", "--quiet", "--out",
                     Model("pop-loo.fmdl")})
                .exit_code,
            0);
  auto mismatch = Freshet({"eval", "--data", Data(), "--model", Model("pop-loo.fmdl"),
                           "--protocol", "temporal"});
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_NE(mismatch.err.find("--protocol loo"), std::string::npos) << mismatch.err;

  auto bad_candidates = Freshet({"eval", "--data", Data(), "--model", Model("pop-loo.fmdl"),
                                 "--candidates", "some"});
  EXPECT_EQ(bad_candidates.exit_code, 1);
  EXPECT_NE(bad_candidates.err.find("sampled"), std::string::npos) << bad_candidates.err;

  // A damaged model file is refused with its name, not loaded.
  std::string bytes = ReadFile(Model("pop-loo.fmdl"));
  bytes[bytes.size() / 2] ^= 0x10;
  freshet::testing::WriteFile(Model("damaged.fmdl"), bytes);
  auto damaged = Freshet({"eval", "--data", Data(), "--model", Model("damaged.fmdl")});
  EXPECT_EQ(damaged.exit_code, 1);
  EXPECT_NE(damaged.err.find("damaged.fmdl"), std::string::npos) << damaged.err;
  EXPECT_NE(damaged.err.find("checksum"), std::string::npos) << damaged.err;

  // A model of other data (another simulated shop) is refused.
  auto other_sim = Freshet({"simulate", "--users", "50", "--items", "40", "--days", "2", "--seed",
                            "9", "--out", dir_->Sub("sim2")});
  ASSERT_EQ(other_sim.exit_code, 0);
  ASSERT_EQ(Freshet({"ingest", "--data", dir_->Sub("data2"), "--quiet",
                     dir_->Sub("sim2/events.csv")})
                .exit_code,
            0);
  auto foreign = Freshet({"eval", "--data", dir_->Sub("data2"), "--model", Model("pop-loo.fmdl")});
  EXPECT_EQ(foreign.exit_code, 1);
  EXPECT_NE(foreign.err.find("trained on other data"), std::string::npos) << foreign.err;
}

}  // namespace
}  // namespace freshet
