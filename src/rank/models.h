#pragma once

// The CTR model kinds behind CtrModel (ctr_model.h). Exposed for tests and for the online learner
// to come; callers normally use CreateCtrModel / CtrModel::Load.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "nn/embedding_table.h"
#include "nn/ops.h"
#include "nn/optimizer.h"
#include "nn/tensor.h"
#include "rank/ctr_model.h"
#include "rank/layers.h"

namespace freshet::rank {

// FTRL-proximal logistic regression (McMahan et al., "Ad Click Prediction: a View from the
// Trenches", KDD 2013, Algorithm 1). One coordinate per feature row plus a bias coordinate; each
// keeps z and n, and its weight is computed when read:
//   w = 0                                                  if |z| <= l1
//   w = -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha + l2)  otherwise.
// A step on a sample with gradient g = p - y of each active coordinate (x = 1):
//   sigma = (sqrt(n + g^2) - sqrt(n)) / alpha;  z += g - sigma w;  n += g^2.
// Threads learn Hogwild: z and n are read and written through std::atomic_ref relaxed.
class FtrlModel final : public CtrModel {
 public:
  explicit FtrlModel(const CtrOptions& options) : CtrModel(options) {}
  std::string_view kind() const override { return "ftrl"; }

  // Fresh coordinates (z = n = 0) for `rows` feature rows of `fields` fields. REQUIRES: fields <=
  // kMaxFields.
  Status Init(int fields, uint32_t rows) override;
  // One FTRL step on one sample (`fields()` rows); returns the probability before the step.
  // Hogwild-safe: may run concurrently with other Learn calls.
  float Learn(const uint32_t* rows, float label);
  // The current weight of a coordinate: a feature row, or bias_coordinate().
  float Weight(uint32_t coordinate) const;
  uint32_t bias_coordinate() const { return rows_; }
  // Each row's weight (x = 1). Never fails.
  Status ExplainRows(const uint32_t* rows, std::span<float> contributions,
                     float* bias) const override;

 protected:
  double TrainEpoch(const uint32_t* rows, std::span<const float> labels,
                    std::span<const uint32_t> order, int epoch, int threads,
                    const FitOptions& fit) override;
  void PredictRows(const uint32_t* rows, size_t n, std::span<float> logits,
                   int threads) const override;
  void Snapshot() override;
  void Restore() override;
  void SaveParams(model::ModelWriter& w) const override;
  Status LoadParams(const model::ModelReader& r) override;
  Status GrowRows(uint32_t rows) override;
  // The copy has the weight of `from` with n = 0 (z solved for it): the same prediction, and the
  // new id's own per-coordinate rate starts fast.
  void ResetRow(uint32_t row, uint32_t from) override;

 private:
  float WeightOf(float z, float n) const;

  int num_fields_ = 0;
  uint32_t rows_ = 0;
  std::vector<float> z_;  // rows_ + 1 coordinates, the bias last
  std::vector<float> n_;
  std::vector<float> saved_z_, saved_n_;
};

// FM, DeepFM and DCN-v2 share one network over the field embeddings x0 = [e_1 .. e_F]:
//   logit = bias + [sum_f w_f] + [FM(x0)] + [MLP(Cross^L(x0))]
// FM (Rendle 2010): linear + FM. DeepFM (Guo et al. 2017): linear + FM + MLP over x0, the
// embeddings shared by both parts. DCN-v2 (Wang et al. 2021), stacked: L full-rank cross layers
// then the MLP. The MLP is Linear + ReLU per hidden width and a final Linear to one logit.
// Embedding rows (and the per-row linear weights) live in nn::EmbeddingTables trained with lazy
// Adam, Hogwild across threads; dense weights train data-parallel with Adam (one step per batch).
class FieldNetModel final : public CtrModel {
 public:
  // `kind` is "fm", "deepfm" or "dcnv2": it decides which parts exist.
  FieldNetModel(std::string_view kind, const CtrOptions& options);
  ~FieldNetModel() override;
  std::string_view kind() const override { return kind_; }

  Status Init(int fields, uint32_t rows) override;
  // FM / DeepFM: linear weight + half of each pairwise FM term with the other fields; the MLP is
  // not attributed. DCN-v2: InvalidArgument. (Shop ranking, appended block of fieldnet.cc.)
  Status ExplainRows(const uint32_t* rows, std::span<float> contributions,
                     float* bias) const override;

  // Quantized serving storage (CtrModel::QuantizeEmbeddings): the rows, or null for a float
  // model. Exactly one of this and the float table exists.
  const QuantizedTable* quantized_embed() const { return qembed_.get(); }
  TableBytes EmbeddingBytes() const override;
  // The embedding table's entries: `net.embed` (f32), or `net.embed.f16`, or `net.embed.q8` and
  // `net.embed.scale` (docs/formats.md). For SaveParams and QuantizeModelFile.
  void SaveEmbedding(model::ModelWriter& w) const;

 protected:
  double TrainEpoch(const uint32_t* rows, std::span<const float> labels,
                    std::span<const uint32_t> order, int epoch, int threads,
                    const FitOptions& fit) override;
  void PredictRows(const uint32_t* rows, size_t n, std::span<float> logits,
                   int threads) const override;
  void Snapshot() override;
  void Restore() override;
  void SaveParams(model::ModelWriter& w) const override;
  Status LoadParams(const model::ModelReader& r) override;
  Status Quantize(EmbedPrecision precision) override;
  Status GrowRows(uint32_t rows) override;
  void ResetRow(uint32_t row, uint32_t from) override;

 private:
  struct Workspace;
  // Forward's gather of the samples' embedding rows into x0 and linear weights into the logits,
  // with the row storage's read and prefetch as template parameters (chosen once per call).
  template <typename ReadRow, typename PrefetchRow>
  void Gather(size_t m, Workspace& ws, ReadRow read_row, PrefetchRow prefetch_row) const;
  // One embedding row as floats, from whichever storage the model has.
  void ReadEmbedRow(uint32_t row, std::span<float> out) const;
  // LoadParams of a quantized model's rows: Corruption naming the entry.
  Status LoadQuantized(const model::ModelReader& r);
  // Logits of m samples whose rows are ws.rows[0 .. m * fields).
  void Forward(size_t m, Workspace& ws) const;
  // Gradients of the mean loss over `batch` samples; returns the summed loss of these m.
  double Backward(size_t m, const float* labels, float scale, Workspace& ws,
                  nn::GradSink<float>& sink) const;

  std::string_view kind_;
  bool linear_fm_ = false;  // FM, DeepFM
  bool deep_ = false;       // DeepFM, DCN-v2
  int dim_ = 0;             // fields * embed_dim
  uint32_t rows_ = 0;       // feature rows (Init)
  std::unique_ptr<nn::EmbeddingTable> embed_;  // null when quantized
  std::unique_ptr<QuantizedTable> qembed_;     // null unless quantized
  std::unique_ptr<nn::EmbeddingTable> linear_;
  std::unique_ptr<nn::ParamSet<float>> params_;
  nn::Param<float>* bias_ = nullptr;
  std::vector<CrossLayer<float>> cross_;
  std::vector<nn::Linear<float>> mlp_;
  std::unique_ptr<nn::Linear<float>> out_;
  std::unique_ptr<nn::Adam<float>> adam_;
  std::vector<float> saved_embed_, saved_linear_;
  std::vector<nn::Matrix<float>> saved_params_;
};

}  // namespace freshet::rank
