// Writes a Criteo-shaped synthetic click log with a planted logistic truth (rank/synthetic.h):
// the large file of the CTR training-speed benchmark (bench/compare_deepfm.sh).
//
//   ctr_synth --rows N [--seed S] [--world-seed W] --out FILE
//
// Files with the same --world-seed share the truth (train / valid / test); --seed draws the rows.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "rank/synthetic.h"

int main(int argc, char** argv) {
  freshet::rank::SyntheticCtrOptions options;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "ctr_synth: %s needs a value\n", arg.c_str());
      return 2;
    }
    const char* value = argv[++i];
    char* end = nullptr;
    if (arg == "--out") {
      out = value;
      continue;
    }
    const unsigned long long v = std::strtoull(value, &end, 10);
    if (end == value || *end != '\0') {
      std::fprintf(stderr, "ctr_synth: %s: '%s' is not a whole number\n", arg.c_str(), value);
      return 2;
    }
    if (arg == "--rows") {
      options.rows = v;
    } else if (arg == "--seed") {
      options.seed = v;
    } else if (arg == "--world-seed") {
      options.world_seed = v;
    } else {
      std::fprintf(stderr, "usage: ctr_synth --rows N [--seed S] [--world-seed W] --out FILE\n");
      return 2;
    }
  }
  if (out.empty()) {
    std::fprintf(stderr, "usage: ctr_synth --rows N [--seed S] [--world-seed W] --out FILE\n");
    return 2;
  }
  const freshet::Status s = freshet::rank::WriteSyntheticCriteo(options, out);
  if (!s.ok()) {
    std::fprintf(stderr, "ctr_synth: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
