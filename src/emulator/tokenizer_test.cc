#include "emulator/tokenizer.h"

#include <gtest/gtest.h>

namespace quotaflow::emulator {
namespace {

TEST(TokenizerTest, EmptyTextHasNoTokens) { EXPECT_EQ(CountTokens(""), 0); }

TEST(TokenizerTest, ShortWordIsOneTokenWithItsLeadingSpace) {
  EXPECT_EQ(CountTokens("The"), 1);
  EXPECT_EQ(CountTokens(" party"), 1);
  EXPECT_EQ(CountTokens("The party shall"), 3);
}

TEST(TokenizerTest, LongWordsCostOneTokenPerStartedFourLettersBeyondSix) {
  EXPECT_EQ(CountTokens("abcdef"), 1);
  EXPECT_EQ(CountTokens("abcdefg"), 2);
  EXPECT_EQ(CountTokens(" contract"), 2);
  EXPECT_EQ(CountTokens("abcdefghij"), 2);
  EXPECT_EQ(CountTokens("abcdefghijk"), 3);
  EXPECT_EQ(CountTokens(" indemnification"), 4);
}

TEST(TokenizerTest, AllCapitalsCostOneTokenPerTwoLetters) {
  EXPECT_EQ(CountTokens("YOU MUST"), 4);
  EXPECT_EQ(CountTokens(" RESPONSE"), 4);
  EXPECT_EQ(CountTokens("A"), 1);
  EXPECT_EQ(CountTokens("NASA"), 2);
  EXPECT_EQ(CountTokens("McDonald"), 2);  // mixed case: an ordinary word
}

TEST(TokenizerTest, DigitsGroupInThrees) {
  EXPECT_EQ(CountTokens("7"), 1);
  EXPECT_EQ(CountTokens("123"), 1);
  EXPECT_EQ(CountTokens("1234"), 2);
  EXPECT_EQ(CountTokens("2025-01-01"), 6);  // 202 5 | - | 01 | - | 01
}

TEST(TokenizerTest, PunctuationIsOneTokenEach) {
  EXPECT_EQ(CountTokens("a.b"), 3);
  EXPECT_EQ(CountTokens("{\"k\":1}"), 7);
}

TEST(TokenizerTest, WhitespaceRunsCountOncePerLineBreak) {
  EXPECT_EQ(CountTokens("a\nb"), 3);
  EXPECT_EQ(CountTokens("a\n\n\nb"), 5);
  EXPECT_EQ(CountTokens("a   b"), 3);  // "  " then " b"
  EXPECT_EQ(CountTokens("a "), 2);
}

TEST(TokenizerTest, NonAsciiCodePointsAreOneTokenEach) {
  EXPECT_EQ(CountTokens("caf\xc3\xa9"), 2);               // "caf" + "é"
  EXPECT_EQ(CountTokens("\xe5\x90\x88\xe5\x90\x8c"), 2);  // two CJK characters
  EXPECT_EQ(CountTokens("\xf0\x9f\x93\x9c"), 1);          // one emoji
  EXPECT_EQ(CountTokens("\xe5\x90"), 2);                  // a cut sequence: byte by byte
}

TEST(TokenizerTest, EnglishProseIsNearFourAndAHalfCharactersPerToken) {
  const std::string text =
      "This Agreement shall commence on the Effective Date and continue for an initial term of "
      "three years, unless terminated earlier in accordance with Section 12. Either party may "
      "terminate this Agreement upon thirty days written notice to the other party.";
  const double chars_per_token =
      static_cast<double>(text.size()) / static_cast<double>(CountTokens(text));
  EXPECT_GT(chars_per_token, 3.8);
  EXPECT_LT(chars_per_token, 5.5);
}

}  // namespace
}  // namespace quotaflow::emulator
