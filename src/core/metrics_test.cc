#include "quotaflow/metrics.h"

#include <gtest/gtest.h>

namespace quotaflow {
namespace {

TEST(Metrics, SnapshotNamesTheDimensionThatBlockedMostAndThrottleRate) {
  FakeClock clock;
  LimiterConfig c;
  c.tokens_per_period = 60'000;
  c.requests_per_period = 600;
  Limiter limiter(c, clock);
  Scheduler scheduler(SchedulerConfig{}, clock);
  scheduler.AddLimiter(&limiter);
  PumpResult result;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(scheduler.Enqueue(Cost{.tokens = 2'000}, std::vector<int>{0}, {}));
  }
  std::vector<Reservation> held;
  for (int step = 0; step < 50; ++step) {
    scheduler.Pump(&result);
    for (Grant& g : result.granted) held.push_back(std::move(g.reservation));
    clock.Advance(std::chrono::milliseconds(500));
  }
  limiter.OnServerThrottle(ThrottleKind::kTokensPerMinute, clock.Now(), Duration::zero());
  MetricsSnapshot s = Snapshot(limiter, scheduler);
  EXPECT_EQ(s.limiter.grants, 10);
  EXPECT_EQ(s.most_blocking, Dimension::kTokens);
  EXPECT_DOUBLE_EQ(s.throttles_per_1000, 100.0);
  EXPECT_EQ(s.queue.total, 0);
  ASSERT_EQ(s.scheduler.waits.size(), 1u);
  EXPECT_EQ(s.scheduler.waits[0].count, 10);
  EXPECT_NEAR(s.limiter.utilization[1], 20'000.0 / 60'000.0, 1e-9);
  for (auto& r : held) r.Settle(2'000);
}

}  // namespace
}  // namespace quotaflow
