#pragma once

// Planted-pattern data and small options shared by the SASRec tests.

#include <string>

#include "model/sasrec.h"
#include "model/sequences.h"
#include "nn/random.h"
#include "store/event_table.h"

namespace freshet::model::testing {

constexpr uint32_t kItems = 30;
inline ItemId Next(ItemId i) { return (i * 7 + 3) % kItems; }

// Users walk the planted chain i -> 7i + 3 (mod 30) from a random start.
struct Chains {
  store::EventTable table;
  UserSequences seqs;
  explicit Chains(int users, uint64_t seed) {
    nn::Rng rng(seed);
    table.num_users = users;
    table.num_items = kItems;
    int64_t ts = 0;
    for (int u = 0; u < users; ++u) {
      ItemId item = static_cast<ItemId>(rng.Below(kItems));
      const int len = 3 + static_cast<int>(rng.Below(8));
      for (int k = 0; k < len; ++k) {
        table.seq.push_back(table.seq.size());
        table.ts_ms.push_back(ts += 1000);
        table.user.push_back(u);
        table.item.push_back(item);
        table.type.push_back(EventType::kView);
        table.value.push_back(0);
        item = Next(item);
      }
    }
    seqs = BuildSequences(table);
  }
  TrainData data() const {
    TrainData d;
    d.table = &table;
    d.sequences = &seqs;
    return d;
  }
};

inline SasrecOptions Small(const std::string& loss) {
  SasrecOptions o;
  o.max_len = 8;
  o.hidden = 16;
  o.blocks = 1;
  o.heads = 2;
  o.dropout = 0.1;
  o.epochs = 40;
  o.batch_size = 32;
  o.learning_rate = 0.01;
  o.loss = loss;
  return o;
}

}  // namespace freshet::model::testing
