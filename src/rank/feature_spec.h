#pragma once

// The declarative feature spec of the shop ranking models: which fields a sample has and how each
// is computed from the FeatureState, the catalog and the anchor event (docs/models.md, "Shop
// ranking"; config/shop_rank.spec is the default and documents every source).
//
// Text, one declaration per line, '#' starts a comment, tokens separated by blanks:
//   categorical NAME SOURCE [encode=dict|hash]        one id per sample (dict: the value itself,
//                                                     hash: a 56-bit hash of it)
//   cross       NAME FIELD,FIELD[,FIELD]              hash of earlier categorical fields' values
//   numeric     NAME SOURCE [transform=none|log|zscore] [buckets=N] [binning=quantile|uniform]
//   sequence    NAME SOURCE [length=K]                the newest K values as K fields NAME_1..K
// Numeric fields become one categorical id per sample: the value (log: log(1 + max(x, 0));
// zscore: (x - mean) / stddev) falls in one of N buckets, plus a "missing" id. The statistics
// (mean, stddev, quantile edges or the uniform range) are computed once at training time by
// Freeze and saved in the model file with the spec text, so serving buckets exactly as training.
//
// Every parse error reads "FILE:LINE: field NAME: REASON".
//
// A FeatureSpec is immutable once frozen; its const methods are thread-safe.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "core/status.h"
#include "feature/feature_state.h"
#include "rank/shop_catalog.h"

namespace freshet::model {
class ModelWriter;
class ModelReader;
}  // namespace freshet::model

namespace freshet::rank {

enum class SpecKind : uint8_t { kCategorical, kCross, kNumeric, kSequence };
enum class Transform : uint8_t { kNone, kLog, kZscore };

struct SpecField {
  std::string name;
  SpecKind kind = SpecKind::kCategorical;
  int source = -1;             // index into the source table (feature_spec.cc); crosses: -1
  int line = 0;                // in the spec text
  bool hashed = false;         // categorical
  std::vector<int> parts;      // cross: indices of categorical fields
  Transform transform = Transform::kNone;  // numeric
  int buckets = 16;                        // numeric
  bool uniform = false;                    // numeric: uniform bins instead of quantiles
  int length = 1;                          // sequence
  int first_slot = 0;  // the sample's first feature column of this field
  int numeric_index = -1;  // numeric: index into stats
};

// What Freeze learns per numeric field.
struct NumericStats {
  double mean = 0;
  double stddev = 1;
  std::vector<float> edges;  // ascending; bucket b holds values in [edges[b-1], edges[b])
};

// Per-call buffers of Build (one per thread).
struct SpecScratch {
  std::vector<ItemId> recent;  // the user's newest kRecentRead items, oldest first
  std::vector<feature::FeatureState::CartLine> cart;
  std::vector<uint64_t> values;

  // Many samples of one user in one call (ShopRanker::Score ranks a user's candidates): with
  // `per_call` set, the user's recent items, cart and summary are read from the FeatureState
  // once per user and reused by every sample until the caller ends the call (BeginCall again,
  // or EndCall), which is also one consistent view of the user for the call. Off by default:
  // an offline replay changes the state between samples.
  void BeginCall() {
    per_call = true;
    have_recent = have_cart = have_summary = false;
  }
  void EndCall() { per_call = have_recent = have_cart = have_summary = false; }

  bool per_call = false;
  UserId user = 0;  // whose reads are held below
  bool have_recent = false, have_cart = false, have_summary = false, summary_known = false;
  feature::FeatureState::UserSummary summary;
};

// The anchor a sample describes.
struct SampleKey {
  UserId user = 0;
  ItemId item = kNoId;
  int64_t ts_ms = 0;
  float position = 0;  // page position, 0 unknown
};

class FeatureSpec {
 public:
  // Parses spec text. InvalidArgument "ORIGIN:LINE: field NAME: REASON" for an unknown kind,
  // source or option, a bad value, a duplicate name, a cross over an unknown or non-categorical
  // field, more than kMaxFields (256) columns, or no fields at all.
  static Result<FeatureSpec> Parse(std::string_view text, std::string_view origin);
  // Reads and parses a file. NotFound / IOError naming the path.
  static Result<FeatureSpec> ReadFile(const std::string& path);
  // The default spec of the click and buy models (config/shop_rank.spec's text, compiled in).
  static std::string_view DefaultText();
  // The default spec of the cart model (config/shop_cart.spec, compiled in): no id fields or
  // crosses, which memorise the few thousand cart adds a shop has, and no in_cart / cart age,
  // which a cart add's pre-event state lacks but a cart line at serving time has.
  static std::string_view DefaultCartText();
  // The known sources, "name: meaning" per line, for --help and errors.
  static std::string SourceHelp();

  const std::string& text() const { return text_; }
  const std::string& origin() const { return origin_; }
  const std::vector<SpecField>& fields() const { return fields_; }
  int num_slots() const { return num_slots_; }       // feature ids per sample (model fields)
  int num_numeric() const { return num_numeric_; }
  std::string SlotName(int slot) const;

  // Builds one sample's ids into out (REQUIRES: out.size() == num_slots()) from the state as it
  // is now (call before applying the anchor's event). Before Freeze, numeric columns hold the raw
  // transformed value's float bits (Finalize turns them into ids); after, final ids.
  // Thread-safe (const; FeatureState is thread-safe).
  void Build(const feature::FeatureState& state, const ShopCatalog& catalog, const SampleKey& key,
             SpecScratch& scratch, std::span<uint64_t> out) const;

  bool frozen() const { return frozen_; }
  // Computes the numeric statistics from raw rows built before Freeze ([n, num_slots()]).
  // Idempotent on the same rows. InvalidArgument when rows is not a multiple of num_slots().
  Status Freeze(std::span<const uint64_t> raw_rows);
  // Turns the numeric columns of raw rows into ids. REQUIRES: frozen().
  void Finalize(std::span<uint64_t> raw_rows) const;
  // The id of a numeric value of numeric field `field` (index into fields()). REQUIRES: frozen().
  uint64_t NumericId(int field, float transformed) const;
  // "name=value" of a final id in `slot` for explanations (numeric ids as their bucket range).
  std::string Describe(int slot, uint64_t id) const;

  // Model file entries "shop.spec", "shop.spec_origin", "shop.stats". REQUIRES: frozen().
  void Save(model::ModelWriter& w) const;
  // Corruption naming the entry for a missing or inconsistent one.
  static Result<FeatureSpec> Load(const model::ModelReader& r);

 private:
  float Raw(int field, const feature::FeatureState& state, const ShopCatalog& catalog,
            const SampleKey& key, SpecScratch& scratch) const;

  std::string text_;
  std::string origin_;
  std::vector<SpecField> fields_;
  int num_slots_ = 0;
  int num_numeric_ = 0;
  bool frozen_ = false;
  std::vector<NumericStats> stats_;  // by numeric_index
};

}  // namespace freshet::rank
