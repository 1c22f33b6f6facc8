#include "quotaflow/token_estimator.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace quotaflow {
namespace {

TEST(TokenEstimator, FamilyComesFromIdProfileOrArn) {
  EXPECT_EQ(FamilyOf("anthropic.claude-3-5-sonnet-20240620-v1:0"), ModelFamily::kAnthropic);
  EXPECT_EQ(FamilyOf("us.anthropic.claude-3-7-sonnet-20250219-v1:0"), ModelFamily::kAnthropic);
  EXPECT_EQ(FamilyOf("global.anthropic.claude-haiku-4-5-20251001-v1:0"), ModelFamily::kAnthropic);
  EXPECT_EQ(FamilyOf("arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
                     "eu.amazon.nova-pro-v1:0"),
            ModelFamily::kAmazonNova);
  EXPECT_EQ(FamilyOf("amazon.titan-text-express-v1"), ModelFamily::kAmazonTitan);
  EXPECT_EQ(FamilyOf("meta.llama3-70b-instruct-v1:0"), ModelFamily::kMetaLlama);
  EXPECT_EQ(FamilyOf("mistral.mistral-large-2402-v1:0"), ModelFamily::kMistral);
  EXPECT_EQ(FamilyOf("cohere.command-r-v1:0"), ModelFamily::kCohere);
  EXPECT_EQ(FamilyOf("something.else"), ModelFamily::kOther);
}

TEST(TokenEstimator, HeuristicCountsAsciiByDensityAndOtherCodePointsOneEach) {
  std::string ascii(3'300, 'a');
  EXPECT_EQ(CalibratingTokenEstimator::Heuristic(ModelFamily::kAnthropic, ascii), 1'000);
  EXPECT_EQ(
      CalibratingTokenEstimator::Heuristic(ModelFamily::kAmazonTitan, std::string(4'000, 'a')),
      1'000);
  // "日本語" is three 3-byte code points.
  EXPECT_EQ(CalibratingTokenEstimator::Heuristic(ModelFamily::kAnthropic, "日本語"), 3);
  EXPECT_EQ(CalibratingTokenEstimator::Heuristic(ModelFamily::kAnthropic, ""), 1);
}

TEST(TokenEstimator, CalibrationConvergesWithinAFewDozenResponses) {
  CalibratingTokenEstimator estimator;
  const std::string model = "us.anthropic.claude-sonnet-4-20250514-v1:0";
  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(1.0, 0.03);
  const double truth = 1.27;  // the real tokenizer counts 27% more than the heuristic
  std::string text(10'000, 'x');
  for (int i = 0; i < 30; ++i) {
    TokenEstimate e = estimator.Estimate(model, text);
    estimator.Observe(model, e, std::llround(e.heuristic * truth * noise(rng)));
  }
  TokenEstimate e = estimator.Estimate(model, text);
  const double actual = e.heuristic * truth;
  // Within 8% of the truth, and on the safe side of it.
  EXPECT_GE(e.tokens, actual * 0.99);
  EXPECT_LE(e.tokens, actual * 1.08);
  // Other models are unaffected.
  EXPECT_DOUBLE_EQ(estimator.Factor("amazon.nova-pro-v1:0"), 1.0);
}

TEST(TokenEstimator, CalibrationFollowsAShift) {
  CalibratingTokenEstimator estimator;
  const std::string model = "amazon.nova-lite-v1:0";
  TokenEstimate e{.tokens = 1'000, .heuristic = 1'000};
  for (int i = 0; i < 50; ++i) estimator.Observe(model, e, 800);
  EXPECT_NEAR(estimator.Factor(model), 0.8 * 1.04, 0.005);  // the mean and the minimum margin
  for (int i = 0; i < 50; ++i) estimator.Observe(model, e, 1'200);
  EXPECT_NEAR(estimator.Factor(model), 1.2, 0.1);
}

TEST(TokenEstimator, AnExactCalibrationStillKeepsAMarginForLongerPrompts) {
  CalibratingTokenEstimator estimator;
  const std::string model = "amazon.nova-lite-v1:0";
  // Short prompts answer first, all at the same ratio: no spread to learn a margin from.
  for (int i = 0; i < 20; ++i) {
    estimator.Observe(model, TokenEstimate{.tokens = 700, .heuristic = 700}, 537);  // 0.767
  }
  // A long prompt the tokenizer counts denser (0.790) is not under-counted.
  const TokenEstimate long_prompt =
      CalibratingTokenEstimator::Priced(26'000, estimator.Factor(model));
  EXPECT_GE(long_prompt.tokens, 20'540);
  EXPECT_LE(long_prompt.tokens, 20'800);  // and barely over
  EXPECT_EQ(long_prompt.heuristic, 26'000);
}

TEST(TokenEstimator, BogusObservationsAreIgnored) {
  CalibratingTokenEstimator estimator;
  estimator.Observe("m", TokenEstimate{.tokens = 0, .heuristic = 0}, 100);
  estimator.Observe("m", TokenEstimate{.tokens = 10, .heuristic = 10}, 0);
  EXPECT_DOUBLE_EQ(estimator.Factor("m"), 1.0);
}

}  // namespace
}  // namespace quotaflow
