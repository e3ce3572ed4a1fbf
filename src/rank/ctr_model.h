#pragma once

// Click-through-rate models over CtrDataset samples: FTRL-proximal logistic regression, FM,
// DeepFM and DCN-v2 behind one interface, trained with several threads, saved in the project's
// model file (docs/formats.md, "Model file"; docs/models.md, "Ranking (CTR)").
//
// Every model maps feature ids to rows through a FeatureMap built by a counting pass over the
// training set (frequency admission), so ids with a row never collide and rare ids share their
// field's row. The options that change a model's meaning are saved in its file.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "rank/dataset.h"
#include "rank/feature_map.h"
#include "rank/quantized_table.h"

namespace freshet::model {
class ModelWriter;
class ModelReader;
}  // namespace freshet::model

namespace freshet::rank {

// Options of every model kind; each kind reads the fields it needs. The defaults are the
// recommended settings (CtrDefaults gives the per-kind ones), not tuned to any dataset.
struct CtrOptions {
  // Feature admission: an id gets its own row once seen this many times in the training set.
  uint32_t min_count = 2;

  // Training.
  int epochs = 0;  // most epochs; 0 = the kind's default
  // Stop after this many epochs without a better validation logloss; the best epoch's weights are
  // kept. Needs a validation set.
  int patience = 2;
  int batch_size = 256;  // samples per step (neural models); FTRL learns per sample
  uint64_t seed = 42;    // initialisation and the per-epoch shuffles

  // FTRL-proximal (McMahan et al. 2013): per-coordinate rate alpha / (beta + sqrt(n)).
  float ftrl_alpha = 0.05f;
  float ftrl_beta = 1.0f;
  float ftrl_l1 = 1.0f;  // sparsity: weights with |z| <= l1 are exactly zero
  float ftrl_l2 = 1.0f;

  // FM, DeepFM, DCN-v2.
  int embed_dim = 16;           // width of each field's embedding
  float learning_rate = 1e-3f;  // Adam for dense weights, lazy Adam for embedding rows
  float embed_l2 = 0.0f;        // decoupled weight decay of embedding rows when updated
  std::vector<int> mlp = {};    // hidden widths of the MLP (DeepFM, DCN-v2); ReLU between
  int cross_layers = 0;         // DCN-v2: full-rank cross layers before the MLP
  // DeepFM, DCN-v2 (`--param mlp_precision=bf16|float`): the MLP's products in bf16 with float
  // sums where the CPU has AVX512-BF16 (a DeepFM epoch ~1.6x faster, the same AUC:
  // docs/benchmarks.md), in float elsewhere and with mlp_precision=float. How the model computes,
  // not what it means: not saved in the model file.
  bool mlp_bf16 = true;
};

// Sets one option from its text form, as `--param KEY=VALUE` and model files write them (mlp
// widths separated by ':' or ','). NotFound for an unknown key, InvalidArgument naming the key
// for a value that does not parse whole.
Status SetCtrOption(std::string_view key, std::string_view value, CtrOptions* o);

// The kinds, in the order the CLI lists them: "ftrl", "fm", "deepfm", "dcnv2".
std::vector<std::string_view> CtrModelKinds();
// The recommended options of `kind`. InvalidArgument for an unknown kind.
Result<CtrOptions> CtrDefaults(std::string_view kind);

struct EpochReport {
  int epoch = 0;             // 1-based
  double train_loss = 0;     // mean logloss over the epoch's samples, as trained
  double valid_auc = 0;      // NaN without a validation set
  double valid_logloss = 0;  // NaN without a validation set
  double seconds = 0;        // training only, validation excluded
  bool best = false;         // the best validation logloss so far (kept)
};

struct StepProgress {
  int epoch = 0;
  uint64_t samples_done = 0;   // in this epoch
  uint64_t samples_total = 0;  // of this epoch
  double mean_loss = 0;        // over the epoch so far
};

struct FitOptions {
  int threads = 0;  // workers counting the caller; 0 = one per hardware thread
  // Called on the calling thread; on_step after every step (cheap callers throttle themselves).
  std::function<void(const StepProgress&)> on_step;
  std::function<void(const EpochReport&)> on_epoch;
};

struct FitReport {
  std::vector<EpochReport> epochs;
  int best_epoch = 0;  // whose weights the model holds (the last one without validation)
  size_t admitted_features = 0;
  uint32_t rows = 0;  // feature rows, rare rows included
};

class CtrModel {
 public:
  virtual ~CtrModel() = default;
  CtrModel(const CtrModel&) = delete;
  CtrModel& operator=(const CtrModel&) = delete;

  virtual std::string_view kind() const = 0;
  const CtrOptions& options() const { return options_; }
  // The format the model was trained on; set by Fit and Load.
  CtrFormat format() const { return format_; }
  bool trained() const { return trained_; }
  int num_fields() const { return fields_; }  // feature ids per sample; set by Fit and Load

  // Trains from scratch on `train` (admission counting, then epochs); with `valid` (may be null)
  // validation AUC / logloss after each epoch, early stopping on its logloss and the best epoch's
  // weights kept. InvalidArgument for an empty training set, a validation set of another format or
  // options out of range; FailedPrecondition naming the precision for a quantized model. Not
  // thread-safe with any other call on the model.
  Result<FitReport> Fit(const CtrDataset& train, const CtrDataset* valid, const FitOptions& fit);

  // Click probabilities of every sample. REQUIRES: trained(); data.format == format();
  // out.size() == data.size(). Const: may run concurrently with other Predict calls.
  void Predict(const CtrDataset& data, std::span<float> out, int threads = 1) const;

  // Writes the model file atomically. IOError naming the path.
  Status Save(const std::string& path) const;
  // Reads a model file written by Save. NotFound; Corruption naming the path for a damaged file,
  // one of another kind (e.g. a retrieval model) or inconsistent contents.
  static Result<std::unique_ptr<CtrModel>> Load(const std::string& path);

  // Samples encoded as [size, fields] rows of the feature map, as training and Predict use them.
  std::vector<uint32_t> Encode(const CtrDataset& data) const;

  // --- Shop ranking (shop_ranker.h): models over a feature spec, online steps, explanations. ---

  // Save with extra entries written by `extra` (a shop model's spec, target and windows). A file
  // with a "shop.target" entry is a shop model: Load(path) refuses it, LoadFrom reads it.
  Status SaveWith(const std::string& path,
                  const std::function<void(model::ModelWriter&)>& extra) const;
  // What a copy is for. kLearning: the tables ready to learn (the optimizer moments of the neural
  // kinds restart). kServing: the embedding and linear rows of FM / DeepFM / DCN-v2 bare, without
  // lazy Adam's two moments per value (two thirds of a float table's memory), for a copy that
  // only predicts, explains, saves and clones (its kLearning clone learns; LearnEncoded,
  // ObserveOnline and ExpireOnline refuse or skip it). FTRL's copy is the same either way.
  enum class CopyFor { kLearning, kServing };
  // Reads a CTR or shop model from an open model file, ready to learn or (kServing) as a serving
  // copy. Errors as Load.
  static Result<std::unique_ptr<CtrModel>> LoadFrom(const model::ModelReader& r,
                                                    CopyFor use = CopyFor::kLearning);
  // The feature-map row of one id (its own, or its field's rare row). REQUIRES: trained().
  uint32_t RowOf(uint64_t id) const { return map_->Lookup(id); }
  // Probabilities of n samples given as rows ([n, fields]). Const; thread-safe with itself.
  void PredictEncoded(const uint32_t* rows, size_t n, std::span<float> probabilities) const;
  // One online step over n encoded samples (FTRL: a step per sample; the others: one batch).
  // Returns the summed logloss before the step; FailedPrecondition naming the precision for a
  // quantized model (nothing changes). Not thread-safe with any call on the model.
  Result<double> LearnEncoded(const uint32_t* rows, std::span<const float> labels);
  // Online admission and age expiry (the shop ranker's online learner; docs/models.md): counts
  // one sighting of each id at `step` (FeatureMap::Observe, the model's own min_count) and writes
  // each id's row to `rows`. An id seen min_count times gets a row of its own: grown, or one freed
  // by ExpireOnline, starting as a copy of its field's rare row (what it was scored with until
  // then, so its predictions do not jump) with fresh optimizer state. Returns how many ids got a
  // row. REQUIRES: trained(); can_learn(). Not thread-safe with any call on the model.
  Result<size_t> ObserveOnline(std::span<const uint64_t> ids, uint64_t step,
                               std::span<uint32_t> rows);
  // Frees the rows of ids last seen more than `max_age` steps before `now` (ids not observed
  // since the model was loaded count from the first call): they score with their field's rare
  // row again, and the rows go to the next admitted ids. Returns how many. Not thread-safe.
  size_t ExpireOnline(uint64_t now, uint64_t max_age);
  // Feature rows, rare rows included (the size of the tables). REQUIRES: trained().
  uint32_t feature_rows() const { return map_->rows(); }

  // An independent copy with the same weights; a quantized model's copy keeps the quantized rows.
  Result<std::unique_ptr<CtrModel>> Clone(CopyFor use = CopyFor::kLearning) const;
  // A kServing copy (Clone).
  bool serving_copy() const { return serving_copy_; }
  // Whether LearnEncoded and ObserveOnline update this object: can_learn() and not a serving copy.
  bool learns_in_place() const { return can_learn() && !serving_copy_; }
  // Per-field contributions to the logit of one sample (`fields()` rows): FTRL its weights; FM /
  // DeepFM linear weight + half the pairwise terms with the other fields. *bias gets the bias.
  // InvalidArgument for kinds without a linear part (DCN-v2). Const; thread-safe.
  virtual Status ExplainRows(const uint32_t* rows, std::span<float> contributions,
                             float* bias) const;

  // --- Quantized embedding tables for serving (quantized_table.h; docs/models.md). ---

  // How the feature embedding rows are stored: kFloat, or fp16 / int8 after QuantizeEmbeddings
  // or when loaded from a quantized file. A quantized model predicts, explains, clones and saves
  // (quantized), but cannot learn: Fit and LearnEncoded refuse it.
  EmbedPrecision embed_precision() const { return precision_; }
  bool can_learn() const { return precision_ == EmbedPrecision::kFloat; }
  // Replaces the float embedding table by `precision` rows (the linear weights and dense layers
  // stay float) and frees the float table and its optimizer state. FailedPrecondition when not
  // trained or already quantized; InvalidArgument for kFloat, for a non-finite weight, and for
  // kinds without an embedding table (FTRL: one weight per feature). Not thread-safe with any
  // call on the model.
  Status QuantizeEmbeddings(EmbedPrecision precision);
  struct TableBytes {
    size_t values = 0;     // the rows (and int8 scales)
    size_t optimizer = 0;  // float tables: lazy Adam's moments and step counts, kept for learning
  };
  // Memory of the feature embedding table; zeros for kinds without one (FTRL). Const.
  virtual TableBytes EmbeddingBytes() const { return {}; }

 protected:
  explicit CtrModel(const CtrOptions& options) : options_(options) {}

  // Builds the parameters for `rows` feature rows of `fields` fields. Called by Fit (fresh
  // parameters) and Load (then overwritten).
  virtual Status Init(int fields, uint32_t rows) = 0;
  // One epoch over train_rows in `order`; returns the mean training loss.
  virtual double TrainEpoch(const uint32_t* rows, std::span<const float> labels,
                            std::span<const uint32_t> order, int epoch, int threads,
                            const FitOptions& fit) = 0;
  // Logits of `n` encoded samples.
  virtual void PredictRows(const uint32_t* rows, size_t n, std::span<float> logits,
                           int threads) const = 0;
  virtual void Snapshot() = 0;  // remember the current weights
  virtual void Restore() = 0;   // go back to the last Snapshot
  // Parameter entries of the model file (names are the kind's own).
  virtual void SaveParams(model::ModelWriter& w) const = 0;
  // Corruption naming the entry when one is missing or of the wrong size.
  virtual Status LoadParams(const model::ModelReader& r) = 0;
  // ObserveOnline: grow the tables to `rows` rows (the new ones as Init makes them), and make row
  // `row` a copy of row `from` with fresh optimizer state.
  virtual Status GrowRows(uint32_t rows) = 0;
  virtual void ResetRow(uint32_t row, uint32_t from) = 0;
  // Converts the embedding table (QuantizeEmbeddings has checked the state and precision).
  // The default: InvalidArgument, no embedding table.
  virtual Status Quantize(EmbedPrecision precision);

  int fields() const { return fields_; }
  // Every entry of the model file (kind, format, options, feature map, parameters).
  void WriteEntries(model::ModelWriter& w) const;

  CtrOptions options_;

 private:
  CtrFormat format_ = CtrFormat::kCriteo;
  int fields_ = 0;
  bool trained_ = false;
  // Set before Init (by LoadFrom) so that a quantized model never builds its float table.
  EmbedPrecision precision_ = EmbedPrecision::kFloat;
  // Likewise, so that a serving copy builds bare rows (Clone(CopyFor::kServing)).
  bool serving_copy_ = false;
  std::unique_ptr<FeatureMap> map_;
  uint32_t table_rows_ = 0;  // rows the parameters were built or grown for
};

// `freshet quantize`: reads the CTR or shop model file `in` (FM, DeepFM, DCN-v2), converts its
// feature embedding table to `precision` and writes `out` atomically with every other entry of
// `in` copied unchanged (a shop model's spec, target, windows and store fingerprint included).
// `in` and `out` may be the same path. Errors name the file: NotFound for a missing `in`;
// InvalidArgument for a file that is not a CTR / shop model, an FTRL model, or kFloat;
// FailedPrecondition for a file already quantized; Corruption as CtrModel::Load; IOError when
// writing fails.
struct QuantizeReport {
  std::string kind;         // "fm", "deepfm", "dcnv2"
  bool shop = false;        // a shop ranking model (click / cart / buy)
  uint32_t rows = 0;        // embedding rows
  int dim = 0;              // embedding width
  CtrModel::TableBytes float_bytes;  // the float model's table in memory
  size_t quantized_bytes = 0;        // the quantized rows (and scales) in memory
  uint64_t in_file_bytes = 0, out_file_bytes = 0;
  double max_abs_error = 0, mean_abs_error = 0;  // per element, dequantized vs float
  double max_row_error = 0;  // largest element error of a row over its max |value| (0 for 0 rows)
};
Result<QuantizeReport> QuantizeModelFile(const std::string& in, const std::string& out,
                                         EmbedPrecision precision);

// A model of `kind` ("ftrl", "fm", "deepfm", "dcnv2") with `options` (start from CtrDefaults).
// InvalidArgument for an unknown kind or options out of range, naming the option.
Result<std::unique_ptr<CtrModel>> CreateCtrModel(std::string_view kind, const CtrOptions& options);

}  // namespace freshet::rank
