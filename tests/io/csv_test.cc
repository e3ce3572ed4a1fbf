#include "io/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace freshet::io {
namespace {

std::vector<std::string> SplitOk(std::string_view record, char delimiter = ',') {
  CsvSplitter splitter(delimiter);
  EXPECT_TRUE(splitter.Split(record)) << splitter.error();
  return {splitter.fields().begin(), splitter.fields().end()};
}

using Fields = std::vector<std::string>;

TEST(CsvSplitterTest, SplitsPlainFields) { EXPECT_EQ(SplitOk("a,b,c"), (Fields{"a", "b", "c"})); }

TEST(CsvSplitterTest, KeepsEmptyFieldsIncludingLeadingAndTrailing) {
  EXPECT_EQ(SplitOk(",a,,b,"), (Fields{"", "a", "", "b", ""}));
  EXPECT_EQ(SplitOk(""), (Fields{""}));
  EXPECT_EQ(SplitOk(","), (Fields{"", ""}));
}

TEST(CsvSplitterTest, QuotedFieldsMayHoldDelimitersAndNewlines) {
  EXPECT_EQ(SplitOk("1,\"a, b\",\"x\ny\""), (Fields{"1", "a, b", "x\ny"}));
}

TEST(CsvSplitterTest, DoubledQuotesInsideQuotesBecomeOneQuote) {
  EXPECT_EQ(SplitOk("\"say \"\"hi\"\"\",\"\"\"\",x"), (Fields{"say \"hi\"", "\"", "x"}));
}

TEST(CsvSplitterTest, EmptyQuotedFieldIsEmpty) {
  EXPECT_EQ(SplitOk("\"\",a,\"\""), (Fields{"", "a", ""}));
  EXPECT_EQ(SplitOk("a,\"b\","), (Fields{"a", "b", ""}));
}

TEST(CsvSplitterTest, QuoteInsideAnUnquotedFieldIsLiteral) {
  EXPECT_EQ(SplitOk("5\" screen,x"), (Fields{"5\" screen", "x"}));
}

TEST(CsvSplitterTest, OtherDelimiters) {
  EXPECT_EQ(SplitOk("a;\"b;c\";d", ';'), (Fields{"a", "b;c", "d"}));
  EXPECT_EQ(SplitOk("a\tb", '\t'), (Fields{"a", "b"}));
}

TEST(CsvSplitterTest, FieldViewsSurviveUntilTheNextSplit) {
  CsvSplitter splitter(',');
  ASSERT_TRUE(splitter.Split("\"a\"\"1\",\"b\"\"2\",\"c\"\"3\""));
  EXPECT_EQ(splitter.fields()[0], "a\"1");
  EXPECT_EQ(splitter.fields()[1], "b\"2");
  EXPECT_EQ(splitter.fields()[2], "c\"3");
}

TEST(CsvSplitterTest, RejectsUnterminatedQuote) {
  CsvSplitter splitter(',');
  EXPECT_FALSE(splitter.Split("a,\"bc"));
  EXPECT_EQ(splitter.error_field(), 1u);
  EXPECT_NE(splitter.error().find("no closing quote"), std::string::npos);
}

TEST(CsvSplitterTest, RejectsTextAfterClosingQuote) {
  CsvSplitter splitter(',');
  EXPECT_FALSE(splitter.Split("a,\"b\"c,d"));
  EXPECT_EQ(splitter.error_field(), 1u);
  EXPECT_NE(splitter.error().find("after the closing quote"), std::string::npos);
}

TEST(ScanCsvRecordTest, EndsAtFirstNewlineOutsideQuotes) {
  CsvScan scan = ScanCsvRecord("a,\"x\ny\",b\nnext", ',');
  EXPECT_EQ(scan.end, 9u);
  EXPECT_EQ(scan.newlines, 1);
}

TEST(ScanCsvRecordTest, EscapedQuoteDoesNotCloseTheField) {
  // "a""<newline>b" is one field: the "" is an escaped quote, so the newline is inside.
  CsvScan scan = ScanCsvRecord("\"a\"\"\nb\"\nz", ',');
  EXPECT_EQ(scan.end, 7u);
  EXPECT_EQ(scan.newlines, 1);
}

TEST(ScanCsvRecordTest, ReportsTextEndingInsideQuotes) {
  CsvScan scan = ScanCsvRecord("a,\"open\nstill open", ',');
  EXPECT_EQ(scan.end, std::string_view::npos);
  EXPECT_TRUE(scan.in_quotes);
  EXPECT_EQ(scan.newlines, 1);
}

TEST(ScanCsvRecordTest, QuoteInsideUnquotedFieldDoesNotOpenQuotes) {
  CsvScan scan = ScanCsvRecord("5\" screen,x\nnext", ',');
  EXPECT_EQ(scan.end, 11u);
}

}  // namespace
}  // namespace freshet::io
