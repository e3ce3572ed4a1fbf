// End-to-end: the encoder, the full-softmax loss and Adam together learn a planted rule.

#include <gtest/gtest.h>

#include <vector>

#include "nn/loss.h"
#include "nn/optimizer.h"
#include "nn/transformer.h"

namespace freshet::nn {
namespace {

constexpr uint32_t kItems = 20;
// The planted next-item rule, a permutation of the catalog (7 is coprime with 20).
ItemId Next(ItemId i) { return (i * 7 + 3) % kItems; }

// Left-padded windows that follow the rule from a random first item, with random lengths, and
// the per-position targets (the next item; kNoId on padding).
void MakeBatch(int batch, int len, Rng& rng, std::vector<ItemId>& ids,
               std::vector<ItemId>& targets) {
  ids.assign(static_cast<size_t>(batch) * len, kNoId);
  targets.assign(ids.size(), kNoId);
  for (int b = 0; b < batch; ++b) {
    const int n = 1 + static_cast<int>(rng.Below(len));
    auto item = static_cast<ItemId>(rng.Below(kItems));
    for (int t = len - n; t < len; ++t) {
      ids[b * len + t] = item;
      item = Next(item);
      targets[b * len + t] = item;
    }
  }
}

TEST(LearnTest, EncoderWithFullSoftmaxLearnsAPlantedNextItemRule) {
  const uint64_t seed = 2024;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const int batch = 32, len = 6;
  SasrecEncoderOptions o;
  o.num_items = kItems;
  o.max_len = len;
  o.embedding_dropout = 0.1f;
  // Tied input / output embeddings start distinguishable; at 0.02 a tiny catalog's items start
  // nearly identical and some seeds need many more steps to separate them.
  o.init_stddev = 0.5;
  o.transformer.hidden = 16;
  o.transformer.heads = 2;
  o.transformer.blocks = 1;
  o.transformer.dropout = 0.1f;
  ParamSet<float> ps;
  SasrecEncoder<float> encoder(ps, o, seed);
  const int eval_batch = 256;
  SasrecEncoder<float>::Workspace ws(encoder, eval_batch);
  FullSoftmaxLoss<float> softmax;
  FullSoftmaxLoss<float>::Workspace sws(softmax, kItems, o.transformer.hidden);
  AdamOptions ao;
  ao.learning_rate = 0.01f;
  Adam<float> adam(ps, ao);
  auto grads = GradSink<float>::Shared(ps);
  Matrix<float> d_hidden(batch * len, o.transformer.hidden);
  Rng rng(seed);
  std::vector<ItemId> ids, targets;
  double first_loss = 0, last_loss = 0;
  const int steps = 300;
  for (int step = 0; step < steps; ++step) {
    MakeBatch(batch, len, rng, ids, targets);
    int64_t count = 0;
    for (ItemId t : targets) count += t != kNoId;
    grads.Zero();
    ConstMatrixRef<float> hidden = encoder.Forward(ids, batch, len, ws, rng, true);
    const LossValue v =
        softmax.Compute(hidden, targets, encoder.item_embedding().value, 1.0f / count, d_hidden,
                        grads[encoder.item_embedding()], sws);
    encoder.Backward(d_hidden, ws, grads);
    adam.Step();
    if (step == 0) first_loss = v.mean();
    last_loss = v.mean();
  }
  EXPECT_LT(last_loss, 0.2 * first_loss) << "first " << first_loss << " last " << last_loss;

  // Held-out windows, no dropout: the newest position must predict the rule's next item.
  MakeBatch(eval_batch, len, rng, ids, targets);
  ConstMatrixRef<float> hidden = encoder.Forward(ids, eval_batch, len, ws, rng, false);
  int correct = 0;
  for (int b = 0; b < eval_batch; ++b) {
    const Eigen::Index row = static_cast<Eigen::Index>(b) * len + len - 1;
    Eigen::Index best = 0;
    (encoder.item_embedding().value * hidden.row(row).transpose()).maxCoeff(&best);
    correct += static_cast<ItemId>(best) == targets[row];
  }
  EXPECT_GE(correct, eval_batch * 95 / 100) << correct << " of " << eval_batch;
}

}  // namespace
}  // namespace freshet::nn
