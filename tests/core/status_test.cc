#include "core/status.h"

#include <gtest/gtest.h>

#include "core/json_writer.h"

namespace freshet {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  FRESHET_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(StatusTest, DefaultIsOkAndErrorsCarryCodeAndMessage) {
  EXPECT_TRUE(Status().ok());
  Status s = Status::NotFound("no such file 'x'");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(s.ToString(), "NotFound: no such file 'x'");
  EXPECT_EQ(s.WithContext("reading catalog").message(), "reading catalog: no such file 'x'");
  EXPECT_TRUE(Status::OK().WithContext("anything").ok());
}

TEST(StatusTest, ResultPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "3 is odd");
  EXPECT_EQ(Quarter(5).value_or(-1), -1);
}

TEST(JsonWriterTest, EscapesAndNestsCorrectly) {
  JsonWriter w;
  w.BeginObject()
      .Key("a").String("quote\" back\\ nl\n tab\t ctl\x01")
      .Key("n").Int(-3)
      .Key("x").Double(0.5)
      .Key("nan").Double(std::numeric_limits<double>::quiet_NaN())
      .Key("list").BeginArray().Uint(1).Bool(true).Null().EndArray()
      .Key("o").BeginObject().EndObject()
      .EndObject();
  EXPECT_EQ(w.str(),
            R"({"a":"quote\" back\\ nl\n tab\t ctl\u0001","n":-3,"x":0.5,"nan":null,)"
            R"("list":[1,true,null],"o":{}})");
}

TEST(JsonWriterTest, InvalidUtf8IsReplacedSoOutputStaysValid) {
  std::string out;
  AppendJsonString(&out, std::string("ok \xc2\xa3 bad \xa3 end"));
  EXPECT_EQ(out, "\"ok \xc2\xa3 bad \xef\xbf\xbd end\"");
}

}  // namespace
}  // namespace freshet

#include "core/crc32c.h"

namespace freshet {
namespace {

TEST(Crc32cTest, MatchesPublishedCheckValues) {
  // The standard check value of CRC-32C over "123456789" (RFC 3720, appendix B.4 vectors).
  EXPECT_EQ(Crc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros), 0x8a9136aau);
  std::string ones(32, '\xff');
  EXPECT_EQ(Crc32c(ones), 0x62a8ab43u);
}

TEST(Crc32cTest, ContinuingEqualsOneShot) {
  std::string s = "the quick brown fox jumps over the lazy dog, twice over";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    uint32_t a = Crc32c(0, s.data(), cut);
    EXPECT_EQ(Crc32c(a, s.data() + cut, s.size() - cut), Crc32c(s)) << cut;
  }
}

}  // namespace
}  // namespace freshet
