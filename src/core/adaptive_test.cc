#include "quotaflow/adaptive.h"

#include <gtest/gtest.h>

#include <cmath>

namespace quotaflow {
namespace {

constexpr int64_t kPeriod = 60'000'000'000;  // one minute in ns

TEST(AdaptiveRate, ThrottleCutsByBeta) {
  AdaptiveRate a(AdaptiveConfig{}, kPeriod);
  EXPECT_DOUBLE_EQ(a.Factor(0), 1.0);
  EXPECT_TRUE(a.OnThrottle(1'000, 0));
  EXPECT_NEAR(a.Factor(1'000), 0.7, 1e-9);
}

TEST(AdaptiveRate, RecoveryFollowsCubicCurveBackToFullQuota) {
  AdaptiveRate a(AdaptiveConfig{}, kPeriod);
  a.OnThrottle(0, 0);
  // K = cbrt(0.3 / 0.4) periods: the curve is back at the pre-cut level then, and concave before.
  double k = std::cbrt(0.3 / 0.4);
  auto at = [&](double periods) { return a.Factor(static_cast<int64_t>(periods * kPeriod)); };
  EXPECT_NEAR(at(k), 1.0, 1e-6);
  EXPECT_NEAR(at(k / 2), 1.0 - 0.4 * std::pow(k / 2, 3), 1e-6);
  // Concave: the first half of the climb gains more than the second.
  EXPECT_GT(at(k / 2) - at(0), at(k) - at(k / 2));
  // Monotone, and never above the configured quota.
  double prev = 0;
  for (int step = 0; step < 300; ++step) {
    double f = at(step * 0.01);
    EXPECT_GE(f, prev - 1e-12);
    EXPECT_LE(f, 1.0);
    prev = f;
  }
  EXPECT_DOUBLE_EQ(a.Update(static_cast<int64_t>(2 * kPeriod)), 1.0);
  EXPECT_FALSE(a.recovering());
}

TEST(AdaptiveRate, AThrottleAgainAtTheSameRateLowersTheCeilingTheCurveLevelsOffAt) {
  AdaptiveRate a(AdaptiveConfig{}, kPeriod);
  auto at = [&](double periods) { return static_cast<int64_t>(periods * kPeriod); };
  ASSERT_TRUE(a.OnThrottle(0, 0));
  // Back at full rate after K, the rate that failed: the recovery ends there.
  EXPECT_DOUBLE_EQ(a.Update(at(2)), 1.0);
  ASSERT_FALSE(a.recovering());
  // Throttled again at that same rate: the ceiling is lower, so the curve levels off at
  // 1.0 × (1 + β) / 2 = 0.85 instead of returning to the rate that failed twice.
  ASSERT_TRUE(a.OnThrottle(at(3), at(3)));
  EXPECT_NEAR(a.Factor(at(3)), 0.7, 1e-9);
  const double k = std::cbrt((0.85 - 0.7) / 0.4);
  EXPECT_NEAR(a.Factor(at(3 + k)), 0.85, 1e-6);
  EXPECT_LT(a.Factor(at(3 + k + 0.2)), 0.86);
  // A throttle above the last ceiling (the competitor left, the curve probed past it) sets the
  // ceiling at the rate that failed, as the first one did.
  const double above = a.Factor(at(3 + k + 0.6));
  ASSERT_GT(above, 0.85);
  ASSERT_TRUE(a.OnThrottle(at(3 + k + 0.6), at(3 + k + 0.6)));
  const double k2 = std::cbrt((above - above * 0.7) / 0.4);
  EXPECT_NEAR(a.Factor(at(3 + k + 0.6 + k2)), above, 1e-6);
}

TEST(AdaptiveRate, RepeatedThrottlesCompoundButStopAtMinimum) {
  AdaptiveConfig c;
  c.min_factor = 0.1;
  AdaptiveRate a(c, kPeriod);
  int64_t t = 0;
  for (int i = 0; i < 20; ++i) {
    a.OnThrottle(t, t);
    t += 1'000;
  }
  EXPECT_NEAR(a.Factor(t), 0.1, 1e-3);
}

TEST(AdaptiveRate, ThrottleOfRequestSentBeforeTheCutIsIgnored) {
  AdaptiveRate a(AdaptiveConfig{}, kPeriod);
  EXPECT_TRUE(a.OnThrottle(100, 50));
  EXPECT_FALSE(a.OnThrottle(200, 60));  // sent at 60, before the cut at 100
  EXPECT_NEAR(a.Factor(200), 0.7, 1e-6);
  EXPECT_TRUE(a.OnThrottle(300, 150));
  EXPECT_LT(a.Factor(300), 0.5);
}

TEST(AdaptiveRate, DisabledNeverCuts) {
  AdaptiveConfig c;
  c.enabled = false;
  AdaptiveRate a(c, kPeriod);
  EXPECT_FALSE(a.OnThrottle(10, 10));
  EXPECT_DOUBLE_EQ(a.Factor(10), 1.0);
}

}  // namespace
}  // namespace quotaflow
