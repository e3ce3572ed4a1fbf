#pragma once

// `freshet train --task ctr` and `freshet eval --task ctr`: click-through-rate models (FTRL, FM,
// DeepFM, DCN-v2) on Criteo / Avazu files; `--task click|cart|buy`: the same models on samples
// built from the store's history by a feature spec and the label joiner (rank/shop_samples.h).
// main.cc adds these flags to its train and eval subcommands and calls Dispatch*, which runs the
// CTR / shop command or the existing recommendation one (`--task rec`, the default).

#include <cstdint>
#include <string>

#include "model_commands.h"

namespace CLI {
class App;
}

namespace freshet::app {

struct CtrTrainFlags {
  std::string task = "rec";  // rec | ctr | click | cart | buy
  std::string format;        // criteo | avazu
  std::string train_file;
  std::string valid_file;   // optional: per-epoch validation and early stopping
  int64_t max_errors = 0;   // bad input lines tolerated (skipped and counted)
  // click | cart | buy:
  std::string spec_file;     // default: the built-in spec (config/shop_rank.spec)
  double holdout = 0.2;      // last fraction of the time span validates
  std::string click_window = "30m";
  std::string cart_window = "3d";
  std::string buy_window = "3d";
  CLI::App* cmd = nullptr;  // to tell which flags were given
};

struct CtrEvalFlags {
  std::string task = "rec";
  std::string format;  // default: the model's
  std::string test_file;
  int64_t max_errors = 0;
  double holdout = -1;  // click | cart | buy: < 0 means the model's own split
  CLI::App* cmd = nullptr;
};

struct QuantizeFlags {
  std::string model;      // a CTR or shop model file (fm, deepfm, dcnv2)
  std::string out;        // the quantized model file (may be --model itself)
  std::string precision;  // fp16 | int8
  std::string json_out;   // optional: the report as JSON to this file too
  bool quiet = false;
};

// Adds --task and the CTR-only flags to main's train / eval subcommands.
void AddCtrTrainFlags(CLI::App* train, CtrTrainFlags& flags);
void AddCtrEvalFlags(CLI::App* eval, CtrEvalFlags& flags);

// Exit codes as main: 0 success, 1 the command failed, 2 bad command line (a flag of the other
// task, a missing --train / --test / --out, an unknown --task / --format / --model).
int DispatchTrain(const CtrTrainFlags& ctr, const TrainFlags& flags);
int DispatchEval(const CtrEvalFlags& ctr, const EvalFlags& flags);

// `freshet quantize`: the model's embedding table as fp16 or int8 for serving
// (rank::QuantizeModelFile). Prints a JSON report on stdout; exit codes as above.
void AddQuantizeCommand(CLI::App* app, QuantizeFlags& flags, CLI::App** cmd);
int RunQuantize(const QuantizeFlags& flags);

}  // namespace freshet::app
