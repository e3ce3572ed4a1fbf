#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "search/text_index.h"

namespace freshet::search {
namespace {

std::vector<std::string> Terms(std::string_view text, TokenizerOptions options = {}) {
  TokenList tokens;
  Tokenize(text, options, &tokens);
  std::vector<std::string> out;
  for (size_t i = 0; i < tokens.size(); ++i) out.emplace_back(tokens.term(i));
  return out;
}

std::vector<std::string> Raw(std::string_view text, TokenizerOptions options = {}) {
  TokenList tokens;
  Tokenize(text, options, &tokens);
  std::vector<std::string> out;
  for (size_t i = 0; i < tokens.size(); ++i) out.emplace_back(tokens.raw(i));
  return out;
}

TokenizerOptions NoFolding() {
  TokenizerOptions options;
  options.fold_accents = false;
  options.stem_plurals = false;
  return options;
}

// A strict UTF-8 check written independently of the tokenizer's decoder.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t j = 1; j < len; ++j) {
      const auto cc = static_cast<unsigned char>(s[i + j]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

using Strings = std::vector<std::string>;

TEST(TokenizerTest, LowerCasesAsciiAndSplitsOnPunctuation) {
  EXPECT_EQ(Terms("Hello, World! USB-C cable/charger"),
            (Strings{"hello", "world", "usb", "c", "cable", "charger"}));
  EXPECT_EQ(Terms("don't\tstop\nNOW"), (Strings{"don", "t", "stop", "now"}));
}

TEST(TokenizerTest, NumbersAreTokens) {
  EXPECT_EQ(Terms("iPhone 15 Pro, 256GB"), (Strings{"iphone", "15", "pro", "256gb"}));
  EXPECT_EQ(Terms("4K TV 55\" (2024)"), (Strings{"4k", "tv", "55", "2024"}));
  EXPECT_EQ(Terms("3.5mm"), (Strings{"3", "5mm"}));
}

TEST(TokenizerTest, EmptyAndPunctuationOnlyTextsGiveNoTokens) {
  EXPECT_TRUE(Terms("").empty());
  EXPECT_TRUE(Terms("   ").empty());
  EXPECT_TRUE(Terms(",.;:!?-_()[]{}'\"/\\|@#$%^&*+=~`<>").empty());
  EXPECT_TRUE(Terms("\xE2\x80\x94 \xC2\xA0 \xE2\x80\xA6").empty());  // em dash, nbsp, ellipsis
}

TEST(TokenizerTest, FoldsCaseAndAccentsOfLatinLetters) {
  EXPECT_EQ(Terms("Crème brûlée"), (Strings{"creme", "brulee"}));
  EXPECT_EQ(Terms("CRÈME BRÛLÉE"), (Strings{"creme", "brulee"}));
  EXPECT_EQ(Terms("Straße Ærø Œuvre Þing"), (Strings{"strasse", "aero", "oeuvre", "thing"}));
  EXPECT_EQ(Terms("Łódź Škoda Ÿ İstanbul"), (Strings{"lodz", "skoda", "y", "istanbul"}));
}

TEST(TokenizerTest, WithoutAccentFoldingKeepsMultiByteLettersAndLowerCasesThem) {
  EXPECT_EQ(Terms("Crème brûlée", NoFolding()), (Strings{"crème", "brûlée"}));
  EXPECT_EQ(Terms("CRÈME BRÛLÉE", NoFolding()), (Strings{"crème", "brûlée"}));
  EXPECT_EQ(Terms("ŁÓDŹ Ÿ ß", NoFolding()), (Strings{"łódź", "ÿ", "ß"}));
}

TEST(TokenizerTest, GreekCyrillicAndCjkAreLetters) {
  EXPECT_EQ(Terms("ΕΛΛΗΝΙΚΆ Ελληνικά"), (Strings{"ελληνικα", "ελληνικα"}));
  EXPECT_EQ(Terms("ΟΔΟΣ", NoFolding()), (Strings{"οδοσ"}));  // final sigma folds too
  EXPECT_EQ(Terms("Ёлка ЁЛКА"), (Strings{"елка", "елка"}));
  EXPECT_EQ(Terms("Ёлка", NoFolding()), (Strings{"ёлка"}));
  // No word segmentation: a run of CJK characters is one token; CJK punctuation separates.
  EXPECT_EQ(Terms("東京タワー、お土産。"), (Strings{"東京タワー", "お土産"}));
  // Fullwidth ASCII becomes ASCII.
  EXPECT_EQ(Terms("ＡＢＣ１２３！ｘ"), (Strings{"abc123", "x"}));
}

TEST(TokenizerTest, UnicodePunctuationAndSymbolsSeparate) {
  EXPECT_EQ(Terms("a\xC2\xA0"
                  "b"),
            (Strings{"a", "b"}));  // no-break space
  EXPECT_EQ(Terms("Wi\xE2\x80\x91"
                  "Fi \xE2\x80\x94 fast"),
            (Strings{"wi", "fi", "fast"}));  // non-breaking hyphen, em dash
  EXPECT_EQ(Terms("«Quoted» “smart” ‘single’"), (Strings{"quoted", "smart", "single"}));
  EXPECT_EQ(Terms("€99 £5 Brand™ Name® 20°C 2×3"),
            (Strings{"99", "5", "brand", "name", "20", "c", "2", "3"}));
  EXPECT_EQ(Terms("m² ½ µm"), (Strings{"m²", "½", "µm"}));  // numerals and µ are letters
}

TEST(TokenizerTest, InvalidUtf8SeparatesAndNeverSplitsACodePoint) {
  EXPECT_EQ(Terms("ab\xFF"
                  "cd"),
            (Strings{"ab", "cd"}));
  EXPECT_EQ(Terms("caf\xC3"), (Strings{"caf"}));  // truncated at the end
  EXPECT_EQ(Terms("caf\xC3"
                  "x"),
            (Strings{"caf", "x"}));  // lead byte without continuation
  EXPECT_EQ(Terms("\x80\x80"
                  "ok\xBF"),
            (Strings{"ok"}));  // stray continuation bytes
  EXPECT_EQ(Terms("a\xC0\xAF"
                  "b"),
            (Strings{"a", "b"}));  // overlong '/'
  EXPECT_EQ(Terms("a\xE0\x80\xAF"
                  "b"),
            (Strings{"a", "b"}));  // overlong, 3 bytes
  EXPECT_EQ(Terms("a\xED\xA0\x80"
                  "b"),
            (Strings{"a", "b"}));  // UTF-16 surrogate
  EXPECT_EQ(Terms("a\xF4\x90\x80\x80"
                  "b"),
            (Strings{"a", "b"}));  // above U+10FFFF
  EXPECT_EQ(Terms("a\xE2\x82"
                  "b"),
            (Strings{"a", "b"}));  // 3-byte sequence cut short
  // A valid sequence right after an invalid byte is still a letter.
  EXPECT_EQ(Terms("\xFF\xC3\xA9t\xC3\xA9", NoFolding()), (Strings{"été"}));
}

TEST(TokenizerTest, RandomBytesGiveValidNonEmptyTokens) {
  std::mt19937 rng(20261122);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 200);
  // Bias towards the interesting bytes so that valid sequences occur often.
  const unsigned char interesting[] = {0xC3, 0xA9, 0x80, 0xBF, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98,
                                       0xED, 0xA0, 0xC0, 0xF4, 0x90, ' ',  'a',  'Z',  's'};
  std::uniform_int_distribution<size_t> pick(0, sizeof(interesting) - 1);
  for (const bool fold : {true, false}) {
    TokenizerOptions options;
    options.fold_accents = fold;
    for (int round = 0; round < 5000; ++round) {
      std::string text;
      const int n = length(rng);
      for (int i = 0; i < n; ++i) {
        text.push_back(static_cast<char>(byte(rng) < 128 ? interesting[pick(rng)] : byte(rng)));
      }
      TokenList tokens;
      Tokenize(text, options, &tokens);
      for (size_t i = 0; i < tokens.size(); ++i) {
        ASSERT_FALSE(tokens.raw(i).empty());
        ASSERT_FALSE(tokens.term(i).empty());
        ASSERT_LE(tokens.raw(i).size(), kMaxTokenBytes);
        ASSERT_TRUE(IsValidUtf8(tokens.raw(i))) << "round " << round;
        ASSERT_TRUE(IsValidUtf8(tokens.term(i))) << "round " << round;
        for (char c : tokens.raw(i)) {
          const auto u = static_cast<unsigned char>(c);
          ASSERT_TRUE(u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z'));
        }
      }
    }
  }
}

TEST(TokenizerTest, VeryLongInputIsCutPerTokenAtACodePointBoundary) {
  const std::string long_word(1 << 20, 'A');
  EXPECT_EQ(Terms(long_word + " tail"), (Strings{std::string(kMaxTokenBytes, 'a'), "tail"}));

  std::string accented;
  for (int i = 0; i < 100000; ++i) accented += "é";
  std::vector<std::string> t = Terms(accented, NoFolding());
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].size(), kMaxTokenBytes);  // 32 two-byte code points
  EXPECT_TRUE(IsValidUtf8(t[0]));

  std::string cjk;
  for (int i = 0; i < 1000; ++i) cjk += "東";
  t = Terms(cjk);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].size(), 63u);  // 21 three-byte code points; a 22nd would exceed the limit
  EXPECT_TRUE(IsValidUtf8(t[0]));

  std::string many_words;
  for (int i = 0; i < 200000; ++i) many_words += "word ";
  TokenList tokens;
  Tokenize(many_words, {}, &tokens);
  EXPECT_EQ(tokens.size(), 200000u);
}

TEST(TokenizerTest, StemsEnglishPlurals) {
  const std::pair<const char*, const char*> cases[] = {
      {"shoes", "shoe"},
      {"lamps", "lamp"},
      {"boxes", "box"},
      {"dresses", "dress"},
      {"watches", "watch"},
      {"brushes", "brush"},
      {"batteries", "batterie"},
      {"battery", "batterie"},
      {"hoodies", "hoodie"},
      {"hoodie", "hoodie"},
      {"toys", "toy"},
      {"toy", "toy"},
      {"glass", "glass"},
      {"cactus", "cactus"},
      {"analysis", "analysis"},
      {"bags", "bag"},
      {"gas", "gas"},
      {"bus", "bus"},
      {"15s", "15s"},
      {"ps5", "ps5"},
      {"s", "s"},
      {"crèmes", "crème"},
  };
  for (const auto& [word, stem] : cases) EXPECT_EQ(StemPlural(word), stem) << word;
}

TEST(TokenizerTest, StemmedAndRawFormsAreBothKept) {
  EXPECT_EQ(Terms("Dresses Batteries"), (Strings{"dress", "batterie"}));
  EXPECT_EQ(Raw("Dresses Batteries"), (Strings{"dresses", "batteries"}));
  TokenizerOptions no_stem;
  no_stem.stem_plurals = false;
  EXPECT_EQ(Terms("Dresses Batteries", no_stem), (Strings{"dresses", "batteries"}));
}

TEST(TokenizerTest, TellsWhetherTheTextEndsInsideAToken) {
  TokenList tokens;
  Tokenize("red sho", {}, &tokens);
  EXPECT_TRUE(tokens.ends_in_token());
  tokens.clear();
  Tokenize("red shoes ", {}, &tokens);
  EXPECT_FALSE(tokens.ends_in_token());
  tokens.clear();
  Tokenize("", {}, &tokens);
  EXPECT_FALSE(tokens.ends_in_token());
}

TEST(TokenizerTest, AppendsToTheList) {
  TokenList tokens;
  Tokenize("Desk Lamp", {}, &tokens);
  Tokenize("Lighting", {}, &tokens);
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens.term(0), "desk");
  EXPECT_EQ(tokens.term(2), "lighting");
}

}  // namespace
}  // namespace freshet::search
