#pragma once

// `freshet train`, `freshet eval` and `freshet replay`: flags -> options -> store, split, model, evaluator.

#include <cstdint>
#include <string>
#include <vector>

namespace freshet::app {

struct TrainFlags {
  std::string data = "./freshet-data";
  std::string model;           // kind
  std::string params;          // k=v,...
  int epochs = 0;              // 0: the model's default
  int threads = 0;             // 0: one per core
  uint64_t seed = 42;
  std::string protocol = "loo";  // what to hold out; "none" trains on everything
  std::string out;             // default DATA/models/<kind>.fmdl
  bool quiet = false;
};

struct EvalFlags {
  std::string data = "./freshet-data";
  std::vector<std::string> model_files;  // several: one comparison table
  std::string protocol;         // default: the protocol the model was trained with
  std::string candidates = "full";
  std::string ks = "5,10,20";
  int threads = 0;
  uint64_t seed = 42;
  std::string json_out;
  std::string html_out;
  bool quiet = false;
};

struct ReplayFlags {
  std::string data = "./freshet-data";
  std::string model;             // kind
  std::string params;            // k=v,...
  double holdout = 0.2;
  size_t batch = 64;
  int windows = 10;
  double online_learning_rate = 0;  // 0: the model's default
  int threads = 0;
  uint64_t seed = 42;
  std::string json_out;
  std::string html_out;
  bool quiet = false;
};

// Exit codes as main: 0 success, 1 failure (message on stderr).
int RunTrain(const TrainFlags& flags);
int RunEval(const EvalFlags& flags);
int RunReplay(const ReplayFlags& flags);

}  // namespace freshet::app
