// Quantized embedding tables for serving (rank/quantized_table.h, CtrModel::QuantizeEmbeddings,
// QuantizeModelFile): the conversions against the F16C instructions and their error bounds, the
// quantized models' predictions against the float ones, their files, and what they refuse.

#include "rank/quantized_table.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fixtures.h"
#include "model/model_file.h"
#include "rank/ctr_model.h"
#include "rank/metrics.h"
#include "rank/models.h"
#include "testing/testing.h"

namespace freshet::rank {
namespace {

using testing::SyntheticSet;

// ---- the conversions

TEST(HalfTest, FloatToHalfMatchesTheF16CInstructionIncludingTiesAndSubnormals) {
  std::mt19937 rng(7);  // seed logged by being fixed
  std::vector<float> xs = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, -65504.0f, 6.1035156e-05f,
                           5.9604645e-08f, 2.9802322e-08f, 2.9802326e-08f, 1.0009765625f,
                           1.00048828125f, 1.00146484375f, 3.0517578e-05f, 1e-7f, 0.1f};
  std::uniform_int_distribution<uint32_t> bits(0, 0xffffffffu);
  while (xs.size() < 200000) {
    uint32_t b = bits(rng);
    float x;
    std::memcpy(&x, &b, sizeof(x));
    if (std::isfinite(x) && std::abs(x) <= 65504.0f) xs.push_back(x);
    // Values near the embedding scale too, where almost every weight lives.
    xs.push_back(std::ldexp(static_cast<float>(bits(rng) % 100000) / 100000.0f,
                            -static_cast<int>(bits(rng) % 30)) *
                 ((b & 1) ? 1.0f : -1.0f));
  }
  for (float x : xs) {
    const auto want = static_cast<uint16_t>(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
    ASSERT_EQ(FloatToHalf(x), want) << "x = " << x;
  }
}

TEST(HalfTest, HalfToFloatIsExactForEveryFinitePattern) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float want = _cvtsh_ss(static_cast<unsigned short>(h));
    const float got = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      ASSERT_EQ(got, want) << h;
      ASSERT_EQ(std::signbit(got), std::signbit(want)) << h;
    }
  }
}

TEST(HalfTest, ValuesBeyondTheLargestHalfSaturate) {
  EXPECT_EQ(HalfToFloat(FloatToHalf(1e6f)), 65504.0f);
  EXPECT_EQ(HalfToFloat(FloatToHalf(-70000.0f)), -65504.0f);
}

// Rows of very different magnitudes: tiny (subnormal halves), typical, large, zero.
std::vector<float> MixedRows(uint32_t rows, int dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(rows) * dim);
  const float scales[] = {1e-7f, 1e-4f, 0.01f, 0.3f, 5.0f, 300.0f, 0.0f};
  for (uint32_t r = 0; r < rows; ++r) {
    const float s = scales[r % 7];
    for (int d = 0; d < dim; ++d) v[static_cast<size_t>(r) * dim + d] = s * normal(rng);
  }
  return v;
}

TEST(QuantizedTableTest, Fp16RowsStayWithinHalfPrecisionOfEachValue) {
  const uint32_t rows = 700;
  for (int dim : {1, 7, 8, 16, 19}) {  // with and without the F16C tail
    const std::vector<float> v = MixedRows(rows, dim, 11);
    auto t = QuantizedTable::FromFloat(EmbedPrecision::kF16, v, rows, dim);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->bytes(), v.size() * 2);
    std::vector<float> out(static_cast<size_t>(dim));
    for (uint32_t r = 0; r < rows; ++r) {
      t->ReadRow(r, out);
      for (int d = 0; d < dim; ++d) {
        const float x = v[static_cast<size_t>(r) * dim + d];
        const float bound = std::max(std::abs(x) * 0x1p-11f, 0x1p-25f);
        ASSERT_LE(std::abs(x - out[d]), bound) << "row " << r << " dim " << dim << " x " << x;
      }
    }
  }
}

TEST(QuantizedTableTest, Int8RowsStayWithinHalfAStepOfTheirOwnScale) {
  const uint32_t rows = 700;
  for (int dim : {1, 8, 16, 33}) {
    const std::vector<float> v = MixedRows(rows, dim, 12);
    auto t = QuantizedTable::FromFloat(EmbedPrecision::kInt8, v, rows, dim);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->bytes(), v.size() + rows * sizeof(float));
    std::vector<float> out(static_cast<size_t>(dim));
    for (uint32_t r = 0; r < rows; ++r) {
      float max_abs = 0;
      for (int d = 0; d < dim; ++d) {
        max_abs = std::max(max_abs, std::abs(v[static_cast<size_t>(r) * dim + d]));
      }
      const float scale = t->scales()[r];
      ASSERT_FLOAT_EQ(scale, max_abs / 127) << "row " << r;
      t->ReadRow(r, out);
      for (int d = 0; d < dim; ++d) {
        const float x = v[static_cast<size_t>(r) * dim + d];
        // Half a quantization step, and the float rounding of x / scale and q * scale.
        ASSERT_LE(std::abs(x - out[d]), scale * 0.5f * 1.0001f + 1e-6f * std::abs(x))
            << "row " << r << " dim " << dim;
      }
      if (max_abs == 0) {
        for (float y : out) ASSERT_EQ(y, 0.0f);
      }
    }
  }
}

TEST(QuantizedTableTest, NonFiniteValuesAndBadStoredFormsAreRefused) {
  std::vector<float> v(16, 0.5f);
  v[9] = std::numeric_limits<float>::quiet_NaN();
  auto t = QuantizedTable::FromFloat(EmbedPrecision::kInt8, v, 2, 8);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("row 1"), std::string::npos) << t.status().ToString();
  std::vector<uint16_t> halves(16, 0x3c00);
  halves[3] = 0x7c00;  // +inf
  EXPECT_FALSE(QuantizedTable::FromHalves(halves, 2, 8).ok());
  EXPECT_FALSE(QuantizedTable::FromHalves(std::vector<uint16_t>(15), 2, 8).ok());
  EXPECT_FALSE(QuantizedTable::FromInt8(std::vector<int8_t>(16), {1.0f, -1.0f}, 2, 8).ok());
  EXPECT_FALSE(QuantizedTable::FromInt8(std::vector<int8_t>(16), {1.0f}, 2, 8).ok());
  EXPECT_TRUE(QuantizedTable::FromInt8(std::vector<int8_t>(16), {1.0f, 0.0f}, 2, 8).ok());
}

// ---- models

CtrOptions SmallOptions(const std::string& kind) {
  CtrOptions o = *CtrDefaults(kind);
  o.embed_dim = 8;
  if (!o.mlp.empty()) o.mlp = {32, 32};
  o.epochs = 3;
  return o;
}

struct QuantCase {
  const char* kind;
  EmbedPrecision precision;
  float max_p_diff;  // largest |p_float - p_quantized| over the test set
};

class QuantizedModelTest : public ::testing::TestWithParam<QuantCase> {};

TEST_P(QuantizedModelTest, PredictionsStayCloseToTheFloatModelAndTheTableShrinks) {
  const QuantCase c = GetParam();
  const CtrDataset train = SyntheticSet(8000, 21);
  const CtrDataset test = SyntheticSet(3000, 23);
  auto model = CreateCtrModel(c.kind, SmallOptions(c.kind));
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE((*model)->Fit(train, nullptr, FitOptions{.threads = 2}).ok());
  std::vector<float> pf(test.size()), pq(test.size());
  (*model)->Predict(test, pf, 2);
  const CtrModel::TableBytes before = (*model)->EmbeddingBytes();
  ASSERT_TRUE((*model)->QuantizeEmbeddings(c.precision).ok());
  EXPECT_EQ((*model)->embed_precision(), c.precision);
  EXPECT_FALSE((*model)->can_learn());
  (*model)->Predict(test, pq, 2);
  float max_diff = 0;
  for (size_t i = 0; i < pf.size(); ++i) max_diff = std::max(max_diff, std::abs(pf[i] - pq[i]));
  const double auc_f = Auc(pf, test.labels), auc_q = Auc(pq, test.labels);
  std::printf("%s %s: max |dp| %.2e, AUC %.5f -> %.5f, logloss %.5f -> %.5f\n", c.kind,
              std::string(PrecisionName(c.precision)).c_str(), max_diff, auc_f, auc_q,
              LogLoss(pf, test.labels), LogLoss(pq, test.labels));
  EXPECT_LE(max_diff, c.max_p_diff);
  EXPECT_GT(max_diff, 0.0f);  // the rows did change: the quantized path is the one used
  EXPECT_NEAR(auc_q, auc_f, 0.002);
  // Explanations read the quantized rows too (FM / DeepFM; DCN-v2 has nothing to attribute).
  const std::vector<uint32_t> encoded = (*model)->Encode(test);
  std::vector<float> explained(static_cast<size_t>(test.num_fields));
  float bias = 0;
  const Status explain = (*model)->ExplainRows(encoded.data(), explained, &bias);
  if (std::string(c.kind) == "dcnv2") {
    EXPECT_TRUE(explain.IsInvalidArgument());
  } else {
    ASSERT_TRUE(explain.ok()) << explain.ToString();
    // FM: bias + contributions is the logit; DeepFM's MLP is not attributed.
    if (std::string(c.kind) == "fm") {
      double logit = bias;
      for (float v : explained) logit += v;
      EXPECT_NEAR(1 / (1 + std::exp(-logit)), pq[0], 1e-4);
    }
  }
  const CtrModel::TableBytes after = (*model)->EmbeddingBytes();
  EXPECT_EQ(after.optimizer, 0u);
  const size_t values = before.values / sizeof(float);
  const size_t rows = values / 8;
  EXPECT_EQ(after.values,
            c.precision == EmbedPrecision::kF16 ? values * 2 : values + rows * sizeof(float));
}

TEST_P(QuantizedModelTest, SavedFileAndCloneKeepTheQuantizedRowsAndPredictions) {
  const QuantCase c = GetParam();
  const CtrDataset train = SyntheticSet(3000, 31);
  const CtrDataset test = SyntheticSet(500, 32);
  CtrOptions o = SmallOptions(c.kind);
  o.epochs = 1;
  auto model = CreateCtrModel(c.kind, o);
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE((*model)->Fit(train, nullptr, FitOptions{}).ok());
  freshet::testing::TempDir dir;
  ASSERT_TRUE((*model)->Save(dir.Sub("float.fmdl")).ok());
  ASSERT_TRUE((*model)->QuantizeEmbeddings(c.precision).ok());
  ASSERT_TRUE((*model)->Save(dir.Sub("q.fmdl")).ok());
  auto loaded = CtrModel::Load(dir.Sub("q.fmdl"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->embed_precision(), c.precision);
  auto clone = (*loaded)->Clone();
  ASSERT_TRUE(clone.ok()) << clone.status().ToString();
  EXPECT_EQ((*clone)->embed_precision(), c.precision);
  std::vector<float> a(test.size()), b(test.size()), d(test.size());
  (*model)->Predict(test, a);
  (*loaded)->Predict(test, b);
  (*clone)->Predict(test, d);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, d);
  // The quantized file is the smaller; the float one still loads as float.
  EXPECT_LT(freshet::testing::ReadFile(dir.Sub("q.fmdl")).size(),
            freshet::testing::ReadFile(dir.Sub("float.fmdl")).size());
  auto old = CtrModel::Load(dir.Sub("float.fmdl"));
  ASSERT_TRUE(old.ok());
  EXPECT_EQ((*old)->embed_precision(), EmbedPrecision::kFloat);
  EXPECT_TRUE((*old)->can_learn());
}

TEST_P(QuantizedModelTest, LearnAndFitAreRefusedNamingThePrecision) {
  const QuantCase c = GetParam();
  const CtrDataset train = SyntheticSet(1000, 41);
  CtrOptions o = SmallOptions(c.kind);
  o.epochs = 1;
  auto model = CreateCtrModel(c.kind, o);
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE((*model)->Fit(train, nullptr, FitOptions{}).ok());
  ASSERT_TRUE((*model)->QuantizeEmbeddings(c.precision).ok());
  const std::vector<uint32_t> rows = (*model)->Encode(train);
  const std::vector<float> labels(train.labels.begin(), train.labels.begin() + 10);
  std::vector<float> before(10), after(10);
  (*model)->PredictEncoded(rows.data(), 10, before);
  auto step = (*model)->LearnEncoded(rows.data(), labels);
  ASSERT_FALSE(step.ok());
  EXPECT_TRUE(step.status().code() == Status::Code::kFailedPrecondition);
  const std::string name(PrecisionName(c.precision));
  EXPECT_NE(step.status().message().find(name), std::string::npos) << step.status().ToString();
  (*model)->PredictEncoded(rows.data(), 10, after);
  EXPECT_EQ(before, after);
  auto fit = (*model)->Fit(train, nullptr, FitOptions{});
  ASSERT_FALSE(fit.ok());
  EXPECT_TRUE(fit.status().code() == Status::Code::kFailedPrecondition);
  EXPECT_NE(fit.status().message().find(name), std::string::npos);
  const Status again = (*model)->QuantizeEmbeddings(EmbedPrecision::kInt8);
  EXPECT_TRUE(again.code() == Status::Code::kFailedPrecondition) << again.ToString();
}

INSTANTIATE_TEST_SUITE_P(
    KindsAndPrecisions, QuantizedModelTest,
    ::testing::Values(QuantCase{"fm", EmbedPrecision::kF16, 2e-3f},
                      QuantCase{"fm", EmbedPrecision::kInt8, 3e-2f},
                      QuantCase{"deepfm", EmbedPrecision::kF16, 2e-3f},
                      QuantCase{"deepfm", EmbedPrecision::kInt8, 3e-2f},
                      QuantCase{"dcnv2", EmbedPrecision::kF16, 2e-3f},
                      QuantCase{"dcnv2", EmbedPrecision::kInt8, 3e-2f}),
    [](const auto& info) {
      return std::string(info.param.kind) + "_" +
             std::string(PrecisionName(info.param.precision));
    });

TEST(QuantizedModelTest, FtrlHasNoTableToQuantize) {
  const CtrDataset train = SyntheticSet(1000, 51);
  auto model = CreateCtrModel("ftrl", SmallOptions("ftrl"));
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE((*model)->Fit(train, nullptr, FitOptions{}).ok());
  const Status s = (*model)->QuantizeEmbeddings(EmbedPrecision::kF16);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("one weight per feature"), std::string::npos);
}

// ---- the file command

// A trained model file of `kind` in `dir`, with an extra entry a shop model would have.
std::string TrainedFile(const std::string& kind, freshet::testing::TempDir& dir,
                        const std::string& name) {
  const CtrDataset train = SyntheticSet(2000, 61);
  CtrOptions o = SmallOptions(kind);
  o.epochs = 1;
  auto model = CreateCtrModel(kind, o);
  EXPECT_TRUE(model.ok());
  EXPECT_TRUE((*model)->Fit(train, nullptr, FitOptions{}).ok());
  const std::string path = dir.Sub(name);
  EXPECT_TRUE((*model)->SaveWith(path, [](model::ModelWriter& w) {
                        w.PutBytes("extra.note", "kept as it is");
                      }).ok());
  return path;
}

// Entry `name` of `r` exactly as stored (type, shape and bytes).
std::string RawEntry(const model::ModelReader& r, const std::string& name) {
  model::ModelWriter w;
  w.Copy(r, name);
  return w.Encode();
}

TEST(QuantizeModelFileTest, KeepsEveryOtherEntryAndRecordsThePrecision) {
  freshet::testing::TempDir dir;
  const std::string in = TrainedFile("deepfm", dir, "in.fmdl");
  auto report = QuantizeModelFile(in, dir.Sub("out.fmdl"), EmbedPrecision::kInt8);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->kind, "deepfm");
  EXPECT_EQ(report->dim, 8);
  EXPECT_GT(report->max_abs_error, 0);
  EXPECT_LE(report->max_row_error, 0.5 / 127 * 1.001);
  EXPECT_LT(report->out_file_bytes, report->in_file_bytes);
  EXPECT_LT(report->quantized_bytes, report->float_bytes.values);
  auto a = model::ModelReader::Open(in);
  auto b = model::ModelReader::Open(dir.Sub("out.fmdl"));
  ASSERT_TRUE(a.ok() && b.ok());
  for (const std::string& name : a->names()) {
    if (name == "net.embed") {
      EXPECT_FALSE(b->Has(name));
      continue;
    }
    ASSERT_TRUE(b->Has(name)) << name;
    EXPECT_EQ(RawEntry(*a, name), RawEntry(*b, name)) << name;
  }
  EXPECT_EQ(*b->Bytes("ctr.embed_precision"), "int8");
  EXPECT_TRUE(b->Has("net.embed.q8"));
  EXPECT_TRUE(b->Has("net.embed.scale"));
  auto loaded = CtrModel::LoadFrom(*b);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->embed_precision(), EmbedPrecision::kInt8);
}

TEST(QuantizeModelFileTest, ErrorsNameTheFileAndTheReason) {
  freshet::testing::TempDir dir;
  auto missing = QuantizeModelFile(dir.Sub("none.fmdl"), dir.Sub("o.fmdl"), EmbedPrecision::kF16);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_NE(missing.status().message().find("none.fmdl"), std::string::npos);

  const std::string ftrl = TrainedFile("ftrl", dir, "ftrl.fmdl");
  auto f = QuantizeModelFile(ftrl, dir.Sub("o.fmdl"), EmbedPrecision::kF16);
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(f.status().IsInvalidArgument());
  EXPECT_NE(f.status().message().find("ftrl.fmdl"), std::string::npos);
  EXPECT_NE(f.status().message().find("no embedding table"), std::string::npos);

  model::ModelWriter rec;
  rec.PutBytes("kind", "sasrec");
  ASSERT_TRUE(rec.Commit(dir.Sub("rec.fmdl")).ok());
  auto r = QuantizeModelFile(dir.Sub("rec.fmdl"), dir.Sub("o.fmdl"), EmbedPrecision::kF16);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("holds a 'sasrec' model"), std::string::npos)
      << r.status().ToString();

  const std::string fm = TrainedFile("fm", dir, "fm.fmdl");
  ASSERT_TRUE(QuantizeModelFile(fm, dir.Sub("fm16.fmdl"), EmbedPrecision::kF16).ok());
  auto twice = QuantizeModelFile(dir.Sub("fm16.fmdl"), dir.Sub("o.fmdl"), EmbedPrecision::kInt8);
  ASSERT_FALSE(twice.ok());
  EXPECT_TRUE(twice.status().code() == Status::Code::kFailedPrecondition);
  EXPECT_NE(twice.status().message().find("already quantized (fp16)"), std::string::npos);

  // The output's directory cannot be made: a plain file is in the way.
  freshet::testing::WriteFile(dir.Sub("blocker"), "x");
  auto unwritable = QuantizeModelFile(fm, dir.Sub("blocker/o.fmdl"), EmbedPrecision::kF16);
  ASSERT_FALSE(unwritable.ok());
  EXPECT_TRUE(unwritable.status().IsIOError()) << unwritable.status().ToString();
  EXPECT_NE(unwritable.status().message().find("blocker/o.fmdl"), std::string::npos);
}

// A copy of `in` with entry `name` replaced by what `put` writes (nothing: removed).
void RewriteEntry(const std::string& in, const std::string& out, const std::string& name,
                  const std::function<void(model::ModelWriter&)>& put) {
  auto r = model::ModelReader::Open(in);
  ASSERT_TRUE(r.ok());
  model::ModelWriter w;
  for (const std::string& n : r->names()) {
    if (n == name) {
      put(w);
    } else {
      w.Copy(*r, n);
    }
  }
  ASSERT_TRUE(w.Commit(out).ok());
}

TEST(QuantizeModelFileTest, DamagedQuantizedEntriesAreCorruptionNamingTheEntry) {
  freshet::testing::TempDir dir;
  const std::string fm = TrainedFile("fm", dir, "fm.fmdl");
  ASSERT_TRUE(QuantizeModelFile(fm, dir.Sub("q8.fmdl"), EmbedPrecision::kInt8).ok());
  ASSERT_TRUE(QuantizeModelFile(fm, dir.Sub("f16.fmdl"), EmbedPrecision::kF16).ok());
  auto expect_corrupt = [&](const std::string& path, const std::string& entry) {
    auto m = CtrModel::Load(path);
    ASSERT_FALSE(m.ok()) << path;
    EXPECT_TRUE(m.status().IsCorruption()) << m.status().ToString();
    EXPECT_NE(m.status().message().find("'" + entry + "'"), std::string::npos)
        << m.status().ToString();
  };
  RewriteEntry(dir.Sub("q8.fmdl"), dir.Sub("short.fmdl"), "net.embed.q8",
               [](model::ModelWriter& w) { w.PutI8("net.embed.q8", std::vector<int8_t>(5)); });
  expect_corrupt(dir.Sub("short.fmdl"), "net.embed.q8");
  RewriteEntry(dir.Sub("q8.fmdl"), dir.Sub("noscale.fmdl"), "net.embed.scale",
               [](model::ModelWriter&) {});
  expect_corrupt(dir.Sub("noscale.fmdl"), "net.embed.scale");
  auto r = model::ModelReader::Open(dir.Sub("q8.fmdl"));
  ASSERT_TRUE(r.ok());
  std::vector<float> scales = *r->F32("net.embed.scale");
  scales[3] = std::numeric_limits<float>::quiet_NaN();
  RewriteEntry(dir.Sub("q8.fmdl"), dir.Sub("nan.fmdl"), "net.embed.scale",
               [&](model::ModelWriter& w) { w.PutF32("net.embed.scale", scales); });
  expect_corrupt(dir.Sub("nan.fmdl"), "net.embed.scale");
  RewriteEntry(dir.Sub("f16.fmdl"), dir.Sub("f32.fmdl"), "net.embed.f16",
               [](model::ModelWriter& w) { w.PutF32("net.embed.f16", std::vector<float>(4)); });
  expect_corrupt(dir.Sub("f32.fmdl"), "net.embed.f16");
  RewriteEntry(dir.Sub("f16.fmdl"), dir.Sub("int4.fmdl"), "ctr.embed_precision",
               [](model::ModelWriter& w) { w.PutBytes("ctr.embed_precision", "int4"); });
  expect_corrupt(dir.Sub("int4.fmdl"), "ctr.embed_precision");
  // A flipped byte anywhere is caught by the checksum, naming the file.
  std::string bytes = freshet::testing::ReadFile(dir.Sub("q8.fmdl"));
  bytes[bytes.size() - 100] ^= 0x20;
  freshet::testing::WriteFile(dir.Sub("flipped.fmdl"), bytes);
  auto flipped = CtrModel::Load(dir.Sub("flipped.fmdl"));
  ASSERT_FALSE(flipped.ok());
  EXPECT_TRUE(flipped.status().IsCorruption());
  EXPECT_NE(flipped.status().message().find("flipped.fmdl"), std::string::npos);
}

}  // namespace
}  // namespace freshet::rank
