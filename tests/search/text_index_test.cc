#include "search/text_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "store/event_store.h"
#include "testing/testing.h"

namespace freshet::search {
namespace {

Item MakeItem(std::string title, std::string category = "", std::string brand = "") {
  Item item;
  item.id = "ext-" + title;
  item.title = std::move(title);
  item.category = std::move(category);
  item.brand = std::move(brand);
  return item;
}

std::unique_ptr<TextIndex> MakeIndex(const TextIndexOptions& options = {}) {
  auto index = TextIndex::Create(options);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return std::move(*index);
}

using Catalog = std::map<ItemId, Item>;

std::unique_ptr<TextIndex> IndexOf(const Catalog& catalog, const TextIndexOptions& options = {}) {
  auto index = MakeIndex(options);
  for (const auto& [id, item] : catalog) index->Add(id, item);
  return index;
}

std::vector<Hit> SearchOrDie(const TextIndex& index, std::string_view query, size_t k = 100,
                             const Filter* filter = nullptr) {
  std::vector<Hit> hits;
  Status st = index.Search(query, k, filter, &hits);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return hits;
}

std::vector<ItemId> Ids(const std::vector<Hit>& hits) {
  std::vector<ItemId> ids;
  for (const Hit& h : hits) ids.push_back(h.item);
  return ids;
}

size_t CodePointCount(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The naive oracle: BM25F computed straight from the formula in text_index.h, in double, over
// documents re-tokenised from scratch, with no index. It follows the documented query semantics:
// distinct terms count once; the last token (when it is expanded) scores, per item, the best of
// its exact term and its completions, a completion weighing prefix_weight.
// REQUIRES: no query has more completions than options.max_prefix_terms (the oracle keeps all).
std::map<ItemId, double> OracleScores(const Catalog& catalog, const TextIndexOptions& o,
                                      std::string_view query) {
  struct Doc {
    std::map<std::string, double> tf;
    double dl = 0;
  };
  std::map<ItemId, Doc> docs;
  std::map<std::string, int> df;
  double total_dl = 0;
  for (const auto& [id, item] : catalog) {
    Doc& d = docs[id];
    const std::string* fields[3] = {&item.title, &item.category, &item.brand};
    const double weights[3] = {o.title_weight, o.category_weight, o.brand_weight};
    for (int f = 0; f < 3; ++f) {
      TokenList tokens;
      Tokenize(*fields[f], o.tokenizer, &tokens);
      d.dl += weights[f] * static_cast<double>(tokens.size());
      if (weights[f] == 0) continue;
      for (size_t i = 0; i < tokens.size(); ++i) d.tf[std::string(tokens.term(i))] += weights[f];
    }
    for (const auto& [term, tf] : d.tf) ++df[term];
    total_dl += d.dl;
  }
  const double n = static_cast<double>(docs.size());
  const double avgdl = total_dl / n;
  const auto bm25 = [&](const std::string& term, const Doc& d) {
    auto it = d.tf.find(term);
    if (it == d.tf.end()) return 0.0;
    const double idf = std::log(1.0 + (n - df[term] + 0.5) / (df[term] + 0.5));
    const double tf = it->second;
    const double norm = avgdl > 0 ? d.dl / avgdl : 0.0;
    return idf * tf * (o.k1 + 1) / (tf + o.k1 * (1 - o.b + o.b * norm));
  };

  TokenList q;
  Tokenize(query, o.tokenizer, &q);
  std::map<ItemId, double> scores;
  if (q.empty()) return scores;
  const size_t last = q.size() - 1;
  const bool expand =
      o.prefix_last_token && q.ends_in_token() && CodePointCount(q.raw(last)) >= o.min_prefix_chars;
  std::vector<std::string> exact;
  for (size_t i = 0; i < (expand ? last : q.size()); ++i) {
    std::string t(q.term(i));
    if (df.count(t) && std::find(exact.begin(), exact.end(), t) == exact.end()) exact.push_back(t);
  }
  std::vector<std::pair<std::string, double>> group;  // (term, weight) of the last token
  if (expand) {
    std::string t(q.term(last));
    const bool repeated = std::find(exact.begin(), exact.end(), t) != exact.end();
    if (!repeated) {
      if (df.count(t)) group.emplace_back(t, 1.0);
      const std::string prefix(q.raw(last));
      for (const auto& [term, count] : df) {
        if (term.compare(0, prefix.size(), prefix) != 0 || term == t) continue;
        if (std::find(exact.begin(), exact.end(), term) != exact.end()) continue;
        group.emplace_back(term, o.prefix_weight);
      }
      EXPECT_LE(group.size(), o.max_prefix_terms + 1) << "the oracle keeps every completion";
    }
  }
  for (const auto& [id, d] : docs) {
    double s = 0;
    for (const std::string& t : exact) s += bm25(t, d);
    double best = 0;
    for (const auto& [t, w] : group) best = std::max(best, w * bm25(t, d));
    s += best;
    if (s > 0) scores[id] = s;
  }
  return scores;
}

// Hits sorted best first, ties by lower id.
void ExpectOrdered(const std::vector<Hit>& hits) {
  for (size_t i = 1; i < hits.size(); ++i) {
    EXPECT_TRUE(hits[i - 1].score > hits[i].score ||
                (hits[i - 1].score == hits[i].score && hits[i - 1].item < hits[i].item))
        << "position " << i;
  }
}

// Every hit of the index carries the oracle's score, and the index finds exactly the oracle's
// items (k large enough for all).
void ExpectMatchesOracle(const TextIndex& index, const Catalog& catalog, std::string_view query) {
  SCOPED_TRACE("query '" + std::string(query) + "'");
  const std::map<ItemId, double> oracle = OracleScores(catalog, index.options(), query);
  const std::vector<Hit> hits = SearchOrDie(index, query, catalog.size() + 10);
  ExpectOrdered(hits);
  ASSERT_EQ(hits.size(), oracle.size());
  for (const Hit& h : hits) {
    auto it = oracle.find(h.item);
    ASSERT_NE(it, oracle.end()) << "item " << h.item;
    EXPECT_NEAR(h.score, it->second, 1e-5 * std::max(1.0, it->second)) << "item " << h.item;
  }
  // Top-k keeps the k best: no item left out beats the last one kept (up to float rounding).
  for (size_t k : {1, 3}) {
    const std::vector<Hit> top = SearchOrDie(index, query, k);
    ASSERT_EQ(top.size(), std::min(k, oracle.size()));
    if (top.empty()) continue;
    const std::vector<ItemId> top_ids = Ids(top);
    const std::set<ItemId> kept(top_ids.begin(), top_ids.end());
    for (const auto& [id, s] : oracle) {
      if (!kept.count(id)) {
        EXPECT_LE(s, top.back().score + 1e-5) << "item " << id << " k " << k;
      }
    }
  }
}

Catalog SmallCatalog() {
  return {
      {0, MakeItem("Desk Lamp with USB charger", "Lighting", "Lumos")},
      {1, MakeItem("Floor lamp, brass", "Lighting", "Lumos")},
      {2, MakeItem("LED bulbs (4 pack)", "Lighting", "Brightly")},
      {3, MakeItem("Oak desk", "Furniture", "Woodworks")},
      {4, MakeItem("Standing desk, electric", "Furniture", "Ergo")},
      {5, MakeItem("Lampshade, linen", "Lighting", "Lumos")},
      {6, MakeItem("Wireless charger", "Electronics", "Volt")},
      {7, MakeItem("USB-C cable 2m", "Electronics", "Volt")},
      {8, MakeItem("Crème brûlée torch", "Kitchen", "Chef")},
      {9, MakeItem("Running shoes", "Shoes", "Stride")},
      {10, MakeItem("Trail running shoe", "Shoes", "Stride")},
      {11, MakeItem("AA batteries, 8 pack", "Electronics", "Volt")},
      {12, MakeItem("Lamp lamp lamp lamp lamp", "Misc", "Spam")},
      {13, MakeItem("", "", "")},
  };
}

TEST(TextIndexTest, ScoresMatchTheBm25OracleWithoutPrefixes) {
  TextIndexOptions options;
  options.prefix_last_token = false;
  const Catalog catalog = SmallCatalog();
  auto index = IndexOf(catalog, options);
  EXPECT_EQ(index->size(), catalog.size());
  for (const char* q :
       {"lamp", "desk lamp", "usb charger", "lighting", "lumos lamp", "shoes", "running", "volt",
        "creme brulee", "pack", "lamp lamp", "oak furniture", "nothing here", "batterie", "AA"}) {
    ExpectMatchesOracle(*index, catalog, q);
  }
}

TEST(TextIndexTest, ScoresMatchTheBm25OracleWithPrefixes) {
  const Catalog catalog = SmallCatalog();
  auto index = IndexOf(catalog);
  for (const char* q : {"lam", "lamp", "desk la", "wire", "ch", "c", "usb c", "runn", "light",
                        "lamp lamp", "lamp ", "desk desk", "bri", "cr", "crè"}) {
    ExpectMatchesOracle(*index, catalog, q);
  }
}

TEST(TextIndexTest, ScoresMatchTheOracleForOtherParameters) {
  TextIndexOptions options;
  options.k1 = 2.0;
  options.b = 0.3;
  options.title_weight = 3.0;
  options.category_weight = 0.5;
  options.brand_weight = 0.0;
  options.prefix_weight = 0.8;
  const Catalog catalog = SmallCatalog();
  auto index = IndexOf(catalog, options);
  for (const char* q : {"lamp", "desk lig", "lumos", "electronics volt", "sh"}) {
    ExpectMatchesOracle(*index, catalog, q);
  }
}

TEST(TextIndexTest, RandomCatalogWithReplacementsMatchesTheOracle) {
  const uint32_t seed = 7;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::vector<std::string> words = {
      "red",     "blue",     "green",  "lamp",  "lampshade", "lantern", "desk",  "chair",
      "table",   "oak",      "pine",   "steel", "shoe",      "shoes",   "boot",  "boots",
      "sock",    "wool",     "cotton", "linen", "crème",     "café",    "usb",   "cable",
      "charger", "wireless", "wire",   "2m",    "15",        "150",     "pro",   "max",
      "kids",    "women",    "men",    "sale",  "new",       "premium", "basic", "set"};
  const std::vector<std::string> categories = {"home", "office", "shoes", "kitchen", "garden"};
  const std::vector<std::string> brands = {"acme", "lumos", "stride", "volt", ""};
  std::uniform_int_distribution<size_t> word(0, words.size() - 1);
  std::uniform_int_distribution<size_t> category(0, categories.size() - 1);
  std::uniform_int_distribution<size_t> brand(0, brands.size() - 1);
  std::uniform_int_distribution<int> title_len(0, 6);
  std::uniform_int_distribution<ItemId> id(0, 299);
  const auto random_item = [&] {
    std::string title;
    for (int i = title_len(rng); i > 0; --i) title += (title.empty() ? "" : " ") + words[word(rng)];
    return MakeItem(title, categories[category(rng)], brands[brand(rng)]);
  };

  Catalog catalog;
  auto index = MakeIndex();
  for (int step = 0; step < 600; ++step) {
    const ItemId target = id(rng);
    if (step % 7 == 6) {
      catalog.erase(target);
      index->Remove(target);
    } else {
      catalog[target] = random_item();
      index->Add(target, catalog[target]);
    }
  }
  ASSERT_EQ(index->size(), catalog.size());
  for (int round = 0; round < 60; ++round) {
    std::string query;
    for (int i = 1 + round % 3; i > 0; --i) query += (query.empty() ? "" : " ") + words[word(rng)];
    if (round % 2 == 1) query.resize(std::max<size_t>(1, query.size() - 2));  // a partial word
    ExpectMatchesOracle(*index, catalog, query);
  }
}

TEST(TextIndexTest, TitleHitsOutrankCategoryOnlyHits) {
  Catalog catalog = {
      {0, MakeItem("Green sofa", "Lamps", "Acme")},
      {1, MakeItem("Table lamp", "Lighting", "Acme")},
  };
  auto index = IndexOf(catalog);
  EXPECT_EQ(Ids(SearchOrDie(*index, "lamps")), (std::vector<ItemId>{1, 0}));
}

TEST(TextIndexTest, RareTermsOutrankCommonTerms) {
  Catalog catalog;
  for (ItemId i = 0; i < 20; ++i) catalog[i] = MakeItem("cotton shirt");
  catalog[20] = MakeItem("cotton scarf");
  catalog[21] = MakeItem("silk shirt");
  auto index = IndexOf(catalog);
  // "silk" is in one item, "cotton" in 21: the silk shirt beats every cotton shirt.
  std::vector<Hit> hits = SearchOrDie(*index, "silk cotton ");
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].item, 21u);
  EXPECT_GT(hits[0].score, hits[1].score);
}

TEST(TextIndexTest, LastTokenMatchesAsPrefixBelowExactMatches) {
  Catalog catalog = {
      {0, MakeItem("Wireless mouse")},
      {1, MakeItem("Wire cutter")},
      {2, MakeItem("Mouse pad")},
  };
  auto index = IndexOf(catalog);
  EXPECT_EQ(Ids(SearchOrDie(*index, "wirel")), (std::vector<ItemId>{0}));
  // "wire" matches item 1 exactly and item 0 as a completion, which scores lower.
  EXPECT_EQ(Ids(SearchOrDie(*index, "wire")), (std::vector<ItemId>{1, 0}));
  // A separator after the last word: the word is complete, no completions.
  EXPECT_EQ(Ids(SearchOrDie(*index, "wire ")), (std::vector<ItemId>{1}));
  // Only the last token expands: "wirel" no longer matches "wireless" when a word follows.
  EXPECT_EQ(Ids(SearchOrDie(*index, "wirel pad")), (std::vector<ItemId>{2}));
  // One letter is below min_prefix_chars.
  EXPECT_TRUE(SearchOrDie(*index, "w").empty());

  TextIndexOptions exact_only;
  exact_only.prefix_last_token = false;
  auto exact = IndexOf(catalog, exact_only);
  EXPECT_TRUE(SearchOrDie(*exact, "wirel").empty());
  EXPECT_EQ(Ids(SearchOrDie(*exact, "wire")), (std::vector<ItemId>{1}));
}

TEST(TextIndexTest, PrefixUsesTheTypedTokenNotItsStem) {
  Catalog catalog = {{0, MakeItem("Summer dress")}, {1, MakeItem("Dressing gown")}};
  auto index = IndexOf(catalog);
  // "dres" would stem to "dre"; the prefix is what was typed.
  EXPECT_EQ(Ids(SearchOrDie(*index, "dres")), (std::vector<ItemId>{0, 1}));
  // "dresses" stems to "dress": exact on item 0; no completion starts with "dresses".
  EXPECT_EQ(Ids(SearchOrDie(*index, "dresses")), (std::vector<ItemId>{0}));
}

TEST(TextIndexTest, CompletionsAreCappedToTheMostFrequent) {
  Catalog catalog;
  ItemId next = 0;
  // "pa" completes to "pan" (5 items), "pad" (3), "pal" (1).
  for (int i = 0; i < 5; ++i) catalog[next++] = MakeItem("pan");
  for (int i = 0; i < 3; ++i) catalog[next++] = MakeItem("pad");
  catalog[next++] = MakeItem("pal");
  TextIndexOptions options;
  options.max_prefix_terms = 2;
  auto index = IndexOf(catalog, options);
  std::vector<Hit> hits = SearchOrDie(*index, "pa");
  EXPECT_EQ(hits.size(), 8u);
  for (const Hit& h : hits) EXPECT_NE(h.item, 8u) << "'pal' is the least frequent completion";
}

TEST(TextIndexTest, FilterRestrictsHitsAndTopKIsFilledFromAllowedItems) {
  Catalog catalog;
  for (ItemId i = 0; i < 10; ++i) catalog[i] = MakeItem("mug");
  catalog[3] = MakeItem("mug mug");  // scores highest, but odd ids are filtered out
  auto index = IndexOf(catalog);
  FilterFn even([](ItemId id) { return id % 2 == 0; });
  std::vector<Hit> hits = SearchOrDie(*index, "mug", 3, &even);
  EXPECT_EQ(Ids(hits), (std::vector<ItemId>{0, 2, 4}));
  FilterFn none([](ItemId) { return false; });
  EXPECT_TRUE(SearchOrDie(*index, "mug", 3, &none).empty());
}

TEST(TextIndexTest, ReplacingAnItemRemovesItsOldText) {
  auto index = MakeIndex();
  index->Add(0, MakeItem("Red lamp"));
  index->Add(1, MakeItem("Green lamp"));
  EXPECT_EQ(Ids(SearchOrDie(*index, "red")), (std::vector<ItemId>{0}));
  index->Add(0, MakeItem("Blue lamp"));
  EXPECT_TRUE(SearchOrDie(*index, "red").empty());
  EXPECT_EQ(Ids(SearchOrDie(*index, "blue")), (std::vector<ItemId>{0}));
  EXPECT_EQ(index->size(), 2u);
  // Statistics follow the replacement: the index equals one built from the current catalog.
  auto fresh = IndexOf({{0, MakeItem("Blue lamp")}, {1, MakeItem("Green lamp")}});
  for (const char* q : {"lamp", "blue lamp", "gr"}) {
    EXPECT_EQ(SearchOrDie(*index, q), SearchOrDie(*fresh, q)) << q;
  }
}

TEST(TextIndexTest, RemoveForgetsAnItem) {
  auto index = MakeIndex();
  index->Add(4, MakeItem("Red lamp"));
  index->Add(2, MakeItem("Red chair"));
  index->Remove(4);
  index->Remove(4);   // absent: no-op
  index->Remove(99);  // never added: no-op
  EXPECT_EQ(index->size(), 1u);
  EXPECT_EQ(Ids(SearchOrDie(*index, "red")), (std::vector<ItemId>{2}));
  EXPECT_TRUE(SearchOrDie(*index, "lamp").empty());
}

TEST(TextIndexTest, KLargerThanTheHitsReturnsEveryHit) {
  auto index = IndexOf(SmallCatalog());
  std::vector<Hit> hits = SearchOrDie(*index, "lighting", 1000);
  EXPECT_EQ(hits.size(), 4u);
  ExpectOrdered(hits);
  EXPECT_EQ(SearchOrDie(*index, "lighting", SIZE_MAX).size(), 4u);
}

TEST(TextIndexTest, EmptyOrPunctuationQueriesGiveNoHitsAndOk) {
  auto index = IndexOf(SmallCatalog());
  for (const char* q : {"", "   ", "!!!", ",.;-", "\xFF\xFE", "zzzz unknown"}) {
    std::vector<Hit> hits = {{1, 1.0f}};
    EXPECT_TRUE(index->Search(q, 10, nullptr, &hits).ok()) << q;
    EXPECT_TRUE(hits.empty()) << q;
  }
  EXPECT_TRUE(SearchOrDie(*index, "lamp", 0).empty());
  auto empty = MakeIndex();
  EXPECT_TRUE(SearchOrDie(*empty, "lamp").empty());
}

TEST(TextIndexTest, QueriesOverTheLimitAreInvalidArgument) {
  auto index = IndexOf(SmallCatalog());
  std::vector<Hit> hits;
  Status st = index->Search(std::string(2000, 'a'), 10, nullptr, &hits);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  std::vector<TermMatch> matches;
  EXPECT_TRUE(index->Explain(std::string(2000, 'a'), 0, &matches).IsInvalidArgument());
}

TEST(TextIndexTest, TiesAreBrokenByLowerId) {
  auto index = MakeIndex();
  for (ItemId id : {9u, 3u, 5u, 7u}) index->Add(id, MakeItem("Teapot"));
  EXPECT_EQ(Ids(SearchOrDie(*index, "teapot")), (std::vector<ItemId>{3, 5, 7, 9}));
  EXPECT_EQ(Ids(SearchOrDie(*index, "teapot", 2)), (std::vector<ItemId>{3, 5}));
}

TEST(TextIndexTest, RepeatedQueryWordsCountOnce) {
  auto index = IndexOf(SmallCatalog());
  EXPECT_EQ(SearchOrDie(*index, "desk desk lamp "), SearchOrDie(*index, "desk lamp "));
  EXPECT_EQ(SearchOrDie(*index, "lamp lamp"), SearchOrDie(*index, "lamp "));
}

TEST(TextIndexTest, AccentsCaseAndPluralsDoNotMatter) {
  auto index = IndexOf(SmallCatalog());
  EXPECT_EQ(Ids(SearchOrDie(*index, "CREME BRULEE")), (std::vector<ItemId>{8}));
  EXPECT_EQ(Ids(SearchOrDie(*index, "crème")), (std::vector<ItemId>{8}));
  EXPECT_EQ(Ids(SearchOrDie(*index, "battery ")), (std::vector<ItemId>{11}));
  std::vector<ItemId> shoes = Ids(SearchOrDie(*index, "running shoe "));
  EXPECT_EQ(std::set<ItemId>(shoes.begin(), shoes.end()), (std::set<ItemId>{9, 10}));
}

TEST(TextIndexTest, ExplainListsTheMatchedTermsAndSumsToTheScore) {
  const Catalog catalog = SmallCatalog();
  auto index = IndexOf(catalog);
  for (const char* q : {"desk lamp", "usb char", "lumos lam", "lamp lamp", "floor"}) {
    for (const Hit& hit : SearchOrDie(*index, q)) {
      std::vector<TermMatch> matches;
      ASSERT_TRUE(index->Explain(q, hit.item, &matches).ok());
      ASSERT_FALSE(matches.empty()) << q << " item " << hit.item;
      float sum = 0;
      for (const TermMatch& m : matches) sum += m.score;
      EXPECT_NEAR(sum, hit.score, 1e-5f * hit.score) << q << " item " << hit.item;
    }
  }
  std::vector<TermMatch> matches;
  ASSERT_TRUE(index->Explain("usb char", 0, &matches).ok());
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(matches[0].query_token, "usb");
  EXPECT_EQ(matches[0].term, "usb");
  EXPECT_FALSE(matches[0].prefix);
  EXPECT_FLOAT_EQ(matches[0].tf, 2.0f);  // once in the title, weight 2
  EXPECT_EQ(matches[1].query_token, "char");
  EXPECT_EQ(matches[1].term, "charger");
  EXPECT_TRUE(matches[1].prefix);
  // An indexed item that does not match explains nothing; an unknown one is NotFound.
  ASSERT_TRUE(index->Explain("usb", 3, &matches).ok());
  EXPECT_TRUE(matches.empty());
  EXPECT_TRUE(index->Explain("usb", 500, &matches).IsNotFound());
}

TEST(TextIndexTest, ZeroWeightFieldsAreNotSearchable) {
  TextIndexOptions options;
  options.brand_weight = 0;
  auto index = IndexOf(SmallCatalog(), options);
  EXPECT_TRUE(SearchOrDie(*index, "stride ").empty());
  EXPECT_FALSE(SearchOrDie(*index, "shoes ").empty());
}

TEST(TextIndexTest, InvalidOptionsAreRejected) {
  const auto rejected = [](auto mutate) {
    TextIndexOptions o;
    mutate(o);
    return TextIndex::Create(o).status().IsInvalidArgument();
  };
  EXPECT_TRUE(rejected([](TextIndexOptions& o) { o.k1 = -1; }));
  EXPECT_TRUE(rejected([](TextIndexOptions& o) { o.k1 = NAN; }));
  EXPECT_TRUE(rejected([](TextIndexOptions& o) { o.b = 1.5; }));
  EXPECT_TRUE(rejected([](TextIndexOptions& o) { o.title_weight = -1; }));
  EXPECT_TRUE(rejected(
      [](TextIndexOptions& o) { o.title_weight = o.category_weight = o.brand_weight = 0; }));
  EXPECT_TRUE(rejected([](TextIndexOptions& o) { o.prefix_weight = 0; }));
  EXPECT_TRUE(rejected([](TextIndexOptions& o) { o.prefix_weight = 2; }));
  EXPECT_TRUE(rejected([](TextIndexOptions& o) { o.min_prefix_chars = 0; }));
  EXPECT_TRUE(rejected([](TextIndexOptions& o) { o.max_prefix_terms = 0; }));
  EXPECT_TRUE(rejected([](TextIndexOptions& o) { o.max_query_bytes = 0; }));
  EXPECT_TRUE(TextIndex::Create({}).ok());
}

TEST(TextIndexTest, BuildsFromAStoreUnderTheStoresDenseIds) {
  freshet::testing::TempDir dir;
  auto opened = store::EventStore::Open({}, dir.Sub("data"));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store::EventStore& store = **opened;
  std::vector<Item> items = {
      {"sku-lamp", "Desk lamp", "Lighting", "Lumos", 19.5, 4, {}},
      {"sku-desk", "Oak desk", "Furniture", "Woodworks", 250, 1, {}},
      {"sku-bulb", "LED bulbs", "Lighting", "Brightly", 5, 100, {}},
  };
  ASSERT_TRUE(store.PutItems(items).ok());
  // A later version of an item replaces the first under the same dense id.
  Item lamp_v2{"sku-lamp", "Brass floor lamp", "Lighting", "Lumos", 89, 2, {}};
  ASSERT_TRUE(store.PutItems({&lamp_v2, 1}).ok());

  auto built = BuildTextIndex(store, {});
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  const TextIndex& index = **built;
  EXPECT_EQ(index.size(), 3u);
  const std::optional<ItemId> lamp = store.FindItem("sku-lamp");
  const std::optional<ItemId> bulb = store.FindItem("sku-bulb");
  ASSERT_TRUE(lamp.has_value() && bulb.has_value());
  EXPECT_EQ(Ids(SearchOrDie(index, "brass")), (std::vector<ItemId>{*lamp}));
  EXPECT_TRUE(SearchOrDie(index, "desk lamp ").size() == 2);  // "desk" now only the oak desk
  std::vector<ItemId> lighting = Ids(SearchOrDie(index, "lighting"));
  EXPECT_EQ(std::set<ItemId>(lighting.begin(), lighting.end()), (std::set<ItemId>{*lamp, *bulb}));
  EXPECT_EQ(store.ItemName(SearchOrDie(index, "oak")[0].item), "sku-desk");

  TextIndexOptions bad;
  bad.b = -1;
  EXPECT_TRUE(BuildTextIndex(store, bad).status().IsInvalidArgument());
}

}  // namespace
}  // namespace freshet::search
