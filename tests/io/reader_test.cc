// Behaviour common to every format: opening, batching, progress, format names.

#include "io/reader.h"

#include <gtest/gtest.h>

#include "read_all.h"
#include "testing/testing.h"

namespace freshet::io {
namespace {

using freshet::testing::TempDir;
using freshet::testing::WriteFile;
using test_util::ReadEvents;

constexpr Format kAllFormats[] = {Format::kCsv,       Format::kJsonl,      Format::kSeq,
                                  Format::kMovieLens, Format::kDiginetica, Format::kOnlineRetail};

TEST(FormatTest, NamesRoundTrip) {
  for (Format f : kAllFormats) {
    auto parsed = ParseFormat(FormatName(f));
    ASSERT_TRUE(parsed.ok()) << FormatName(f);
    EXPECT_EQ(*parsed, f);
  }
  EXPECT_EQ(FormatName(Format::kOnlineRetail), "onlineretail");
}

TEST(FormatTest, UnknownNameListsTheKnownOnes) {
  auto parsed = ParseFormat("parquet");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.status().IsInvalidArgument());
  EXPECT_NE(parsed.status().message().find("parquet"), std::string::npos);
  EXPECT_NE(parsed.status().message().find("movielens"), std::string::npos);
}

TEST(OpenTest, MissingFileIsNotFoundForEveryFormat) {
  TempDir dir;
  for (Format f : kAllFormats) {
    auto reader = EventReader::Open(f, dir.Sub("nope.txt"), {});
    ASSERT_FALSE(reader.ok()) << FormatName(f);
    EXPECT_TRUE(reader.status().IsNotFound()) << reader.status().ToString();
    EXPECT_NE(reader.status().message().find("nope.txt"), std::string::npos);
  }
  EXPECT_TRUE(ItemReader::Open(Format::kCsv, dir.Sub("nope.csv"), {}).status().IsNotFound());
}

TEST(OpenTest, DirectoryIsAnIOError) {
  TempDir dir;
  auto reader = EventReader::Open(Format::kSeq, dir.path().string(), {});
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(reader.status().IsIOError()) << reader.status().ToString();
}

TEST(OpenTest, EmptyFileWithHeaderFormatFailsAtOpen) {
  TempDir dir;
  WriteFile(dir.Sub("empty"), "");
  for (Format f : {Format::kCsv, Format::kDiginetica, Format::kOnlineRetail}) {
    auto reader = EventReader::Open(f, dir.Sub("empty"), {});
    ASSERT_FALSE(reader.ok()) << FormatName(f);
    EXPECT_TRUE(reader.status().IsInvalidArgument());
    EXPECT_NE(reader.status().message().find("empty"), std::string::npos)
        << reader.status().message();
  }
}

TEST(OpenTest, EmptyFileWithoutHeaderYieldsNoRecords) {
  TempDir dir;
  WriteFile(dir.Sub("empty"), "");
  for (Format f : {Format::kJsonl, Format::kSeq, Format::kMovieLens}) {
    auto result = ReadEvents(f, dir.Sub("empty"));
    ASSERT_TRUE(result.open_status.ok()) << result.open_status.ToString();
    EXPECT_TRUE(result.records.empty());
    EXPECT_TRUE(result.rejects.empty());
    EXPECT_EQ(result.batches, 0);
  }
}

TEST(OpenTest, ItemReaderRefusesEventOnlyFormats) {
  TempDir dir;
  WriteFile(dir.Sub("x"), "1 2 3\n");
  auto reader = ItemReader::Open(Format::kSeq, dir.Sub("x"), {});
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(reader.status().IsInvalidArgument());
}

TEST(BatchTest, BatchesSplitAcrossNextCallsKeepLineNumbers) {
  TempDir dir;
  std::string csv = "ts,user,item,type\n";
  for (int i = 0; i < 25; ++i) {
    csv += std::to_string(1700000000 + i) + ",u" + std::to_string(i) + ",i,view\n";
    if (i == 10) csv += "\n";              // a blank line, skipped but counted
    if (i == 12) csv += "bad,u,i,view\n";  // a reject in the middle
  }
  WriteFile(dir.Sub("e.csv"), csv);
  auto reader = EventReader::Open(Format::kCsv, dir.Sub("e.csv"), {});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Batch batch;
  std::vector<int64_t> lines;
  std::vector<int64_t> reject_lines;
  int batches = 0;
  for (;;) {
    ASSERT_TRUE((*reader)->Next(4, batch).ok());
    if (batch.records.empty() && batch.rejects.empty()) break;
    ++batches;
    EXPECT_LE(batch.records.size() + batch.rejects.size(), 4u);
    for (const Record& r : batch.records) lines.push_back(r.line);
    for (const Reject& r : batch.rejects) reject_lines.push_back(r.line);
  }
  EXPECT_EQ(batches, 7);  // 26 records and rejects, 4 at a time
  ASSERT_EQ(lines.size(), 25u);
  // Record i sits on line i + 2, plus one after the blank line and one after the bad line.
  for (int i = 0; i < 25; ++i) {
    int64_t want = i + 2 + (i > 10 ? 1 : 0) + (i > 12 ? 1 : 0);
    EXPECT_EQ(lines[i], want) << "record " << i;
  }
  EXPECT_EQ(reject_lines, std::vector<int64_t>({16}));
  // Next after the end stays empty.
  ASSERT_TRUE((*reader)->Next(4, batch).ok());
  EXPECT_TRUE(batch.records.empty());
}

TEST(BatchTest, NextClearsThePreviousBatch) {
  TempDir dir;
  WriteFile(dir.Sub("s.txt"), "u1 a b\nu2 c\n");
  auto reader = EventReader::Open(Format::kSeq, dir.Sub("s.txt"), {});
  ASSERT_TRUE(reader.ok());
  Batch batch;
  batch.rejects.push_back(Reject{});
  batch.items.push_back(Item{});
  ASSERT_TRUE((*reader)->Next(100, batch).ok());
  EXPECT_EQ(batch.records.size(), 3u);
  EXPECT_TRUE(batch.rejects.empty());
  EXPECT_TRUE(batch.items.empty());
}

TEST(BatchTest, ProgressReachesTheFileSize) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "u" + std::to_string(i) + " a b c\n";
  WriteFile(dir.Sub("s.txt"), text);
  auto reader = EventReader::Open(Format::kSeq, dir.Sub("s.txt"), {});
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->bytes_total(), text.size());
  Batch batch;
  ASSERT_TRUE((*reader)->Next(30, batch).ok());
  EXPECT_GT((*reader)->bytes_read(), 0u);
  EXPECT_LT((*reader)->bytes_read(), text.size());
  while (true) {
    ASSERT_TRUE((*reader)->Next(1000, batch).ok());
    if (batch.records.empty()) break;
  }
  EXPECT_EQ((*reader)->bytes_read(), text.size());
}

TEST(BatchTest, LinesLongerThanTheBufferAreReadWhole) {
  TempDir dir;
  // One seq line of ~3 MiB, longer than the 1 MiB read buffer.
  std::string line = "u";
  for (int i = 0; i < 400000; ++i) line += " item" + std::to_string(i);
  WriteFile(dir.Sub("s.txt"), line + "\nu2 x\n");
  auto result = ReadEvents(Format::kSeq, dir.Sub("s.txt"), {}, 1 << 20);
  EXPECT_EQ(result.records.size(), 400001u);
  EXPECT_TRUE(result.rejects.empty());
  EXPECT_EQ(result.records.back().line, 2);
}

}  // namespace
}  // namespace freshet::io
