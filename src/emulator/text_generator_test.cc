#include "emulator/text_generator.h"

#include <gtest/gtest.h>

#include "emulator/tokenizer.h"

namespace quotaflow::emulator {
namespace {

TEST(TextGeneratorTest, TextHasExactlyTheRequestedTokenCount) {
  for (int64_t tokens : {1, 2, 3, 7, 16, 17, 100, 999, 4096}) {
    for (uint64_t seed : {1u, 2u, 99u}) {
      const std::string text = GenerateText(seed, tokens);
      EXPECT_EQ(CountTokens(text), tokens) << "seed " << seed << ": " << text.substr(0, 200);
    }
  }
}

TEST(TextGeneratorTest, SameSeedSameTextOtherSeedOtherText) {
  EXPECT_EQ(GenerateText(7, 50), GenerateText(7, 50));
  EXPECT_NE(GenerateText(7, 50), GenerateText(8, 50));
}

TEST(TextGeneratorTest, LongerOutputExtendsTheShorterOneWordForWord) {
  const std::string shorter = GenerateText(3, 40);
  const std::string longer = GenerateText(3, 400);
  // The last token of the shorter text may be the closing period; everything before it is shared.
  EXPECT_EQ(longer.substr(0, shorter.size() - 1), shorter.substr(0, shorter.size() - 1));
}

TEST(TextGeneratorTest, TokenEndsCutTheTextIntoSingleTokens) {
  std::vector<uint32_t> ends;
  const std::string text = GenerateText(11, 60, &ends);
  ASSERT_EQ(ends.size(), 60u);
  EXPECT_EQ(ends.back(), text.size());
  uint32_t begin = 0;
  for (uint32_t end : ends) {
    ASSERT_GT(end, begin);
    EXPECT_EQ(CountTokens(std::string_view(text).substr(begin, end - begin)), 1)
        << text.substr(begin, end - begin);
    begin = end;
  }
}

TEST(TextGeneratorTest, NoTokensNoText) {
  EXPECT_EQ(GenerateText(1, 0), "");
  EXPECT_EQ(GenerateText(1, -5), "");
}

TEST(SplitMix64Test, SequenceIsFixedBySeed) {
  SplitMix64 a(42);
  SplitMix64 b(42);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.Next(), b.Next());
  SplitMix64 c(0);
  EXPECT_EQ(c.Next(), 0xe220a8397b1dcdafULL);  // the reference implementation's first output
}

TEST(SplitMix64Test, NormalDrawsHaveMeanZeroAndUnitSpread) {
  SplitMix64 rng(5);
  double sum = 0;
  double sum_sq = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double x = rng.NextNormal();
    sum += x;
    sum_sq += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.05);
  EXPECT_NEAR(sum_sq / n, 1.0, 0.05);
}

}  // namespace
}  // namespace quotaflow::emulator
