// Drives the real `freshet` binary: train and eval --task ctr on small synthetic Criteo files.

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "rank/synthetic.h"
#include "testing/testing.h"

namespace freshet::rank {
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

void WriteSynthetic(const std::string& path, uint64_t rows, uint64_t seed) {
  SyntheticCtrOptions o;
  o.rows = rows;
  o.seed = seed;
  ASSERT_TRUE(WriteSyntheticCriteo(o, path).ok());
}

TEST(CtrCliTest, TrainThenEvalWritesTheMetricsJson) {
  TempDir dir;
  WriteSynthetic(dir.Sub("train.txt"), 6000, 1);
  WriteSynthetic(dir.Sub("valid.txt"), 1000, 2);
  WriteSynthetic(dir.Sub("test.txt"), 2000, 3);
  auto train = Freshet({"train", "--task", "ctr", "--format", "criteo", "--model", "fm", "--train",
                        dir.Sub("train.txt"), "--valid", dir.Sub("valid.txt"), "--epochs", "3",
                        "--threads", "2", "--param", "embed_dim=8", "--out", dir.Sub("fm.fmdl")});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_NE(train.err.find("fm epoch 1: train loss"), std::string::npos) << train.err;
  EXPECT_NE(train.err.find("valid AUC"), std::string::npos) << train.err;
  EXPECT_NE(train.out.find("model written to"), std::string::npos) << train.out;

  auto eval = Freshet({"eval", "--task", "ctr", "--format", "criteo", "--model", dir.Sub("fm.fmdl"),
                       "--test", dir.Sub("test.txt"), "--json", dir.Sub("eval.json")});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const std::string json = ReadFile(dir.Sub("eval.json"));
  EXPECT_NE(json.find("\"task\":\"ctr\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"format\":\"criteo\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"model\":\"fm\""), std::string::npos) << json;
  EXPECT_GT(JsonNumber(json, "AUC"), 0.65) << json;
  EXPECT_LT(JsonNumber(json, "logloss"), 0.6) << json;
  EXPECT_EQ(eval.out, json) << "the same JSON is printed";

  auto wrong_format = Freshet({"eval", "--task", "ctr", "--format", "avazu", "--model",
                               dir.Sub("fm.fmdl"), "--test", dir.Sub("test.txt")});
  EXPECT_EQ(wrong_format.exit_code, 1);
  EXPECT_NE(wrong_format.err.find("trained on criteo"), std::string::npos) << wrong_format.err;
}

TEST(CtrCliTest, BadFlagsAreClearErrors) {
  TempDir dir;
  auto no_train = Freshet({"train", "--task", "ctr", "--format", "criteo", "--model", "fm", "--out",
                           dir.Sub("m.fmdl")});
  EXPECT_EQ(no_train.exit_code, 2);
  EXPECT_NE(no_train.err.find("needs --train FILE"), std::string::npos) << no_train.err;

  auto bad_model = Freshet({"train", "--task", "ctr", "--format", "criteo", "--model", "gbdt",
                            "--train", dir.Sub("x.txt"), "--out", dir.Sub("m.fmdl")});
  EXPECT_EQ(bad_model.exit_code, 2);
  EXPECT_NE(bad_model.err.find("known: ftrl, fm, deepfm, dcnv2"), std::string::npos)
      << bad_model.err;

  auto bad_task = Freshet({"train", "--task", "click", "--model", "fm"});
  EXPECT_EQ(bad_task.exit_code, 2);
  EXPECT_NE(bad_task.err.find("--task must be rec or ctr"), std::string::npos) << bad_task.err;

  auto ctr_flag_for_rec = Freshet({"train", "--model", "pop", "--train", dir.Sub("x.txt")});
  EXPECT_EQ(ctr_flag_for_rec.exit_code, 2);
  EXPECT_NE(ctr_flag_for_rec.err.find("--train needs --task ctr"), std::string::npos);

  freshet::testing::WriteFile(dir.Sub("bad.txt"), "1\t2\n");
  auto bad_file = Freshet({"train", "--task", "ctr", "--format", "criteo", "--model", "ftrl",
                           "--train", dir.Sub("bad.txt"), "--out", dir.Sub("m.fmdl")});
  EXPECT_EQ(bad_file.exit_code, 1);
  EXPECT_NE(bad_file.err.find("bad.txt:1: expected 40"), std::string::npos) << bad_file.err;

  freshet::testing::WriteFile(dir.Sub("junk.fmdl"), "junk");
  WriteSynthetic(dir.Sub("test.txt"), 10, 3);
  auto junk = Freshet(
      {"eval", "--task", "ctr", "--model", dir.Sub("junk.fmdl"), "--test", dir.Sub("test.txt")});
  EXPECT_EQ(junk.exit_code, 1);
  EXPECT_NE(junk.err.find("junk.fmdl"), std::string::npos) << junk.err;
}

}  // namespace
}  // namespace freshet::rank
