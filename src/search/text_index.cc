#include "search/text_index.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <span>
#include <string>

#include "store/event_store.h"

namespace freshet::search {
namespace {

// ---- Tokenizer helpers ----------------------------------------------------------------------

bool IsAsciiAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char AsciiLower(unsigned char c) {
  return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

// Decodes the UTF-8 sequence starting at text[i] (a byte >= 0x80). Returns its length (2 to 4)
// and sets *cp, or returns 0 when the bytes there are not a valid sequence: a stray continuation
// byte, an overlong form (C0, C1, E0 80-9F, F0 80-8F), a surrogate (ED A0-BF), a code point above
// U+10FFFF (F4 90-BF, F5-FF) or a sequence cut short by the end of the text or by a byte that
// is not a continuation.
size_t DecodeUtf8(std::string_view text, size_t i, uint32_t* cp) {
  const auto byte = [&](size_t j) { return static_cast<unsigned char>(text[j]); };
  const unsigned char lead = byte(i);
  size_t len = 0;
  uint32_t value = 0;
  unsigned char lo = 0x80;  // allowed range of the second byte
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    value = lead & 0x0F;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    value = lead & 0x07;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (text.size() - i < len) return 0;
  const unsigned char second = byte(i + 1);
  if (second < lo || second > hi) return 0;
  value = (value << 6) | (second & 0x3F);
  for (size_t j = 2; j < len; ++j) {
    const unsigned char c = byte(i + j);
    if ((c & 0xC0) != 0x80) return 0;
    value = (value << 6) | (c & 0x3F);
  }
  *cp = value;
  return len;
}

// Non-ASCII code points that separate tokens (the list in text_index.h).
bool IsSeparator(uint32_t cp) {
  if (cp < 0xA0) return true;  // C1 controls
  if (cp <= 0xBF) {
    // Latin-1 punctuation and symbols, except its letters and numerals.
    return !(cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA ||
             (cp >= 0xBC && cp <= 0xBE));
  }
  if (cp == 0xD7 || cp == 0xF7) return true;      // multiplication and division signs
  if (cp >= 0x2000 && cp <= 0x206F) return true;  // General Punctuation
  if (cp >= 0x20A0 && cp <= 0x20CF) return true;  // currency symbols
  if (cp == 0x2122) return true;                  // trade mark sign
  if (cp >= 0x2E00 && cp <= 0x2E7F) return true;  // Supplemental Punctuation
  if (cp >= 0x3000 && cp <= 0x3003) return true;  // ideographic space, comma, full stop
  if (cp >= 0x3008 && cp <= 0x3011) return true;  // CJK brackets
  if (cp == 0xFEFF || cp == 0xFFFD) return true;  // byte order mark, replacement character
  if ((cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
      (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65)) {
    return true;  // fullwidth ASCII punctuation
  }
  return false;
}

// Base letters of U+00C0-U+00FF without diacritics, lower case. '*' marks the letters that fold
// to two (æ, þ, ß); '.' marks × and ÷, which are separators and never reach the table.
constexpr std::string_view kLatin1Base =
    "aaaaaa*ceeeeiiii"   // U+00C0 À Á Â Ã Ä Å Æ Ç È É Ê Ë Ì Í Î Ï
    "dnooooo.ouuuuy**"   // U+00D0 Ð Ñ Ò Ó Ô Õ Ö × Ø Ù Ú Û Ü Ý Þ ß
    "aaaaaa*ceeeeiiii"   // U+00E0 à ... ï
    "dnooooo.ouuuuy*y";  // U+00F0 ð ñ ò ó ô õ ö ÷ ø ù ú û ü ý þ ÿ
static_assert(kLatin1Base.size() == 64);

// Base letters of Latin Extended-A, U+0100-U+017F; '*' marks the ligatures Ĳ ĳ Œ œ.
constexpr std::string_view kLatinExtABase =
    "aaaaaaccccccccdd"   // U+0100 Ā ā Ă ă Ą ą Ć ć Ĉ ĉ Ċ ċ Č č Ď ď
    "ddeeeeeeeeeegggg"   // U+0110 Đ đ Ē ē Ĕ ĕ Ė ė Ę ę Ě ě Ĝ ĝ Ğ ğ
    "gggghhhhiiiiiiii"   // U+0120 Ġ ġ Ģ ģ Ĥ ĥ Ħ ħ Ĩ ĩ Ī ī Ĭ ĭ Į į
    "ii**jjkkklllllll"   // U+0130 İ ı Ĳ ĳ Ĵ ĵ Ķ ķ ĸ Ĺ ĺ Ļ ļ Ľ ľ Ŀ
    "lllnnnnnnnnnoooo"   // U+0140 ŀ Ł ł Ń ń Ņ ņ Ň ň ŉ Ŋ ŋ Ō ō Ŏ ŏ
    "oo**rrrrrrssssss"   // U+0150 Ő ő Œ œ Ŕ ŕ Ŗ ŗ Ř ř Ś ś Ŝ ŝ Ş ş
    "ssttttttuuuuuuuu"   // U+0160 Š š Ţ ţ Ť ť Ŧ ŧ Ũ ũ Ū ū Ŭ ŭ Ů ů
    "uuuuwwyyyzzzzzzs";  // U+0170 Ű ű Ų ų Ŵ ŵ Ŷ ŷ Ÿ Ź ź Ż ż Ž ž ſ
static_assert(kLatinExtABase.size() == 128);

// Lower case within Latin Extended-A, where upper and lower case alternate.
uint32_t LowerLatinExtA(uint32_t cp) {
  // İ lower-cases to i + a combining dot; a plain i is what users type.
  if (cp == 0x130) return 'i';
  if (cp == 0x131 || cp == 0x138 || cp == 0x149 || cp == 0x17F) return cp;  // no upper/lower pair
  if (cp == 0x178) return 0xFF;                                             // Ÿ -> ÿ
  const bool upper_is_even = cp < 0x138 || (cp >= 0x14A && cp < 0x178);
  if (upper_is_even) return cp % 2 == 0 ? cp + 1 : cp;
  return cp % 2 == 1 ? cp + 1 : cp;  // U+0139-U+0148 and U+0179-U+017E: upper case is odd
}

uint32_t LowerGreek(uint32_t cp) {
  if (cp == 0x386) return 0x3AC;
  if (cp >= 0x388 && cp <= 0x38A) return cp + 0x25;
  if (cp == 0x38C) return 0x3CC;
  if (cp == 0x38E || cp == 0x38F) return cp + 0x3F;
  if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) return cp + 0x20;
  if (cp == 0x3C2) return 0x3C3;  // final sigma: same letter
  return cp;
}

uint32_t StripGreekTonos(uint32_t cp) {
  switch (cp) {
    case 0x3AC:
      return 0x3B1;
    case 0x3AD:
      return 0x3B5;
    case 0x3AE:
      return 0x3B7;
    case 0x3AF:
    case 0x390:
    case 0x3CA:
      return 0x3B9;
    case 0x3CC:
      return 0x3BF;
    case 0x3CD:
    case 0x3B0:
    case 0x3CB:
      return 0x3C5;
    case 0x3CE:
      return 0x3C9;
    default:
      return cp;
  }
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Appends the folded form of a non-ASCII letter: lower case, and without diacritics when
// fold_accents. The result is ASCII or valid UTF-8.
void AppendFolded(uint32_t cp, bool fold_accents, std::string* out) {
  if (cp >= 0xC0 && cp <= 0xFF) {
    if (fold_accents) {
      const char base = kLatin1Base[cp - 0xC0];
      assert(base != '.');
      if (base != '*') {
        out->push_back(base);
      } else if (cp == 0xC6 || cp == 0xE6) {
        out->append("ae");
      } else if (cp == 0xDF) {
        out->append("ss");
      } else {
        out->append("th");
      }
      return;
    }
    if (cp <= 0xDE) cp += 0x20;  // À-Þ -> à-þ (× never gets here)
  } else if (cp >= 0x100 && cp <= 0x17F) {
    if (fold_accents) {
      const char base = kLatinExtABase[cp - 0x100];
      if (base != '*') {
        out->push_back(base);
      } else {
        out->append(cp < 0x140 ? "ij" : "oe");
      }
      return;
    }
    cp = LowerLatinExtA(cp);
  } else if (cp >= 0x370 && cp <= 0x3FF) {
    cp = LowerGreek(cp);
    if (fold_accents) cp = StripGreekTonos(cp);
  } else if (cp >= 0x400 && cp <= 0x45F) {
    if (cp < 0x410) {
      cp += 0x50;  // Ѐ-Џ -> ѐ-џ
    } else if (cp < 0x430) {
      cp += 0x20;  // А-Я -> а-я
    }
    if (fold_accents && (cp == 0x450 || cp == 0x451)) cp = 0x435;  // ѐ, ё -> е
  } else if (cp >= 0xFF10 && cp <= 0xFF19) {
    out->push_back(static_cast<char>('0' + (cp - 0xFF10)));  // fullwidth digits
    return;
  } else if (cp >= 0xFF21 && cp <= 0xFF3A) {
    out->push_back(static_cast<char>('a' + (cp - 0xFF21)));  // fullwidth capitals
    return;
  } else if (cp >= 0xFF41 && cp <= 0xFF5A) {
    out->push_back(static_cast<char>('a' + (cp - 0xFF41)));  // fullwidth small letters
    return;
  }
  AppendUtf8(cp, out);
}

// The plural rule of text_index.h as (bytes of the token kept, suffix appended).
struct StemRule {
  size_t keep;
  std::string_view suffix;
};

bool IsAsciiLowerLetter(char c) { return c >= 'a' && c <= 'z'; }
bool IsVowelOrY(char c) {
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

StemRule PluralRule(std::string_view t) {
  const size_t n = t.size();
  if (n < 4) return {n, {}};
  const char last = t[n - 1];
  const char prev = t[n - 2];
  if (!IsAsciiLowerLetter(prev)) return {n, {}};
  // "battery" and "batteries" both become "batterie"; "hoodie" and "hoodies" become "hoodie".
  // Mapping singular -y to -ie (rather than plural -ies to -y) keeps the -ie words intact.
  if (last == 'y') return IsVowelOrY(prev) ? StemRule{n, {}} : StemRule{n - 1, "ie"};
  if (last != 's') return {n, {}};
  if (prev == 's' || prev == 'u' || prev == 'i') return {n, {}};  // glass, cactus, analysis
  if (prev == 'e' && n >= 5) {
    const char c3 = t[n - 3];
    const char c4 = t[n - 4];
    if (c3 == 'x' || (c3 == 's' && c4 == 's') || (c3 == 'h' && (c4 == 'c' || c4 == 's'))) {
      return {n - 2, {}};  // boxes, dresses, watches, brushes
    }
  }
  return {n - 1, {}};
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

std::string StemPlural(std::string_view token) {
  const StemRule rule = PluralRule(token);
  std::string out(token.substr(0, rule.keep));
  out.append(rule.suffix);
  return out;
}

void Tokenize(std::string_view text, const TokenizerOptions& options, TokenList* out) {
  assert(out != nullptr);
  std::string& bytes = out->bytes_;
  bool in_token = false;
  bool full = false;  // the current run reached kMaxTokenBytes: drop the rest of it
  size_t begin = 0;

  const auto finish = [&] {
    if (!in_token) return;
    in_token = false;
    full = false;
    const size_t raw_size = bytes.size() - begin;
    assert(raw_size > 0);
    TokenList::Token token{static_cast<uint32_t>(begin), static_cast<uint32_t>(raw_size),
                           static_cast<uint32_t>(begin), static_cast<uint32_t>(raw_size)};
    if (options.stem_plurals) {
      const StemRule rule = PluralRule(std::string_view(bytes).substr(begin, raw_size));
      token.term_size = static_cast<uint32_t>(rule.keep);
      if (!rule.suffix.empty()) {
        // The stem is not a prefix of the raw token: write it after it, by offsets because the
        // resize may move the buffer.
        const size_t at = bytes.size();
        bytes.resize(at + rule.keep + rule.suffix.size());
        std::memmove(&bytes[at], &bytes[begin], rule.keep);
        std::memcpy(&bytes[at + rule.keep], rule.suffix.data(), rule.suffix.size());
        token.term_begin = static_cast<uint32_t>(at);
        token.term_size = static_cast<uint32_t>(rule.keep + rule.suffix.size());
      }
    }
    out->tokens_.push_back(token);
  };
  const auto start = [&] {
    if (in_token) return;
    in_token = true;
    begin = bytes.size();
  };

  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (IsAsciiAlnum(c)) {
        start();
        if (!full && bytes.size() - begin < kMaxTokenBytes) {
          bytes.push_back(AsciiLower(c));
        } else {
          full = true;
        }
      } else {
        finish();
      }
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const size_t len = DecodeUtf8(text, i, &cp);
    if (len == 0 || IsSeparator(cp)) {
      finish();
      i += len == 0 ? 1 : len;
      continue;
    }
    start();
    if (!full) {
      const size_t before = bytes.size();
      AppendFolded(cp, options.fold_accents, &bytes);
      if (bytes.size() - begin > kMaxTokenBytes) {
        bytes.resize(before);  // whole code points only: the token stays valid UTF-8
        full = true;
      }
    }
    i += len;
  }
  out->ends_in_token_ = in_token;
  finish();
  assert(bytes.size() < (uint64_t{1} << 32));
}

// ---- Options ---------------------------------------------------------------------------------

Status ValidateTextIndexOptions(const TextIndexOptions& o) {
  const auto bad = [](std::string_view field, std::string_view rule, double value) {
    return Status::InvalidArgument("text index option '" + std::string(field) + "' must be " +
                                   std::string(rule) + ", got " + std::to_string(value));
  };
  if (!std::isfinite(o.k1) || o.k1 < 0) return bad("k1", "finite and >= 0", o.k1);
  if (!(o.b >= 0 && o.b <= 1)) return bad("b", "in [0, 1]", o.b);
  const std::pair<std::string_view, double> weights[] = {{"title_weight", o.title_weight},
                                                         {"category_weight", o.category_weight},
                                                         {"brand_weight", o.brand_weight}};
  for (const auto& [name, w] : weights) {
    if (!std::isfinite(w) || w < 0) return bad(name, "finite and >= 0", w);
  }
  if (o.title_weight + o.category_weight + o.brand_weight <= 0) {
    return Status::InvalidArgument(
        "text index options: at least one of title_weight, category_weight, brand_weight must be "
        "> 0");
  }
  if (!(o.prefix_weight > 0 && o.prefix_weight <= 1)) {
    return bad("prefix_weight", "in (0, 1]", o.prefix_weight);
  }
  if (o.min_prefix_chars < 1) return bad("min_prefix_chars", ">= 1", 0);
  if (o.max_prefix_terms < 1) return bad("max_prefix_terms", ">= 1", 0);
  if (o.max_query_bytes < 1) return bad("max_query_bytes", ">= 1", 0);
  return Status::OK();
}

// ---- Index -----------------------------------------------------------------------------------

// One term of a query plan.
struct TextIndex::QueryTerm {
  TermId term;
  uint32_t token;  // index of the query token it comes from
  float weight;    // 1, or prefix_weight for a completion
  bool prefix;     // a completion of the last token
  bool best_of;    // in the last token's group, where an item scores its best member only
};

// Per-call working memory, pooled so that a search allocates nothing in the steady state.
struct TextIndex::Scratch {
  TokenList tokens;
  // Search and Explain.
  std::vector<QueryTerm> terms;
  std::vector<std::pair<size_t, TermId>> completions;  // (document frequency, term)
  // By ItemId. score is 0 for every item between searches: contributions are > 0, so 0 means
  // "not touched by this query", and only the touched entries are reset.
  std::vector<float> score;
  std::vector<float> best;  // the last token's best contribution so far, likewise 0 between uses
  std::vector<ItemId> touched;
  std::vector<ItemId> best_touched;
  std::vector<Hit> heap;
  // Add: the item's distinct terms with their weighted tf, and its field token counts.
  std::vector<std::pair<std::string_view, double>> occurrences;
  std::vector<std::pair<std::string_view, float>> doc_terms;
  std::array<uint32_t, 3> field_len{};
  float doc_len = 0;
};

// Takes a scratch from the pool and gives it back on destruction, unless Keep() was never called
// (an exception left it half-used: dropping it keeps the all-zero invariant of the pooled ones).
class TextIndex::ScratchLease {
 public:
  explicit ScratchLease(const TextIndex& index) : index_(index) {
    {
      std::lock_guard<std::mutex> lock(index_.pool_mu_);
      if (!index_.pool_.empty()) {
        scratch_ = std::move(index_.pool_.back());
        index_.pool_.pop_back();
      }
    }
    if (scratch_ == nullptr) scratch_ = std::make_unique<Scratch>();
  }
  ~ScratchLease() {
    if (!keep_) return;
    std::lock_guard<std::mutex> lock(index_.pool_mu_);
    index_.pool_.push_back(std::move(scratch_));
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;

  Scratch& operator*() { return *scratch_; }
  void Keep() { keep_ = true; }

 private:
  const TextIndex& index_;
  std::unique_ptr<Scratch> scratch_;
  bool keep_ = false;
};

namespace {

// BM25's per-item term factor: c1 * tf / (tf + k1 * (1 - b + b * dl / avgdl)), with
// c1 = weight * idf * (k1 + 1), a = k1 * (1 - b), b_avgdl = k1 * b / avgdl. Search and Explain
// both call it so that they agree to the bit.
inline float TermScore(float c1, float tf, float a, float b_avgdl, float dl) {
  return c1 * tf / (tf + (a + b_avgdl * dl));
}

}  // namespace

TextIndex::TextIndex(const TextIndexOptions& options) : options_(options) {}
TextIndex::~TextIndex() = default;

Result<std::unique_ptr<TextIndex>> TextIndex::Create(const TextIndexOptions& options) {
  FRESHET_RETURN_IF_ERROR(ValidateTextIndexOptions(options));
  return std::unique_ptr<TextIndex>(new TextIndex(options));
}

void TextIndex::AnalyzeItem(const Item& item, Scratch* s) const {
  s->tokens.clear();
  s->occurrences.clear();
  s->doc_terms.clear();
  const std::string_view fields[3] = {item.title, item.category, item.brand};
  const double weights[3] = {options_.title_weight, options_.category_weight,
                             options_.brand_weight};
  size_t field_begin[4] = {0, 0, 0, 0};
  double doc_len = 0;
  for (int f = 0; f < 3; ++f) {
    field_begin[f] = s->tokens.size();
    Tokenize(fields[f], options_.tokenizer, &s->tokens);
    s->field_len[f] = static_cast<uint32_t>(s->tokens.size() - field_begin[f]);
    doc_len += weights[f] * s->field_len[f];
  }
  field_begin[3] = s->tokens.size();
  s->doc_len = static_cast<float>(doc_len);
  // Views are taken once every field is tokenised: the buffer no longer moves.
  for (int f = 0; f < 3; ++f) {
    if (weights[f] <= 0) continue;  // a zero-weight field is not indexed
    for (size_t i = field_begin[f]; i < field_begin[f + 1]; ++i) {
      s->occurrences.emplace_back(s->tokens.term(i), weights[f]);
    }
  }
  std::sort(s->occurrences.begin(), s->occurrences.end());
  for (size_t i = 0; i < s->occurrences.size();) {
    double tf = 0;
    size_t j = i;
    for (; j < s->occurrences.size() && s->occurrences[j].first == s->occurrences[i].first; ++j) {
      tf += s->occurrences[j].second;
    }
    s->doc_terms.emplace_back(s->occurrences[i].first, static_cast<float>(tf));
    i = j;
  }
}

void TextIndex::RemoveLocked(ItemId id) {
  if (id >= present_.size() || !present_[id]) return;
  for (TermId t : doc_terms_[id]) {
    std::vector<Posting>& list = postings_[t];
    auto it = std::lower_bound(list.begin(), list.end(), id,
                               [](const Posting& p, ItemId item) { return p.item < item; });
    assert(it != list.end() && it->item == id);  // doc_terms_ and postings_ agree
    list.erase(it);
  }
  std::vector<TermId>().swap(doc_terms_[id]);
  for (int f = 0; f < 3; ++f) field_total_[f] -= field_len_[id][f];
  field_len_[id] = {0, 0, 0};
  doc_len_[id] = 0;
  present_[id] = 0;
  --num_docs_;
}

void TextIndex::Add(ItemId id, const Item& item) {
  assert(id != kNoId);
  ScratchLease lease(*this);
  Scratch& s = *lease;
  AnalyzeItem(item, &s);  // outside the lock: searches go on meanwhile

  std::unique_lock<std::shared_mutex> lock(mu_);
  if (id >= present_.size()) {
    const size_t n = size_t{id} + 1;
    present_.resize(n, 0);
    doc_len_.resize(n, 0.0f);
    doc_terms_.resize(n);
    field_len_.resize(n, {0, 0, 0});
  }
  RemoveLocked(id);
  std::vector<TermId>& terms = doc_terms_[id];
  terms.reserve(s.doc_terms.size());
  for (const auto& [text, tf] : s.doc_terms) {
    TermId t;
    auto it = term_ids_.find(text);
    if (it != term_ids_.end()) {
      t = it->second;
    } else {
      t = static_cast<TermId>(postings_.size());
      auto inserted = term_ids_.emplace(std::string(text), t).first;
      const std::string_view key = inserted->first;  // stable for the life of the map entry
      sorted_terms_.emplace(key, t);
      term_text_.push_back(key);
      postings_.emplace_back();
    }
    std::vector<Posting>& list = postings_[t];
    if (list.empty() || list.back().item < id) {
      list.push_back({id, tf});  // the common case: ids arrive in increasing order
    } else {
      auto pos = std::lower_bound(list.begin(), list.end(), id,
                                  [](const Posting& p, ItemId item) { return p.item < item; });
      list.insert(pos, {id, tf});
    }
    terms.push_back(t);
  }
  present_[id] = 1;
  doc_len_[id] = s.doc_len;
  field_len_[id] = s.field_len;
  for (int f = 0; f < 3; ++f) field_total_[f] += s.field_len[f];
  ++num_docs_;
  lock.unlock();
  lease.Keep();
}

void TextIndex::Remove(ItemId id) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  RemoveLocked(id);
}

size_t TextIndex::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return num_docs_;
}

size_t TextIndex::num_terms() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return term_ids_.size();
}

TextIndex::Bm25Constants TextIndex::ConstantsLocked() const {
  assert(num_docs_ > 0);
  const double total_len = options_.title_weight * static_cast<double>(field_total_[0]) +
                           options_.category_weight * static_cast<double>(field_total_[1]) +
                           options_.brand_weight * static_cast<double>(field_total_[2]);
  const double avgdl = total_len / static_cast<double>(num_docs_);
  return {static_cast<float>(options_.k1 + 1), static_cast<float>(options_.k1 * (1 - options_.b)),
          static_cast<float>(avgdl > 0 ? options_.k1 * options_.b / avgdl : 0.0)};
}

float TextIndex::Idf(TermId term) const {
  const double n = static_cast<double>(num_docs_);
  const double df = static_cast<double>(postings_[term].size());
  return static_cast<float>(std::log(1.0 + (n - df + 0.5) / (df + 0.5)));
}

void TextIndex::PlanQuery(Scratch* s) const {
  s->terms.clear();
  const TokenList& tokens = s->tokens;
  const size_t n = tokens.size();
  if (n == 0) return;
  const auto find = [&](std::string_view text) -> TermId {
    auto it = term_ids_.find(text);
    return it == term_ids_.end() || postings_[it->second].empty() ? kNoId : it->second;
  };
  const auto planned = [&](TermId t) {
    return std::any_of(s->terms.begin(), s->terms.end(),
                       [t](const QueryTerm& q) { return q.term == t; });
  };
  const bool expand = options_.prefix_last_token && tokens.ends_in_token() &&
                      CodePoints(tokens.raw(n - 1)) >= options_.min_prefix_chars;
  // Every distinct term counts once: a repeated query word adds nothing.
  const size_t exact_tokens = expand ? n - 1 : n;
  for (size_t i = 0; i < exact_tokens; ++i) {
    const TermId t = find(tokens.term(i));
    if (t != kNoId && !planned(t)) {
      s->terms.push_back({t, static_cast<uint32_t>(i), 1.0f, false, false});
    }
  }
  if (!expand) return;

  const auto last = static_cast<uint32_t>(n - 1);
  const TermId exact = find(tokens.term(last));
  if (exact != kNoId && planned(exact)) return;  // the last word repeats an earlier one
  if (exact != kNoId) s->terms.push_back({exact, last, 1.0f, false, true});

  s->completions.clear();
  const std::string_view prefix = tokens.raw(last);
  for (auto it = sorted_terms_.lower_bound(prefix);
       it != sorted_terms_.end() && it->first.starts_with(prefix); ++it) {
    const TermId t = it->second;
    if (t == exact || postings_[t].empty() || planned(t)) continue;
    s->completions.emplace_back(postings_[t].size(), t);
  }
  // Keep the completions found in the most items; ties by term id keep the plan deterministic.
  const auto more_frequent = [](const std::pair<size_t, TermId>& a,
                                const std::pair<size_t, TermId>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  if (s->completions.size() > options_.max_prefix_terms) {
    std::nth_element(s->completions.begin(),
                     s->completions.begin() + static_cast<ptrdiff_t>(options_.max_prefix_terms),
                     s->completions.end(), more_frequent);
    s->completions.resize(options_.max_prefix_terms);
  }
  const auto weight = static_cast<float>(options_.prefix_weight);
  for (const auto& [df, t] : s->completions) s->terms.push_back({t, last, weight, true, true});
}

namespace {

// The one scoring loop: calls sink(item, contribution) for every posting of a term. The sink is a
// template parameter so that the accumulate and best-of variants compile to plain loops.
template <typename Posting, typename Sink>
void ScorePostings(std::span<const Posting> postings, const float* doc_len, float c1, float a,
                   float b_avgdl, Sink&& sink) {
  for (const Posting& p : postings) {
    sink(p.item, TermScore(c1, p.tf, a, b_avgdl, doc_len[p.item]));
  }
}

// Higher score first, then lower id.
bool Better(const Hit& x, const Hit& y) {
  return x.score > y.score || (x.score == y.score && x.item < y.item);
}

}  // namespace

Status TextIndex::Search(std::string_view query, size_t k, const Filter* filter,
                         std::vector<Hit>* out) const {
  assert(out != nullptr);
  out->clear();
  if (query.size() > options_.max_query_bytes) {
    return Status::InvalidArgument("query is " + std::to_string(query.size()) +
                                   " bytes long; the limit is " +
                                   std::to_string(options_.max_query_bytes));
  }
  if (k == 0) return Status::OK();
  ScratchLease lease(*this);
  Scratch& s = *lease;
  s.tokens.clear();
  Tokenize(query, options_.tokenizer, &s.tokens);
  if (s.tokens.empty()) {
    lease.Keep();
    return Status::OK();
  }

  std::shared_lock<std::shared_mutex> lock(mu_);
  PlanQuery(&s);
  if (s.terms.empty()) {
    lock.unlock();
    lease.Keep();
    return Status::OK();
  }
  if (s.score.size() < present_.size()) {
    s.score.resize(present_.size(), 0.0f);
    s.best.resize(present_.size(), 0.0f);
  }
  const Bm25Constants bm25 = ConstantsLocked();  // size() > 0: some term has a posting
  float* score = s.score.data();
  float* best = s.best.data();
  s.touched.clear();
  s.best_touched.clear();
  for (const QueryTerm& q : s.terms) {
    const float c1 = q.weight * Idf(q.term) * bm25.k1_plus_1;
    const std::span<const Posting> list(postings_[q.term]);
    if (!q.best_of) {
      ScorePostings(list, doc_len_.data(), c1, bm25.a, bm25.b_avgdl, [&](ItemId d, float v) {
        if (score[d] == 0.0f) s.touched.push_back(d);
        score[d] += v;
      });
    } else {
      ScorePostings(list, doc_len_.data(), c1, bm25.a, bm25.b_avgdl, [&](ItemId d, float v) {
        if (best[d] == 0.0f) s.best_touched.push_back(d);
        best[d] = std::max(best[d], v);
      });
    }
  }
  for (ItemId d : s.best_touched) {
    if (score[d] == 0.0f) s.touched.push_back(d);
    score[d] += best[d];
    best[d] = 0.0f;
  }

  // Bounded heap of the k best so far, worst on top. The filter runs only for items that would
  // enter it. Every touched entry is reset, restoring the scratch's all-zero invariant; an item
  // touched twice (a contribution rounded to zero) is seen with score 0 the second time and
  // skipped.
  std::vector<Hit>& heap = s.heap;
  heap.clear();
  for (ItemId d : s.touched) {
    const Hit hit{d, score[d]};
    score[d] = 0.0f;
    if (hit.score <= 0.0f) continue;
    if (heap.size() == k && !Better(hit, heap.front())) continue;
    if (filter != nullptr && !filter->Allow(d)) continue;
    if (heap.size() == k) {
      std::pop_heap(heap.begin(), heap.end(), Better);
      heap.back() = hit;
    } else {
      heap.push_back(hit);
    }
    std::push_heap(heap.begin(), heap.end(), Better);
  }
  lock.unlock();
  std::sort_heap(heap.begin(), heap.end(), Better);
  out->assign(heap.begin(), heap.end());
  lease.Keep();
  return Status::OK();
}

Status TextIndex::Explain(std::string_view query, ItemId item, std::vector<TermMatch>* out) const {
  assert(out != nullptr);
  out->clear();
  if (query.size() > options_.max_query_bytes) {
    return Status::InvalidArgument("query is " + std::to_string(query.size()) +
                                   " bytes long; the limit is " +
                                   std::to_string(options_.max_query_bytes));
  }
  ScratchLease lease(*this);
  Scratch& s = *lease;
  s.tokens.clear();
  Tokenize(query, options_.tokenizer, &s.tokens);

  std::shared_lock<std::shared_mutex> lock(mu_);
  if (item >= present_.size() || !present_[item]) {
    lease.Keep();
    return Status::NotFound("item " + std::to_string(item) + " is not in the text index");
  }
  PlanQuery(&s);
  const Bm25Constants bm25 = ConstantsLocked();  // size() > 0: `item` is present
  TermMatch best_of;
  for (const QueryTerm& q : s.terms) {
    const std::vector<Posting>& list = postings_[q.term];
    auto it = std::lower_bound(list.begin(), list.end(), item,
                               [](const Posting& p, ItemId id) { return p.item < id; });
    if (it == list.end() || it->item != item) continue;
    const float c1 = q.weight * Idf(q.term) * bm25.k1_plus_1;
    TermMatch match{std::string(s.tokens.raw(q.token)), std::string(term_text_[q.term]), q.prefix,
                    it->tf, TermScore(c1, it->tf, bm25.a, bm25.b_avgdl, doc_len_[item])};
    if (!q.best_of) {
      out->push_back(std::move(match));
    } else if (match.score > best_of.score) {
      best_of = std::move(match);
    }
  }
  if (best_of.score > 0.0f) out->push_back(std::move(best_of));
  lock.unlock();
  lease.Keep();
  return Status::OK();
}

Result<std::unique_ptr<TextIndex>> BuildTextIndex(const store::EventStore& store,
                                                  const TextIndexOptions& options) {
  FRESHET_ASSIGN_OR_RETURN(std::unique_ptr<TextIndex> index, TextIndex::Create(options));
  FRESHET_RETURN_IF_ERROR(store
                              .ScanItems([&](ItemId id, const Item& item) {
                                index->Add(id, item);
                                return true;
                              })
                              .WithContext("building the text index"));
  return index;
}

}  // namespace freshet::search
