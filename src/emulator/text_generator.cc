#include "emulator/text_generator.h"

#include <array>
#include <cmath>
#include <string_view>

namespace quotaflow::emulator {
namespace {

// Words of at most six letters: each is one token, alone or after a space.
constexpr std::array<std::string_view, 64> kWords = {
    "the",    "party",  "shall",  "agree", "term",   "notice", "within", "days",
    "of",     "this",   "clause", "may",   "be",     "paid",   "by",     "each",
    "other",  "under",  "law",    "court", "any",    "right",  "claim",  "fee",
    "in",     "signed", "to",     "and",   "or",     "not",    "all",    "such",
    "rights", "duty",   "loss",   "cost",  "waiver", "breach", "cure",   "period",
    "date",   "year",   "month",  "rate",  "price",  "goods",  "work",   "scope",
    "data",   "use",    "access", "audit", "record", "report", "review", "final",
    "good",   "faith",  "prior",  "later", "sole",   "joint",  "tax",    "owner"};

uint64_t Fnv1a(std::string_view bytes, uint64_t hash) {
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double SplitMix64::NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

uint64_t SplitMix64::Below(uint64_t bound) { return Next() % bound; }

double SplitMix64::NextNormal() {
  const double u1 = 1.0 - NextDouble();  // (0, 1]: log is finite
  const double u2 = NextDouble();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

uint64_t MixSeed(uint64_t a, uint64_t b) {
  SplitMix64 rng(a ^ (b * 0x9e3779b97f4a7c15ULL));
  return rng.Next();
}

uint64_t HashBytes(std::string_view bytes) { return Fnv1a(bytes, 0xcbf29ce484222325ULL); }

std::string GenerateText(uint64_t seed, int64_t tokens, std::vector<uint32_t>* token_ends) {
  std::string text;
  if (token_ends != nullptr) token_ends->clear();
  if (tokens <= 0) return text;
  text.reserve(static_cast<size_t>(tokens) * 6);
  if (token_ends != nullptr) token_ends->reserve(static_cast<size_t>(tokens));
  SplitMix64 rng(seed);
  // Each step appends exactly one token: a word (" word", or "Word" at a line start), "." or "\n".
  bool line_start = true;
  bool sentence_start = true;
  int64_t words_in_sentence = 0;
  int64_t sentence_length = 6 + static_cast<int64_t>(rng.Below(10));
  int64_t sentences_in_paragraph = 0;
  for (int64_t i = 0; i < tokens; ++i) {
    const bool last = i + 1 == tokens;
    if (!sentence_start && (words_in_sentence >= sentence_length || last)) {
      text.push_back('.');
      sentence_start = true;
      words_in_sentence = 0;
      sentence_length = 6 + static_cast<int64_t>(rng.Below(10));
      ++sentences_in_paragraph;
    } else if (sentence_start && !line_start && sentences_in_paragraph >= 4 && !last) {
      text.push_back('\n');
      line_start = true;
      sentences_in_paragraph = 0;
    } else {
      std::string_view word = kWords[rng.Below(kWords.size())];
      if (!line_start) text.push_back(' ');
      const size_t first = text.size();
      text.append(word);
      if (sentence_start) text[first] = static_cast<char>(text[first] - 'a' + 'A');
      line_start = false;
      sentence_start = false;
      ++words_in_sentence;
    }
    if (token_ends != nullptr) token_ends->push_back(static_cast<uint32_t>(text.size()));
  }
  return text;
}

}  // namespace quotaflow::emulator
