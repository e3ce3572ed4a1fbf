// Drives the real `freshet` binary: train and eval --task ctr on small synthetic Criteo files, and
// --task click|cart|buy on a small simulated shop's store.

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

  auto bad_task = Freshet({"train", "--task", "clicks", "--model", "fm"});
  EXPECT_EQ(bad_task.exit_code, 2);
  EXPECT_NE(bad_task.err.find("--task must be rec, ctr, click, cart or buy"), std::string::npos)
      << bad_task.err;

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

TEST(QuantizeCliTest, QuantizedModelsEvaluateCloseToTheFloatModel) {
  TempDir dir;
  WriteSynthetic(dir.Sub("train.txt"), 6000, 1);
  WriteSynthetic(dir.Sub("test.txt"), 2000, 3);
  auto train = Freshet({"train", "--task", "ctr", "--format", "criteo", "--model", "deepfm",
                        "--train", dir.Sub("train.txt"), "--epochs", "2", "--threads", "2",
                        "--param", "embed_dim=8,mlp=32:32", "--out", dir.Sub("f.fmdl"), "--quiet"});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  auto eval = [&](const std::string& model) {
    auto r = Freshet({"eval", "--task", "ctr", "--model", model, "--test", dir.Sub("test.txt"),
                      "--quiet"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  const std::string base = eval(dir.Sub("f.fmdl"));
  for (const std::string precision : {"fp16", "int8"}) {
    const std::string out = dir.Sub(precision + ".fmdl");
    auto q = Freshet({"quantize", "--model", dir.Sub("f.fmdl"), "--out", out, "--precision",
                      precision});
    ASSERT_EQ(q.exit_code, 0) << q.err;
    EXPECT_NE(q.out.find("\"precision\":\"" + precision + "\""), std::string::npos) << q.out;
    EXPECT_LT(JsonNumber(q.out, "quantized"), JsonNumber(q.out, "float_rows")) << q.out;
    EXPECT_NE(q.err.find("written to " + out), std::string::npos) << q.err;
    const std::string json = eval(out);
    EXPECT_NEAR(JsonNumber(json, "AUC"), JsonNumber(base, "AUC"), 0.003) << json << base;
    EXPECT_NEAR(JsonNumber(json, "logloss"), JsonNumber(base, "logloss"), 0.003) << json;
  }
}

TEST(QuantizeCliTest, BadArgumentsAreClearErrors) {
  TempDir dir;
  WriteSynthetic(dir.Sub("train.txt"), 1500, 1);
  for (const std::string model : {"ftrl", "fm"}) {
    auto train = Freshet({"train", "--task", "ctr", "--format", "criteo", "--model", model,
                          "--train", dir.Sub("train.txt"), "--epochs", "1", "--param",
                          "embed_dim=4", "--out", dir.Sub(model + ".fmdl"), "--quiet"});
    ASSERT_EQ(train.exit_code, 0) << train.err;
  }
  auto bad_precision = Freshet({"quantize", "--model", dir.Sub("fm.fmdl"), "--out",
                                dir.Sub("o.fmdl"), "--precision", "int4"});
  EXPECT_EQ(bad_precision.exit_code, 2);
  EXPECT_NE(bad_precision.err.find("--precision must be fp16 or int8, got 'int4'"),
            std::string::npos)
      << bad_precision.err;
  auto ftrl = Freshet({"quantize", "--model", dir.Sub("ftrl.fmdl"), "--out", dir.Sub("o.fmdl"),
                       "--precision", "int8"});
  EXPECT_EQ(ftrl.exit_code, 1);
  EXPECT_NE(ftrl.err.find("ftrl.fmdl' is an ftrl model"), std::string::npos) << ftrl.err;
  auto missing = Freshet({"quantize", "--model", dir.Sub("none.fmdl"), "--out", dir.Sub("o.fmdl"),
                          "--precision", "fp16"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("none.fmdl"), std::string::npos) << missing.err;
  freshet::testing::WriteFile(dir.Sub("junk.fmdl"), "junk");
  auto junk = Freshet({"quantize", "--model", dir.Sub("junk.fmdl"), "--out", dir.Sub("o.fmdl"),
                       "--precision", "fp16"});
  EXPECT_EQ(junk.exit_code, 1);
  EXPECT_NE(junk.err.find("junk.fmdl"), std::string::npos) << junk.err;
  ASSERT_EQ(Freshet({"quantize", "--model", dir.Sub("fm.fmdl"), "--out", dir.Sub("q.fmdl"),
                     "--precision", "fp16", "--quiet"})
                .exit_code,
            0);
  auto twice = Freshet({"quantize", "--model", dir.Sub("q.fmdl"), "--out", dir.Sub("o.fmdl"),
                        "--precision", "int8"});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_NE(twice.err.find("already quantized (fp16)"), std::string::npos) << twice.err;
  freshet::testing::WriteFile(dir.Sub("blocker"), "x");
  auto unwritable = Freshet({"quantize", "--model", dir.Sub("fm.fmdl"), "--out",
                             dir.Sub("blocker/o.fmdl"), "--precision", "int8"});
  EXPECT_EQ(unwritable.exit_code, 1);
  EXPECT_NE(unwritable.err.find("cannot write the quantized model to"), std::string::npos)
      << unwritable.err;
}


// A simulated shop in a store under dir/data, through the real simulate / ingest / items commands.
void MakeShopStore(TempDir& dir) {
  auto sim = Freshet({"simulate", "--users", "300", "--items", "150", "--days", "8", "--seed", "5",
                      "--out", dir.Sub("sim")});
  ASSERT_EQ(sim.exit_code, 0) << sim.err;
  auto ingest = Freshet({"ingest", dir.Sub("sim/events.csv"), "--data", dir.Sub("data"),
                         "--durability", "none", "--quiet"});
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  auto items = Freshet({"items", dir.Sub("sim/items.csv"), "--data", dir.Sub("data")});
  ASSERT_EQ(items.exit_code, 0) << items.err;
}

TEST(ShopCliTest, TrainThenEvalClickAndCartModelsFromTheStore) {
  TempDir dir;
  MakeShopStore(dir);
  for (const std::string task : {"click", "cart"}) {
    const std::string model = dir.Sub(task + ".fmdl");
    // A cart model sees ~40 cart adds here: FM (FTRL's L1 would zero every weight of so few).
    // The 1-day cart window fits in the 2.4-day holdout (anchors whose window passes the end of
    // the history are left out).
    auto train = Freshet({"train", "--task", task, "--data", dir.Sub("data"), "--model",
                          task == "click" ? "ftrl" : "fm", "--out", model, "--holdout", "0.3",
                          "--epochs", "2", "--threads", "2", "--cart-window", "1d"});
    ASSERT_EQ(train.exit_code, 0) << train.err;
    EXPECT_NE(train.err.find("replaying events"), std::string::npos) << train.err;
    EXPECT_NE(train.err.find(task + " examples:"), std::string::npos) << train.err;
    EXPECT_NE(train.out.find("valid AUC"), std::string::npos) << train.out;
    auto eval = Freshet({"eval", "--task", task, "--data", dir.Sub("data"), "--model", model,
                         "--json", dir.Sub(task + ".json"), "--quiet"});
    ASSERT_EQ(eval.exit_code, 0) << eval.err;
    const std::string json = ReadFile(dir.Sub(task + ".json"));
    EXPECT_EQ(eval.out, json);
    EXPECT_NE(json.find("\"task\":\"" + task + "\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"GAUC\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"baseline\""), std::string::npos) << json;
    const double auc = JsonNumber(json, "AUC");
    if (task == "click") {
      EXPECT_GT(auc, 0.65) << json;
    } else {
      // ~40 cart adds in this small shop: no quality bar, only a well-formed report.
      EXPECT_TRUE(auc >= 0 && auc <= 1) << json;
      EXPECT_GT(JsonNumber(json, "samples"), 5) << json;
    }
  }
  // A click model is not a cart model, and not a --task ctr model.
  auto wrong_task = Freshet({"eval", "--task", "cart", "--data", dir.Sub("data"), "--model",
                             dir.Sub("click.fmdl")});
  EXPECT_EQ(wrong_task.exit_code, 1);
  EXPECT_NE(wrong_task.err.find("is a click model; --task cart was given"), std::string::npos)
      << wrong_task.err;
  WriteSynthetic(dir.Sub("test.txt"), 10, 3);
  auto as_ctr = Freshet({"eval", "--task", "ctr", "--model", dir.Sub("click.fmdl"), "--test",
                         dir.Sub("test.txt")});
  EXPECT_EQ(as_ctr.exit_code, 1);
  EXPECT_NE(as_ctr.err.find("shop ranking model"), std::string::npos) << as_ctr.err;
}

TEST(ShopCliTest, BadSpecsAndDataAreClearErrors) {
  TempDir dir;
  MakeShopStore(dir);
  freshet::testing::WriteFile(dir.Sub("bad.spec"),
                              "categorical user user\nnumeric price item_price buckets=x\n");
  auto bad_spec = Freshet({"train", "--task", "click", "--data", dir.Sub("data"), "--model",
                           "ftrl", "--spec", dir.Sub("bad.spec"), "--out", dir.Sub("m.fmdl")});
  EXPECT_EQ(bad_spec.exit_code, 1);
  EXPECT_NE(bad_spec.err.find("bad.spec:2: field price: buckets must be an integer"),
            std::string::npos)
      << bad_spec.err;
  freshet::testing::WriteFile(dir.Sub("unknown.spec"), "numeric p item_colour\n");
  auto unknown = Freshet({"train", "--task", "cart", "--data", dir.Sub("data"), "--model", "fm",
                          "--spec", dir.Sub("unknown.spec"), "--out", dir.Sub("m.fmdl")});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("unknown.spec:1: field p: unknown source 'item_colour'"),
            std::string::npos)
      << unknown.err;
  auto no_data = Freshet({"train", "--task", "click", "--data", dir.Sub("nothing"), "--model",
                          "ftrl", "--out", dir.Sub("m.fmdl")});
  EXPECT_EQ(no_data.exit_code, 1);
  auto ctr_flag = Freshet({"train", "--task", "click", "--data", dir.Sub("data"), "--model",
                           "ftrl", "--format", "criteo", "--out", dir.Sub("m.fmdl")});
  EXPECT_EQ(ctr_flag.exit_code, 2);
  auto bad_window = Freshet({"train", "--task", "click", "--data", dir.Sub("data"), "--model",
                             "ftrl", "--click-window", "soon", "--out", dir.Sub("m.fmdl")});
  EXPECT_EQ(bad_window.exit_code, 2);
  EXPECT_NE(bad_window.err.find("--click-window must be a positive duration"), std::string::npos)
      << bad_window.err;
  auto shop_flag_for_ctr = Freshet({"train", "--task", "ctr", "--format", "criteo", "--model",
                                    "ftrl", "--spec", "x", "--train", "x", "--out", "m"});
  EXPECT_EQ(shop_flag_for_ctr.exit_code, 2);
  auto sources = Freshet({"train", "--task", "click", "--model", "ftrl", "--spec", "help"});
  EXPECT_EQ(sources.exit_code, 0);
  EXPECT_NE(sources.out.find("user_since_buy_seconds (numeric)"), std::string::npos);
}

}  // namespace
}  // namespace freshet::rank
