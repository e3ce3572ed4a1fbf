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
  for (const Case c : {Case{2, true, 0.0f}, Case{2, true, 0.3f}, Case{1, false, 0.0f},
                       Case{3, true, 0.0f}}) {
    SCOPED_TRACE(::testing::Message() << "heads " << c.heads << " causal " << c.causal
                                      << " dropout " << c.dropout);
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
      attn.Forward(x, valid, batch, len, y, ws, drop, true);
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
    attn.Forward(x.cast<float>(), valid, batch, len, y, ws, unused, false);
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
  attn.Forward(x, valid, 1, len, y1, ws, unused, false);
  x.row(4).setRandom();  // change position 4, and garbage in a padded row
  x.row(0).setConstant(1e6f);
  attn.Forward(x, valid, 1, len, y2, ws, unused, false);
  EXPECT_EQ(y1.topRows(4), y2.topRows(4));
  EXPECT_NE(y1.row(4), y2.row(4));
  EXPECT_TRUE(y1.row(0).isApprox(attn.out().bias().value.row(0)));
}

}  // namespace
}  // namespace freshet::nn
