#pragma once

// The last stage of recommend: from the ranked candidates, pick the k items a shop page shows,
// under business rules and for diversity. No model, no catalog lookups: the caller gives each
// candidate its relevance and category, so the rules are testable on their own.
//
// Rules, in order of precedence:
//  1. max_per_category (hard): at most this many items of one catalog category. Candidates
//     without a category (kNoCategory) are not capped.
//  2. diversity (soft, category MMR): each pick maximises
//       (1 - diversity) * relevance' - diversity * (share of the picks so far in its category)
//     where relevance' is the candidate's relevance scaled to [0, 1] over the candidates. 0 keeps
//     the ranked order (only the cap applies); 1 alternates categories whatever the relevance.
// Ties go to the better-ranked candidate (lower index in the input), so with diversity 0 and no
// cap the output is the first k candidates, unchanged.
//
// The result is shorter than k when the cap leaves fewer than k candidates: a cap is a promise to
// the shop, not a preference (ask for more candidates to fill the page).

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/ids.h"
#include "core/status.h"

namespace freshet::serve {

struct RerankCandidate {
  ItemId item = kNoId;
  float relevance = 0;  // higher is better; the ranker's objective or the retrieval score
  uint32_t category = 0xffffffffu;  // RerankOptions::kNoCategory when the item has none
};

struct RerankOptions {
  static constexpr uint32_t kNoCategory = 0xffffffffu;
  size_t k = 10;
  // Items per category at most; 0: no cap. A page of 10 with 3 keeps at least four categories.
  size_t max_per_category = 0;
  // In [0, 1]. Trades relevance for category spread; 0.3 is a mild, common setting.
  double diversity = 0;
};

// OK, or InvalidArgument naming the field: k of 0, diversity outside [0, 1] or not a number.
Status ValidateRerankOptions(const RerankOptions& options);

// Picks up to options.k of `candidates` into *out, best first, replacing its contents. Never
// returns an item twice if the input has none twice. REQUIRES: ValidateRerankOptions(options).ok();
// candidates ordered by relevance, best first (NaN last), as the ranking stage leaves them (with
// diversity 0 the input order is taken as is). O(k * n). Thread-safe (no state).
void Rerank(std::span<const RerankCandidate> candidates, const RerankOptions& options,
            std::vector<RerankCandidate>* out);

}  // namespace freshet::serve
