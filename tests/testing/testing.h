#pragma once

// Helpers shared by every test binary: temporary directories, the shared datasets, running the
// freshet binary.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace freshet::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Writes `contents` to `path`, creating parent directories.
void WriteFile(const std::filesystem::path& path, const std::string& contents);
std::string ReadFile(const std::filesystem::path& path);

// Absolute path of ../shared/data/<relative>, or empty when that file is absent.
std::string SharedData(const std::string& relative);

// The number after the first "key": in a JSON text, or NaN when absent. Enough for the flat
// summaries the CLI prints; tests that need structure parse with care.
double JsonNumber(const std::string& json, const std::string& key);

// Absolute path of the freshet binary under test.
std::string FreshetBinary();

struct CommandResult {
  int exit_code = -1;  // -signal when killed by a signal
  std::string out;     // stdout
  std::string err;     // stderr
};
// Runs argv[0] with the arguments, waits, captures both streams.
CommandResult Run(const std::vector<std::string>& argv);

}  // namespace freshet::testing

// Skips the current test with a visible message when a shared dataset is absent (a user's fresh
// clone has no ../shared).
#define FRESHET_SHARED_DATA_OR_SKIP(var, relative)                                        \
  const std::string var = ::freshet::testing::SharedData(relative);                       \
  if (var.empty()) {                                                                      \
    GTEST_SKIP() << "SKIPPED: ../shared/data/" << (relative)                              \
                 << " is absent (it exists only beside the team's checkout)";             \
  }
