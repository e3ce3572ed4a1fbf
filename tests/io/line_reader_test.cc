// The buffered line / csv record reader, driven with a small buffer so that records cross many
// refills.

#include "io/line_reader.h"

#include <gtest/gtest.h>

#include "testing/testing.h"

namespace freshet::io {
namespace {

using freshet::testing::TempDir;
using freshet::testing::WriteFile;

constexpr size_t kSmallBuffer = 4096;

TEST(LineReaderTest, LinesAcrossManyRefillsComeBackIntact) {
  TempDir dir;
  std::string text;
  std::vector<std::string> want;
  for (int i = 0; i < 5000; ++i) {
    want.push_back("line " + std::to_string(i) + std::string(i % 97, 'x'));
    text += want.back() + (i % 2 ? "\r\n" : "\n");
  }
  WriteFile(dir.Sub("f"), text);
  auto in = LineReader::Open(dir.Sub("f"), kSmallBuffer);
  ASSERT_TRUE(in.ok());
  std::string_view line;
  int64_t line_no = 0;
  bool eof = false;
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE((*in)->NextLine(line, line_no, eof).ok());
    ASSERT_FALSE(eof);
    ASSERT_EQ(line, want[i]);
    ASSERT_EQ(line_no, i + 1);
  }
  ASSERT_TRUE((*in)->NextLine(line, line_no, eof).ok());
  EXPECT_TRUE(eof);
  EXPECT_EQ((*in)->bytes_consumed(), text.size());
}

TEST(LineReaderTest, CsvRecordsWithQuotedNewlinesAcrossRefills) {
  TempDir dir;
  std::string text;
  std::vector<std::string> want;
  std::vector<int64_t> want_lines;
  int64_t line = 1;
  for (int i = 0; i < 3000; ++i) {
    std::string record = std::to_string(i) + ",\"a\nb\"\"" + std::string(i % 53, 'y') + "\n\",z";
    want.push_back(record);
    want_lines.push_back(line);
    line += 3;  // two quoted newlines
    text += record + "\n";
  }
  WriteFile(dir.Sub("f"), text);
  auto in = LineReader::Open(dir.Sub("f"), kSmallBuffer);
  ASSERT_TRUE(in.ok());
  LineReader::CsvRecord record;
  bool eof = false;
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE((*in)->NextCsvRecord(',', record, eof).ok());
    ASSERT_FALSE(eof);
    ASSERT_FALSE(record.unterminated);
    ASSERT_EQ(record.text, want[i]);
    ASSERT_EQ(record.line, want_lines[i]);
  }
  ASSERT_TRUE((*in)->NextCsvRecord(',', record, eof).ok());
  EXPECT_TRUE(eof);
}

TEST(LineReaderTest, UnterminatedQuoteAtEndOfFileGivesUpOnOneLine) {
  TempDir dir;
  WriteFile(dir.Sub("f"), "a,\"open\nb,c\nd,e");
  auto in = LineReader::Open(dir.Sub("f"), kSmallBuffer);
  ASSERT_TRUE(in.ok());
  LineReader::CsvRecord record;
  bool eof = false;
  ASSERT_TRUE((*in)->NextCsvRecord(',', record, eof).ok());
  EXPECT_TRUE(record.unterminated);
  EXPECT_EQ(record.text, "a,\"open");
  EXPECT_EQ(record.line, 1);
  ASSERT_TRUE((*in)->NextCsvRecord(',', record, eof).ok());
  EXPECT_FALSE(record.unterminated);
  EXPECT_EQ(record.text, "b,c");
  EXPECT_EQ(record.line, 2);
  ASSERT_TRUE((*in)->NextCsvRecord(',', record, eof).ok());
  EXPECT_EQ(record.text, "d,e");
  EXPECT_EQ(record.line, 3);
  ASSERT_TRUE((*in)->NextCsvRecord(',', record, eof).ok());
  EXPECT_TRUE(eof);
}

TEST(LineReaderTest, RunawayQuoteStopsAtTheRecordLimit) {
  TempDir dir;
  // An opening quote, then more than kMaxCsvRecordBytes of lines before the file ends.
  std::string text = "1,\"runaway\n";
  const std::string filler = "2,plain line of text\n";
  while (text.size() <= LineReader::kMaxCsvRecordBytes + 4096) text += filler;
  text += "3,\"closes at last\"\n";
  WriteFile(dir.Sub("f"), text);
  auto in = LineReader::Open(dir.Sub("f"));
  ASSERT_TRUE(in.ok());
  LineReader::CsvRecord record;
  bool eof = false;
  ASSERT_TRUE((*in)->NextCsvRecord(',', record, eof).ok());
  EXPECT_TRUE(record.unterminated);
  EXPECT_EQ(record.text, "1,\"runaway");
  ASSERT_TRUE((*in)->NextCsvRecord(',', record, eof).ok());
  EXPECT_FALSE(record.unterminated);
  EXPECT_EQ(record.text, "2,plain line of text");
  EXPECT_EQ(record.line, 2);
}

TEST(LineReaderTest, ViewsAreFollowedByPadding) {
  TempDir dir;
  WriteFile(dir.Sub("f"), "abc");
  auto in = LineReader::Open(dir.Sub("f"), kSmallBuffer);
  ASSERT_TRUE(in.ok());
  std::string_view line;
  int64_t line_no = 0;
  bool eof = false;
  ASSERT_TRUE((*in)->NextLine(line, line_no, eof).ok());
  ASSERT_EQ(line, "abc");
  // Reading the padding must be allowed (AddressSanitizer checks this in the sanitizer build).
  volatile char sink = 0;
  for (size_t i = 0; i < LineReader::kPadding; ++i) sink = sink + line.data()[line.size() + i];
  (void)sink;
}

}  // namespace
}  // namespace freshet::io
