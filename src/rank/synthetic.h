#pragma once

// A Criteo-shaped synthetic click log with a planted logistic ground truth, for tests that check
// the models learn and for the training-speed benchmark (bench/ctr_synth.cc).
//
// The truth: logit = bias + sum over fields of an effect per value (numeric fields per log bucket)
// + a few pairwise interactions <u_a, u_b> of latent vectors of two fields' values (what FM,
// DeepFM and DCN-v2 can learn and a linear model cannot). A third of the categorical fields are
// pure noise. Categorical values follow a power law within each field's cardinality (3 to
// 100,000), so there is a long tail for admission to cut. The world (effects, cardinalities) is
// fixed by world_seed; seed draws the rows, so train and test files share the truth.

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace freshet::rank {

struct SyntheticCtrOptions {
  uint64_t rows = 100000;
  uint64_t seed = 1;        // the rows drawn
  uint64_t world_seed = 7;  // the planted truth
  double missing = 0.05;    // probability that a value is missing (an empty field)
  // Scales every effect: higher makes clicks more predictable (the oracle AUC rises).
  double signal = 1.0;
};

// Appends options.rows lines of Criteo text to `out`. With `probabilities`, appends each row's
// true click probability (the oracle's prediction) to it.
void GenerateSyntheticCriteo(const SyntheticCtrOptions& options, std::string* out,
                             std::vector<float>* probabilities = nullptr);

// The same written to `path` (streamed, atomically renamed into place). IOError naming the path.
Status WriteSyntheticCriteo(const SyntheticCtrOptions& options, const std::string& path);

}  // namespace freshet::rank
