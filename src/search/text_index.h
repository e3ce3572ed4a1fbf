#pragma once

// Catalog text search: a tokenizer and an in-memory BM25F inverted index over item titles,
// categories and brands, built from the store and updated live while searches run. The server
// (GET /v1/search) takes the candidates with their text scores and re-ranks them by the user's
// tastes; nothing here knows about users. See README.md in this folder.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/ids.h"
#include "core/status.h"

namespace freshet::store {
class EventStore;
}  // namespace freshet::store

namespace freshet::search {

// ---------------------------------------------------------------------------------------------
// Tokenizer
//
// A token is a maximal run of letters, where a letter is an ASCII letter or digit, or a valid
// UTF-8 multi-byte sequence whose code point is not listed as punctuation below. Everything else
// separates tokens: ASCII punctuation, spaces and controls; C1 controls, U+00A0-U+00BF (no-break
// space, symbols such as (c), (R), degree, guillemets) except the letters and numerals in that
// block (ª, µ, º, ², ³, ¹, ¼, ½, ¾); × and ÷; General Punctuation U+2000-U+206F (typographic
// spaces, dashes, quotes, bullets, ellipsis); currency symbols U+20A0-U+20CF; ™; Supplemental
// Punctuation; CJK spaces, commas, full stops and brackets; fullwidth ASCII punctuation; the byte
// order mark and U+FFFD. Invalid UTF-8 (stray continuation bytes, overlong forms, surrogates,
// truncated sequences, bytes above U+10FFFF) separates byte by byte, so every token is valid
// UTF-8 and no token ever ends inside a code point, whatever the input bytes.
//
// Folding: ASCII is lower-cased; so are Latin-1, Latin Extended-A, Greek and Cyrillic letters,
// and fullwidth ASCII letters and digits become ASCII. With fold_accents, Latin letters also lose
// their diacritics ("Crème brûlée" -> "creme", "brulee"; ß -> "ss", æ -> "ae", œ -> "oe",
// þ -> "th"), Greek loses the tonos and Cyrillic ё becomes е. There is no word segmentation
// for scripts written without spaces: a run of CJK characters is one token.
//
// Digits are letters, so "iPhone 15" gives "iphone", "15" and "USB-C" gives "usb", "c". Tokens
// are never empty. A run longer than kMaxTokenBytes keeps its first kMaxTokenBytes bytes (cut
// at a code point boundary) and drops the rest of the run, so hostile input costs linear time
// and bounded memory per token.
//
// Plural stemming (stem_plurals), applied identically to items and queries, to tokens of at
// least 4 bytes: a final ASCII letter + "s" loses the "s" ("shoes" -> "shoe", "toys" -> "toy",
// "hoodies" -> "hoodie"), except after "s", "u" or "i" ("glass", "cactus", "analysis" stay);
// "-sses", "-xes", "-ches" and "-shes" lose "es" ("dresses" -> "dress", "boxes" -> "box",
// "watches" -> "watch"); a final consonant + "y" becomes "ie", so that "battery" meets
// "batteries" -> "batterie" without breaking "hoodie" / "hoodies". The indexed form is thus not
// always an English word (Explain shows it). It is deliberately light: a few words collide
// ("news" -> "new") and irregular plurals stay apart ("knives", "tomatoes").
// ---------------------------------------------------------------------------------------------

struct TokenizerOptions {
  // Drop Latin diacritics so that queries typed without accents ("creme") find accented titles.
  // Costs the distinctions a few languages make with accents alone (German "schon" / "schön").
  bool fold_accents = true;
  // Light English plural stemming (above). Lets "shoe" find "shoes" and the reverse; costs a few
  // collisions between unrelated words.
  bool stem_plurals = true;
};

// Longest token kept, in bytes (see above). No product word is longer; longer runs are noise.
inline constexpr size_t kMaxTokenBytes = 64;

// The tokens of a text in one flat buffer: filling it allocates nothing once its capacity has
// grown, so a pooled TokenList costs no allocation per query. Not thread-safe.
class TokenList {
 public:
  size_t size() const { return tokens_.size(); }
  bool empty() const { return tokens_.empty(); }
  // The i-th token as indexed: folded and, with stem_plurals, plural-stemmed. REQUIRES: i < size().
  std::string_view term(size_t i) const {
    return std::string_view(bytes_).substr(tokens_[i].term_begin, tokens_[i].term_size);
  }
  // The i-th token folded but not stemmed, as typed. REQUIRES: i < size().
  std::string_view raw(size_t i) const {
    return std::string_view(bytes_).substr(tokens_[i].raw_begin, tokens_[i].raw_size);
  }
  // True when the last text passed to Tokenize ended inside its last token (no separator after
  // it): the user may still be typing that word.
  bool ends_in_token() const { return ends_in_token_; }
  void clear() {
    bytes_.clear();
    tokens_.clear();
    ends_in_token_ = false;
  }

 private:
  friend void Tokenize(std::string_view text, const TokenizerOptions& options, TokenList* out);
  struct Token {
    uint32_t raw_begin;
    uint32_t raw_size;
    uint32_t term_begin;
    uint32_t term_size;
  };
  std::string bytes_;
  std::vector<Token> tokens_;
  bool ends_in_token_ = false;
};

// Appends the tokens of `text` to `out` (it is not cleared, so the fields of one item can share a
// list) and sets out->ends_in_token() for this text. Any byte sequence is accepted.
// REQUIRES: out != nullptr; the total size of `out` stays below 4 GiB.
void Tokenize(std::string_view text, const TokenizerOptions& options, TokenList* out);

// The plural-stemmed form of one token (the rule above); for tests and documentation, the
// tokenizer applies it without allocating.
std::string StemPlural(std::string_view token);

// ---------------------------------------------------------------------------------------------
// Index
// ---------------------------------------------------------------------------------------------

// BM25F: each occurrence of a term counts its field's weight towards the term frequency tf and
// towards the document length dl, and one BM25 runs over that weighted document:
//   score(q, d) = sum over distinct query terms t of
//                 idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * dl(d) / avgdl))
//   idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
// with N = size() and avgdl the mean dl over the N items. This idf (Lucene's) is positive even
// for a term in every item, so a match never lowers a score.
struct TextIndexOptions {
  // Term-frequency saturation. Higher lets repeated words keep adding score; catalog titles are
  // short and repetition is usually keyword stuffing, so stay near the usual 1.2. >= 0.
  double k1 = 1.2;
  // Length normalisation in [0, 1]: 1 fully penalises long titles, 0 ignores length. Lower it
  // when long titles are legitimately more detailed rather than padded.
  double b = 0.75;
  // Field weights (>= 0, at least one > 0; 0 leaves the field out of the index). A title word
  // counts title_weight occurrences, so a title hit outranks a category-only or brand-only hit
  // of the same term; raising a weight beyond ~3 makes that field dominate through saturation.
  double title_weight = 2.0;
  double category_weight = 1.0;
  double brand_weight = 1.0;
  // Type-ahead: the last query token also matches indexed terms it is a prefix of ("iph" finds
  // "iphone"), unless the query ends with a separator (the word is complete). Costs an ordered
  // dictionary walk and up to max_prefix_terms extra postings lists per query.
  bool prefix_last_token = true;
  // Multiplier in (0, 1] on a term matched only as a completion, so that an exact word outranks
  // a completion. Per item the last token scores its best match, exact or completion.
  double prefix_weight = 0.5;
  // Shortest last token, in code points, that is expanded; shorter ones match exactly only
  // (one letter would expand to a large part of the dictionary). >= 1.
  size_t min_prefix_chars = 2;
  // Most completions scored per query, the ones in the most items kept. Bounds the cost of a short
  // prefix; a rare completion beyond the bound is found once more letters are typed. >= 1.
  size_t max_prefix_terms = 64;
  // Longest query accepted, in bytes; longer ones are InvalidArgument (bounds per-query work).
  size_t max_query_bytes = 1024;
  // Applied to items and queries alike; changing it requires rebuilding the index.
  TokenizerOptions tokenizer;
};

// OK, or InvalidArgument naming the first field out of the ranges documented above.
Status ValidateTextIndexOptions(const TextIndexOptions& options);

// A search result. Ordering: higher score first, then lower item id.
struct Hit {
  ItemId item = kNoId;
  float score = 0.0f;
  bool operator==(const Hit&) const = default;
};

// Restricts results to the items it allows (in stock, price band, category, ...). Search calls
// Allow at most once per matching item, on the searching thread, while holding the index's shared
// lock: Allow must not call Add or Remove on the same index, and must be safe to call from
// several threads at once when one Filter is shared by concurrent searches.
class Filter {
 public:
  virtual ~Filter() = default;
  virtual bool Allow(ItemId item) const = 0;
};

// Adapts a callable bool(ItemId) to a Filter: FilterFn in_stock([&](ItemId i) { ... });
template <typename Fn>
class FilterFn final : public Filter {
 public:
  explicit FilterFn(Fn fn) : fn_(std::move(fn)) {}
  bool Allow(ItemId item) const override { return fn_(item); }

 private:
  Fn fn_;
};

// Why an item matched, for explain=true: one entry per query term that matched it.
struct TermMatch {
  std::string query_token;  // the query token (folded, not stemmed)
  std::string term;         // the indexed term it matched
  bool prefix = false;      // matched as a completion of the last query token
  float tf = 0.0f;          // the field-weighted term frequency of `term` in the item
  float score = 0.0f;       // its contribution to the item's score (prefix_weight included)
};

// The inverted index. Postings are contiguous per term ((item, weighted tf), sorted by item);
// document lengths and per-item term lists are arrays indexed by ItemId, so memory grows with the
// largest id added: use the store's dense ids.
//
// Concurrency: Add and Remove take an exclusive lock (a std::shared_mutex) after tokenising
// outside it; Search, Explain, size() and num_terms() take it shared. Any of them may run
// concurrently from any threads; a search sees each Add either entirely or not at all. glibc's
// shared mutex prefers readers, so a writer waits for a gap in a continuous stream of searches.
class TextIndex {
 public:
  // An empty index. InvalidArgument when the options are out of range (ValidateTextIndexOptions).
  static Result<std::unique_ptr<TextIndex>> Create(const TextIndexOptions& options);
  ~TextIndex();
  TextIndex(const TextIndex&) = delete;
  TextIndex& operator=(const TextIndex&) = delete;

  // Indexes item.title, item.category and item.brand under `id`, replacing whatever `id` had:
  // afterwards its old words no longer match it. An item whose fields hold no token is still
  // counted in size() (and in BM25's N and avgdl) but matches nothing. Other fields are ignored.
  // REQUIRES: id != kNoId. Thread-safe (see the class comment).
  void Add(ItemId id, const Item& item);

  // Forgets `id`; a no-op when it is not indexed. Thread-safe.
  void Remove(ItemId id);

  // Replaces *out with the at most k best items for `query` among those `filter` allows (all when
  // filter is null), best first, ties broken by lower item id. An empty query, one with no
  // token (only punctuation), one whose terms match nothing, or k == 0 give no hits and OK.
  // InvalidArgument when the query is longer than options.max_query_bytes.
  // REQUIRES: out != nullptr. Thread-safe; per-call scratch comes from a pool, so a search
  // allocates nothing once the pool and *out have grown.
  Status Search(std::string_view query, size_t k, const Filter* filter,
                std::vector<Hit>* out) const;

  // Replaces *out with the query terms that match `item`, in query order, scored as Search scores
  // them: their scores sum to the item's Search score (up to float rounding). For the last token,
  // which scores its best match, only that match is listed. NotFound when `item` is not indexed;
  // InvalidArgument as Search. REQUIRES: out != nullptr. Thread-safe.
  Status Explain(std::string_view query, ItemId item, std::vector<TermMatch>* out) const;

  // Items indexed (added and not removed). Thread-safe.
  size_t size() const;
  // Distinct terms ever indexed; replaced items leave their terms in the dictionary. Thread-safe.
  size_t num_terms() const;
  const TextIndexOptions& options() const { return options_; }

 private:
  using TermId = uint32_t;
  struct Posting {
    ItemId item;
    float tf;  // field-weighted term frequency, > 0
  };
  struct QueryTerm;
  struct Scratch;
  class ScratchLease;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  explicit TextIndex(const TextIndexOptions& options);
  // Tokenises the three fields of `item` into scratch's document term list (outside the lock).
  void AnalyzeItem(const Item& item, Scratch* scratch) const;
  // The postings of `id`'s previous version, removed. REQUIRES: mu_ held exclusively.
  void RemoveLocked(ItemId id);
  // Builds the query plan for scratch->tokens into scratch->terms. REQUIRES: mu_ held.
  void PlanQuery(Scratch* scratch) const;
  // What BM25 needs besides tf and dl, from the current N and avgdl. REQUIRES: mu_ held, and
  // size() > 0.
  struct Bm25Constants {
    float k1_plus_1;
    float a;        // k1 * (1 - b)
    float b_avgdl;  // k1 * b / avgdl (0 when every item is empty)
  };
  Bm25Constants ConstantsLocked() const;
  float Idf(TermId term) const;  // REQUIRES: mu_ held

  const TextIndexOptions options_;

  mutable std::shared_mutex mu_;
  // Everything below up to the pool is guarded by mu_.
  // Term dictionary. term_text_ and sorted_terms_ hold views of term_ids_'s keys, which stay put
  // when the map rehashes. sorted_terms_ serves the type-ahead prefix walk.
  std::unordered_map<std::string, TermId, StringHash, std::equal_to<>> term_ids_;
  std::map<std::string_view, TermId> sorted_terms_;
  std::vector<std::string_view> term_text_;     // by TermId
  std::vector<std::vector<Posting>> postings_;  // by TermId, sorted by item
  std::vector<float> doc_len_;                  // by ItemId: dl, 0 when absent
  std::vector<std::vector<TermId>> doc_terms_;  // by ItemId: its distinct terms
  std::vector<uint8_t> present_;                // by ItemId
  // Field token counts, by ItemId and in total, so that avgdl is exact after any sequence of
  // replacements (a running float sum would drift).
  std::vector<std::array<uint32_t, 3>> field_len_;
  uint64_t field_total_[3] = {0, 0, 0};
  size_t num_docs_ = 0;

  mutable std::mutex pool_mu_;
  mutable std::vector<std::unique_ptr<Scratch>> pool_;  // guarded by pool_mu_
};

// Builds an index of every catalog entry in `store` (EventStore::ScanItems), each under its dense
// ItemId. Errors: InvalidArgument for bad options; the store's Corruption / IOError when the
// catalog cannot be read. The store may take writes meanwhile; items put after the scan passes
// them are missing, so a live server Adds new catalog entries as they arrive.
Result<std::unique_ptr<TextIndex>> BuildTextIndex(const store::EventStore& store,
                                                  const TextIndexOptions& options);

}  // namespace freshet::search
