#pragma once

// The epoch loop shared by models that train in epochs (BPR, SASRec): progress on stderr, a
// validation call after each epoch, early stopping on the first validation metric, and the
// training report.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/progress.h"
#include "model/recommender.h"

namespace freshet::model {

class EpochLoop {
 public:
  // REQUIRES: max_epochs >= 1. `report` may be null.
  EpochLoop(std::string_view name, int max_epochs, const FitOptions& fit, TrainReport* report);

  // For epoch = 1, 2, ...: calls train(epoch), which trains one epoch over `samples_per_epoch`
  // samples and returns the mean loss; then, if fit.validate is set, validates `model` and calls
  // on_best() whenever the first metric improves (the model copies its weights aside). Stops after
  // max_epochs, or fit.patience epochs without improvement. A non-finite loss stops training with
  // an error (a diverged model must not be saved as if it were fine).
  Status Run(const std::function<double(int epoch)>& train, uint64_t samples_per_epoch,
             const Recommender& model, const std::function<void()>& on_best);

  // Called by train() as samples complete, for the in-epoch progress line (step, loss, rate,
  // ETA). Only from the thread that called Run.
  void Step(uint64_t samples_done, double mean_loss_so_far);

  // Whether validation ran and on_best() was called at least once; if so the model should restore
  // the weights it set aside, else keep the last epoch's.
  bool has_best() const { return best_epoch_ > 0; }

 private:
  std::string name_;
  int max_epochs_;
  const FitOptions& fit_;
  TrainReport* report_;
  TrainReport local_report_;
  int best_epoch_ = 0;
  std::unique_ptr<Progress> progress_;
  double step_loss_ = 0;
};

}  // namespace freshet::model
