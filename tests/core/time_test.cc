#include "core/time.h"

#include <gtest/gtest.h>

namespace freshet {
namespace {

int64_t Ms(std::string_view s) {
  auto r = ParseTimestamp(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
  return r.ok() ? *r : -1;
}

TEST(ParseTimestampTest, EpochSecondsAndMillisecondsAreTellApart) {
  EXPECT_EQ(Ms("881250949"), 881250949000);
  EXPECT_EQ(Ms("881250949.5"), 881250949500);
  EXPECT_EQ(Ms("1700000000123"), 1700000000123);
  EXPECT_EQ(Ms("0"), 0);
  EXPECT_EQ(Ms(" 12 "), 12000);
}

TEST(ParseTimestampTest, Iso8601WithAndWithoutOffsets) {
  EXPECT_EQ(Ms("1970-01-01"), 0);
  EXPECT_EQ(Ms("2016-05-09"), 1462752000000);
  EXPECT_EQ(Ms("2024-02-29T12:00:00Z"), 1709208000000);
  EXPECT_EQ(Ms("2024-02-29 12:00:00"), 1709208000000);
  EXPECT_EQ(Ms("2024-02-29T12:00"), 1709208000000);
  EXPECT_EQ(Ms("2024-02-29T12:00:00.25Z"), 1709208000250);
  EXPECT_EQ(Ms("2024-02-29T14:00:00+02:00"), 1709208000000);
  EXPECT_EQ(Ms("2024-02-29T07:30:00-0430"), 1709208000000);
}

TEST(ParseTimestampTest, RejectsMalformedTimesWithAReason) {
  for (const char* bad : {"", "abc", "2023-02-29", "2024-13-01", "2024-01-01T25:00",
                          "2024-01-01T10:00:00junk", "-5", "1e30", "2024-01-01T10", "nan"}) {
    auto r = ParseTimestamp(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsInvalidArgument());
      EXPECT_FALSE(r.status().message().empty());
    }
  }
}

TEST(FormatTimestampTest, RoundTripsThroughParse) {
  for (int64_t ms : {0LL, 1709208000000LL, 1709208000250LL, 4102444799000LL}) {
    EXPECT_EQ(Ms(FormatTimestamp(ms)), ms) << FormatTimestamp(ms);
  }
  EXPECT_EQ(FormatTimestamp(1709208000250), "2024-02-29T12:00:00.250Z");
}

}  // namespace
}  // namespace freshet
