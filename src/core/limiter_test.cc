#include "quotaflow/limiter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "quotaflow/accounting.h"

namespace quotaflow {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// 60,000 TPM = 1,000 tokens/s, 60 RPM = 1 request/s: easy arithmetic in every case below.
LimiterConfig Tpm60k(double fill = 1.0) {
  LimiterConfig c;
  c.tokens_per_period = 60'000;
  c.burst_periods = 0.1;  // 6,000 tokens
  c.initial_fill = fill;
  return c;
}

// Grants a request of `tokens` now, and the server throttles it: refunded, then reported.
void ThrottleARequest(Limiter& limiter, int64_t tokens) {
  ReserveResult r = limiter.Reserve(Cost{.tokens = tokens});
  ASSERT_TRUE(r.decision.granted());
  const SteadyTime granted_at = r.reservation.granted_at();
  r.reservation.Refund();
  limiter.OnServerThrottle(ThrottleKind::kTokensPerMinute, granted_at, Duration::zero());
}

int64_t TokensLeft(const Limiter& l, const FakeClock& clock) {
  return l.Probe(Cost{.requests = 0, .tokens = 0, .slots = 0}, clock.Now())
      .remaining[static_cast<int>(Dimension::kTokens)];
}

// One row of the reserve/settle/refund table: reserve Bedrock's way, end the request, and check the
// bucket's level right after.
struct AccountingCase {
  const char* name;
  int64_t input;
  std::optional<int64_t> max_tokens;
  int64_t model_max_output;
  enum { kSettle, kRefund, kDrop } end;
  Usage usage;
  int64_t burndown;
  int64_t level_after_reserve;
  int64_t level_after_end;
};

class AccountingTable : public ::testing::TestWithParam<AccountingCase> {};

TEST_P(AccountingTable, BucketMatchesBedrockCharge) {
  const AccountingCase& c = GetParam();
  FakeClock clock;
  LimiterConfig config = Tpm60k();
  config.burst_periods = 1.0;  // 60,000: every case fits without waiting
  Limiter limiter(config, clock);
  {
    ReserveResult r = limiter.Reserve(ReservationCost(c.input, c.max_tokens, c.model_max_output));
    ASSERT_TRUE(r.decision.granted()) << r.decision.Describe(clock.Now());
    EXPECT_EQ(TokensLeft(limiter, clock), c.level_after_reserve);
    if (c.end == AccountingCase::kSettle) r.reservation.Settle(SettledTokens(c.usage, c.burndown));
    if (c.end == AccountingCase::kRefund) r.reservation.Refund();
  }  // kDrop: the reservation goes out of scope unsettled
  EXPECT_EQ(TokensLeft(limiter, clock), c.level_after_end);
}

INSTANTIATE_TEST_SUITE_P(Limiter, AccountingTable,
                         ::testing::Values(AccountingCase{"SettleBelowReservationReturnsDifference",
                                                          2'000,
                                                          1'000,
                                                          4'096,
                                                          AccountingCase::kSettle,
                                                          {2'000, 300, 0, 0},
                                                          1,
                                                          57'000,
                                                          57'700},
                                           AccountingCase{"BurndownFiveChargesOutputFiveTimes",
                                                          2'000,
                                                          1'000,
                                                          64'000,
                                                          AccountingCase::kSettle,
                                                          {2'000, 300, 0, 0},
                                                          5,
                                                          57'000,
                                                          56'500},
                                           AccountingCase{"SettleAboveReservationBecomesDebt",
                                                          1'000,
                                                          500,
                                                          64'000,
                                                          AccountingCase::kSettle,
                                                          {1'000, 500, 0, 0},
                                                          5,
                                                          58'500,
                                                          56'500},
                                           AccountingCase{"AbsentMaxTokensReservesModelMaximum",
                                                          1'000,
                                                          std::nullopt,
                                                          32'000,
                                                          AccountingCase::kSettle,
                                                          {1'000, 100, 0, 0},
                                                          1,
                                                          27'000,
                                                          58'900},
                                           AccountingCase{"CacheWritesCountCacheReadsDoNot",
                                                          1'000,
                                                          1'000,
                                                          4'096,
                                                          AccountingCase::kSettle,
                                                          {1'000, 100, 5'000, 2'000},
                                                          1,
                                                          58'000,
                                                          56'900},
                                           AccountingCase{"ThrottledRequestIsRefundedInFull",
                                                          3'000,
                                                          2'000,
                                                          4'096,
                                                          AccountingCase::kRefund,
                                                          {},
                                                          1,
                                                          55'000,
                                                          60'000},
                                           AccountingCase{"ReservationDroppedUnsettledIsRefunded",
                                                          3'000,
                                                          2'000,
                                                          4'096,
                                                          AccountingCase::kDrop,
                                                          {},
                                                          1,
                                                          55'000,
                                                          60'000}),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(Limiter, FreshLimiterStartsEmptyAndFillsAtQuotaRate) {
  FakeClock clock;
  Limiter limiter(Tpm60k(/*fill=*/0.0), clock);
  ReserveResult r = limiter.Reserve(Cost{.tokens = 1'500});
  ASSERT_EQ(r.decision.outcome, Outcome::kWait);
  EXPECT_EQ(r.decision.blocking, Dimension::kTokens);
  EXPECT_EQ(r.decision.earliest - clock.Now(), milliseconds(1'500));
  clock.Advance(milliseconds(1'499));
  EXPECT_FALSE(limiter.Reserve(Cost{.tokens = 1'500}).decision.granted());
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(limiter.Reserve(Cost{.tokens = 1'500}).decision.granted());
}

TEST(Limiter, LevelIsCappedAtBurstCapacity) {
  FakeClock clock;
  Limiter limiter(Tpm60k(0.0), clock);
  clock.Advance(seconds(600));
  EXPECT_EQ(TokensLeft(limiter, clock), 6'000);
}

TEST(Limiter, CostAboveQuotaIsImpossible) {
  FakeClock clock;
  Limiter limiter(Tpm60k(), clock);
  ReserveResult r = limiter.Reserve(Cost{.tokens = 60'001});
  EXPECT_EQ(r.decision.outcome, Outcome::kImpossible);
  EXPECT_EQ(r.decision.blocking, Dimension::kTokens);
  EXPECT_FALSE(r.reservation.active());
  EXPECT_EQ(TokensLeft(limiter, clock), 6'000);
}

TEST(Limiter, CostAboveBurstIsServedAfterBoundedWaitByBorrowing) {
  FakeClock clock;
  Limiter limiter(Tpm60k(0.0), clock);
  // 20,000 > 6,000 capacity but within the 60,000 quota: served once the bucket is full.
  Cost big{.tokens = 20'000};
  ReserveResult r = limiter.Reserve(big);
  ASSERT_EQ(r.decision.outcome, Outcome::kWait);
  EXPECT_EQ(r.decision.earliest - clock.Now(), seconds(6));
  clock.AdvanceTo(r.decision.earliest);
  r = limiter.Reserve(big);
  ASSERT_TRUE(r.decision.granted());
  // The 14,000 borrowed are debt: the next request waits for it to be repaid.
  EXPECT_EQ(TokensLeft(limiter, clock), -14'000);
  EXPECT_EQ(limiter.Reserve(Cost{.tokens = 1'000}).decision.earliest - clock.Now(), seconds(15));
  r.reservation.Settle(20'000);
}

TEST(Limiter, ReservationIsAllOrNothingAcrossDimensions) {
  FakeClock clock;
  LimiterConfig c = Tpm60k();
  c.requests_per_period = 60;  // capacity 6 requests
  Limiter limiter(c, clock);
  std::vector<Reservation> held;
  for (int i = 0; i < 6; ++i) {
    ReserveResult r = limiter.Reserve(Cost{.tokens = 100});
    ASSERT_TRUE(r.decision.granted());
    held.push_back(std::move(r.reservation));
  }
  ReserveResult r = limiter.Reserve(Cost{.tokens = 100});
  ASSERT_EQ(r.decision.outcome, Outcome::kWait);
  EXPECT_EQ(r.decision.blocking, Dimension::kRequests);
  EXPECT_EQ(r.decision.earliest - clock.Now(), seconds(1));
  EXPECT_EQ(TokensLeft(limiter, clock), 6'000 - 600);  // the refused request took no tokens
  for (auto& h : held) h.Settle(100);
}

TEST(Limiter, RefundReturnsTheRequestToo) {
  FakeClock clock;
  LimiterConfig c = Tpm60k();
  c.requests_per_period = 60;
  Limiter limiter(c, clock);
  for (int i = 0; i < 20; ++i) {
    ReserveResult r = limiter.Reserve(Cost{.tokens = 100});
    ASSERT_TRUE(r.decision.granted()) << i;
    r.reservation.Refund();
  }
}

TEST(Limiter, ConcurrencySlotIsHeldUntilTheRequestEnds) {
  FakeClock clock;
  LimiterConfig c = Tpm60k();
  c.max_concurrency = 2;
  Limiter limiter(c, clock);
  ReserveResult a = limiter.Reserve(Cost{.tokens = 10});
  ReserveResult b = limiter.Reserve(Cost{.tokens = 10});
  ASSERT_TRUE(a.decision.granted() && b.decision.granted());
  ReserveResult third = limiter.Reserve(Cost{.tokens = 10});
  EXPECT_EQ(third.decision.outcome, Outcome::kWait);
  EXPECT_EQ(third.decision.blocking, Dimension::kConcurrency);
  EXPECT_EQ(third.decision.earliest, SteadyTime::max());
  a.reservation.Settle(10);
  EXPECT_TRUE(limiter.Reserve(Cost{.tokens = 10}).decision.granted());
  b.reservation.Refund();
}

TEST(Limiter, DailyQuotaBindsWhenSpent) {
  FakeClock clock;
  LimiterConfig c = Tpm60k();
  c.tokens_per_day = 10'000;
  Limiter limiter(c, clock);
  ReserveResult r = limiter.Reserve(Cost{.tokens = 6'000});
  ASSERT_TRUE(r.decision.granted());
  r.reservation.Settle(6'000);
  clock.Advance(seconds(60));  // TPM is full again; the day is not
  ReserveResult next = limiter.Reserve(Cost{.tokens = 5'000});
  EXPECT_EQ(next.decision.outcome, Outcome::kWait);
  EXPECT_EQ(next.decision.blocking, Dimension::kDailyTokens);
}

TEST(Limiter, RateThrottleEmptiesBucketAndCutsRate) {
  FakeClock clock;
  LimiterConfig c = Tpm60k();
  c.window_guard = false;  // the bucket and the cut alone (the guard's part: the tests below)
  Limiter limiter(c, clock);
  ThrottleARequest(limiter, 1'000);
  EXPECT_LE(TokensLeft(limiter, clock), 0);
  EXPECT_NEAR(limiter.RateFactor(), 0.7, 1e-9);
  // Refill now runs at 700 tokens/s.
  EXPECT_EQ(limiter.Probe(Cost{.tokens = 700}, clock.Now()).earliest - clock.Now(), seconds(1));
}

TEST(Limiter, AThrottleInItsFirstPeriodWaitsUntilTheServerHasForgottenWhatCameBefore) {
  // A restart into a busy minute: the server's window is full of starts from before this limiter
  // existed, and a window server forgets them one period after the limiter began (plus the guard's
  // margin). Holding less than half of it, nothing starts before then; the rate is cut as for any
  // throttle.
  FakeClock clock;
  const SteadyTime created = clock.Now();
  Limiter limiter(Tpm60k(), clock);
  clock.Advance(seconds(10));
  ThrottleARequest(limiter, 1'000);
  EXPECT_NEAR(limiter.RateFactor(), 0.7, 1e-9);
  const Decision d = limiter.Probe(Cost{.tokens = 700}, clock.Now());
  EXPECT_EQ(d.outcome, Outcome::kWait);
  EXPECT_EQ(d.earliest, created + minutes(1) + milliseconds(20));
  EXPECT_EQ(d.blocking, Dimension::kTokens);

  // Holding most of the window itself, a young limiter was throttled for its own rate: the cut
  // answers that, and no pause is added.
  LimiterConfig full = Tpm60k();
  full.burst_periods = 1.0;
  Limiter busy(full, clock);
  clock.Advance(seconds(10));
  ReserveResult mine = busy.Reserve(Cost{.tokens = 40'000});
  ASSERT_TRUE(mine.decision.granted());
  ThrottleARequest(busy, 1'000);
  EXPECT_EQ(busy.Probe(Cost{.tokens = 700}, clock.Now()).earliest - clock.Now(), seconds(1));

  // Without the window guard (a token-bucket server only) the bucket's refill alone decides.
  LimiterConfig bucket_only = Tpm60k();
  bucket_only.window_guard = false;
  Limiter plain(bucket_only, clock);
  clock.Advance(seconds(10));
  ThrottleARequest(plain, 1'000);
  EXPECT_EQ(plain.Probe(Cost{.tokens = 700}, clock.Now()).earliest - clock.Now(), seconds(1));
}

TEST(Limiter, AThrottleWhileHoldingLittleOfThePeriodLevelsOffAtTheShareItHeld) {
  FakeClock clock;
  Limiter limiter(Tpm60k(), clock);
  clock.Advance(seconds(61));  // a whole period of this limiter's starts is in its window
  for (int i = 0; i < 3; ++i) {
    ReserveResult r = limiter.Reserve(Cost{.tokens = 5'000});
    ASSERT_TRUE(r.decision.granted());
    r.reservation.Settle(5'000);
    clock.Advance(seconds(5));
  }
  // The server says its period is full while this client holds 15,000 of 60,000 tokens of it:
  // the rest is another application's. The rate is cut just below that quarter (measured_beta
  // 0.9), not to 0.7 of the full quota, and climbs back to the quarter, where it levels off.
  ThrottleARequest(limiter, 1'000);
  EXPECT_NEAR(limiter.RateFactor(), 0.9 * 0.25, 1e-3);
  const double k_periods = std::cbrt((0.25 - 0.225) / 0.4);
  clock.Advance(std::chrono::duration_cast<Duration>(k_periods * minutes(1)));
  EXPECT_NEAR(limiter.RateFactor(), 0.25, 1e-3);
  clock.Advance(seconds(20));
  EXPECT_LT(limiter.RateFactor(), 0.27);
}

TEST(Limiter, ThrottleOfRequestGrantedBeforeTheCutDoesNotCutAgain) {
  FakeClock clock;
  Limiter limiter(Tpm60k(), clock);
  SteadyTime sent = clock.Now();
  clock.Advance(milliseconds(10));
  limiter.OnServerThrottle(ThrottleKind::kTokensPerMinute, sent, Duration::zero());
  limiter.OnServerThrottle(ThrottleKind::kTokensPerMinute, sent, Duration::zero());
  EXPECT_NEAR(limiter.RateFactor(), 0.7, 1e-9);
}

TEST(Limiter, ModelNotReadyDoesNotCutTheRate) {
  FakeClock clock;
  Limiter limiter(Tpm60k(), clock);
  limiter.OnServerThrottle(ThrottleKind::kModelNotReady, clock.Now(), Duration::zero());
  EXPECT_DOUBLE_EQ(limiter.RateFactor(), 1.0);
  EXPECT_EQ(TokensLeft(limiter, clock), 6'000);
}

TEST(Limiter, RetryAfterPausesEveryGrant) {
  FakeClock clock;
  Limiter limiter(Tpm60k(), clock);
  limiter.OnServerThrottle(ThrottleKind::kTokensPerMinute, clock.Now(), seconds(2));
  Decision d = limiter.Probe(Cost{.tokens = 1}, clock.Now());
  EXPECT_EQ(d.outcome, Outcome::kWait);
  EXPECT_GE(d.earliest - clock.Now(), seconds(2));
}

TEST(Limiter, DailyThrottlePausesWithoutCuttingRate) {
  FakeClock clock;
  Limiter limiter(Tpm60k(), clock);
  limiter.OnServerThrottle(ThrottleKind::kTokensPerDay, clock.Now(), seconds(3'600));
  Decision d = limiter.Probe(Cost{.tokens = 1}, clock.Now());
  EXPECT_EQ(d.blocking, Dimension::kDailyTokens);
  EXPECT_EQ(d.earliest - clock.Now(), seconds(3'600));
  EXPECT_DOUBLE_EQ(limiter.RateFactor(), 1.0);
}

TEST(Limiter, WouldDelayProtectsTheHeadsStart) {
  FakeClock clock;
  Limiter limiter(Tpm60k(0.0), clock);
  Cost head{.tokens = 5'000};
  SteadyTime head_start = limiter.Probe(head, clock.Now()).earliest;
  EXPECT_TRUE(limiter.WouldDelay(head, head_start, Cost{.tokens = 1}, clock.Now()));
  // Once the head could start later anyway (another dimension), spare tokens may be used.
  EXPECT_FALSE(
      limiter.WouldDelay(head, head_start + seconds(1), Cost{.tokens = 1'000}, clock.Now()));
  EXPECT_TRUE(
      limiter.WouldDelay(head, head_start + seconds(1), Cost{.tokens = 1'001}, clock.Now()));
}

TEST(Limiter, UtilizationCountsNetChargesOverThePeriod) {
  FakeClock clock;
  Limiter limiter(Tpm60k(), clock);
  ReserveResult r = limiter.Reserve(Cost{.tokens = 6'000});
  r.reservation.Settle(3'000);
  EXPECT_NEAR(limiter.Stats().utilization[1], 0.05, 1e-9);
  clock.Advance(seconds(61));
  EXPECT_NEAR(limiter.Stats().utilization[1], 0.0, 1e-9);
}

// A 1,000-token period of 1 s whose guard holds a start 100 ms past the period: long enough to
// tell a grant's time from the time the server counted the request.
LimiterConfig GuardedPeriod() {
  LimiterConfig c;
  c.tokens_per_period = 1'000;
  c.period = seconds(1);
  c.initial_fill = 1.0;
  c.window_margin = milliseconds(100);
  return c;
}
constexpr Cost kWholePeriod{.requests = 1, .tokens = 1'000, .slots = 0};

// Grants one request the whole of GuardedPeriod's quota, now.
void GrantWholePeriod(Limiter& limiter, Reservation& out) {
  ReserveResult r = limiter.Reserve(kWholePeriod);
  ASSERT_TRUE(r.decision.granted());
  out = std::move(r.reservation);
}

// A request reaches the server after its grant, and the server's window holds it from arrival: the
// guard holds each start for a period plus the margin, so the next period's quota is not spent
// while the server may still count the last one.
TEST(Limiter, WindowGuardHoldsAStartForAPeriodPlusTheMargin) {
  FakeClock clock;
  Limiter limiter(GuardedPeriod(), clock);
  Reservation first;
  ASSERT_NO_FATAL_FAILURE(GrantWholePeriod(limiter, first));
  first.Settle(1'000);
  clock.Advance(milliseconds(1'050));  // the bucket has refilled; the margin has not passed
  ReserveResult early = limiter.Reserve(kWholePeriod);
  EXPECT_EQ(early.decision.outcome, Outcome::kWait);
  EXPECT_GT(early.decision.earliest, clock.Now());
  EXPECT_LE(early.decision.earliest, clock.Now() + milliseconds(52));
  clock.AdvanceTo(early.decision.earliest);
  EXPECT_TRUE(limiter.Reserve(kWholePeriod).decision.granted());
}

TEST(Limiter, ASettledRequestIsHeldAPeriodFromWhenTheServerCountedIt) {
  FakeClock clock;
  Limiter limiter(GuardedPeriod(), clock);
  const SteadyTime t0 = clock.Now();
  Reservation first;
  ASSERT_NO_FATAL_FAILURE(GrantWholePeriod(limiter, first));
  clock.Advance(milliseconds(300));
  // The server worked 250 ms on it, so it counted the request by t0 + 50 ms: its window frees the
  // tokens by t0 + 1,050 ms, not t0 + 1,100 ms.
  first.Settle(1'000, milliseconds(250));
  clock.AdvanceTo(t0 + milliseconds(1'040));
  ReserveResult early = limiter.Reserve(kWholePeriod);
  EXPECT_EQ(early.decision.outcome, Outcome::kWait);
  EXPECT_GE(early.decision.earliest, t0 + milliseconds(1'051));
  EXPECT_LE(early.decision.earliest, t0 + milliseconds(1'054));
  clock.AdvanceTo(early.decision.earliest);
  EXPECT_TRUE(limiter.Reserve(kWholePeriod).decision.granted());
}

TEST(Limiter, ARequestTheServerCountedLateIsHeldFromWhenItWasCounted) {
  FakeClock clock;
  Limiter limiter(GuardedPeriod(), clock);
  const SteadyTime t0 = clock.Now();
  Reservation first;
  ASSERT_NO_FATAL_FAILURE(GrantWholePeriod(limiter, first));
  // Sent late (a queue in the transport, a retried 5xx): 600 ms after its grant it returns after
  // 100 ms of work, so the server counted it as late as t0 + 500 ms.
  clock.Advance(milliseconds(600));
  first.Settle(1'000, milliseconds(100));
  clock.AdvanceTo(t0 + milliseconds(1'150));  // past the grant's period and margin
  ReserveResult early = limiter.Reserve(kWholePeriod);
  EXPECT_EQ(early.decision.outcome, Outcome::kWait);
  EXPECT_GE(early.decision.earliest, t0 + milliseconds(1'501));
  EXPECT_LE(early.decision.earliest, t0 + milliseconds(1'504));
}

TEST(Limiter, ALatencyLongerThanTheRoundTripIsNotBelievedAndTheGrantTimeStands) {
  FakeClock clock;
  Limiter limiter(GuardedPeriod(), clock);
  const SteadyTime t0 = clock.Now();
  Reservation first;
  ASSERT_NO_FATAL_FAILURE(GrantWholePeriod(limiter, first));
  clock.Advance(milliseconds(50));
  first.Settle(1'000, milliseconds(80));
  ReserveResult early = limiter.Reserve(kWholePeriod);
  EXPECT_EQ(early.decision.outcome, Outcome::kWait);
  EXPECT_GE(early.decision.earliest, t0 + milliseconds(1'100));
}

TEST(Limiter, ASettlementAboveItsReservationKeepsThatMuchOfTheWindowFree) {
  FakeClock clock;
  LimiterConfig config = Tpm60k();
  config.burst_periods = 1.0;  // the bucket holds the whole period: the window is what binds
  Limiter limiter(config, clock);
  ReserveResult r = limiter.Reserve(Cost{.tokens = 10'000});
  ASSERT_TRUE(r.decision.granted());
  r.reservation.Settle(13'000);  // burndown: 3,000 over what it reserved
  // 13,000 + 47,000 fits the period exactly, and the bucket holds 47,000; but another request
  // may settle 3,000 over before this client hears of it, so that much stays free.
  EXPECT_EQ(limiter.Probe(Cost{.tokens = 47'000}, clock.Now()).outcome, Outcome::kWait);
  EXPECT_EQ(limiter.Probe(Cost{.tokens = 44'000}, clock.Now()).outcome, Outcome::kGranted);
  // Two periods without an overrun: none is kept, and a whole period's request still fits.
  clock.Advance(seconds(121));
  EXPECT_EQ(limiter.Probe(Cost{.tokens = 60'000}, clock.Now()).outcome, Outcome::kGranted);
}

TEST(Limiter, SettlementsWithinTheirReservationKeepNothingFree) {
  FakeClock clock;
  LimiterConfig config = Tpm60k();
  config.burst_periods = 1.0;
  Limiter limiter(config, clock);
  ReserveResult r = limiter.Reserve(Cost{.tokens = 10'000});
  ASSERT_TRUE(r.decision.granted());
  r.reservation.Settle(8'000);
  EXPECT_EQ(limiter.Probe(Cost{.tokens = 52'000}, clock.Now()).outcome, Outcome::kGranted);
}

TEST(Limiter, AHoldStopsEveryGrantUntilItIsReleased) {
  FakeClock clock;
  Limiter limiter(Tpm60k(), clock);
  const Cost small{.requests = 1, .tokens = 10, .slots = 1};
  limiter.HoldUntil(SteadyTime::max());
  Decision held = limiter.Probe(small, clock.Now());
  EXPECT_EQ(held.outcome, Outcome::kWait);
  EXPECT_EQ(held.earliest, SteadyTime::max());
  limiter.HoldUntil(clock.Now() + seconds(2));  // replaces the hold: a cool-down of 2 s
  EXPECT_EQ(limiter.Probe(small, clock.Now()).earliest, clock.Now() + seconds(2));
  clock.Advance(seconds(2));
  EXPECT_TRUE(limiter.Reserve(small).decision.granted());
  EXPECT_DOUBLE_EQ(limiter.RateFactor(), 1.0) << "a hold is not a throttle";
}

TEST(Limiter, InvalidConfigIsRejectedWithReason) {
  LimiterConfig c;
  c.tokens_per_period = -1;
  EXPECT_FALSE(Validate(c).has_value());
  c = LimiterConfig{};
  c.burst_periods = 0;
  EXPECT_NE(Validate(c).error().message.find("burst_periods"), std::string::npos);
  c = LimiterConfig{};
  c.period = Duration::zero();
  EXPECT_FALSE(Validate(c).has_value());
  c = LimiterConfig{};
  c.counted_margin = milliseconds(-1);
  EXPECT_NE(Validate(c).error().message.find("counted_margin"), std::string::npos);
}

}  // namespace
}  // namespace quotaflow
