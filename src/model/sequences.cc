#include "model/sequences.h"

namespace freshet::model {

UserSequences BuildSequences(const store::EventTable& table) {
  UserSequences seqs;
  seqs.num_items = table.num_items;
  const uint32_t num_users = table.num_users;
  // Two passes (count, then fill) keep the CSR arrays exact-sized.
  std::vector<uint64_t> counts(num_users, 0);
  std::vector<ItemId> last(num_users, kNoId);
  for (size_t i = 0; i < table.size(); ++i) {
    ItemId item = table.item[i];
    if (item == kNoId || !IsInteraction(table.type[i])) continue;
    UserId u = table.user[i];
    if (last[u] == item) continue;
    last[u] = item;
    ++counts[u];
  }
  seqs.offsets.assign(num_users + 1, 0);
  for (uint32_t u = 0; u < num_users; ++u) seqs.offsets[u + 1] = seqs.offsets[u] + counts[u];
  seqs.items.resize(seqs.offsets[num_users]);
  seqs.ts_ms.resize(seqs.offsets[num_users]);
  std::vector<uint64_t> cursor(seqs.offsets.begin(), seqs.offsets.end() - 1);
  std::fill(last.begin(), last.end(), kNoId);
  for (size_t i = 0; i < table.size(); ++i) {
    ItemId item = table.item[i];
    if (item == kNoId || !IsInteraction(table.type[i])) continue;
    UserId u = table.user[i];
    if (last[u] == item) continue;
    last[u] = item;
    seqs.items[cursor[u]] = item;
    seqs.ts_ms[cursor[u]] = table.ts_ms[i];
    ++cursor[u];
  }
  return seqs;
}

}  // namespace freshet::model
