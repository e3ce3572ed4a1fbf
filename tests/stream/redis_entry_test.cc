// The Redis-free half of the stream source: URLs, entry ids, entry decoding, dedupe keys.

#include "stream/redis_entry.h"

#include <gtest/gtest.h>

#include <string>

namespace freshet::stream {
namespace {

TEST(RedisUrlTest, ParsesHostPortPasswordAndDatabase) {
  auto plain = ParseRedisUrl("redis://127.0.0.1:6380");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, 6380);
  EXPECT_EQ(plain->db, 0);
  EXPECT_TRUE(plain->password.empty());

  auto defaults = ParseRedisUrl("redis://cache.internal");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->host, "cache.internal");
  EXPECT_EQ(defaults->port, 6379);

  auto full = ParseRedisUrl("redis://:s%40cret@localhost:7000/3");
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(full->password, "s@cret");
  EXPECT_TRUE(full->user.empty());
  EXPECT_EQ(full->port, 7000);
  EXPECT_EQ(full->db, 3);
  // The password never appears in the printable form.
  EXPECT_EQ(full->ToString(), "redis://localhost:7000/3");

  auto acl = ParseRedisUrl("redis://shop:pw@[::1]:7001");
  ASSERT_TRUE(acl.ok()) << acl.status().ToString();
  EXPECT_EQ(acl->user, "shop");
  EXPECT_EQ(acl->password, "pw");
  EXPECT_EQ(acl->host, "::1");
  EXPECT_EQ(acl->port, 7001);
}

TEST(RedisUrlTest, MalformedUrlsAreClearErrors) {
  struct Case {
    const char* url;
    const char* says;
  };
  for (const Case& c :
       {Case{"http://localhost:6379", "scheme must be redis://"},
        Case{"localhost:6379", "scheme must be redis://"}, Case{"rediss://localhost", "TLS"},
        Case{"redis://", "host is missing"}, Case{"redis://:6379", "host is missing"},
        Case{"redis://localhost:port", "not a number in 1..65535"},
        Case{"redis://localhost:0", "not a number in 1..65535"},
        Case{"redis://localhost:70000", "not a number in 1..65535"},
        Case{"redis://localhost:", "port after ':' is empty"},
        Case{"redis://localhost/x", "database 'x'"},
        Case{"redis://pw@localhost", "':password' or 'user:password'"},
        Case{"redis://localhost?db=1", "query parameters"},
        Case{"redis://:%zz@localhost", "%-escape"}}) {
    auto r = ParseRedisUrl(c.url);
    ASSERT_FALSE(r.ok()) << c.url;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << c.url;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos)
        << c.url << ": " << r.status().message();
    EXPECT_NE(r.status().message().find("redis://[[user]:password@]host"), std::string::npos);
  }
}

TEST(EntryIdTest, MillisecondsOfAnEntryId) {
  EXPECT_EQ(EntryIdMillis("1700000000123-0"), 1700000000123);
  EXPECT_EQ(EntryIdMillis("5-17"), 5);
  EXPECT_FALSE(EntryIdMillis("1700000000123"));
  EXPECT_FALSE(EntryIdMillis("abc-0"));
  EXPECT_FALSE(EntryIdMillis("-1-0"));
  EXPECT_FALSE(EntryIdMillis(""));
}

StreamEntry Entry(std::string id, std::vector<std::pair<std::string, std::string>> fields) {
  StreamEntry e;
  e.id = std::move(id);
  e.fields = std::move(fields);
  return e;
}

TEST(EntryDecoderTest, FlatFieldsAndAJsonEventDecodeAlike) {
  EntryDecoder decoder;
  Event flat, json;
  FieldError problem;
  ASSERT_TRUE(decoder.Decode(Entry("1700000000000-0", {{"user", "u1"},
                                                       {"item", "i9"},
                                                       {"type", "cart"},
                                                       {"value", "2"},
                                                       {"ts", "1699999999000"},
                                                       {"session", "s1"},
                                                       {"event_id", "e-1"},
                                                       {"device", "mobile"}}),
                             &flat, &problem))
      << problem.field << ": " << problem.reason;
  ASSERT_TRUE(decoder.Decode(
      Entry("1700000000000-1", {{"event", R"({"user":"u1","item":"i9","type":"cart","value":2,)"
                                          R"("ts":1699999999000,"session":"s1","event_id":"e-1",)"
                                          R"("context":{"device":"mobile"}})"}}),
      &json, &problem))
      << problem.field << ": " << problem.reason;
  for (const Event* e : {&flat, &json}) {
    EXPECT_EQ(e->user, "u1");
    EXPECT_EQ(e->item, "i9");
    EXPECT_EQ(e->type, EventType::kCart);
    EXPECT_EQ(e->value, 2.0);
    EXPECT_EQ(e->ts_ms, 1699999999000);
    EXPECT_EQ(e->session, "s1");
    EXPECT_EQ(e->event_id, "e-1");
    ASSERT_EQ(e->context.size(), 1u);
    EXPECT_EQ(e->context[0], (std::pair<std::string, std::string>{"device", "mobile"}));
  }
}

TEST(EntryDecoderTest, AnEventWithoutTsTakesTheEntryIdTime) {
  EntryDecoder decoder;
  Event e;
  FieldError problem;
  ASSERT_TRUE(decoder.Decode(
      Entry("1700000000456-3", {{"user", "u"}, {"item", "i"}, {"type", "view"}}), &e, &problem));
  EXPECT_EQ(e.ts_ms, 1700000000456);
  ASSERT_TRUE(decoder.Decode(
      Entry("1700000000789-0", {{"event", R"({"user":"u","item":"i","type":"view"})"}}), &e,
      &problem));
  EXPECT_EQ(e.ts_ms, 1700000000789);
}

TEST(EntryDecoderTest, AFlatContextFieldMayHoldAJsonObject) {
  EntryDecoder decoder;
  Event e;
  FieldError problem;
  ASSERT_TRUE(decoder.Decode(Entry("1-0", {{"user", "u"},
                                           {"item", "i"},
                                           {"type", "view"},
                                           {"ts", "1700000000"},
                                           {"context", R"({"page":"home","pos":3})"}}),
                             &e, &problem))
      << problem.reason;
  ASSERT_EQ(e.context.size(), 2u);
  EXPECT_EQ(e.context[0].first, "page");
  EXPECT_EQ(e.context[1], (std::pair<std::string, std::string>{"pos", "3"}));
  EXPECT_FALSE(decoder.Decode(Entry("1-0", {{"user", "u"}, {"context", "{broken"}}), &e, &problem));
  EXPECT_EQ(problem.field, "context");
}

TEST(EntryDecoderTest, BadEntriesNameTheField) {
  EntryDecoder decoder;
  struct Case {
    std::vector<std::pair<std::string, std::string>> fields;
    const char* field;
    const char* says;
  };
  const std::vector<Case> cases = {
      {{}, "entry", "has no fields"},
      {{{"event", "{not json"}}, "event", "not valid JSON"},
      {{{"event", "[1,2]"}}, "event", "one JSON object"},
      {{{"user", "u"}, {"item", "i"}, {"type", "teleport"}}, "type", "not an event type"},
      {{{"user", "u"}, {"item", "i"}}, "type", "missing"},
      {{{"item", "i"}, {"type", "view"}}, "user", ""},
      {{{"user", "u"}, {"item", "i"}, {"type", "view"}, {"ts", "2021-13-01"}}, "ts", ""},
      {{{"user", "u"}, {"item", "i"}, {"type", "rate"}, {"value", "abc"}}, "value", "not a number"},
      {{{"event", R"({"user":"u","item":"i","type":"view","value":[1]})"}}, "value", ""},
  };
  for (const Case& c : cases) {
    Event e;
    FieldError problem;
    EXPECT_FALSE(decoder.Decode(Entry("1700000000000-0", c.fields), &e, &problem)) << c.field;
    EXPECT_EQ(problem.field, c.field) << problem.reason;
    EXPECT_NE(problem.reason.find(c.says), std::string::npos) << problem.reason;
  }
}

TEST(DedupeKeyTest, EventIdFirstThenStreamAndEntry) {
  Event e;
  EXPECT_EQ(DedupeKey(e, "shop", "17-0"), "redis:shop:17-0");
  e.event_id = "abc";
  EXPECT_EQ(DedupeKey(e, "shop", "17-0"), "id:abc");
}

}  // namespace
}  // namespace freshet::stream
