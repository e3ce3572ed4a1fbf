#include "serve/rerank.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <unordered_map>

namespace freshet::serve {

Status ValidateRerankOptions(const RerankOptions& options) {
  if (options.k == 0) return Status::InvalidArgument("k must be at least 1");
  if (!(options.diversity >= 0 && options.diversity <= 1)) {
    return Status::InvalidArgument("diversity must be a number from 0 to 1, not " +
                                   std::to_string(options.diversity));
  }
  return Status::OK();
}

void Rerank(std::span<const RerankCandidate> candidates, const RerankOptions& options,
            std::vector<RerankCandidate>* out) {
  out->clear();
  const size_t k = std::min(options.k, candidates.size());
  const size_t cap = options.max_per_category;
  std::unordered_map<uint32_t, uint32_t> per_category;  // picks so far, by category
  auto capped = [&](const RerankCandidate& c) {
    if (cap == 0 || c.category == RerankOptions::kNoCategory) return false;
    auto it = per_category.find(c.category);
    return it != per_category.end() && it->second >= cap;
  };
  auto take = [&](const RerankCandidate& c) {
    out->push_back(c);
    if (c.category != RerankOptions::kNoCategory) ++per_category[c.category];
  };

  if (options.diversity <= 0) {
    // The ranked order, skipping what the cap forbids: one pass.
    for (const RerankCandidate& c : candidates) {
      if (out->size() == k) break;
      if (!capped(c)) take(c);
    }
    return;
  }

  // Category MMR, greedily. Relevance is scaled to [0, 1] so that `diversity` means the same
  // whatever the scale of the scores (logits, probabilities, popularity counts).
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (const RerankCandidate& c : candidates) {
    if (std::isnan(c.relevance)) continue;
    lo = std::min(lo, c.relevance);
    hi = std::max(hi, c.relevance);
  }
  const double span = hi > lo ? static_cast<double>(hi) - lo : 0.0;
  auto scaled = [&](float r) {
    if (std::isnan(r) || span == 0) return std::isnan(r) ? 0.0 : 1.0;
    return (static_cast<double>(r) - lo) / span;
  };
  const double lambda = options.diversity;
  std::vector<uint8_t> used(candidates.size(), 0);
  while (out->size() < k) {
    size_t best = candidates.size();
    double best_value = -std::numeric_limits<double>::infinity();
    const double picked = static_cast<double>(out->size());
    for (size_t j = 0; j < candidates.size(); ++j) {
      if (used[j]) continue;
      const RerankCandidate& c = candidates[j];
      if (capped(c)) continue;
      double share = 0;
      if (picked > 0 && c.category != RerankOptions::kNoCategory) {
        auto it = per_category.find(c.category);
        if (it != per_category.end()) share = it->second / picked;
      }
      const double value = (1 - lambda) * scaled(c.relevance) - lambda * share;
      // Strictly better only: the earlier (better-ranked) candidate wins ties.
      if (value > best_value) best_value = value, best = j;
    }
    if (best == candidates.size()) break;  // everything left is capped
    used[best] = 1;
    take(candidates[best]);
  }
}

}  // namespace freshet::serve
