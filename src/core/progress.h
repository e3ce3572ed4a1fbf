#pragma once

// Progress of a long-running command on stderr: a redrawn bar with rate and ETA when stderr is a
// terminal, otherwise a plain line every few seconds (logs stay readable in CI).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace freshet {

class Progress {
 public:
  // `total` is in the same unit as Update's `done` (bytes, samples, ...); 0 when unknown.
  // `unit` names what `count` in Update counts, e.g. "events".
  Progress(std::string label, uint64_t total, std::string unit, bool enabled = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Cheap to call often: draws at most every 0.25 s on a terminal, every 5 s otherwise.
  void Update(uint64_t done, uint64_t count);
  // Draws the final state and ends the line.
  void Finish();

 private:
  void Draw(bool final_line);
  std::string label_;
  uint64_t total_;
  std::string unit_;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  uint64_t done_ = 0;
  uint64_t count_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace freshet
