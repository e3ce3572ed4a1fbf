#include "io/text.h"

#include <gtest/gtest.h>

namespace freshet::io {
namespace {

TEST(Utf8Test, AcceptsAsciiAndWellFormedMultibyte) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii text that is longer than eight bytes"));
  EXPECT_TRUE(IsValidUtf8("\xC2\xA3 caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST(Utf8Test, RejectsMalformedSequences) {
  EXPECT_FALSE(IsValidUtf8("\xA3"));              // lone continuation (Latin-1 pound)
  EXPECT_FALSE(IsValidUtf8("abc\xC3"));           // truncated at end
  EXPECT_FALSE(IsValidUtf8("\xC3("));             // bad continuation
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("12345678\xE2\x82"));  // truncated after a fast-path block
}

TEST(Latin1Test, HighBytesBecomeTwoByteUtf8) {
  std::string out;
  AppendLatin1AsUtf8(
      "\xA3"
      "5 caf\xE9",
      out);
  EXPECT_EQ(out,
            "\xC2\xA3"
            "5 caf\xC3\xA9");
  EXPECT_TRUE(IsValidUtf8(out));
}

TEST(ParseNumberTest, AcceptsWhatPeopleWrite) {
  double d = 0;
  EXPECT_TRUE(ParseDouble("3", d));
  EXPECT_EQ(d, 3.0);
  EXPECT_TRUE(ParseDouble(" -1.5 ", d));
  EXPECT_EQ(d, -1.5);
  EXPECT_TRUE(ParseDouble("+2", d));
  EXPECT_EQ(d, 2.0);
  EXPECT_TRUE(ParseDouble("1e3", d));
  EXPECT_EQ(d, 1000.0);
  EXPECT_FALSE(ParseDouble("", d));
  EXPECT_FALSE(ParseDouble("1.5x", d));
  EXPECT_FALSE(ParseDouble("nan", d));
  EXPECT_FALSE(ParseDouble("inf", d));
  EXPECT_FALSE(ParseDouble("+-1", d));
  int64_t i = 0;
  EXPECT_TRUE(ParseInt64("-42", i));
  EXPECT_EQ(i, -42);
  EXPECT_FALSE(ParseInt64("4.2", i));
  EXPECT_FALSE(ParseInt64("99999999999999999999", i));
}

TEST(CutForRejectTest, CutsAtMaxBytesWithoutSplittingACharacter) {
  EXPECT_EQ(CutForReject("short"), "short");
  std::string long_ascii(600, 'x');
  EXPECT_EQ(CutForReject(long_ascii).size(), 512u);
  // 511 ASCII bytes, then a 2-byte character straddling the cut: it is dropped whole.
  std::string straddle = std::string(511, 'a') + "\xC3\xA9" + "tail";
  std::string cut = CutForReject(straddle);
  EXPECT_EQ(cut.size(), 511u);
  EXPECT_TRUE(IsValidUtf8(cut));
}

}  // namespace
}  // namespace freshet::io
