#include "store/event_table.h"

#include <algorithm>
#include <numeric>

namespace freshet::store {
namespace {

template <typename T>
void Permute(std::vector<T>& column, const std::vector<uint32_t>& order) {
  std::vector<T> out(column.size());
  for (size_t i = 0; i < order.size(); ++i) out[i] = column[order[i]];
  column.swap(out);
}

}  // namespace

void EventTable::Reserve(size_t n) {
  seq.reserve(n);
  ts_ms.reserve(n);
  user.reserve(n);
  item.reserve(n);
  type.reserve(n);
  value.reserve(n);
}

void EventTable::Clear() {
  seq.clear();
  ts_ms.clear();
  user.clear();
  item.clear();
  type.clear();
  value.clear();
}

bool EventTable::IsSortedByTime() const {
  for (size_t i = 1; i < size(); ++i) {
    if (ts_ms[i] < ts_ms[i - 1] || (ts_ms[i] == ts_ms[i - 1] && seq[i] < seq[i - 1])) {
      return false;
    }
  }
  return true;
}

void EventTable::SortByTime() {
  if (IsSortedByTime()) return;
  std::vector<uint32_t> order(size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [this](uint32_t a, uint32_t b) {
    return ts_ms[a] != ts_ms[b] ? ts_ms[a] < ts_ms[b] : seq[a] < seq[b];
  });
  Permute(seq, order);
  Permute(ts_ms, order);
  Permute(user, order);
  Permute(item, order);
  Permute(type, order);
  Permute(value, order);
}

}  // namespace freshet::store
