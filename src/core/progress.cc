#include "core/progress.h"

#include <unistd.h>

#include <algorithm>

namespace freshet {
namespace {

std::string FormatDuration(double seconds) {
  char buf[32];
  auto s = static_cast<long long>(seconds + 0.5);
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", s / 3600, s / 60 % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

Progress::Progress(std::string label, uint64_t total, std::string unit, bool enabled)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_) Finish();
}

void Progress::Update(uint64_t done, uint64_t count) {
  done_ = done;
  count_ = count;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  auto interval = tty_ ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
  if (now - last_draw_ < interval) return;
  last_draw_ = now;
  Draw(false);
}

void Progress::Finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  // A run shorter than one interval printed nothing on a pipe; its summary line says enough.
  if (!tty_ && last_draw_ == start_) return;
  Draw(true);
}

void Progress::Draw(bool final_line) {
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(count_) / elapsed : 0.0;
  double fraction = total_ > 0 ? std::min(1.0, static_cast<double>(done_) / total_) : 0.0;
  std::string eta = "?";
  if (final_line) {
    eta = "done";
  } else if (fraction > 0.0) {
    eta = FormatDuration(elapsed * (1.0 - fraction) / fraction);
  }
  if (tty_) {
    constexpr int kWidth = 30;
    int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r%s [%s] %5.1f%% %llu %s %.0f %s/s ETA %s   ", label_.c_str(),
                 bar.c_str(), fraction * 100.0, static_cast<unsigned long long>(count_),
                 unit_.c_str(), rate, unit_.c_str(), eta.c_str());
    if (final_line) std::fputc('\n', stderr);
  } else {
    std::fprintf(stderr, "%s: %.1f%% %llu %s, %.0f %s/s, elapsed %s, ETA %s\n", label_.c_str(),
                 fraction * 100.0, static_cast<unsigned long long>(count_), unit_.c_str(), rate,
                 unit_.c_str(), FormatDuration(elapsed).c_str(), eta.c_str());
  }
  std::fflush(stderr);
}

}  // namespace freshet
