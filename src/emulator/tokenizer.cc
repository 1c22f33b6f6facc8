#include "emulator/tokenizer.h"

#include <cstddef>

namespace quotaflow::emulator {
namespace {

bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }

int64_t WordTokens(std::string_view word) {
  const size_t letters = word.size();
  if (letters >= 2 && IsUpper(word[0]) && IsUpper(word[1])) {
    bool all_upper = true;
    for (const char c : word) all_upper = all_upper && IsUpper(c);
    if (all_upper) return static_cast<int64_t>((letters + 1) / 2);
  }
  return letters <= 6 ? 1 : 1 + static_cast<int64_t>((letters - 6 + 3) / 4);
}

// The length of the UTF-8 sequence a lead byte starts, or 1 for a byte that cannot start one.
size_t SequenceLength(unsigned char lead) {
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  if (lead >= 0xE0) return lead <= 0xEF ? 3 : 1;
  if (lead >= 0xC2) return 2;
  return 1;
}

}  // namespace

int64_t CountTokens(std::string_view text) {
  int64_t tokens = 0;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const char c = text[i];
    if (c == ' ' && i + 1 < n && IsLetter(text[i + 1])) ++i;  // the space joins the word
    if (IsLetter(text[i])) {
      const size_t start = i;
      while (i < n && IsLetter(text[i])) ++i;
      tokens += WordTokens(text.substr(start, i - start));
    } else if (IsDigit(c)) {
      const size_t start = i;
      while (i < n && IsDigit(text[i])) ++i;
      tokens += static_cast<int64_t>((i - start + 2) / 3);
    } else if (IsSpace(c)) {
      int64_t line_breaks = 0;
      while (i < n && IsSpace(text[i]) && !(text[i] == ' ' && i + 1 < n && IsLetter(text[i + 1]))) {
        line_breaks += text[i] == '\n' ? 1 : 0;
        ++i;
      }
      tokens += line_breaks > 0 ? line_breaks : 1;
    } else if (static_cast<unsigned char>(c) < 0x80) {
      ++tokens;
      ++i;
    } else {
      const size_t length = SequenceLength(static_cast<unsigned char>(c));
      size_t j = 1;
      while (j < length && i + j < n && (static_cast<unsigned char>(text[i + j]) & 0xC0) == 0x80) {
        ++j;
      }
      i += j == length ? length : 1;  // a broken sequence costs its lead byte alone
      ++tokens;
    }
  }
  return tokens;
}

}  // namespace quotaflow::emulator
