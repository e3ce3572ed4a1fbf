#include "model/epochs.h"

#include <chrono>
#include <cmath>
#include <cstdio>

namespace freshet::model {

EpochLoop::EpochLoop(std::string_view name, int max_epochs, const FitOptions& fit,
                     TrainReport* report)
    : name_(name), max_epochs_(max_epochs), fit_(fit), report_(report != nullptr ? report : &local_report_) {}

Status EpochLoop::Run(const std::function<double(int)>& train, uint64_t samples_per_epoch,
                      const Recommender& model, const std::function<void()>& on_best) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  *report_ = TrainReport();
  double best = -1e300;
  int since_best = 0;
  if (fit_.progress) {
    std::fprintf(stderr, "%s: training up to %d epochs of %llu samples, %d thread(s), seed %llu\n",
                 name_.c_str(), max_epochs_, static_cast<unsigned long long>(samples_per_epoch),
                 fit_.threads, static_cast<unsigned long long>(fit_.seed));
  }
  for (int epoch = 1; epoch <= max_epochs_; ++epoch) {
    const auto epoch_start = Clock::now();
    progress_ = std::make_unique<Progress>(
        name_ + " epoch " + std::to_string(epoch) + "/" + std::to_string(max_epochs_),
        samples_per_epoch, "samples", fit_.progress);
    double loss = train(epoch);
    progress_->Finish();
    progress_.reset();
    EpochStat stat;
    stat.epoch = epoch;
    stat.loss = loss;
    stat.seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    stat.samples_per_s = stat.seconds > 0 ? samples_per_epoch / stat.seconds : 0;
    if (!std::isfinite(loss)) {
      return Status::Internal(name_ + ": training diverged at epoch " + std::to_string(epoch) +
                              " (loss " + std::to_string(loss) +
                              "); lower the learning rate");
    }
    std::string line;
    if (fit_.validate) {
      stat.validation = fit_.validate(model);
      if (!stat.validation.empty() && stat.validation.front().second > best) {
        best = stat.validation.front().second;
        best_epoch_ = epoch;
        since_best = 0;
        on_best();
      } else {
        ++since_best;
      }
      for (const auto& [k, v] : stat.validation) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), " %s %.4f", k.c_str(), v);
        line += buf;
      }
    }
    if (fit_.progress) {
      std::fprintf(stderr, "%s epoch %d: loss %.4f, %.1f s, %.0f samples/s, validation%s%s\n",
                   name_.c_str(), epoch, loss, stat.seconds, stat.samples_per_s,
                   line.empty() ? " -" : line.c_str(), best_epoch_ == epoch ? " (best)" : "");
    }
    report_->epochs.push_back(std::move(stat));
    if (fit_.validate && since_best >= fit_.patience) {
      if (fit_.progress) {
        std::fprintf(stderr, "%s: no improvement for %d epochs, keeping epoch %d\n",
                     name_.c_str(), fit_.patience, best_epoch_);
      }
      break;
    }
  }
  report_->best_epoch = best_epoch_ > 0 ? best_epoch_ : static_cast<int>(report_->epochs.size());
  report_->seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return Status::OK();
}

void EpochLoop::Step(uint64_t samples_done, double mean_loss_so_far) {
  step_loss_ = mean_loss_so_far;
  if (progress_) progress_->Update(samples_done, samples_done);
}

}  // namespace freshet::model
