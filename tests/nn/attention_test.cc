#include "nn/attention.h"

#include <gtest/gtest.h>

#include <vector>

#include "grad_check.h"
#include "naive_ops.h"

namespace freshet::nn {
namespace {

using testing::ExpectGradient;
using testing::ExpectParamGradients;
using testing::MatrixD;
using testing::MatrixF;
using testing::Project;
using testing::RandomMatrix;
using testing::RelativeError;

// Left-padded windows of several lengths (empty, full, in between) and one with a hole.
std::vector<uint8_t> MixedMask(int batch, int len) {
  std::vector<uint8_t> valid(static_cast<size_t>(batch) * len, 0);
  const int lengths[] = {0, len, 2, len - 1, 1};
  for (int b = 0; b < batch; ++b) {
    const int n = lengths[b % 5];
    for (int t = len - n; t < len; ++t) valid[b * len + t] = 1;
  }
  if (batch > 1 && len > 3) {  // sequence 1: a hole inside its valid suffix
    for (int t = 0; t < len; ++t) valid[len + t] = 1;
    valid[len + len / 2] = 0;
  }
  return valid;
}

TEST(AttentionTest, BackwardMatchesNumericalGradient) {
  struct Case {
    int heads;
    bool causal;
    float dropout;
  };
  for (const Case c :
       {Case{2, true, 0.0f}, Case{2, true, 0.3f}, Case{1, false, 0.0f}, Case{3, true, 0.0f}}) {
    SCOPED_TRACE(::testing::Message()
                 << "heads " << c.heads << " causal " << c.causal << " dropout " << c.dropout);
    Rng rng(21);
    const int batch = 4;
    const int len = 5;
    ParamSet<double> ps;
    AttentionOptions o;
    o.hidden = 2 * c.heads * 2;
    o.heads = c.heads;
    o.causal = c.causal;
    o.dropout = c.dropout;
    MultiHeadSelfAttention<double> attn(ps, "attn", o, rng);
    attn.qkv().bias().value = RandomMatrix(1, 3 * o.hidden, rng, 0.5);
    attn.out().bias().value = RandomMatrix(1, o.hidden, rng, 0.5);
    MultiHeadSelfAttention<double>::Workspace ws(attn, batch, len + 2);
    const std::vector<uint8_t> valid = MixedMask(batch, len);
    MatrixD x = RandomMatrix(batch * len, o.hidden, rng);
    const MatrixD r = RandomMatrix(batch * len, o.hidden, rng);
    MatrixD y(batch * len, o.hidden);
    auto loss = [&] {
      Rng drop(77);
      attn.Forward(x, SequenceLayout::Padded(valid, batch, len), y, ws, drop, true);
      return Project(y, r);
    };
    auto grads = GradSink<double>::Shared(ps);
    MatrixD dx(batch * len, o.hidden);
    loss();
    attn.Backward(x, r, grads, dx, ws);
    ExpectGradient(x, dx, loss, "x");
    ExpectParamGradients(ps, loss);
  }
}

TEST(AttentionTest, ForwardMatchesNaiveLoopWithCausalAndPaddingMasks) {
  for (bool causal : {true, false}) {
    Rng rng(22);
    const int batch = 5;
    const int len = 7;
    ParamSet<float> ps;
    AttentionOptions o;
    o.hidden = 8;
    o.heads = 2;
    o.causal = causal;
    MultiHeadSelfAttention<float> attn(ps, "attn", o, rng);
    attn.qkv().bias().value = RandomMatrix(1, 24, rng, 0.5).cast<float>();
    attn.out().bias().value = RandomMatrix(1, 8, rng, 0.5).cast<float>();
    MultiHeadSelfAttention<float>::Workspace ws(attn, batch, len);
    const std::vector<uint8_t> valid = MixedMask(batch, len);
    const MatrixD x = RandomMatrix(batch * len, 8, rng);
    MatrixF y(batch * len, 8);
    Rng unused(0);
    attn.Forward(x.cast<float>(), SequenceLayout::Padded(valid, batch, len), y, ws, unused, false);
    const MatrixD want = testing::NaiveAttention(
        x, valid, batch, len, 2, causal, attn.qkv().weight().value.cast<double>(),
        attn.qkv().bias().value.cast<double>(), attn.out().weight().value.cast<double>(),
        attn.out().bias().value.cast<double>());
    EXPECT_LT(RelativeError(y, want), 1e-5) << "causal " << causal;
  }
}

TEST(AttentionTest, CausalOutputIgnoresLaterPositionsAndPaddedQueriesGiveTheBias) {
  Rng rng(23);
  const int len = 6;
  ParamSet<float> ps;
  AttentionOptions o;
  o.hidden = 4;
  o.heads = 2;
  MultiHeadSelfAttention<float> attn(ps, "attn", o, rng);
  attn.out().bias().value = RandomMatrix(1, 4, rng).cast<float>();
  MultiHeadSelfAttention<float>::Workspace ws(attn, 1, len);
  const std::vector<uint8_t> valid = {0, 0, 1, 1, 1, 1};
  MatrixF x = RandomMatrix(len, 4, rng).cast<float>();
  MatrixF y1(len, 4), y2(len, 4);
  Rng unused(0);
  attn.Forward(x, SequenceLayout::Padded(valid, 1, len), y1, ws, unused, false);
  x.row(4).setRandom();  // change position 4, and garbage in a padded row
  x.row(0).setConstant(1e6f);
  attn.Forward(x, SequenceLayout::Padded(valid, 1, len), y2, ws, unused, false);
  EXPECT_EQ(y1.topRows(4), y2.topRows(4));
  EXPECT_NE(y1.row(4), y2.row(4));
  EXPECT_TRUE(y1.row(0).isApprox(attn.out().bias().value.row(0)));
}

// Packing the real tokens (no padding rows at all) must give the same outputs and gradients as
// the padded windows with their mask, including the dropout masks' effect (no dropout here).
TEST(AttentionTest, PackedLayoutMatchesPaddedLayout) {
  Rng rng(24);
  const int batch = 4, len = 6, hidden = 8;
  ParamSet<double> ps;
  AttentionOptions o;
  o.hidden = hidden;
  o.heads = 2;
  MultiHeadSelfAttention<double> attn(ps, "attn", o, rng);
  MultiHeadSelfAttention<double>::Workspace ws(attn, batch, len);
  const std::vector<int> lengths = {6, 0, 3, 1};
  std::vector<uint8_t> valid(batch * len, 0);
  std::vector<int32_t> offsets = {0};
  std::vector<int> rows;  // padded row of each packed row
  for (int b = 0; b < batch; ++b) {
    for (int t = len - lengths[b]; t < len; ++t) {
      valid[b * len + t] = 1;
      rows.push_back(b * len + t);
    }
    offsets.push_back(static_cast<int32_t>(rows.size()));
  }
  const int n = static_cast<int>(rows.size());
  const MatrixD x_pad = RandomMatrix(batch * len, hidden, rng);
  const MatrixD dy_pad = RandomMatrix(batch * len, hidden, rng);
  MatrixD x_pack(n, hidden), dy_pack(n, hidden);
  for (int i = 0; i < n; ++i) {
    x_pack.row(i) = x_pad.row(rows[i]);
    dy_pack.row(i) = dy_pad.row(rows[i]);
  }
  Rng unused(0);
  auto grads = GradSink<double>::Shared(ps);
  MatrixD y_pad(batch * len, hidden), dx_pad(batch * len, hidden);
  MatrixD dy_masked = dy_pad;  // padded rows' outputs are not used
  for (int r = 0; r < batch * len; ++r) {
    if (!valid[r]) dy_masked.row(r).setZero();
  }
  attn.Forward(x_pad, SequenceLayout::Padded(valid, batch, len), y_pad, ws, unused, true);
  attn.Backward(x_pad, dy_masked, grads, dx_pad, ws);
  std::vector<MatrixD> padded_grads;
  for (int i = 0; i < ps.size(); ++i) padded_grads.push_back(ps[i].grad);
  ps.ZeroGrad();
  MatrixD y_pack(n, hidden), dx_pack(n, hidden);
  attn.Forward(x_pack, SequenceLayout::Packed(offsets, len), y_pack, ws, unused, true);
  attn.Backward(x_pack, dy_pack, grads, dx_pack, ws);
  for (int i = 0; i < n; ++i) {
    EXPECT_LT((y_pack.row(i) - y_pad.row(rows[i])).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((dx_pack.row(i) - dx_pad.row(rows[i])).cwiseAbs().maxCoeff(), 1e-12);
  }
  for (int i = 0; i < ps.size(); ++i) {
    EXPECT_LT(RelativeError(ps[i].grad, padded_grads[i]), 1e-12) << ps[i].name;
  }
}

}  // namespace
}  // namespace freshet::nn
