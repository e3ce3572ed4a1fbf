#include "rank/dataset.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "testing/testing.h"

namespace freshet::rank {
namespace {

std::string CriteoLine(const std::string& label, const std::string& i1 = "5",
                       const std::string& c1 = "68fd1e64") {
  std::string line = label;
  line.append("\t").append(i1);
  for (int i = 2; i <= 13; ++i) line.append("\t").append(std::to_string(i));
  line.append("\t").append(c1);
  for (int i = 2; i <= 26; ++i) line.append("\tcat").append(std::to_string(i));
  return line.append("\n");
}

constexpr char kAvazuHeader[] =
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
    "app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,"
    "C18,C19,C20,C21\n";

std::string AvazuLine(const std::string& click, const std::string& hour) {
  return "1000," + click + "," + hour +
         ",1005,0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,07d7df22,a99f214a,96809ac8,"
         "711ee120,1,0,15704,320,50,1722,0,35,100084,79\n";
}

TEST(CriteoReaderTest, ParsesLabelBucketsAndCategoricals) {
  std::string text = CriteoLine("1", "5") + CriteoLine("0", "", "");
  auto data = ParseCtrText(text, "mem.txt", CtrFormat::kCriteo);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  ASSERT_EQ(data->size(), 2u);
  EXPECT_EQ(data->num_fields, 39);
  EXPECT_EQ(data->labels[0], 1.0f);
  EXPECT_EQ(data->labels[1], 0.0f);
  // I1 = 5: floor(ln(5)^2) = 2.
  EXPECT_EQ(CriteoBucket(5), 2);
  EXPECT_EQ(CriteoBucket(2), 2);
  EXPECT_EQ(CriteoBucket(100), 21);
  EXPECT_EQ(CriteoBucket(-1), -1);
  EXPECT_EQ(data->features[0], HashFeature(0, "2"));
  EXPECT_EQ(data->features[13], HashFeature(13, "68fd1e64"));
  // Missing values have their own id per field.
  EXPECT_EQ(data->features[39 + 0], HashFeature(0, ""));
  EXPECT_EQ(data->features[39 + 13], HashFeature(13, ""));
  EXPECT_TRUE(std::isnan(data->numeric[13 + 0]));
  EXPECT_NEAR(data->numeric[0], std::log1p(5.0f), 1e-6);
}

TEST(CriteoReaderTest, EqualStringsInDifferentFieldsGetDifferentIds) {
  EXPECT_NE(HashFeature(13, "abc"), HashFeature(14, "abc"));
  EXPECT_EQ(FieldOf(HashFeature(14, "abc")), 14);
  EXPECT_NE(HashFeature(3, "ab"), HashFeature(3, "ba"));
  EXPECT_NE(HashFeature(3, ""), HashFeature(3, std::string(1, '\0')));
}

TEST(CriteoReaderTest, WrongColumnCountNamesFileAndLine) {
  std::string text = CriteoLine("1") + "1\t2\t3\n";
  auto data = ParseCtrText(text, "day_0.txt", CtrFormat::kCriteo);
  ASSERT_FALSE(data.ok());
  EXPECT_TRUE(data.status().IsInvalidArgument());
  EXPECT_NE(data.status().message().find("day_0.txt:2:"), std::string::npos)
      << data.status().message();
  EXPECT_NE(data.status().message().find("found 3"), std::string::npos);
}

TEST(CriteoReaderTest, BadLabelNamesTheField) {
  auto data = ParseCtrText(CriteoLine("yes"), "f.txt", CtrFormat::kCriteo);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("f.txt:1: field label: 'yes' is not 0 or 1"),
            std::string::npos)
      << data.status().message();
}

TEST(CriteoReaderTest, NonIntegerNumericFieldNamesTheField) {
  auto data = ParseCtrText(CriteoLine("0") + CriteoLine("0", "1.5"), "f.txt", CtrFormat::kCriteo);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("f.txt:2: field I1: '1.5' is not an integer"),
            std::string::npos)
      << data.status().message();
}

TEST(CriteoReaderTest, MaxErrorsSkipsAndCountsBadLines) {
  std::string text = CriteoLine("1") + CriteoLine("x") + CriteoLine("0") + "short\n";
  CtrReadReport report;
  auto data = ParseCtrText(text, "f.txt", CtrFormat::kCriteo, {.max_errors = 2}, &report);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->size(), 2u);
  EXPECT_EQ(report.errors, 2u);
  EXPECT_EQ(report.lines, 4u);
  ASSERT_EQ(report.first_errors.size(), 2u);
  EXPECT_NE(report.first_errors[0].find("f.txt:2: field label"), std::string::npos);

  auto strict = ParseCtrText(text, "f.txt", CtrFormat::kCriteo, {.max_errors = 1}, &report);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find("f.txt:4:"), std::string::npos);
  EXPECT_NE(strict.status().message().find("more than --max-errors 1"), std::string::npos);
}

TEST(CriteoReaderTest, MissingFileIsNotFound) {
  auto data = ReadCtrFile("/nonexistent/criteo.txt", CtrFormat::kCriteo);
  ASSERT_FALSE(data.ok());
  EXPECT_TRUE(data.status().IsNotFound());
}

TEST(AvazuReaderTest, DerivesHourOfDayAndWeekday) {
  // 2014-10-21 was a Tuesday (weekday 2, Sunday = 0); 2014-10-26 a Sunday.
  std::string text =
      std::string(kAvazuHeader) + AvazuLine("1", "14102113") + AvazuLine("0", "14102600");
  auto data = ParseCtrText(text, "train.csv", CtrFormat::kAvazu);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  ASSERT_EQ(data->size(), 2u);
  EXPECT_EQ(data->num_fields, 23);
  EXPECT_EQ(FieldNames(CtrFormat::kAvazu)[21], "hour_of_day");
  EXPECT_EQ(data->labels[0], 1.0f);
  EXPECT_EQ(data->features[0], HashFeature(0, "1005"));
  EXPECT_EQ(data->features[21], HashFeature(21, "13"));
  EXPECT_EQ(data->features[22], HashFeature(22, "2"));
  EXPECT_EQ(data->features[23 + 21], HashFeature(21, "0"));
  EXPECT_EQ(data->features[23 + 22], HashFeature(22, "0"));
}

TEST(AvazuReaderTest, BadHourAndWrongHeaderAreNamedAndTheHeaderIsOptional) {
  auto bad = ParseCtrText(std::string(kAvazuHeader) + AvazuLine("0", "14132100"), "a.csv",
                          CtrFormat::kAvazu);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("a.csv:2: field hour: '14132100' is not a YYMMDDHH"),
            std::string::npos)
      << bad.status().message();
  auto no_header = ParseCtrText(AvazuLine("0", "14102100"), "a.csv", CtrFormat::kAvazu);
  ASSERT_TRUE(no_header.ok()) << "the header is optional";
  EXPECT_EQ(no_header->size(), 1u);
  auto other_header = ParseCtrText(std::string("id,label,hour\n") + AvazuLine("0", "14102100"),
                                   "a.csv", CtrFormat::kAvazu);
  ASSERT_FALSE(other_header.ok());
  EXPECT_NE(other_header.status().message().find("a.csv:1: not an Avazu header"),
            std::string::npos);
  auto bad_click = ParseCtrText(std::string(kAvazuHeader) + AvazuLine("2", "14102100"), "a.csv",
                                CtrFormat::kAvazu);
  ASSERT_FALSE(bad_click.ok());
  EXPECT_NE(bad_click.status().message().find("field click"), std::string::npos);
}

TEST(SharedDataTest, CriteoAndAvazuSamplesReadWithoutErrors) {
  FRESHET_SHARED_DATA_OR_SKIP(criteo, "criteo-sample/train.txt");
  FRESHET_SHARED_DATA_OR_SKIP(avazu, "avazu-sample/train.csv");
  CtrReadReport report;
  auto c = ReadCtrFile(criteo, CtrFormat::kCriteo, {}, &report);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->size(), 7200u);
  EXPECT_EQ(report.errors, 0u);
  auto a = ReadCtrFile(avazu, CtrFormat::kAvazu, {}, &report);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->size(), 8087u);
}

}  // namespace
}  // namespace freshet::rank
