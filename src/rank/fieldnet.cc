#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <optional>

#include "model/model_file.h"
#include "nn/bf16_gemm.h"
#include "nn/bf16_kernels.h"
#include "nn/data_parallel.h"
#include "nn/thread_pool.h"
#include "rank/models.h"

namespace freshet::rank {
namespace {

constexpr size_t kPredictChunk = 512;
constexpr size_t kBf16MinRows = 16;

using MatrixF = nn::Matrix<float>;

// log(1 + exp(x)) - y x: the logistic loss of logit x, stable for large |x|.
double LogisticLoss(double x, double y) {
  return (x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x))) - y * x;
}

// Whether the MLP's products run in bf16 with float sums (nn/bf16_gemm.h): asked for, the CPU
// has AVX512-BF16, and every width is even (the layouts pair values along each shared dimension).
bool MlpInBf16(const CtrOptions& o, const std::vector<nn::Linear<float>>& mlp) {
  if (!o.mlp_bf16 || mlp.empty() || !nn::bf16::Supported()) return false;
  return std::all_of(mlp.begin(), mlp.end(),
                     [](const auto& l) { return l.in() % 2 == 0 && l.out() % 2 == 0; });
}

// One (sample, field) entry of a training batch: the row it uses and where its gradient is.
struct RowEntry {
  uint32_t row;
  uint32_t at;  // TrainEpoch: worker << entry_shift | the entry's index in that worker's piece
};

// The group of `groups` whose rows TrainEpoch applies together (one worker a group at a time).
// Rows go in blocks of 16 (a cache line of a table's step counts, four of a dim-1 Adam table's
// rows: no line is written by two workers, which would pass it back and forth between their
// caches), blocks spread by a multiplicative hash (Knuth's) so that runs of hot rows do not land
// in one group.
inline uint32_t GroupOf(uint32_t row, uint32_t groups) {
  const uint32_t block = (row >> 4) * 2654435761u;
  return static_cast<uint32_t>((static_cast<uint64_t>(block) * groups) >> 32);
}

// Row groups per worker: enough that a worker slowed down (preempted, or on a busier CPU) leaves
// its share to the others, few enough that each group's sort stays cheap.
constexpr int kRowGroupsPerWorker = 4;

// Concatenates `lists` into `out`, sorted by row and stable (entries of one row keep their order):
// a least-significant-digit radix sort, 8 bits a pass, as many passes as `rows` (the largest row
// + 1) needs. The rows then come in table order, each row's entries together. `scratch` and
// `buckets` are reused buffers.
void SortByRow(std::span<const std::span<const RowEntry>> lists, uint32_t rows,
               std::vector<RowEntry>& out, std::vector<RowEntry>& scratch,
               std::vector<uint32_t>& buckets) {
  constexpr int kBits = 8;
  constexpr uint32_t kBuckets = 1u << kBits;
  size_t n = 0;
  for (const auto& list : lists) n += list.size();
  out.resize(n);
  scratch.resize(n);
  buckets.resize(kBuckets);
  const int bits = std::max(1, static_cast<int>(std::bit_width(rows > 0 ? rows - 1 : 0u)));
  const int passes = (bits + kBits - 1) / kBits;
  // Pass p reads the lists (p = 0) or the previous pass's output and writes the other buffer;
  // with an odd number of passes the last one lands in `out`.
  std::vector<RowEntry>* to = passes % 2 == 1 ? &out : &scratch;
  std::vector<RowEntry>* from = nullptr;
  for (int p = 0; p < passes; ++p) {
    const int shift = p * kBits;
    std::fill(buckets.begin(), buckets.end(), 0u);
    const auto digit = [&](const RowEntry& e) { return (e.row >> shift) & (kBuckets - 1); };
    if (p == 0) {
      for (const auto& list : lists) {
        for (const RowEntry& e : list) ++buckets[digit(e)];
      }
    } else {
      for (const RowEntry& e : *from) ++buckets[digit(e)];
    }
    uint32_t sum = 0;
    for (uint32_t& b : buckets) {
      const uint32_t c = b;
      b = sum;
      sum += c;
    }
    RowEntry* dst = to->data();
    if (p == 0) {
      for (const auto& list : lists) {
        for (const RowEntry& e : list) dst[buckets[digit(e)]++] = e;
      }
    } else {
      for (const RowEntry& e : *from) dst[buckets[digit(e)]++] = e;
    }
    from = to;
    to = to == &out ? &scratch : &out;
  }
}

// The MLP's weights in the bf16 layouts of nn/bf16_gemm.h, packed once per step (Adam changes
// them every step) and then only read, by every worker: W as pairs over its input rows for the
// forward product, and as pairs of its transpose for the input gradient.
struct PackedMlp {
  std::vector<std::vector<uint16_t>> w;   // layer l: [in / 2][Pad16(out)][2]
  std::vector<std::vector<uint16_t>> wt;  // layer l: [out / 2][Pad16(in)][2] (training only)

  PackedMlp(const std::vector<nn::Linear<float>>& mlp, bool training) {
    for (const auto& layer : mlp) {
      w.emplace_back(nn::bf16::PairsSize(layer.in(), nn::bf16::Pad16(layer.out())));
      if (training) wt.emplace_back(nn::bf16::PairsSize(layer.out(), nn::bf16::Pad16(layer.in())));
    }
  }
  // Rows [r0, r1) of layer l's weights into both layouts, for the worker that just updated them
  // (training). REQUIRES: r0 even.
  void PackRows(const std::vector<nn::Linear<float>>& mlp, size_t l, int r0, int r1) {
    const MatrixF& v = mlp[l].weight().value;
    const int cols = static_cast<int>(v.cols());
    const int ld = nn::bf16::Pad16(cols);
    nn::bf16::PackPairs(v.data() + static_cast<size_t>(r0) * cols, cols, r1 - r0, cols, ld,
                        w[l].data() + static_cast<size_t>(r0 / 2) * ld * 2);
    nn::bf16::PackPairsTransposedRows(v.data(), cols, r0, r1, cols,
                                      nn::bf16::Pad16(static_cast<int>(v.rows())), wt[l].data());
  }
  // Packing job j of jobs() (one matrix), so that a pool can share them out.
  size_t jobs() const { return w.size() + wt.size(); }
  void Pack(const std::vector<nn::Linear<float>>& mlp, size_t j) {
    if (j < w.size()) {
      const MatrixF& v = mlp[j].weight().value;
      nn::bf16::PackPairs(v.data(), v.cols(), static_cast<int>(v.rows()),
                          static_cast<int>(v.cols()), nn::bf16::Pad16(static_cast<int>(v.cols())),
                          w[j].data());
    } else {
      j -= w.size();
      const MatrixF& v = mlp[j].weight().value;
      nn::bf16::PackPairsTransposed(v.data(), v.cols(), static_cast<int>(v.rows()),
                                    static_cast<int>(v.cols()),
                                    nn::bf16::Pad16(static_cast<int>(v.rows())), wt[j].data());
    }
  }
};

}  // namespace

// Everything one worker's Forward / Backward touch, sized once for `max_rows` samples.
struct FieldNetModel::Workspace {
  Workspace(const FieldNetModel& m, size_t max_rows)
      : rows(max_rows * static_cast<size_t>(m.fields())),
        x0(static_cast<Eigen::Index>(max_rows), m.dim_),
        logit(static_cast<Eigen::Index>(max_rows), 1),
        term(static_cast<Eigen::Index>(max_rows), 1),
        dlogit(static_cast<Eigen::Index>(max_rows), 1),
        dx0(static_cast<Eigen::Index>(max_rows), m.dim_),
        dh(static_cast<Eigen::Index>(max_rows), m.dim_),
        dh2(static_cast<Eigen::Index>(max_rows), m.dim_),
        labels(max_rows) {
    const auto r = static_cast<Eigen::Index>(max_rows);
    for (size_t l = 0; l < m.cross_.size(); ++l) {
      h.emplace_back(r, m.dim_);
      cross.emplace_back(m.dim_, static_cast<int>(max_rows));
    }
    for (const auto& layer : m.mlp_) {
      z.emplace_back(r, layer.out());
      da.emplace_back(r, layer.out());
      if (MlpInBf16(m.options_, m.mlp_)) {
        const int in = layer.in(), out = layer.out();
        in_rows.emplace_back(nn::bf16::RowsSize(static_cast<int>(max_rows), in));
        in_pairs.emplace_back(nn::bf16::PairsSize(static_cast<int>(max_rows), nn::bf16::Pad16(in)));
        d_rows.emplace_back(nn::bf16::RowsSize(static_cast<int>(max_rows), out));
        d_pairs.emplace_back(nn::bf16::PairsSize(static_cast<int>(max_rows), nn::bf16::Pad16(out)));
      }
    }
  }
  std::vector<uint32_t> rows;  // [m, fields] feature rows of the samples
  MatrixF x0;                  // [m, fields * embed_dim]
  std::vector<MatrixF> h;      // cross layer outputs
  std::vector<CrossLayer<float>::Workspace> cross;
  std::vector<MatrixF> z;  // MLP activations (ReLU applied in place)
  MatrixF logit, term, dlogit;
  MatrixF dx0, dh, dh2;
  std::vector<MatrixF> da;
  std::vector<float> labels;
  // TrainEpoch. Backward leaves each (sample, field) entry's row gradient where it is: the
  // embedding's in dx0 (entry e = i * fields + j at dx0.data() + e * embed_dim), the linear
  // weight's in d_linear[e]; and deals the entries out to the row groups (GroupOf):
  // by_group[g][0 .. in_group[g]) are, in order, the entries whose row has GroupOf(row) == g.
  int groups = 1;
  uint32_t entry_base = 0;  // RowEntry::at of entry 0: worker << entry_shift
  std::vector<std::vector<RowEntry>> by_group;
  std::vector<size_t> in_group;
  std::vector<float> d_linear;
  // The entries of the group this worker applies, sorted by row (SortByRow), and scratch.
  std::vector<RowEntry> sorted, sort_scratch;
  std::vector<uint32_t> sort_counts;
  std::vector<uint32_t> row_ids;  // the rows of `sorted`, once each
  std::vector<float> row_sums;    // their summed gradients: embedding (embed_dim), then linear
  // The bf16 MLP (MlpInBf16): the weights packed for this step, shared, or null for the float
  // path; and per layer its input and output gradient in the layouts the products read.
  const PackedMlp* packed = nullptr;
  // TrainEpoch: the tables are read only in its forward phase, between barriers, so the gather
  // reads them without atomics (EmbeddingTable::ReadRowUnshared).
  bool unshared = false;
  // With the bf16 MLP, Backward packs each layer's input and output gradient (in_pairs, d_pairs)
  // but leaves the weight gradient to TrainEpoch's dense phase, where each worker computes its own
  // rows of it from every worker's pairs, into dw, and steps them at once.
  std::vector<float> dw;
  std::vector<std::vector<uint16_t>> in_rows, in_pairs, d_rows, d_pairs;
};

FieldNetModel::FieldNetModel(std::string_view kind, const CtrOptions& options) : CtrModel(options) {
  if (kind == "fm") {
    kind_ = "fm";
    linear_fm_ = true;
  } else if (kind == "deepfm") {
    kind_ = "deepfm";
    linear_fm_ = deep_ = true;
  } else {
    kind_ = "dcnv2";
    deep_ = true;
  }
}

FieldNetModel::~FieldNetModel() = default;

Status FieldNetModel::Init(int fields, uint32_t rows) {
  const CtrOptions& o = options_;
  dim_ = fields * o.embed_dim;
  rows_ = rows;
  nn::EmbeddingTableOptions eo;
  eo.dim = o.embed_dim;
  // A serving copy keeps bare rows (no moments): it never steps them.
  eo.optimizer = serving_copy() ? nn::SparseOptimizer::kSgd : nn::SparseOptimizer::kAdam;
  eo.learning_rate = o.learning_rate;
  eo.weight_decay = o.embed_l2;
  eo.init_stddev = 0.01f;
  eo.seed = o.seed;
  // A quantized model (LoadFrom sets the precision first) reads its rows in LoadParams and never
  // holds the float table.
  qembed_.reset();
  embed_.reset();
  if (embed_precision() == EmbedPrecision::kFloat) {
    FRESHET_ASSIGN_OR_RETURN(embed_, nn::EmbeddingTable::Create(eo, rows));
  }
  if (linear_fm_) {
    eo.dim = 1;
    eo.init_stddev = 0.0f;
    eo.weight_decay = 0.0f;
    FRESHET_ASSIGN_OR_RETURN(linear_, nn::EmbeddingTable::Create(eo, rows));
  }
  // Layers point into the parameter set: drop them before it.
  adam_.reset();
  cross_.clear();
  mlp_.clear();
  out_.reset();
  params_ = std::make_unique<nn::ParamSet<float>>();
  nn::ParamSet<float>& params = *params_;
  nn::Rng rng(o.seed, 7);
  bias_ = &params.Add("bias", 1, 1, /*decay=*/false);
  if (deep_) {
    cross_.reserve(static_cast<size_t>(o.cross_layers));
    for (int l = 0; l < o.cross_layers; ++l) {
      cross_.emplace_back(params, "cross." + std::to_string(l), dim_, rng);
    }
    int in = dim_;
    mlp_.reserve(o.mlp.size());
    for (size_t l = 0; l < o.mlp.size(); ++l) {
      mlp_.emplace_back(params, "mlp." + std::to_string(l), in, o.mlp[l], rng);
      in = o.mlp[l];
    }
    out_ = std::make_unique<nn::Linear<float>>(params, "out", in, 1, rng);
  }
  nn::AdamOptions ao;
  ao.learning_rate = o.learning_rate;
  adam_ = std::make_unique<nn::Adam<float>>(params, ao);
  return Status::OK();
}

template <typename ReadRow, typename PrefetchRow>
void FieldNetModel::Gather(size_t m, Workspace& ws, ReadRow read_row,
                           PrefetchRow prefetch_row) const {
  const int f = fields();
  const int k = options_.embed_dim;
  auto x0 = ws.x0.topRows(static_cast<Eigen::Index>(m));
  // Rows are scattered over tables far larger than the cache: fetch a few samples ahead.
  constexpr size_t kAhead = 2;
  for (size_t i = 0; i < m; ++i) {
    if (i + kAhead < m) {
      for (int j = 0; j < f; ++j) {
        const uint32_t r = ws.rows[(i + kAhead) * f + j];
        prefetch_row(r);
        if (linear_fm_) linear_->Prefetch(r);
      }
    }
    float* xi = x0.row(static_cast<Eigen::Index>(i)).data();
    float lin = 0;
    for (int j = 0; j < f; ++j) {
      const uint32_t r = ws.rows[i * f + j];
      read_row(r, xi + static_cast<size_t>(j) * k);
      if (linear_fm_) {
        float w;
        if (ws.unshared) {
          linear_->ReadRowUnshared(r, {&w, 1});
        } else {
          linear_->ReadRow(r, {&w, 1});
        }
        lin += w;
      }
    }
    ws.logit(static_cast<Eigen::Index>(i), 0) += lin;
  }
}

void FieldNetModel::Forward(size_t m, Workspace& ws) const {
  const int f = fields();
  const int k = options_.embed_dim;
  const auto rows = static_cast<Eigen::Index>(m);
  auto x0 = ws.x0.topRows(rows);
  auto logit = ws.logit.topRows(rows);
  logit.setConstant(bias_->value(0, 0));
  // The row storage is chosen here, once per call; the quantized rows are dequantized as they are
  // gathered, so everything after the gather is the float model's computation.
  if (qembed_ == nullptr && ws.unshared) {
    Gather(
        m, ws,
        [&](uint32_t r, float* out) {
          embed_->ReadRowUnshared(r, {out, static_cast<size_t>(k)});
        },
        [&](uint32_t r) { embed_->Prefetch(r); });
  } else if (qembed_ == nullptr) {
    Gather(
        m, ws,
        [&](uint32_t r, float* out) { embed_->ReadRow(r, {out, static_cast<size_t>(k)}); },
        [&](uint32_t r) { embed_->Prefetch(r); });
  } else if (qembed_->precision() == EmbedPrecision::kF16) {
    Gather(
        m, ws, [&](uint32_t r, float* out) { qembed_->ReadHalfRow(r, out); },
        [&](uint32_t r) { qembed_->Prefetch(r); });
  } else {
    Gather(
        m, ws, [&](uint32_t r, float* out) { qembed_->ReadInt8Row(r, out); },
        [&](uint32_t r) { qembed_->Prefetch(r); });
  }
  if (linear_fm_) {
    auto term = ws.term.topRows(rows);
    FmInteraction<float>::Forward(x0, f, k, term);
    logit += term;
  }
  if (!deep_) return;
  // Cross layers: h[l] = cross_l(x0, h[l - 1]), h[-1] = x0.
  for (size_t l = 0; l < cross_.size(); ++l) {
    auto in = l == 0 ? ws.x0.topRows(rows) : ws.h[l - 1].topRows(rows);
    cross_[l].Forward(x0, in, ws.h[l].topRows(rows), ws.cross[l]);
  }
  for (size_t l = 0; l < mlp_.size(); ++l) {
    auto in = l > 0 ? ws.z[l - 1].topRows(rows)
                    : (cross_.empty() ? ws.x0.topRows(rows) : ws.h.back().topRows(rows));
    auto z = ws.z[l].topRows(rows);
    // The activation overwrites z; Backward recovers ReLU's mask from the output (a > 0 iff
    // z > 0), so the pre-activation need not be kept.
    if (ws.packed != nullptr) {
      // bf16 products with float sums; bias and ReLU in the product's epilogue.
      const int n_in = mlp_[l].in(), n_out = mlp_[l].out();
      nn::bf16::PackRowsPadded(in.data(), in.outerStride(), static_cast<int>(m), n_in, n_in,
                               ws.in_rows[l].data());
      nn::bf16::Epilogue e;
      e.bias = mlp_[l].bias().value.data();
      e.relu = true;
      nn::bf16::Gemm(ws.in_rows[l].data(), n_in, static_cast<int>(m), n_in, ws.packed->w[l].data(),
                     nn::bf16::Pad16(n_out), n_out, e, z.data(), z.outerStride());
    } else {
      mlp_[l].Forward(in, z);
      nn::ActivationForward<float>(nn::Activation::kRelu, z, z);
    }
  }
  auto last = !mlp_.empty() ? ws.z.back().topRows(rows)
                            : (cross_.empty() ? ws.x0.topRows(rows) : ws.h.back().topRows(rows));
  auto term = ws.term.topRows(rows);
  out_->Forward(last, term);
  logit += term;
}

double FieldNetModel::Backward(size_t m, const float* labels, float scale, Workspace& ws,
                               nn::GradSink<float>& sink) const {
  const int f = fields();
  const int k = options_.embed_dim;
  const auto rows = static_cast<Eigen::Index>(m);
  auto dlogit = ws.dlogit.topRows(rows);
  double loss = 0;
  for (Eigen::Index i = 0; i < rows; ++i) {
    const float x = ws.logit(i, 0);
    const float y = labels[i];
    loss += LogisticLoss(x, y);
    dlogit(i, 0) = (1.0f / (1.0f + std::exp(-x)) - y) * scale;
  }
  sink[*bias_](0, 0) += dlogit.sum();
  auto x0 = ws.x0.topRows(rows);
  auto dx0 = ws.dx0.topRows(rows);
  if (deep_) {
    auto last = !mlp_.empty() ? ws.z.back().topRows(rows)
                              : (cross_.empty() ? ws.x0.topRows(rows) : ws.h.back().topRows(rows));
    // d of the deep input lands in da of the layer below, or (width dim_) in dh for the cross
    // layers, or straight in dx0 when there are none (DeepFM).
    auto d_deep = cross_.empty() ? ws.dx0.topRows(rows) : ws.dh.topRows(rows);
    auto d_last = !mlp_.empty() ? ws.da.back().topRows(rows) : d_deep;
    out_->Backward(last, dlogit, sink, d_last);
    for (size_t l = mlp_.size(); l-- > 0;) {
      auto a = ws.z[l].topRows(rows);
      auto da = ws.da[l].topRows(rows);
      // ReLU: pass the gradient where the output is positive.
      da.array() = (a.array() > 0.0f).select(da.array(), 0.0f);
      auto in = l > 0 ? ws.z[l - 1].topRows(rows)
                      : (cross_.empty() ? ws.x0.topRows(rows) : ws.h.back().topRows(rows));
      auto din = l > 0 ? ws.da[l - 1].topRows(rows) : d_deep;
      if (ws.packed != nullptr) {
        // din = da W^T as a bf16 product with float sums; in and da packed for TrainEpoch's
        // weight gradient in^T da (Workspace::dw).
        const int n_in = mlp_[l].in(), n_out = mlp_[l].out(), mi = static_cast<int>(m);
        const int ld_in = nn::bf16::Pad16(n_in), ld_out = nn::bf16::Pad16(n_out);
        sink[mlp_[l].bias()].row(0) += da.colwise().sum();
        nn::bf16::PackPairs(in.data(), in.outerStride(), mi, n_in, ld_in, ws.in_pairs[l].data());
        nn::bf16::PackPairs(da.data(), da.outerStride(), mi, n_out, ld_out, ws.d_pairs[l].data());
        nn::bf16::PackRowsPadded(da.data(), da.outerStride(), mi, n_out, n_out,
                                 ws.d_rows[l].data());
        nn::bf16::Gemm(ws.d_rows[l].data(), n_out, mi, n_out, ws.packed->wt[l].data(), ld_in, n_in,
                       {}, din.data(), din.outerStride());
      } else {
        mlp_[l].Backward(in, da, sink, din);
      }
    }
    if (!cross_.empty()) {
      dx0.setZero();
      for (size_t l = cross_.size(); l-- > 0;) {
        auto in = l == 0 ? ws.x0.topRows(rows) : ws.h[l - 1].topRows(rows);
        cross_[l].Backward(x0, in, ws.dh.topRows(rows), sink, dx0, ws.dh2.topRows(rows),
                           ws.cross[l]);
        std::swap(ws.dh, ws.dh2);
      }
      dx0 += ws.dh.topRows(rows);
    }
  } else {
    dx0.setZero();
  }
  if (linear_fm_) FmInteraction<float>::Backward(x0, f, k, dlogit, dx0, nn::InputGrad::kAdd);
  // The row gradients stay in dx0 (and d_linear); TrainEpoch's workers sum and apply them.
  const auto groups = static_cast<uint32_t>(ws.groups);
  std::fill(ws.in_group.begin(), ws.in_group.end(), 0);
  for (size_t i = 0; i < m; ++i) {
    const float d = dlogit(static_cast<Eigen::Index>(i), 0);
    for (int j = 0; j < f; ++j) {
      const size_t e = i * f + j;
      const uint32_t r = ws.rows[e];
      // Appended without a branch on the group (a coin flip per entry for the predictor).
      const uint32_t g = GroupOf(r, groups);
      ws.by_group[g][ws.in_group[g]++] = {r, ws.entry_base + static_cast<uint32_t>(e)};
      if (linear_fm_) ws.d_linear[e] = d;
    }
  }
  return loss;
}

double FieldNetModel::TrainEpoch(const uint32_t* rows, std::span<const float> labels,
                                 std::span<const uint32_t> order, int epoch, int threads,
                                 const FitOptions& fit) {
  nn::ThreadPool pool(threads);
  const int workers = pool.size();
  const int f = fields();
  const size_t k = static_cast<size_t>(options_.embed_dim);
  const size_t batch = static_cast<size_t>(options_.batch_size);
  const size_t per_worker = (batch + workers - 1) / workers;
  // RowEntry::at = worker << entry_shift | entry, so that the applying worker finds an entry's
  // gradient with a shift and a mask.
  const int entry_shift = std::bit_width(std::bit_ceil(per_worker * f) - 1);
  const uint32_t entry_mask = (uint32_t{1} << entry_shift) - 1;
  assert(static_cast<uint64_t>(workers) << entry_shift <= UINT32_MAX);
  // Rows are applied by group (GroupOf), each group by whichever worker claims it next: every
  // row is still updated by one thread, and its sum does not depend on which.
  const int groups = workers == 1 ? 1 : kRowGroupsPerWorker * workers;
  std::atomic<int> next_group{0};
  std::vector<std::unique_ptr<Workspace>> ws;
  for (int w = 0; w < workers; ++w) {
    ws.push_back(std::make_unique<Workspace>(*this, per_worker));
    Workspace& s = *ws.back();
    s.groups = groups;
    s.unshared = true;
    s.entry_base = static_cast<uint32_t>(w) << entry_shift;
    s.by_group.assign(static_cast<size_t>(groups), std::vector<RowEntry>(per_worker * f));
    s.in_group.assign(static_cast<size_t>(groups), 0);
    if (linear_fm_) s.d_linear.resize(per_worker * f);
    s.row_ids.reserve(per_worker * f * workers);
    s.row_sums.reserve(per_worker * f * workers * (k + 1));
  }
  std::vector<std::vector<std::span<const RowEntry>>> parts(static_cast<size_t>(workers));
  nn::WorkerGradients<float> grads(*params_, workers);
  grads.Reshape();
  std::vector<double> loss(static_cast<size_t>(workers), 0.0);
  std::optional<PackedMlp> packed;
  if (MlpInBf16(options_, mlp_)) {
    packed.emplace(mlp_, /*training=*/true);
    for (auto& s : ws) s->packed = &*packed;
  }
  // The dense step, shared out by rows: each parameter's rows split into near-equal pieces of
  // whole row pairs (a one-row parameter, a bias, goes whole to one worker), so that a worker
  // that updated rows of an MLP weight packs them to bf16 at once, both layouts, with no barrier
  // before the packing and the packing split as evenly as the update. With the bf16 MLP the
  // worker also computes those rows of the weight's gradient there (Workspace::dw).
  struct DenseRange {
    nn::Param<float>* param;
    int row_begin, row_end;
    int layer;  // the MLP layer whose weight this is, when packed; else -1
  };
  std::vector<std::vector<DenseRange>> dense(static_cast<size_t>(workers));
  for (int i = 0; i < params_->size(); ++i) {
    nn::Param<float>& p = (*params_)[i];
    int layer = -1;
    for (size_t l = 0; packed && l < mlp_.size(); ++l) {
      if (&mlp_[l].weight() == &p) layer = static_cast<int>(l);
    }
    const auto rows_of = static_cast<int>(p.value.rows());
    if (rows_of < 2) {
      dense[static_cast<size_t>(i % workers)].push_back({&p, 0, rows_of, layer});
      continue;
    }
    for (int w = 0; w < workers; ++w) {
      const auto [q0, q1] = nn::SplitRange(static_cast<size_t>(rows_of + 1) / 2, workers, w);
      const int r0 = static_cast<int>(2 * q0);
      const int r1 = std::min(rows_of, static_cast<int>(2 * q1));
      if (r0 < r1) dense[static_cast<size_t>(w)].push_back({&p, r0, r1, layer});
      if (layer >= 0) {
        std::vector<float>& dw = ws[static_cast<size_t>(w)]->dw;
        dw.resize(std::max(dw.size(), static_cast<size_t>(r1 - r0) * p.value.cols()));
      }
    }
  }
  // One wake-up of the workers per epoch: each runs every step's phases, with barriers between
  // the phases that read what others wrote (on a loaded machine every wake-up of a worker can
  // wait for a time slice; a barrier between running threads costs about a microsecond).
  nn::Barrier barrier(workers);
  double total = 0;
  pool.Run([&](int w) {
    try {
      Workspace& s = *ws[w];
      std::vector<float*> sums(static_cast<size_t>(workers));
      // The gradients start at zero (after that each step zeroes what it read), the weights
      // packed to bf16 (after that each step packs the rows it updated).
      grads.ZeroPart(w, workers);
      if (packed) {
        const auto [j0, j1] = nn::SplitRange(packed->jobs(), workers, w);
        for (size_t j = j0; j < j1; ++j) packed->Pack(mlp_, j);
      }
      if (!barrier.Wait()) return;
      for (size_t start = 0; start < order.size(); start += batch) {
        const size_t b = std::min(batch, order.size() - start);
        const float scale = 1.0f / static_cast<float>(b);
        // 1. Forward and backward over this worker's piece of the batch.
        const auto [b0, b1] = nn::SplitRange(b, workers, w);
        const size_t m = b1 - b0;
        // The samples are scattered over the training set: fetch a few ahead.
        constexpr size_t kAheadSamples = 16;
        const size_t sample_bytes = static_cast<size_t>(f) * sizeof(uint32_t);
        for (size_t i = 0; i < m; ++i) {
          if (i + kAheadSamples < m) {
            const uint32_t ahead = order[start + b0 + i + kAheadSamples];
            const char* p = reinterpret_cast<const char*>(rows + static_cast<size_t>(ahead) * f);
            for (size_t byte = 0; byte < sample_bytes; byte += 64) __builtin_prefetch(p + byte);
            __builtin_prefetch(p + sample_bytes - 1);
            __builtin_prefetch(labels.data() + ahead);
          }
          const uint32_t sample = order[start + b0 + i];
          std::memcpy(s.rows.data() + i * f, rows + static_cast<size_t>(sample) * f, sample_bytes);
          s.labels[i] = labels[sample];
        }
        if (m > 0) {
          Forward(m, s);
          loss[w] = Backward(m, s.labels.data(), scale, s, grads.sink(w));
        } else {
          std::fill(s.in_group.begin(), s.in_group.end(), 0);
        }
        if (w == 0) {
          adam_->BeginStep();
          next_group.store(0, std::memory_order_relaxed);  // published by the barrier
        }
        if (!barrier.Wait()) return;
        // 2. Row updates, a group of rows at a time (groups claimed from a shared counter, so a
        // worker that runs slower takes fewer): each row once with its gradient summed over the
        // whole batch (as one thread would, and as PyTorch's SparseAdam: one lazy-Adam step per
        // row and batch, whatever the thread count), by one thread, while no other thread reads
        // the tables, so neither the rows nor their step counts need atomics
        // (ApplyGradientUnshared). Entries are summed in worker order, then
        // sample order: deterministic for a given thread count, whoever applies the group.
        for (int group = next_group.fetch_add(1, std::memory_order_relaxed); group < groups;
             group = next_group.fetch_add(1, std::memory_order_relaxed)) {
          std::vector<std::span<const RowEntry>>& lists = parts[w];
          lists.clear();
          for (const auto& other : ws) {
            lists.emplace_back(other->by_group[group].data(), other->in_group[group]);
          }
          SortByRow(lists, embed_->rows(), s.sorted, s.sort_scratch, s.sort_counts);
          // Rows come in table order, each with its entries together. Two passes: the first sums
          // each row's entries and asks for the row's blocks in both tables, so that the fetches of
          // all the rows (the tables are far larger than the cache) overlap one another instead of
          // each waiting for the update before it; the second updates the rows, now in the cache.
          const std::vector<RowEntry>& sorted = s.sorted;
          s.row_ids.clear();
          s.row_sums.resize(sorted.size() * (k + 1));
          float* sum = s.row_sums.data();
          constexpr size_t kAhead = 8;
          for (size_t i = 0; i < sorted.size();) {
            const uint32_t r = sorted[i].row;
            embed_->Prefetch(r, /*for_update=*/true);
            if (linear_fm_) linear_->Prefetch(r, /*for_update=*/true);
            // Sums in entry order (worker, then sample): deterministic for a thread count.
            std::fill_n(sum, k + 1, 0.0f);
            for (; i < sorted.size() && sorted[i].row == r; ++i) {
              if (i + kAhead < sorted.size()) {
                // Half the gradients were written by another worker, into its cache.
                const uint32_t ahead = sorted[i + kAhead].at;
                const Workspace& owner = *ws[ahead >> entry_shift];
                __builtin_prefetch(owner.dx0.data() + static_cast<size_t>(ahead & entry_mask) * k);
                if (linear_fm_) __builtin_prefetch(owner.d_linear.data() + (ahead & entry_mask));
              }
              const Workspace& from = *ws[sorted[i].at >> entry_shift];
              const uint32_t e = sorted[i].at & entry_mask;
              const float* d = from.dx0.data() + static_cast<size_t>(e) * k;
              if (k == 16) {  // the usual width, in vector adds
                using Row16 = Eigen::Array<float, 16, 1>;
                Eigen::Map<Row16>(sum) += Eigen::Map<const Row16>(d);
              } else {
                for (size_t j = 0; j < k; ++j) sum[j] += d[j];
              }
              if (linear_fm_) sum[k] += from.d_linear[e];
            }
            s.row_ids.push_back(r);
            sum += k + 1;
          }
          sum = s.row_sums.data();
          for (const uint32_t r : s.row_ids) {
            embed_->ApplyGradientUnshared(r, {sum, k});
            if (linear_fm_) linear_->ApplyGradientUnshared(r, {sum + k, 1});
            sum += k + 1;
          }
        }
        // 3. Dense weights: this worker's rows of each, the workers' gradients summed, Adam,
        // the gradients zeroed for the next step and, for the MLP's weights, the rows packed to
        // bf16 for the next step's products.
        for (const DenseRange& d : dense[w]) {
          const auto cols = static_cast<size_t>(d.param->value.cols());
          if (d.layer >= 0) {
            // An MLP weight (left by Backward): its rows [row_begin, row_end) of in^T da,
            // summed over the workers' samples in worker order, as their sinks were.
            const auto l = static_cast<size_t>(d.layer);
            const int n_out = mlp_[l].out();
            const int ld_in = nn::bf16::Pad16(mlp_[l].in()), ld_out = nn::bf16::Pad16(n_out);
            bool first = true;
            for (int u = 0; u < workers; ++u) {
              const auto [u0, u1] = nn::SplitRange(b, workers, u);
              if (u0 == u1) continue;
              nn::bf16::GemmTransA(ws[u]->in_pairs[l].data() + 2 * d.row_begin, ld_in,
                                   static_cast<int>(u1 - u0), d.row_end - d.row_begin,
                                   ws[u]->d_pairs[l].data(), ld_out, n_out, s.dw.data(), n_out,
                                   /*accumulate=*/!first);
              first = false;
            }
            adam_->StepRange(*d.param, d.row_begin * cols, d.row_end * cols, s.dw.data());
            packed->PackRows(mlp_, l, d.row_begin, d.row_end);
            continue;
          }
          for (int u = 0; u < workers; ++u) sums[u] = grads.sink(u)[*d.param].data();
          adam_->StepRangeSummed(*d.param, d.row_begin * cols, d.row_end * cols, sums);
        }
        // The losses were written before the last barrier, and are next written after the next.
        if (w == 0) {
          for (double& l : loss) {
            total += l;
            l = 0;
          }
          if (fit.on_step) {
            fit.on_step({epoch, start + b, order.size(), total / static_cast<double>(start + b)});
          }
        }
        // The next step's samples, which lie anywhere in the training set.
        if (start + batch < order.size()) {
          const size_t next = start + batch;
          const auto [n0, n1] = nn::SplitRange(std::min(batch, order.size() - next), workers, w);
          for (size_t i = n0; i < n1; ++i) {
            const uint32_t sample = order[next + i];
            const char* p = reinterpret_cast<const char*>(rows + static_cast<size_t>(sample) * f);
            for (size_t byte = 0; byte < sample_bytes; byte += 64) __builtin_prefetch(p + byte);
            __builtin_prefetch(p + sample_bytes - 1);
            __builtin_prefetch(labels.data() + sample);
          }
        }
        if (!barrier.Wait()) return;
      }
    } catch (...) {
      barrier.Break();
      throw;
    }
  });
  return total / static_cast<double>(order.size());
}

void FieldNetModel::PredictRows(const uint32_t* rows, size_t n, std::span<float> logits,
                                int threads) const {
  nn::ThreadPool pool(threads);
  const int f = fields();
  // Packing the weights costs about what the float products of kBf16MinRows samples cost more
  // than the bf16 ones: fewer samples stay in float.
  std::optional<PackedMlp> packed;
  if (n >= kBf16MinRows && MlpInBf16(options_, mlp_)) {
    packed.emplace(mlp_, /*training=*/false);
    for (size_t j = 0; j < packed->jobs(); ++j) packed->Pack(mlp_, j);
  }
  pool.ParallelFor(n, [&](int, size_t b0, size_t b1) {
    Workspace ws(*this, std::min(kPredictChunk, b1 - b0));
    if (packed) ws.packed = &*packed;
    for (size_t s = b0; s < b1; s += kPredictChunk) {
      const size_t m = std::min(kPredictChunk, b1 - s);
      std::copy_n(rows + s * f, m * f, ws.rows.data());
      Forward(m, ws);
      std::copy_n(ws.logit.data(), m, logits.data() + s);
    }
  });
}

void FieldNetModel::Snapshot() {
  const auto e = embed_->values();
  saved_embed_.assign(e.begin(), e.end());
  if (linear_fm_) {
    const auto l = linear_->values();
    saved_linear_.assign(l.begin(), l.end());
  }
  saved_params_.clear();
  for (int i = 0; i < params_->size(); ++i) saved_params_.push_back((*params_)[i].value);
}

void FieldNetModel::Restore() {
  const size_t k = static_cast<size_t>(options_.embed_dim);
  for (uint32_t r = 0; r < embed_->rows(); ++r) {
    embed_->WriteRow(r, {saved_embed_.data() + r * k, k});
    if (linear_fm_) linear_->WriteRow(r, {saved_linear_.data() + r, 1});
  }
  for (int i = 0; i < params_->size(); ++i) (*params_)[i].value = saved_params_[i];
}

void FieldNetModel::SaveParams(model::ModelWriter& w) const {
  SaveEmbedding(w);
  if (linear_fm_) w.PutF32("net.linear", linear_->values(), {linear_->rows(), 1});
  for (int i = 0; i < params_->size(); ++i) {
    const nn::Param<float>& p = (*params_)[i];
    w.PutF32("net.param." + p.name, {p.value.data(), static_cast<size_t>(p.value.size())},
             {static_cast<uint64_t>(p.value.rows()), static_cast<uint64_t>(p.value.cols())});
  }
}

Status FieldNetModel::LoadParams(const model::ModelReader& r) {
  const size_t k = static_cast<size_t>(options_.embed_dim);
  if (embed_ != nullptr) {
    FRESHET_ASSIGN_OR_RETURN(std::vector<float> e, r.F32("net.embed", embed_->rows() * k));
    for (uint32_t row = 0; row < embed_->rows(); ++row)
      embed_->WriteRow(row, {e.data() + row * k, k});
  } else {
    FRESHET_RETURN_IF_ERROR(LoadQuantized(r));
  }
  if (linear_fm_) {
    FRESHET_ASSIGN_OR_RETURN(std::vector<float> l, r.F32("net.linear", linear_->rows()));
    for (uint32_t row = 0; row < linear_->rows(); ++row)
      linear_->WriteRow(row, {l.data() + row, 1});
  }
  for (int i = 0; i < params_->size(); ++i) {
    nn::Param<float>& p = (*params_)[i];
    FRESHET_ASSIGN_OR_RETURN(std::vector<float> v,
                             r.F32("net.param." + p.name, static_cast<size_t>(p.value.size())));
    std::copy(v.begin(), v.end(), p.value.data());
  }
  return Status::OK();
}

}  // namespace freshet::rank

// ---- Shop ranking: explanations (appended; see models.h). Reads the tables only. ----
namespace freshet::rank {

Status FieldNetModel::ExplainRows(const uint32_t* rows, std::span<float> contributions,
                                  float* bias) const {
  if (!linear_fm_) {
    return Status::InvalidArgument(std::string(kind_) +
                                   " has no linear / FM part to attribute (explain needs ftrl, "
                                   "fm or deepfm)");
  }
  const int f = fields();
  const size_t k = static_cast<size_t>(options_.embed_dim);
  std::vector<float> e(static_cast<size_t>(f) * k);
  for (int i = 0; i < f; ++i) ReadEmbedRow(rows[i], {e.data() + static_cast<size_t>(i) * k, k});
  for (int i = 0; i < f; ++i) {
    float w = 0;
    linear_->ReadRow(rows[i], {&w, 1});
    double pair = 0;
    for (int j = 0; j < f; ++j) {
      if (j == i) continue;
      for (size_t d = 0; d < k; ++d) {
        pair += static_cast<double>(e[static_cast<size_t>(i) * k + d]) *
                e[static_cast<size_t>(j) * k + d];
      }
    }
    // Each pair <e_i, e_j> enters the logit once; half of it goes to each of its two fields.
    contributions[static_cast<size_t>(i)] = w + static_cast<float>(0.5 * pair);
  }
  if (bias != nullptr) *bias = bias_->value(0, 0);
  return Status::OK();
}

}  // namespace freshet::rank

// ---- Quantized serving storage (appended; see CtrModel::QuantizeEmbeddings). ----
namespace freshet::rank {

void FieldNetModel::ReadEmbedRow(uint32_t row, std::span<float> out) const {
  if (qembed_ != nullptr) {
    qembed_->ReadRow(row, out);
  } else {
    embed_->ReadRow(row, out);
  }
}

CtrModel::TableBytes FieldNetModel::EmbeddingBytes() const {
  if (qembed_ != nullptr) return {qembed_->bytes(), 0};
  const size_t n = static_cast<size_t>(embed_->rows()) * static_cast<size_t>(embed_->dim());
  // Lazy Adam keeps two moments per value and one step count per row (nn/embedding_table.h); the
  // bare rows of a serving copy only the step counts.
  const size_t steps = embed_->rows() * sizeof(uint32_t);
  const bool adam = embed_->options().optimizer == nn::SparseOptimizer::kAdam;
  return {n * sizeof(float), adam ? 2 * n * sizeof(float) + steps : steps};
}

void FieldNetModel::SaveEmbedding(model::ModelWriter& w) const {
  const std::vector<uint64_t> shape = {rows_, static_cast<uint64_t>(options_.embed_dim)};
  if (qembed_ == nullptr) {
    w.PutF32("net.embed", embed_->values(), shape);
  } else if (qembed_->precision() == EmbedPrecision::kF16) {
    w.PutF16("net.embed.f16", qembed_->halves(), shape);
  } else {
    w.PutI8("net.embed.q8", qembed_->q(), shape);
    w.PutF32("net.embed.scale", qembed_->scales());
  }
}

Status FieldNetModel::Quantize(EmbedPrecision precision) {
  FRESHET_ASSIGN_OR_RETURN(
      QuantizedTable t, QuantizedTable::FromFloat(precision, embed_->values(), rows_,
                                                  options_.embed_dim));
  qembed_ = std::make_unique<QuantizedTable>(std::move(t));
  // The float rows and their optimizer state go: a quantized model only serves.
  embed_.reset();
  saved_embed_ = {};
  return Status::OK();
}

Status FieldNetModel::LoadQuantized(const model::ModelReader& r) {
  const size_t n = static_cast<size_t>(rows_) * static_cast<size_t>(options_.embed_dim);
  auto bad = [&](std::string_view entry, const Status& s) {
    return Status::Corruption("entry '" + std::string(entry) + "' " + s.message());
  };
  if (embed_precision() == EmbedPrecision::kF16) {
    FRESHET_ASSIGN_OR_RETURN(std::vector<uint16_t> h, r.F16("net.embed.f16", n));
    auto t = QuantizedTable::FromHalves(std::move(h), rows_, options_.embed_dim);
    if (!t.ok()) return bad("net.embed.f16", t.status());
    qembed_ = std::make_unique<QuantizedTable>(std::move(*t));
    return Status::OK();
  }
  FRESHET_ASSIGN_OR_RETURN(std::vector<int8_t> q, r.I8("net.embed.q8", n));
  FRESHET_ASSIGN_OR_RETURN(std::vector<float> scales, r.F32("net.embed.scale", rows_));
  auto t = QuantizedTable::FromInt8(std::move(q), std::move(scales), rows_, options_.embed_dim);
  if (!t.ok()) return bad("net.embed.scale", t.status());
  qembed_ = std::make_unique<QuantizedTable>(std::move(*t));
  return Status::OK();
}

// ---- Shop ranking: rows admitted online (CtrModel::ObserveOnline). Float tables only. ----

Status FieldNetModel::GrowRows(uint32_t rows) {
  if (embed_ == nullptr) return Status::FailedPrecondition("a quantized table cannot grow");
  FRESHET_RETURN_IF_ERROR(embed_->Grow(rows));
  if (linear_fm_) FRESHET_RETURN_IF_ERROR(linear_->Grow(rows));
  rows_ = rows;
  return Status::OK();
}

void FieldNetModel::ResetRow(uint32_t row, uint32_t from) {
  std::vector<float> e(static_cast<size_t>(options_.embed_dim));
  embed_->ReadRow(from, e);
  embed_->ResetRow(row, e);
  if (linear_fm_) {
    float w = 0;
    linear_->ReadRow(from, {&w, 1});
    linear_->ResetRow(row, {&w, 1});
  }
}

}  // namespace freshet::rank
