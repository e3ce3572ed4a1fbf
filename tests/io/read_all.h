#pragma once

// Test helper: reads a whole file through an EventReader or ItemReader and keeps everything it
// produced, so a test can look at the result in one place.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/reader.h"

namespace freshet::io::test_util {

struct ReadResult {
  Status open_status;  // OK when Open succeeded
  std::vector<Record> records;
  std::vector<Item> items;
  std::vector<Reject> rejects;
  int batches = 0;  // non-empty batches returned
};

// Opens `path` and calls Next(batch_size) until an empty batch. A failed Open is returned in
// open_status; a failed Next fails the test.
inline ReadResult ReadEvents(Format format, const std::string& path,
                             const ReaderOptions& options = {}, size_t batch_size = 1000) {
  ReadResult out;
  auto reader = EventReader::Open(format, path, options);
  if (!reader.ok()) {
    out.open_status = reader.status();
    return out;
  }
  Batch batch;
  for (;;) {
    Status st = (*reader)->Next(batch_size, batch);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) break;
    if (batch.records.empty() && batch.rejects.empty() && batch.items.empty()) break;
    ++out.batches;
    EXPECT_LE(batch.records.size() + batch.rejects.size(), batch_size + 256)
        << "a batch ran far past its size";
    for (auto& r : batch.records) out.records.push_back(std::move(r));
    for (auto& i : batch.items) out.items.push_back(std::move(i));
    for (auto& r : batch.rejects) out.rejects.push_back(std::move(r));
  }
  return out;
}

inline ReadResult ReadItems(Format format, const std::string& path,
                            const ReaderOptions& options = {}, size_t batch_size = 1000) {
  ReadResult out;
  auto reader = ItemReader::Open(format, path, options);
  if (!reader.ok()) {
    out.open_status = reader.status();
    return out;
  }
  Batch batch;
  for (;;) {
    Status st = (*reader)->Next(batch_size, batch);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) break;
    if (batch.items.empty() && batch.rejects.empty()) break;
    ++out.batches;
    for (auto& i : batch.items) out.items.push_back(std::move(i));
    for (auto& r : batch.rejects) out.rejects.push_back(std::move(r));
  }
  return out;
}

// "line N field: reason" for each reject, so a failing expectation shows what was rejected.
inline std::string Describe(const std::vector<Reject>& rejects) {
  std::string out;
  for (const Reject& r : rejects) {
    out += "\n  line " + std::to_string(r.line) + " [" + r.field + "] " + r.reason + " | " + r.raw;
  }
  return out;
}

// The value of context / attrs key `key`, or "<absent>".
inline std::string Lookup(const KeyValues& kv, const std::string& key) {
  for (const auto& [k, v] : kv) {
    if (k == key) return v;
  }
  return "<absent>";
}

}  // namespace freshet::io::test_util
