#include "http/target.h"

#include <gtest/gtest.h>

namespace freshet::http {
namespace {

TEST(TargetTest, SplitsAndDecodesPathAndQuery) {
  auto t = ParseTarget("/v1/items/a%2Fb?user=u%201&q=red+shoes&flag&&k=10#frag");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->path, "/v1/items/a/b");
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(t->query, (std::vector<P>{{"user", "u 1"}, {"q", "red shoes"}, {"flag", ""}, {"k", "10"}}));
  auto plain = ParseTarget("/healthz");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->path, "/healthz");
  EXPECT_TRUE(plain->query.empty());
  // '+' is a space only in the query.
  EXPECT_EQ(ParseTarget("/a+b")->path, "/a+b");
}

TEST(TargetTest, RefusesMalformedTargetsNamingTheProblem) {
  EXPECT_NE(ParseTarget("").status().message().find("starting with '/'"), std::string::npos);
  EXPECT_NE(ParseTarget("http://x/").status().message().find("starting with '/'"),
            std::string::npos);
  EXPECT_NE(ParseTarget("/a?x=%2").status().message().find("percent escape"), std::string::npos);
  EXPECT_NE(ParseTarget("/a?x=%zz").status().message().find("percent escape"), std::string::npos);
  EXPECT_NE(ParseTarget("/a%00").status().message().find("NUL"), std::string::npos);
  EXPECT_NE(ParseTarget("/a?x=\x01").status().message().find("control"), std::string::npos);
  EXPECT_TRUE(ParseTarget("/a?q=two%0alines").ok());  // escaped, it is data
  std::string many = "/a?";
  for (int i = 0; i < 65; ++i) many += "p" + std::to_string(i) + "=1&";
  EXPECT_NE(ParseTarget(many).status().message().find("more than 64"), std::string::npos);
}

}  // namespace
}  // namespace freshet::http
