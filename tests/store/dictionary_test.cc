#include "store/dictionary.h"

#include <gtest/gtest.h>

#include <unordered_map>

namespace freshet::store {
namespace {

TEST(DictionaryTest, AssignsDenseIdsInFirstSeenOrder) {
  Dictionary d;
  EXPECT_FALSE(d.Find("a").has_value());
  EXPECT_EQ(d.Add("a"), 0u);
  EXPECT_EQ(d.Add("b"), 1u);
  EXPECT_EQ(d.Find("a"), 0u);
  EXPECT_EQ(d.Find("b"), 1u);
  EXPECT_EQ(d.name(1), "b");
  EXPECT_EQ(d.size(), 2u);
  EXPECT_FALSE(d.Find("").has_value());
  EXPECT_EQ(d.Add(""), 2u);  // the empty string is a key like any other
  EXPECT_EQ(d.Find(""), 2u);
}

TEST(DictionaryTest, AgreesWithAHashMapOracleThroughManyGrowths) {
  Dictionary d;
  std::unordered_map<std::string, uint32_t> oracle;
  for (int i = 0; i < 200000; ++i) {
    // Keys that share long prefixes and differ in one character stress the hash.
    std::string key = "user-000000" + std::to_string(i * 7919 % 100003);
    auto found = d.Find(key);
    auto it = oracle.find(key);
    ASSERT_EQ(found.has_value(), it != oracle.end()) << key;
    if (found) {
      ASSERT_EQ(*found, it->second);
    } else {
      oracle.emplace(key, d.Add(key));
    }
  }
  EXPECT_EQ(d.size(), oracle.size());
  for (const auto& [key, id] : oracle) ASSERT_EQ(d.Find(key), id);
  EXPECT_FALSE(d.Find("user-absent").has_value());
}

}  // namespace
}  // namespace freshet::store
