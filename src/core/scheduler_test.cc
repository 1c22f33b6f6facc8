#include "quotaflow/scheduler.h"

#include <gtest/gtest.h>

#include <vector>

namespace quotaflow {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// 60,000 TPM (1,000 tokens/s), burst 6,000, starting full unless told otherwise.
LimiterConfig Tpm60k(double fill = 1.0) {
  LimiterConfig c;
  c.tokens_per_period = 60'000;
  c.burst_periods = 0.1;
  c.initial_fill = fill;
  return c;
}

class SchedulerTest : public ::testing::Test {
 protected:
  explicit SchedulerTest(SchedulerConfig config = {}) : scheduler_(config, clock_) {}

  int AddLimiter(const LimiterConfig& config) {
    limiters_.push_back(std::make_unique<Limiter>(config, clock_));
    return scheduler_.AddLimiter(limiters_.back().get());
  }

  WaiterId Enqueue(int64_t tokens, uint64_t tag, int priority = kPriorityNormal,
                   std::vector<int> candidates = {0}, SteadyTime deadline = SteadyTime::max()) {
    auto id =
        scheduler_.Enqueue(Cost{.tokens = tokens}, candidates,
                           WaiterOptions{.priority = priority, .deadline = deadline, .tag = tag});
    EXPECT_TRUE(id.has_value()) << id.error().ToString();
    return id.value_or(0);
  }

  // Pumps once; returns the tags granted, in grant order, and keeps their reservations.
  std::vector<uint64_t> Pump() {
    scheduler_.Pump(&result_);
    std::vector<uint64_t> tags;
    for (Grant& g : result_.granted) {
      tags.push_back(g.tag);
      held_.push_back(std::move(g.reservation));
    }
    return tags;
  }

  // Runs the queue to empty on the fake clock: pump, jump to the next wake. Returns the grant
  // order.
  std::vector<uint64_t> Drain() {
    std::vector<uint64_t> order;
    for (int guard = 0; guard < 100'000; ++guard) {
      for (uint64_t tag : Pump()) order.push_back(tag);
      if (scheduler_.Status().total == 0) break;
      EXPECT_NE(result_.next_wake, SteadyTime::max());
      clock_.AdvanceTo(std::max(result_.next_wake, clock_.Now()));
    }
    return order;
  }

  FakeClock clock_;
  std::vector<std::unique_ptr<Limiter>> limiters_;
  Scheduler scheduler_;
  PumpResult result_;
  std::vector<Reservation> held_;
};

TEST_F(SchedulerTest, HigherPriorityIsServedFirst) {
  AddLimiter(Tpm60k(0.0));
  Enqueue(1'000, 1, kPriorityLow);
  Enqueue(1'000, 2, kPriorityNormal);
  Enqueue(1'000, 3, kPriorityHigh);
  Enqueue(1'000, 4, kPriorityHigh);
  Enqueue(1'000, 5, kPriorityNormal);
  EXPECT_EQ(Drain(), (std::vector<uint64_t>{3, 4, 2, 5, 1}));
}

TEST_F(SchedulerTest, GrantsExactlyTheWaitersThatFit) {
  AddLimiter(Tpm60k());  // 6,000 tokens now
  for (uint64_t i = 0; i < 10; ++i) Enqueue(1'000, i);
  EXPECT_EQ(Pump().size(), 6u);
  EXPECT_EQ(result_.next_wake - clock_.Now(), seconds(1));  // the seventh, at 1,000 tokens/s
  EXPECT_TRUE(Pump().empty());
  clock_.Advance(seconds(1));
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{6}));
}

TEST_F(SchedulerTest, LargeHeadIsNotStarvedBySmallRequests) {
  AddLimiter(Tpm60k(0.0));
  Enqueue(5'000, 1);  // needs 5 s of refill
  for (uint64_t i = 2; i < 50; ++i) Enqueue(100, i);
  std::vector<uint64_t> order = Drain();
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.front(), 1u);
  // It started when the bucket first held 5,000 tokens: nothing small slipped in before.
  EXPECT_EQ(scheduler_.Stats().waits[0].max, seconds(5) + milliseconds(4'800));
}

TEST_F(SchedulerTest, BackfillUsesAnotherLimiterButNeverDelaysTheHead) {
  int a = AddLimiter(Tpm60k(0.0));
  int b = AddLimiter(Tpm60k(1.0));
  Enqueue(3'000, 1, kPriorityHigh, {a});
  Enqueue(1'000, 2, kPriorityLow, {a});     // would delay the head: must wait
  Enqueue(1'000, 3, kPriorityLow, {b});     // another region: may go now
  Enqueue(1'000, 4, kPriorityLow, {a, b});  // may go on b
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(result_.next_wake - clock_.Now(), seconds(3));
  clock_.Advance(seconds(3));
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{1}));
  EXPECT_EQ(scheduler_.Stats().backfilled, 2);
}

TEST_F(SchedulerTest, BackfillTakesSpareSlotsWithoutDelayingHead) {
  LimiterConfig tight = Tpm60k(0.0);
  int a = AddLimiter(tight);
  LimiterConfig slots = Tpm60k(1.0);
  slots.max_concurrency = 2;
  int b = AddLimiter(slots);
  Enqueue(2'000, 1, kPriorityHigh, {a});
  Enqueue(100, 2, kPriorityNormal, {b});
  Enqueue(100, 3, kPriorityNormal, {b});
  Enqueue(100, 4, kPriorityNormal, {b});  // no third slot
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{2, 3}));
}

TEST_F(SchedulerTest, WaiterIsPlacedOnWhicheverCandidateGrantsFirst) {
  int slow = AddLimiter(Tpm60k(0.0));
  LimiterConfig half = Tpm60k(0.0);
  half.tokens_per_period = 120'000;  // fills twice as fast
  int fast = AddLimiter(half);
  Enqueue(2'000, 1, kPriorityNormal, {slow, fast});
  Pump();
  EXPECT_EQ(result_.next_wake - clock_.Now(), seconds(1));
  clock_.Advance(seconds(1));
  scheduler_.Pump(&result_);
  ASSERT_EQ(result_.granted.size(), 1u);
  EXPECT_EQ(result_.granted[0].limiter, fast);
}

class AgingSchedulerTest : public SchedulerTest {
 protected:
  AgingSchedulerTest() : SchedulerTest(SchedulerConfig{.aging_step = seconds(10)}) {}
};

TEST_F(AgingSchedulerTest, LongWaitingLowPriorityOvertakesFreshNormalPriority) {
  AddLimiter(Tpm60k(0.0));
  Enqueue(4'000, 1, kPriorityLow);
  clock_.Advance(milliseconds(999));  // not yet enough tokens for anyone
  Pump();
  clock_.Advance(seconds(10) - milliseconds(999));
  // Queued 10 s ago at low = one aging step: ranks with a normal queued now, and waited longer.
  Enqueue(4'000, 2, kPriorityNormal);
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{1}));
}

TEST_F(AgingSchedulerTest, AgedWorkNeverOvertakesTheTopClass) {
  AddLimiter(Tpm60k(0.0));
  Enqueue(4'000, 1, kPriorityLow);
  Enqueue(4'000, 2, kPriorityNormal);
  clock_.Advance(seconds(3'600));  // an hour of aging: far more than the two levels to the top
  Enqueue(4'000, 3, kPriorityHigh);
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{3}));
  clock_.Advance(seconds(4));
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{2}));
}

TEST_F(AgingSchedulerTest, LowPriorityWaitIsBoundedUnderAStreamOfNormalPriority) {
  AddLimiter(Tpm60k(0.0));  // serves one 1,000-token request per second
  Enqueue(1'000, 999, kPriorityLow);
  SteadyTime low_queued = clock_.Now();
  SteadyTime low_started = SteadyTime::max();
  for (uint64_t i = 0; i < 200 && low_started == SteadyTime::max(); ++i) {
    Enqueue(1'000, i, kPriorityNormal);  // a new request every half second: saturation
    Enqueue(1'000, 1'000 + i, kPriorityNormal);
    for (uint64_t tag : Pump()) {
      if (tag == 999) low_started = clock_.Now();
    }
    clock_.Advance(milliseconds(1'000));
  }
  // One level × 10 s, plus serving what was ranked ahead of it at that point.
  ASSERT_NE(low_started, SteadyTime::max());
  EXPECT_LE(low_started - low_queued, seconds(25));
}

TEST(AgingToTheTopSchedulerTest, WithoutAStrictTopClassLowCatchesUpWithHigh) {
  FakeClock clock;
  Limiter limiter(Tpm60k(0.0), clock);
  Scheduler scheduler(
      SchedulerConfig{
          .aging_step = seconds(10), .strict_from = kNoStrictClass, .backfill_window = 32},
      clock);
  scheduler.AddLimiter(&limiter);
  std::vector<int> c{0};
  ASSERT_TRUE(scheduler.Enqueue(Cost{.tokens = 4'000}, c, {.priority = kPriorityLow, .tag = 1}));
  clock.Advance(seconds(20));  // two aging steps: ranks with a high queued now, waited longer
  ASSERT_TRUE(scheduler.Enqueue(Cost{.tokens = 4'000}, c, {.priority = kPriorityHigh, .tag = 2}));
  PumpResult result;  // destroyed (its reservation refunded) before the limiter
  scheduler.Pump(&result);
  ASSERT_EQ(result.granted.size(), 1u);
  EXPECT_EQ(result.granted[0].tag, 1u);
}

TEST_F(SchedulerTest, StrictPriorityWithoutAging) {
  Limiter limiter(Tpm60k(0.0), clock_);
  Scheduler strict(SchedulerConfig{.aging_step = Duration::zero()}, clock_);
  strict.AddLimiter(&limiter);
  std::vector<int> c{0};
  ASSERT_TRUE(strict.Enqueue(Cost{.tokens = 4'000}, c, {.priority = kPriorityLow, .tag = 1}));
  clock_.Advance(seconds(3'600));
  ASSERT_TRUE(strict.Enqueue(Cost{.tokens = 4'000}, c, {.priority = kPriorityHigh, .tag = 2}));
  PumpResult result;  // destroyed (its reservation refunded) before the limiter
  strict.Pump(&result);
  ASSERT_EQ(result.granted.size(), 1u);
  EXPECT_EQ(result.granted[0].tag, 2u);
}

TEST_F(SchedulerTest, RepricedWaitersAreGrantedAtTheirNewCostInTheirPlace) {
  AddLimiter(Tpm60k(0.0));  // fills 1,000 tokens a second
  Enqueue(5'000, 1);
  Enqueue(2'000, 2);
  clock_.Advance(seconds(3));
  EXPECT_TRUE(Pump().empty());  // 3,000 tokens: the 5,000-token head waits, nothing passes it
  scheduler_.Reprice([](uint64_t tag, const Cost& cost) -> std::optional<Cost> {
    if (tag != 1) return std::nullopt;  // keeps its cost
    return Cost{.requests = cost.requests, .tokens = 2'500, .slots = cost.slots};
  });
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{1}));
  clock_.Advance(milliseconds(1'500));  // 500 + 1,500: the second's 2,000, unchanged
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{2}));
}

TEST_F(SchedulerTest, DeadlineThatCannotBeMetFailsAtOnceNamingTheDimension) {
  AddLimiter(Tpm60k(0.0));
  auto id = scheduler_.Enqueue(Cost{.tokens = 5'000}, std::vector<int>{0},
                               WaiterOptions{.deadline = clock_.Now() + seconds(2)});
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_NE(id.error().message.find("tpm: wait 5.000 s"), std::string::npos) << id.error().message;
  EXPECT_EQ(scheduler_.Status().total, 0);
}

TEST_F(SchedulerTest, DeadlineAdmissionCountsTheQueueAhead) {
  AddLimiter(Tpm60k(0.0));
  for (uint64_t i = 0; i < 5; ++i) Enqueue(1'000, i);
  // Alone it would start in 1 s; behind 5,000 queued tokens, in 6 s.
  auto id = scheduler_.Enqueue(Cost{.tokens = 1'000}, std::vector<int>{0},
                               WaiterOptions{.deadline = clock_.Now() + seconds(3)});
  EXPECT_FALSE(id.has_value());
  EXPECT_EQ(scheduler_.EstimateStart(Cost{.tokens = 1'000}, kPriorityNormal, std::vector<int>{0})
                    .earliest -
                clock_.Now(),
            seconds(6));
  // A high-priority request jumps the normal queue.
  EXPECT_EQ(
      scheduler_.EstimateStart(Cost{.tokens = 1'000}, kPriorityHigh, std::vector<int>{0}).earliest -
          clock_.Now(),
      seconds(1));
}

TEST_F(SchedulerTest, DeadlineExpiringWhileQueuedFailsTheWaiter) {
  AddLimiter(Tpm60k(0.0));
  Enqueue(3'000, 1);                                                   // head, starts at 3 s
  Enqueue(1'000, 2, kPriorityNormal, {0}, clock_.Now() + seconds(4));  // admitted: est. 4 s
  Enqueue(1'000, 3);
  // The head's request turns out larger than estimated: the second cannot make it.
  Pump();
  clock_.Advance(seconds(3));
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{1}));
  held_.back().Settle(4'000);  // 1,000 tokens of debt
  Pump();
  ASSERT_EQ(result_.failed.size(), 1u);
  EXPECT_EQ(result_.failed[0].tag, 2u);
  EXPECT_EQ(result_.failed[0].error.code, ErrorCode::kDeadlineExceeded);
  clock_.Advance(seconds(10));
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{3}));
}

TEST_F(SchedulerTest, DeadlinePassingWakesThePump) {
  LimiterConfig c = Tpm60k(1.0);
  c.max_concurrency = 1;
  AddLimiter(c);
  Enqueue(100, 1);
  Enqueue(100, 2, kPriorityNormal, {0}, clock_.Now() + seconds(2));
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{1}));
  EXPECT_EQ(result_.next_wake, clock_.Now() + seconds(2));  // no slot time, but a deadline
  clock_.Advance(seconds(2));
  Pump();
  ASSERT_EQ(result_.failed.size(), 1u);
  EXPECT_EQ(scheduler_.Stats().expired, 1);
}

TEST_F(SchedulerTest, CancelledWaiterIsNeverGranted) {
  AddLimiter(Tpm60k());
  WaiterId a = Enqueue(1'000, 1);
  Enqueue(1'000, 2);
  EXPECT_TRUE(scheduler_.Cancel(a));
  EXPECT_FALSE(scheduler_.Cancel(a));
  EXPECT_EQ(Pump(), (std::vector<uint64_t>{2}));
  EXPECT_FALSE(scheduler_.Cancel(a + (uint64_t{1} << 32)));  // a stale id never matches
}

TEST_F(SchedulerTest, ImpossibleCostIsRejectedAtOnce) {
  AddLimiter(Tpm60k());
  auto id = scheduler_.Enqueue(Cost{.tokens = 80'000}, std::vector<int>{0}, WaiterOptions{});
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code, ErrorCode::kImpossible);
  EXPECT_NE(id.error().message.find("80000 tokens"), std::string::npos);
}

TEST_F(SchedulerTest, CostAboveBurstIsServedAfterABoundedWait) {
  AddLimiter(Tpm60k(0.0));
  Enqueue(30'000, 1);  // 5× the burst, half the quota
  std::vector<uint64_t> order = Drain();
  EXPECT_EQ(order, (std::vector<uint64_t>{1}));
  EXPECT_EQ(clock_.Now() - SteadyTime(Duration(3'600'000'000'000)), seconds(6));
}

TEST_F(SchedulerTest, RequeuedWaiterGoesBackToTheHeadOfItsClass) {
  AddLimiter(Tpm60k(0.0));
  SteadyTime first = clock_.Now();
  Enqueue(1'000, 1);
  Enqueue(1'000, 2);
  clock_.Advance(milliseconds(10));
  ASSERT_TRUE(scheduler_.Requeue(Cost{.tokens = 1'000}, std::vector<int>{0},
                                 WaiterOptions{.tag = 9}, first));
  EXPECT_EQ(Drain(), (std::vector<uint64_t>{9, 1, 2}));
}

TEST_F(SchedulerTest, StatusReportsLengthsAndOldestWait) {
  AddLimiter(Tpm60k(0.0));
  Enqueue(1'000, 1, kPriorityLow);
  clock_.Advance(seconds(1) - milliseconds(1));
  Enqueue(100, 2, kPriorityHigh);
  Enqueue(100, 3, kPriorityHigh);
  QueueStatus s = scheduler_.Status();
  EXPECT_EQ(s.total, 3);
  ASSERT_EQ(s.classes.size(), 2u);
  EXPECT_EQ(s.classes[0].priority, kPriorityHigh);
  EXPECT_EQ(s.classes[0].length, 2);
  EXPECT_EQ(s.classes[1].oldest_wait, seconds(1) - milliseconds(1));
  EXPECT_EQ(s.oldest_wait, seconds(1) - milliseconds(1));
}

TEST_F(SchedulerTest, WaitHistogramRecordsPerPriority) {
  AddLimiter(Tpm60k(0.0));
  Enqueue(1'000, 1, kPriorityHigh);
  Enqueue(1'000, 2, kPriorityLow);
  Drain();
  SchedulerStats s = scheduler_.Stats();
  ASSERT_EQ(s.waits.size(), 2u);
  EXPECT_EQ(s.waits[0].priority, kPriorityHigh);
  EXPECT_EQ(s.waits[0].max, seconds(1));
  EXPECT_EQ(s.waits[1].max, seconds(2));
  EXPECT_GE(s.waits[1].Quantile(0.5), seconds(2));
  EXPECT_LE(s.waits[1].Quantile(0.5), seconds(5));
}

TEST_F(SchedulerTest, BadCandidatesAreRejected) {
  AddLimiter(Tpm60k());
  EXPECT_FALSE(scheduler_.Enqueue(Cost{}, std::vector<int>{}, {}).has_value());
  EXPECT_FALSE(scheduler_.Enqueue(Cost{}, std::vector<int>{3}, {}).has_value());
  EXPECT_FALSE(scheduler_.Enqueue(Cost{.tokens = -1}, std::vector<int>{0}, {}).has_value());
}

}  // namespace
}  // namespace quotaflow
