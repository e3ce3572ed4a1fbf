#include "nn/transformer.h"

#include <gtest/gtest.h>

#include <vector>

#include "grad_check.h"
#include "nn/loss.h"

namespace freshet::nn {
namespace {

using testing::ExpectGradient;
using testing::ExpectParamGradients;
using testing::MatrixD;
using testing::MatrixF;
using testing::Project;
using testing::RandomMatrix;
using testing::RelativeError;

// Makes every LayerNorm gain / bias and every Linear bias random, so that the checks exercise
// their gradients away from the trivial initial values.
template <typename T>
void Perturb(ParamSet<T>& ps, Rng& rng) {
  for (int i = 0; i < ps.size(); ++i) {
    Param<T>& p = ps[i];
    if (p.value.rows() == 1) {
      p.value.array() +=
          RandomMatrix(1, static_cast<int>(p.value.cols()), rng, 0.3).template cast<T>().array();
    }
  }
}

TEST(TransformerBlockTest, BackwardMatchesNumericalGradientPreAndPostNorm) {
  for (NormPlacement norm : {NormPlacement::kPre, NormPlacement::kPost}) {
    SCOPED_TRACE(static_cast<int>(norm));
    Rng rng(41);
    const int batch = 3, len = 5;
    TransformerOptions o;
    o.hidden = 8;
    o.heads = 2;
    o.ffn_inner = 12;
    o.dropout = 0.2f;
    o.attention_dropout = 0.1f;
    o.activation = norm == NormPlacement::kPre ? Activation::kGelu : Activation::kRelu;
    o.norm = norm;
    o.layer_norm_eps = 1e-5f;
    ParamSet<double> ps;
    TransformerBlock<double> block(ps, "block", o, rng);
    Perturb(ps, rng);
    TransformerBlock<double>::Workspace ws(block, batch, len);
    // Left padding: lengths 5, 2, 0.
    const std::vector<uint8_t> valid = {1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0};
    MatrixD x = RandomMatrix(batch * len, o.hidden, rng);
    MatrixD r = RandomMatrix(batch * len, o.hidden, rng);
    MatrixD y(batch * len, o.hidden);
    auto loss = [&] {
      Rng drop(3);
      block.Forward(x, SequenceLayout::Padded(valid, batch, len), y, ws, drop, true);
      return Project(y, r);
    };
    auto grads = GradSink<double>::Shared(ps);
    MatrixD dx(batch * len, o.hidden);
    loss();
    block.Backward(x, r, grads, dx, ws);
    ExpectGradient(x, dx, loss, "x");
    ExpectParamGradients(ps, loss);
  }
}

struct EncoderFixture {
  static SasrecEncoderOptions Options() {
    SasrecEncoderOptions o;
    o.num_items = 13;
    o.max_len = 6;
    o.embedding_dropout = 0.2f;
    o.init_stddev = 0.5;
    o.transformer.hidden = 8;
    o.transformer.heads = 2;
    o.transformer.blocks = 2;
    o.transformer.dropout = 0.2f;
    o.transformer.attention_dropout = 0.1f;
    o.transformer.layer_norm_eps = 1e-5f;
    return o;
  }
  // Three windows of length 5 (below max_len): full, two items, one item.
  static constexpr int kBatch = 3;
  static constexpr int kLen = 5;
  std::vector<ItemId> ids = {
      4,     1,     12,    7,     7,  // full
      kNoId, kNoId, kNoId, 3,     0,  // two items
      kNoId, kNoId, kNoId, kNoId, 9,  // one item
  };
  std::vector<ItemId> targets = {
      1,     12,    7,     7,     2,   // targets: the next item of each
      kNoId, kNoId, kNoId, 0,     5,   //
      kNoId, kNoId, kNoId, kNoId, 11,  //
  };
};

TEST(SasrecEncoderTest, EncoderPlusFullSoftmaxMatchesNumericalGradient) {
  EncoderFixture f;
  const SasrecEncoderOptions o = EncoderFixture::Options();
  ParamSet<double> ps;
  SasrecEncoder<double> encoder(ps, o, 42);
  Rng rng(43);
  Perturb(ps, rng);
  SasrecEncoder<double>::Workspace ws(encoder, EncoderFixture::kBatch);
  FullSoftmaxOptions so;
  so.chunk_rows = 4;
  FullSoftmaxLoss<double> softmax(so);
  FullSoftmaxLoss<double>::Workspace sws(softmax, o.num_items, o.transformer.hidden);
  const int rows = EncoderFixture::kBatch * EncoderFixture::kLen;
  MatrixD d_hidden(rows, o.transformer.hidden);
  MatrixD scratch_items(o.num_items, o.transformer.hidden);
  Param<double>& items = encoder.item_embedding();
  auto grads = GradSink<double>::Shared(ps);
  const double scale = 1.0 / 8;  // eight targets
  // The whole model step: encode, score against the tied item table, mean cross-entropy.
  auto step = [&](bool backward) {
    Rng drop(8);
    ConstMatrixRef<double> hidden =
        encoder.Forward(f.ids, EncoderFixture::kBatch, EncoderFixture::kLen, ws, drop, true);
    Matrix<double>& d_items = backward ? grads[items] : scratch_items;
    const LossValue v =
        softmax.Compute(hidden, f.targets, items.value, scale, d_hidden, d_items, sws);
    if (backward) encoder.Backward(d_hidden, ws, grads);
    return v;
  };
  const LossValue v = step(true);
  EXPECT_EQ(v.count, 8);
  ExpectParamGradients(
      ps, [&] { return scale * step(false).sum; }, 120);
}

TEST(SasrecEncoderTest, FloatMatchesDoubleForwardAndGradients) {
  EncoderFixture f;
  SasrecEncoderOptions o = EncoderFixture::Options();
  ParamSet<double> psd;
  ParamSet<float> psf;
  SasrecEncoder<double> encd(psd, o, 42);
  SasrecEncoder<float> encf(psf, o, 42);
  testing::CopyValues(psd, psf);
  SasrecEncoder<double>::Workspace wsd(encd, EncoderFixture::kBatch);
  SasrecEncoder<float>::Workspace wsf(encf, EncoderFixture::kBatch);
  Rng r1(5), r2(5);  // same seed: the same dropout masks
  ConstMatrixRef<double> hd =
      encd.Forward(f.ids, EncoderFixture::kBatch, EncoderFixture::kLen, wsd, r1, true);
  ConstMatrixRef<float> hf =
      encf.Forward(f.ids, EncoderFixture::kBatch, EncoderFixture::kLen, wsf, r2, true);
  EXPECT_LT(RelativeError(hf, hd), 1e-5);
  const MatrixD dy = RandomMatrix(static_cast<int>(hd.rows()), 8, r1);
  auto gd = GradSink<double>::Shared(psd);
  auto gf = GradSink<float>::Shared(psf);
  encd.Backward(dy, wsd, gd);
  encf.Backward(dy.cast<float>(), wsf, gf);
  for (int i = 0; i < psd.size(); ++i) {
    EXPECT_LT(RelativeError(psf[i].grad, psd[i].grad), 1e-4) << psd[i].name;
  }
}

TEST(SasrecEncoderTest, PaddingAndWindowLengthDoNotChangeTheOutput) {
  SasrecEncoderOptions o = EncoderFixture::Options();
  ParamSet<float> ps;
  SasrecEncoder<float> encoder(ps, o, 7);
  SasrecEncoder<float>::Workspace ws(encoder, 2);
  Rng rng(1);
  // The same history [5, 2, 8] in a window of 3 and left-padded in a window of 6.
  const std::vector<ItemId> short_ids = {5, 2, 8};
  const std::vector<ItemId> long_ids = {kNoId, kNoId, kNoId, 5, 2, 8};
  const MatrixF a = encoder.Forward(short_ids, 1, 3, ws, rng, false);
  const MatrixF b = encoder.Forward(long_ids, 1, 6, ws, rng, false);
  EXPECT_LT(RelativeError(a, b.bottomRows(3)), 1e-6);
  EXPECT_TRUE(b.topRows(3).isZero());
}

TEST(SasrecEncoderTest, PostNormWithoutFinalNormAndNoBlocksStillDifferentiate) {
  for (int blocks : {0, 1}) {
    EncoderFixture f;
    SasrecEncoderOptions o = EncoderFixture::Options();
    o.transformer.blocks = blocks;
    o.transformer.norm = NormPlacement::kPost;
    o.transformer.final_norm = blocks == 0;
    ParamSet<double> ps;
    SasrecEncoder<double> encoder(ps, o, 3);
    SasrecEncoder<double>::Workspace ws(encoder, EncoderFixture::kBatch);
    const int rows = EncoderFixture::kBatch * EncoderFixture::kLen;
    Rng rng(2);
    const MatrixD r = RandomMatrix(rows, 8, rng);
    auto loss = [&] {
      Rng drop(4);
      return Project(MatrixD(encoder.Forward(f.ids, EncoderFixture::kBatch, EncoderFixture::kLen,
                                             ws, drop, true)),
                     r);
    };
    auto grads = GradSink<double>::Shared(ps);
    loss();
    encoder.Backward(r, ws, grads);
    ExpectParamGradients(ps, loss, 100);
  }
}

}  // namespace
}  // namespace freshet::nn
