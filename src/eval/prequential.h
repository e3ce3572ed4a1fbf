#pragma once

// Prequential ("test, then train") replay: how a model does on a live stream, frozen or learning
// online. The model is fitted offline on the interactions before a time cut; then the rest is
// walked in time order, in micro-batches of `batch` events: every event of a batch is ranked
// with the model as it stood before the batch (the actual item is the target), then the batch is
// applied (histories grow; the online model also learns from it). The same walk runs twice,
// once with the model frozen and once learning online, from the same fitted weights.
//
// Ranking is over the whole catalog, excluding the items already in the user's history (the
// project's full-ranking protocol, eval/evaluator.h); an event whose item is already in the
// user's history, or repeats the last one, is not a test case (it is still applied).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/params.h"
#include "model/recommender.h"
#include "store/event_table.h"

namespace freshet::eval {

struct PrequentialOptions {
  double holdout = 0.2;   // share of interactions, by time, walked after the offline fit
  size_t batch = 64;      // events per micro-batch (scored before, learned after)
  int windows = 10;       // report windows over the walk, of equal numbers of cases
  size_t max_history = 200;  // newest history items kept per user (as FeatureState keeps them)
  int threads = 0;        // offline fit and scoring; 0 = one per core
  uint64_t seed = 42;
  bool progress = true;
  model::OnlineOptions online;
  std::string dataset;    // for the report
};

// HR@10, NDCG@10 and Recall@20 (= HR@20 with one target) over a set of cases.
struct PrequentialMetrics {
  uint64_t cases = 0;
  double hr10 = 0;
  double ndcg10 = 0;
  double recall20 = 0;
};

struct PrequentialWindow {
  int64_t from_ts_ms = 0;  // first and last event time of the window's cases
  int64_t to_ts_ms = 0;
  PrequentialMetrics frozen;
  PrequentialMetrics online;
};

struct PrequentialResult {
  std::string dataset;
  std::string model;
  model::Params params;
  double holdout = 0;
  size_t batch = 0;
  int64_t cut_ts_ms = 0;
  uint64_t events = 0;           // interactions walked
  uint64_t new_item_events = 0;  // walked interactions whose item had no training interaction
  PrequentialMetrics frozen;
  PrequentialMetrics online;
  std::vector<PrequentialWindow> windows;
  model::TrainReport train;
  double frozen_seconds = 0;     // wall time of each walk
  double online_seconds = 0;
};

// Runs the replay on `table` (sorted by time) with a model of `kind` and `params` (defaults
// otherwise). FailedPrecondition when the cut leaves no training or no test interactions;
// Unimplemented when the model cannot learn online.
Result<PrequentialResult> RunPrequential(const store::EventTable& table, std::string_view kind,
                                         const model::Params& params,
                                         const PrequentialOptions& options);

// {"dataset", "model", "holdout", "batch", "events", "cases", "frozen":{"HR@10", "NDCG@10",
//  "Recall@20"}, "online":{...}, "windows":[{"from", "to", "cases", "frozen", "online"}], ...}
std::string PrequentialJson(const PrequentialResult& result);
// A self-contained page: the two metric tables and HR@10 / NDCG@10 per window as inline SVG.
std::string PrequentialHtml(const PrequentialResult& result);

}  // namespace freshet::eval
