#include "emulator/quota_books.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <ostream>
#include <random>
#include <thread>
#include <vector>

namespace quotaflow::emulator {

// Test parameters print as their names (found by argument-dependent lookup, hence not in the
// anonymous namespace).
void PrintTo(CountingMode mode, std::ostream* os) { *os << CountingModeName(mode); }

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

constexpr Duration kPeriod = seconds(60);
constexpr Duration kDay = kPeriod * kPeriodsPerDay;
constexpr std::string_view kKey = "us-east-1/us.anthropic.claude-sonnet-4-20250514-v1:0";
constexpr CountingMode kModes[] = {CountingMode::kTokenBucket, CountingMode::kFixedWindow,
                                   CountingMode::kSlidingWindow};

std::string ModeName(const ::testing::TestParamInfo<CountingMode>& p) {
  return std::string(CountingModeName(p.param));
}

// Moves the clock to the next multiple of `span` on the steady clock, where the fixed mode's
// calendar windows begin, so that every test starts at a window's first nanosecond.
void AlignTo(FakeClock& clock, Duration span) {
  int64_t ns = clock.Now().time_since_epoch().count();
  int64_t rem = ns % span.count();
  if (rem != 0) clock.Advance(Duration(span.count() - rem));
}

// 60,000 TPM = 1,000 tokens/s: easy arithmetic in every case below.
KeyQuota Tpm60k() { return KeyQuota{.tokens_per_period = 60'000}; }

// Books with one key, on a fake clock that starts at a period boundary.
class BooksTest : public ::testing::Test {
 protected:
  void Open(CountingMode mode, const KeyQuota& quota) {
    AlignTo(clock_, kPeriod);
    books_ = std::make_unique<QuotaBooks>(BooksOptions{.mode = mode, .period = kPeriod}, clock_);
    ASSERT_TRUE(books_->SetQuota(kKey, quota).has_value());
  }
  StartResult Start(int64_t tokens) {
    Result<StartResult> r = books_->Start(kKey, tokens);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? std::move(*r) : StartResult{};
  }
  KeySnapshot Snap() { return *books_->Snapshot(kKey); }

  FakeClock clock_;
  std::unique_ptr<QuotaBooks> books_;
};

// ---------------------------------------------------------------------------------------------
// Tables: start / settle / refund / abandon / advance sequences, the expected decision of each
// start and the TPM dimension's `available` after every step (TPM 60,000, period 60 s).

enum class Op { kStart, kSettle, kRefund, kAbandon, kAdvance, kSetTpm };

struct Step {
  Op op;
  int64_t amount = 0;  // kStart: reservation; kSettle: charge; kAdvance: ns; kSetTpm: new TPM
  int ticket = -1;     // kSettle/kRefund/kAbandon: the n-th kStart of the sequence, from 0
  ThrottleReason expect = ThrottleReason::kNone;  // kStart
  int64_t available = 0;                          // TPM available after the step
};

constexpr ThrottleReason kOk = ThrottleReason::kNone;
constexpr ThrottleReason kTpm = ThrottleReason::kTokensPerMinute;

Step Start(int64_t reserve, ThrottleReason expect, int64_t available) {
  return Step{.op = Op::kStart, .amount = reserve, .expect = expect, .available = available};
}
Step Settle(int ticket, int64_t charge, int64_t available) {
  return Step{.op = Op::kSettle, .amount = charge, .ticket = ticket, .available = available};
}
Step Refund(int ticket, int64_t available) {
  return Step{.op = Op::kRefund, .ticket = ticket, .available = available};
}
Step Abandon(int ticket, int64_t available) {
  return Step{.op = Op::kAbandon, .ticket = ticket, .available = available};
}
Step Advance(Duration d, int64_t available) {
  return Step{.op = Op::kAdvance, .amount = d.count(), .available = available};
}
Step SetTpm(int64_t tpm, int64_t available) {
  return Step{.op = Op::kSetTpm, .amount = tpm, .available = available};
}

struct Scenario {
  const char* name;
  CountingMode mode;
  std::vector<Step> steps;
};

// Charge of a request with 1,000 input tokens and 9,000 output tokens at burndown 5, which
// reserved input + max_tokens 9,000 = 10,000: far above its reservation.
constexpr int64_t kBurndown5Charge = 1'000 + 9'000 * 5;

std::vector<Scenario> Scenarios() {
  using M = CountingMode;
  return {
      // --- token bucket ---
      {"BucketThrottledStartConsumesNothing",
       M::kTokenBucket,
       {Start(50'000, kOk, 10'000), Start(20'000, kTpm, 10'000), Start(10'000, kOk, 0),
        Settle(0, 5'000, 45'000)}},
      {"BucketRefillsContinuously",
       M::kTokenBucket,
       {Start(60'000, kOk, 0), Advance(milliseconds(1), 1), Advance(milliseconds(999), 1'000),
        Start(1'000, kOk, 0), Advance(nanoseconds(999'999), 0), Advance(nanoseconds(1), 1),
        Advance(seconds(30), 30'001), Advance(seconds(45), 60'000)}},
      {"BucketNeverAdmitsMoreThanOnePeriod",
       M::kTokenBucket,
       {Start(60'001, kTpm, 60'000), Advance(hours(1), 60'000), Start(60'001, kTpm, 60'000)}},
      {"BucketSettlementReturnsTheDifferenceCappedAtCapacity",
       M::kTokenBucket,
       {Start(10'000, kOk, 50'000), Settle(0, 4'000, 56'000), Start(10'000, kOk, 46'000),
        Advance(seconds(10), 56'000), Settle(1, 1'000, 60'000)}},
      {"BucketBurndownSettlementAboveReservationGoesNegative",
       M::kTokenBucket,
       {Start(10'000, kOk, 50'000), Start(50'000, kOk, 0), Settle(0, kBurndown5Charge, -36'000),
        Start(1, kTpm, -36'000), Advance(seconds(36), 0), Start(1, kTpm, 0),
        Advance(milliseconds(1), 1), Start(1, kOk, 0)}},
      {"BucketRefundReturnsTheReservation",
       M::kTokenBucket,
       {Start(30'000, kOk, 30'000), Refund(0, 60'000), Start(60'000, kOk, 0)}},
      {"BucketAbandonedTicketKeepsItsReservation",
       M::kTokenBucket,
       {Start(30'000, kOk, 30'000), Abandon(0, 30'000)}},
      {"BucketLiveIncreaseRaisesLevelAndRate",
       M::kTokenBucket,
       {Start(60'000, kOk, 0), Start(30'000, kTpm, 0), SetTpm(120'000, 60'000),
        Start(30'000, kOk, 30'000), Advance(seconds(1), 32'000)}},

      // --- fixed calendar window ---
      {"FixedResetsAtTheCalendarBoundaryExactly",
       M::kFixedWindow,
       {Advance(seconds(30), 60'000), Start(60'000, kOk, 0), Start(1, kTpm, 0),
        Advance(seconds(30) - nanoseconds(1), 0), Start(1, kTpm, 0),
        Advance(nanoseconds(1), 60'000), Start(60'000, kOk, 0)}},
      {"FixedAdmitsTwoPeriodsOfQuotaAcrossTheBoundary",
       M::kFixedWindow,
       {Advance(kPeriod - nanoseconds(1), 60'000), Start(60'000, kOk, 0),
        Advance(nanoseconds(1), 60'000), Start(60'000, kOk, 0)}},
      {"FixedThrottledStartConsumesNothing",
       M::kFixedWindow,
       {Start(50'000, kOk, 10'000), Start(20'000, kTpm, 10'000), Start(10'000, kOk, 0)}},
      {"FixedDoesNotRefillWithinThePeriod",
       M::kFixedWindow,
       {Start(60'000, kOk, 0), Advance(seconds(59), 0), Start(1, kTpm, 0)}},
      {"FixedSettlementAdjustsItsWindowOnlyWhileCurrent",
       M::kFixedWindow,
       {Start(40'000, kOk, 20'000), Settle(0, 10'000, 50'000), Start(50'000, kOk, 0),
        Advance(kPeriod, 60'000), Start(30'000, kOk, 30'000), Settle(1, 0, 30'000)}},
      {"FixedBurndownSettlementAboveReservationIsCharged",
       M::kFixedWindow,
       {Start(10'000, kOk, 50'000), Start(50'000, kOk, 0), Settle(0, kBurndown5Charge, -36'000),
        Start(1, kTpm, -36'000), Advance(seconds(59), -36'000), Advance(seconds(1), 60'000)}},
      {"FixedRefundRemovesTheCharge",
       M::kFixedWindow,
       {Start(60'000, kOk, 0), Refund(0, 60'000), Start(60'000, kOk, 0)}},
      {"FixedLiveIncreaseAdmitsAtOnce",
       M::kFixedWindow,
       {Start(60'000, kOk, 0), Start(30'000, kTpm, 0), SetTpm(120'000, 60'000),
        Start(30'000, kOk, 30'000), SetTpm(30'000, -60'000), Start(1, kTpm, -60'000)}},

      // --- sliding window ---
      {"SlidingForgetsARecordExactlyOnePeriodAfterItsStart",
       M::kSlidingWindow,
       {Start(30'000, kOk, 30'000), Advance(seconds(10), 30'000), Start(30'000, kOk, 0),
        Start(1, kTpm, 0), Advance(seconds(50) - nanoseconds(1), 0), Start(1, kTpm, 0),
        Advance(nanoseconds(1), 30'000), Start(30'000, kOk, 0), Advance(seconds(10), 30'000)}},
      {"SlidingSettlementAdjustsTheRecordAtItsStartTime",
       M::kSlidingWindow,
       {Start(40'000, kOk, 20'000), Advance(seconds(30), 20'000), Start(20'000, kOk, 0),
        Settle(0, 10'000, 30'000), Start(30'000, kOk, 0),
        // t = 60 s: ticket 0 leaves with its settled 10,000, not its reserved 40,000.
        Advance(seconds(30), 10'000), Settle(1, 5'000, 25'000),
        // t = 90 s: tickets 1 and 2 leave; a settlement after that changes nothing.
        Advance(seconds(30), 60'000), Settle(2, 0, 60'000)}},
      {"SlidingThrottledStartConsumesNothing",
       M::kSlidingWindow,
       {Start(50'000, kOk, 10'000), Start(20'000, kTpm, 10'000), Start(10'000, kOk, 0)}},
      {"SlidingBurndownSettlementAboveReservationIsCharged",
       M::kSlidingWindow,
       {Start(10'000, kOk, 50'000), Advance(seconds(30), 50'000), Start(50'000, kOk, 0),
        Settle(0, kBurndown5Charge, -36'000), Start(1, kTpm, -36'000),
        // Ticket 0 leaves at 60 s with its whole charge, ticket 1 at 90 s.
        Advance(seconds(30), 10'000), Advance(seconds(30), 60'000)}},
      {"SlidingRefundRemovesTheRecord",
       M::kSlidingWindow,
       {Start(60'000, kOk, 0), Advance(seconds(10), 0), Refund(0, 60'000), Start(60'000, kOk, 0)}},
      {"SlidingLiveIncreaseAdmitsAtOnce",
       M::kSlidingWindow,
       {Start(60'000, kOk, 0), Start(30'000, kTpm, 0), SetTpm(120'000, 60'000),
        Start(30'000, kOk, 30'000), SetTpm(30'000, -60'000), Start(1, kTpm, -60'000)}},
  };
}

void PrintTo(const Scenario& scenario, std::ostream* os) { *os << scenario.name; }

class AccountingTable : public BooksTest, public ::testing::WithParamInterface<Scenario> {};

TEST_P(AccountingTable, MatchesExpectedDecisionsAndLevels) {
  const Scenario& scenario = GetParam();
  Open(scenario.mode, Tpm60k());
  std::vector<Ticket> tickets;  // one per kStart, inactive when throttled
  for (size_t i = 0; i < scenario.steps.size(); ++i) {
    const Step& step = scenario.steps[i];
    SCOPED_TRACE(::testing::Message() << "step " << i);
    switch (step.op) {
      case Op::kStart: {
        StartResult r = Start(step.amount);
        EXPECT_EQ(r.throttle, step.expect) << ThrottleReasonName(r.throttle);
        EXPECT_EQ(r.ticket.active(), r.admitted());
        tickets.push_back(std::move(r.ticket));
        break;
      }
      case Op::kSettle:
        ASSERT_TRUE(tickets.at(step.ticket).Settle(step.amount).has_value());
        break;
      case Op::kRefund:
        tickets.at(step.ticket).Refund();
        break;
      case Op::kAbandon:
        tickets.at(step.ticket) = Ticket();
        break;
      case Op::kAdvance:
        clock_.Advance(Duration(step.amount));
        break;
      case Op::kSetTpm:
        ASSERT_TRUE(books_->SetQuota(kKey, KeyQuota{.tokens_per_period = step.amount}).has_value());
        break;
    }
    KeySnapshot s = Snap();
    EXPECT_EQ(s.tokens.available, step.available);
    EXPECT_EQ(s.tokens.used, s.tokens.limit - s.tokens.available);
  }
}

INSTANTIATE_TEST_SUITE_P(AllModes, AccountingTable, ::testing::ValuesIn(Scenarios()),
                         [](const ::testing::TestParamInfo<Scenario>& p) {
                           return std::string(p.param.name);
                         });

// ---------------------------------------------------------------------------------------------
// Behaviour common to the three modes.

class EveryMode : public BooksTest, public ::testing::WithParamInterface<CountingMode> {};

TEST_P(EveryMode, RequestsPerMinuteThrottlesWithItsMessage) {
  Open(GetParam(), KeyQuota{.tokens_per_period = 60'000, .requests_per_period = 2});
  StartResult a = Start(100);
  StartResult b = Start(100);
  StartResult c = Start(100);
  EXPECT_TRUE(a.admitted());
  EXPECT_TRUE(b.admitted());
  EXPECT_EQ(c.throttle, ThrottleReason::kRequestsPerMinute);
  EXPECT_EQ(c.message,
            "Too many requests, please wait before trying again. You have sent too many requests.  "
            "Wait before trying again.");
  EXPECT_FALSE(c.ticket.active());
  KeySnapshot s = Snap();
  EXPECT_EQ(s.requests.used, 2);
  EXPECT_EQ(s.requests.available, 0);
  EXPECT_EQ(s.tokens.used, 200);  // the throttled start took no tokens
  EXPECT_EQ(s.counters.throttled_requests_per_minute, 1);
  // Settling does not give a request back; a refund does.
  ASSERT_TRUE(a.ticket.Settle(10).has_value());
  EXPECT_FALSE(Start(100).admitted());
  b.ticket.Refund();
  EXPECT_TRUE(Start(100).admitted());
  clock_.Advance(kPeriod);
  EXPECT_EQ(Snap().requests.used, 0);
}

TEST_P(EveryMode, ConcurrencyCapThrottlesWithItsMessage) {
  Open(GetParam(), KeyQuota{.tokens_per_period = 60'000, .max_concurrency = 2});
  StartResult a = Start(100);
  StartResult b = Start(100);
  StartResult c = Start(100);
  ASSERT_TRUE(a.admitted() && b.admitted());
  EXPECT_EQ(c.throttle, ThrottleReason::kConcurrency);
  EXPECT_EQ(c.message, "Too many connections, please wait before trying again.");
  EXPECT_EQ(Snap().in_flight, 2);
  EXPECT_EQ(Snap().tokens.used, 200);
  ASSERT_TRUE(a.ticket.Settle(100).has_value());
  EXPECT_TRUE(Start(100).admitted());  // a slot frees as soon as a request ends
  EXPECT_EQ(Snap().counters.throttled_concurrency, 1);
}

TEST_P(EveryMode, DailyQuotaThrottlesWithItsMessage) {
  Open(GetParam(), KeyQuota{.tokens_per_period = 1'000, .tokens_per_day = 1'500});
  StartResult a = Start(1'000);
  ASSERT_TRUE(a.admitted());
  clock_.Advance(kPeriod);  // the minute is free again; the day is not
  StartResult b = Start(1'000);
  EXPECT_EQ(b.throttle, ThrottleReason::kTokensPerDay);
  EXPECT_EQ(b.message, "Too many tokens per day, please wait before trying again.");
  KeySnapshot s = Snap();
  EXPECT_EQ(s.daily_tokens.limit, 1'500);
  EXPECT_EQ(s.tokens.used, 0);
  EXPECT_EQ(s.counters.throttled_tokens_per_day, 1);
  EXPECT_TRUE(Start(500).admitted());
  clock_.Advance(kDay);
  EXPECT_TRUE(Start(1'000).admitted());
}

TEST_P(EveryMode, DailyQuotaIsReportedBeforeTokensPerMinute) {
  Open(GetParam(), KeyQuota{.tokens_per_period = 1'000, .tokens_per_day = 1'000});
  ASSERT_TRUE(Start(1'000).admitted());
  EXPECT_EQ(Start(1).throttle, ThrottleReason::kTokensPerDay);  // both are exhausted
}

TEST_P(EveryMode, ThrottledStartChangesNoLevel) {
  Open(GetParam(), KeyQuota{.tokens_per_period = 1'000,
                            .requests_per_period = 5,
                            .max_concurrency = 3,
                            .tokens_per_day = 100'000});
  StartResult held = Start(900);
  KeySnapshot before = Snap();
  for (int64_t tokens : {101, 500, 1'001}) EXPECT_FALSE(Start(tokens).admitted());
  KeySnapshot after = Snap();
  EXPECT_EQ(after.tokens.available, before.tokens.available);
  EXPECT_EQ(after.requests.available, before.requests.available);
  EXPECT_EQ(after.daily_tokens.available, before.daily_tokens.available);
  EXPECT_EQ(after.in_flight, 1);
  EXPECT_EQ(after.counters.throttled_tokens_per_minute, 3);
}

TEST_P(EveryMode, LiveQuotaIncreaseTakesEffectAtOnce) {
  Open(GetParam(), Tpm60k());
  ASSERT_TRUE(Start(60'000).admitted());
  EXPECT_EQ(Start(30'000).throttle, ThrottleReason::kTokensPerMinute);
  // A Service Quotas increase approved later: usage stays, the limit moves.
  ASSERT_TRUE(books_->SetQuota(kKey, KeyQuota{.tokens_per_period = 120'000}).has_value());
  KeySnapshot s = Snap();
  EXPECT_EQ(s.tokens.limit, 120'000);
  EXPECT_EQ(s.tokens.used, 60'000);
  EXPECT_EQ(s.daily_tokens.limit, 120'000 * kPeriodsPerDay);  // the default follows TPM
  EXPECT_TRUE(Start(30'000).admitted());
  // A cut below usage throttles until usage leaves the period.
  ASSERT_TRUE(books_->SetQuota(kKey, KeyQuota{.tokens_per_period = 10'000}).has_value());
  EXPECT_EQ(Snap().tokens.available, -80'000);
  EXPECT_EQ(Start(1).throttle, ThrottleReason::kTokensPerMinute);
  clock_.Advance(kPeriod * 10);
  EXPECT_EQ(Snap().tokens.available, 10'000);
}

TEST_P(EveryMode, NewlyEnforcedRequestQuotaAppliesAtOnce) {
  Open(GetParam(), Tpm60k());
  StartResult a = Start(100);
  ASSERT_TRUE(books_
                  ->SetQuota(kKey, KeyQuota{.tokens_per_period = 60'000,
                                            .requests_per_period = 1,
                                            .max_concurrency = 1})
                  .has_value());
  KeySnapshot s = Snap();
  EXPECT_EQ(s.requests.limit, 1);
  // Window modes keep counting unenforced dimensions, so the running request already counts.
  EXPECT_EQ(s.requests.used, GetParam() == CountingMode::kTokenBucket ? 0 : 1);
  EXPECT_EQ(Start(100).throttle, GetParam() == CountingMode::kTokenBucket
                                     ? ThrottleReason::kConcurrency
                                     : ThrottleReason::kRequestsPerMinute);
}

TEST_P(EveryMode, CountersAddUp) {
  Open(GetParam(), KeyQuota{.tokens_per_period = 60'000, .max_concurrency = 3});
  StartResult a = Start(10'000);
  StartResult b = Start(20'000);
  StartResult c = Start(5'000);
  EXPECT_FALSE(Start(1).admitted());       // concurrency
  EXPECT_FALSE(Start(60'000).admitted());  // tokens
  ASSERT_TRUE(a.ticket.Settle(kBurndown5Charge).has_value());
  b.ticket.Refund();
  c.ticket = Ticket();  // abandoned: settled at its reservation
  KeySnapshot s = Snap();
  EXPECT_EQ(s.key, kKey);
  EXPECT_EQ(s.mode, GetParam());
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.counters.admitted, 3);
  EXPECT_EQ(s.counters.throttled(), 2);
  EXPECT_EQ(s.counters.throttled_concurrency, 1);
  EXPECT_EQ(s.counters.throttled_tokens_per_minute, 1);
  EXPECT_EQ(s.counters.reserved_tokens, 35'000);
  EXPECT_EQ(s.counters.settled, 2);
  EXPECT_EQ(s.counters.settled_tokens, kBurndown5Charge + 5'000);
  EXPECT_EQ(s.counters.excess_tokens, kBurndown5Charge - 10'000);
  EXPECT_EQ(s.counters.abandoned, 1);
  EXPECT_EQ(s.counters.refunded, 1);
  EXPECT_EQ(s.counters.refunded_tokens, 20'000);
}

TEST_P(EveryMode, FailedSettlementKeepsTheTicket) {
  Open(GetParam(), Tpm60k());
  StartResult a = Start(10'000);
  Status bad = a.ticket.Settle(-1);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(a.ticket.active());
  EXPECT_EQ(Snap().in_flight, 1);
  ASSERT_TRUE(a.ticket.Settle(10'000).has_value());
  EXPECT_FALSE(a.ticket.active());
}

TEST_P(EveryMode, MovedTicketSettlesOnce) {
  Open(GetParam(), Tpm60k());
  StartResult a = Start(10'000);
  Ticket moved = std::move(a.ticket);
  EXPECT_FALSE(a.ticket.active());  // NOLINT(bugprone-use-after-move): checking the moved-from
  ASSERT_TRUE(moved.Settle(0).has_value());
  KeySnapshot s = Snap();
  EXPECT_EQ(s.counters.settled, 1);
  EXPECT_EQ(s.in_flight, 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, EveryMode, ::testing::ValuesIn(kModes), ModeName);

// ---------------------------------------------------------------------------------------------
// How each mode counts the day (1440 periods).

TEST_F(BooksTest, BucketDayRefillsContinuouslyOverADay) {
  Open(CountingMode::kTokenBucket, KeyQuota{.tokens_per_period = 1'440, .tokens_per_day = 1'440});
  ASSERT_TRUE(Start(1'440).admitted());
  clock_.Advance(kPeriod * 720);  // half a day refills half the day's quota
  EXPECT_EQ(Snap().daily_tokens.available, 720);
  EXPECT_EQ(Start(721).throttle, ThrottleReason::kTokensPerDay);
  EXPECT_TRUE(Start(720).admitted());
}

TEST_F(BooksTest, FixedDayResetsAtTheCalendarDay) {
  AlignTo(clock_, kDay);
  Open(CountingMode::kFixedWindow, KeyQuota{.tokens_per_period = 1'000, .tokens_per_day = 1'000});
  clock_.Advance(hours(5));
  ASSERT_TRUE(Start(1'000).admitted());
  clock_.Advance(kDay - hours(5) - nanoseconds(1));
  EXPECT_EQ(Start(1).throttle, ThrottleReason::kTokensPerDay);
  clock_.Advance(nanoseconds(1));
  EXPECT_EQ(Snap().daily_tokens.used, 0);
  EXPECT_TRUE(Start(1'000).admitted());
}

TEST_F(BooksTest, SlidingDayCountsAStartUntilPeriod1440AfterItsOwn) {
  Open(CountingMode::kSlidingWindow, KeyQuota{.tokens_per_period = 1'000, .tokens_per_day = 1'000});
  clock_.Advance(seconds(30));  // the middle of period p
  ASSERT_TRUE(Start(1'000).admitted());
  // Still counted through the last nanosecond of period p + 1439 ...
  clock_.Advance(kDay - seconds(30) - nanoseconds(1));
  EXPECT_EQ(Snap().daily_tokens.used, 1'000);
  EXPECT_EQ(Start(1).throttle, ThrottleReason::kTokensPerDay);
  // ... and gone when period p + 1440 begins, 23 h 59 m 30 s after the start.
  clock_.Advance(nanoseconds(1));
  EXPECT_EQ(Snap().daily_tokens.used, 0);
  EXPECT_TRUE(Start(1'000).admitted());
}

TEST_F(BooksTest, SlidingDaySettlementAdjustsTheStartsPeriod) {
  Open(CountingMode::kSlidingWindow, KeyQuota{.tokens_per_period = 1'000, .tokens_per_day = 1'500});
  StartResult a = Start(1'000);
  clock_.Advance(kPeriod * 100);
  ASSERT_TRUE(a.ticket.Settle(200).has_value());
  EXPECT_EQ(Snap().daily_tokens.used, 200);
  clock_.Advance(kPeriod * 1'340);  // period p + 1440: the settled 200 leave with the start
  EXPECT_EQ(Snap().daily_tokens.used, 0);
}

TEST_F(BooksTest, SlidingDaySettlementAfterTheStartLeftChangesNothing) {
  Open(CountingMode::kSlidingWindow, KeyQuota{.tokens_per_period = 1'000, .tokens_per_day = 1'500});
  StartResult a = Start(1'000);
  clock_.Advance(kDay);  // the start's slot is now the current period's
  ASSERT_TRUE(Start(700).admitted());
  ASSERT_TRUE(a.ticket.Settle(0).has_value());
  EXPECT_EQ(Snap().daily_tokens.used, 700);
}

// ---------------------------------------------------------------------------------------------
// Configuration, lookups and messages.

TEST(QuotaBooksApi, DailyQuotaDefaultsToTpmTimes1440AndZeroDisablesIt) {
  EXPECT_EQ(DailyQuota(KeyQuota{.tokens_per_period = 400'000}), 576'000'000);
  EXPECT_EQ(DailyQuota(KeyQuota{.tokens_per_period = 400'000, .tokens_per_day = 2 * 576'000'000}),
            1'152'000'000);
  FakeClock clock;
  QuotaBooks books(BooksOptions{}, clock);
  ASSERT_TRUE(books.SetQuota("k", KeyQuota{.tokens_per_period = 1'000, .tokens_per_day = 0}));
  for (int i = 0; i < 3'000; ++i) {  // 3,000 periods: twice the default day
    Result<StartResult> r = books.Start("k", 1'000);
    ASSERT_TRUE(r && r->admitted());
    ASSERT_TRUE(r->ticket.Settle(1'000));
    clock.Advance(kPeriod);
  }
  EXPECT_EQ(books.Snapshot("k")->daily_tokens.available, kUnlimited);
}

TEST(QuotaBooksApi, UnknownKeyIsNotFound) {
  FakeClock clock;
  QuotaBooks books(BooksOptions{}, clock);
  EXPECT_EQ(books.Start("nope", 1).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(books.Snapshot("nope").error().code, ErrorCode::kNotFound);
}

TEST(QuotaBooksApi, RejectsInvalidQuotasAndTokens) {
  FakeClock clock;
  QuotaBooks books(BooksOptions{}, clock);
  EXPECT_EQ(books.SetQuota("k", KeyQuota{}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(books.SetQuota("k", KeyQuota{.tokens_per_period = 1, .requests_per_period = -1}));
  EXPECT_FALSE(books.SetQuota("k", KeyQuota{.tokens_per_period = 1, .tokens_per_day = -1}));
  EXPECT_FALSE(books.SetQuota("k", KeyQuota{.tokens_per_period = kMaxTokens + 1}));
  EXPECT_TRUE(books.Keys().empty());
  ASSERT_TRUE(books.SetQuota("k", KeyQuota{.tokens_per_period = 1}));
  EXPECT_EQ(books.Start("k", -1).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(books.Start("k", kMaxTokens + 1).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(books.Keys(), std::vector<std::string>{"k"});
  EXPECT_FALSE(Validate(BooksOptions{.period = Duration::zero()}));
  EXPECT_FALSE(Validate(BooksOptions{.period = hours(25)}));
  EXPECT_TRUE(Validate(BooksOptions{.period = seconds(6)}));
}

TEST(QuotaBooksApi, KeysAreIndependent) {
  FakeClock clock;
  QuotaBooks books(BooksOptions{}, clock);
  ASSERT_TRUE(books.SetQuota("us-east-1/a", KeyQuota{.tokens_per_period = 100}));
  ASSERT_TRUE(books.SetQuota("us-east-1/us.a", KeyQuota{.tokens_per_period = 100}));
  ASSERT_TRUE(books.Start("us-east-1/a", 100)->admitted());
  EXPECT_FALSE(books.Start("us-east-1/a", 1)->admitted());
  EXPECT_TRUE(books.Start("us-east-1/us.a", 100)->admitted());
}

TEST(QuotaBooksApi, CountingModeNamesRoundTrip) {
  for (CountingMode mode : kModes) {
    EXPECT_EQ(ParseCountingMode(CountingModeName(mode)), mode);
  }
  EXPECT_EQ(ParseCountingMode("leaky").error().code, ErrorCode::kInvalidArgument);
}

TEST(QuotaBooksApi, ThrottlesCarryBedrocksWireText) {
  EXPECT_EQ(ThrottleMessage(ThrottleReason::kTokensPerMinute),
            "Too many tokens, please wait before trying again.");
  EXPECT_EQ(ThrottleMessage(ThrottleReason::kTokensPerDay),
            "Too many tokens per day, please wait before trying again.");
  EXPECT_EQ(ThrottleMessage(ThrottleReason::kRequestsPerMinute),
            "Too many requests, please wait before trying again. You have sent too many requests.  "
            "Wait before trying again.");
  EXPECT_EQ(ThrottleMessage(ThrottleReason::kNone), "");
  for (ThrottleReason r : {ThrottleReason::kTokensPerMinute, ThrottleReason::kTokensPerDay,
                           ThrottleReason::kRequestsPerMinute}) {
    EXPECT_EQ(ThrottleHttpStatus(r), 429);
    EXPECT_EQ(ThrottleAwsCode(r), "ThrottlingException");
  }
  EXPECT_EQ(ThrottleHttpStatus(ThrottleReason::kConcurrency), 503);
  EXPECT_EQ(ThrottleAwsCode(ThrottleReason::kConcurrency), "ServiceUnavailableException");
}

// ---------------------------------------------------------------------------------------------
// Property sweep: random sequences of starts, settlements (below, at and above reservation),
// refunds, abandonments and clock moves that land on window edges.
//
// Window modes: over every window the mode counts (each calendar period; each trailing period
// (t - P, t]), the charges of the requests started in it, each capped at its reservation, sum to
// at most the quota: only settlements above reservation can push a window past it. Token bucket:
// over any span [a, b] of admissions, the same capped sum is at most one period of quota, plus the
// refill over b - a, plus what was in flight at a (its returns can refill the bucket).
// Also, after every step, the window count the books report equals the recomputed one.

struct Admitted {
  SteadyTime start;
  int64_t reserved;
  int64_t charge;        // current: the reservation until it ends
  int64_t requests = 1;  // 0 once refunded
  size_t start_step;
  size_t end_step = SIZE_MAX;
  Ticket ticket;
};

class PropertySweep : public ::testing::TestWithParam<std::tuple<CountingMode, uint32_t /*seed*/>> {
};

TEST_P(PropertySweep, StartedInAnyCountedWindowNeverExceedsTheQuota) {
  const auto [mode, seed] = GetParam();
  constexpr int64_t kQuotaTpm = 60'000;
  constexpr int64_t kQuotaRpm = 6;
  FakeClock clock;
  AlignTo(clock, kPeriod);
  QuotaBooks books(BooksOptions{.mode = mode, .period = kPeriod}, clock);
  ASSERT_TRUE(books.SetQuota(
      kKey, KeyQuota{.tokens_per_period = kQuotaTpm, .requests_per_period = kQuotaRpm}));

  std::mt19937_64 rng(seed);
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  std::vector<Admitted> admitted;
  std::vector<size_t> open;
  auto take_open = [&]() {
    size_t pick = static_cast<size_t>(uniform(0, static_cast<int64_t>(open.size()) - 1));
    size_t index = open[pick];
    open.erase(open.begin() + static_cast<std::ptrdiff_t>(pick));
    return index;
  };

  for (size_t step = 0; step < 600; ++step) {
    int64_t dice = uniform(0, 99);
    if (dice < 45) {
      int64_t reserve = uniform(0, 19) == 0 ? 70'000 : uniform(1, 25'000);
      Result<StartResult> r = books.Start(kKey, reserve);
      ASSERT_TRUE(r.has_value());
      if (r->admitted()) {
        open.push_back(admitted.size());
        admitted.push_back(Admitted{.start = r->ticket.started_at(),
                                    .reserved = reserve,
                                    .charge = reserve,
                                    .start_step = step,
                                    .ticket = std::move(r->ticket)});
      }
    } else if (dice < 75 && !open.empty()) {
      Admitted& a = admitted[take_open()];
      int64_t kind = uniform(0, 9);
      if (kind < 6) {
        a.charge = uniform(0, a.reserved);
      } else if (kind < 8) {
        a.charge = a.reserved;
      } else {
        a.charge = a.reserved + uniform(1, 4 * a.reserved);  // burndown above the reservation
      }
      ASSERT_TRUE(a.ticket.Settle(a.charge).has_value());
      a.end_step = step;
    } else if (dice < 81 && !open.empty()) {
      Admitted& a = admitted[take_open()];
      a.ticket.Refund();
      a.charge = 0;
      a.requests = 0;
      a.end_step = step;
    } else if (dice < 83 && !open.empty()) {
      Admitted& a = admitted[take_open()];
      a.ticket = Ticket();  // abandoned: keeps its reservation
      a.end_step = step;
    } else {
      int64_t now = clock.Now().time_since_epoch().count();
      int64_t edge_kind = uniform(0, 3);
      if (edge_kind == 0) {  // onto a period boundary, or one nanosecond before it
        int64_t next = (now / kPeriod.count() + 1) * kPeriod.count() - uniform(0, 1);
        clock.AdvanceTo(SteadyTime(Duration(std::max(now, next))));
      } else if (edge_kind == 1 && !admitted.empty()) {  // where a start leaves the window
        const Admitted& a =
            admitted[static_cast<size_t>(uniform(0, static_cast<int64_t>(admitted.size()) - 1))];
        SteadyTime leave = a.start + kPeriod - Duration(uniform(0, 1));
        if (leave > clock.Now()) clock.AdvanceTo(leave);
      } else {
        clock.Advance(Duration(uniform(0, seconds(20).count())));
      }
    }

    // The count the books report is the recomputed sum of the window that contains now.
    if (mode != CountingMode::kTokenBucket) {
      SteadyTime now = clock.Now();
      int64_t tokens = 0;
      int64_t requests = 0;
      for (const Admitted& a : admitted) {
        bool counted = mode == CountingMode::kFixedWindow ? a.start.time_since_epoch() / kPeriod ==
                                                                now.time_since_epoch() / kPeriod
                                                          : a.start + kPeriod > now;
        if (counted) {
          tokens += a.charge;
          requests += a.requests;
        }
      }
      KeySnapshot s = *books.Snapshot(kKey);
      ASSERT_EQ(s.tokens.used, tokens) << "step " << step;
      ASSERT_EQ(s.requests.used, requests) << "step " << step;
    } else {
      KeySnapshot s = *books.Snapshot(kKey);
      ASSERT_LE(s.tokens.available, kQuotaTpm);
      ASSERT_LE(s.requests.available, kQuotaRpm);
    }
  }

  auto capped = [](const Admitted& a) { return std::min(a.charge, a.reserved); };
  if (mode == CountingMode::kFixedWindow) {
    std::map<int64_t, std::pair<int64_t, int64_t>> windows;  // window -> (tokens, requests)
    for (const Admitted& a : admitted) {
      auto& [tokens, requests] = windows[a.start.time_since_epoch() / kPeriod];
      tokens += capped(a);
      requests += a.requests;
    }
    for (const auto& [window, sums] : windows) {
      EXPECT_LE(sums.first, kQuotaTpm) << "window " << window;
      EXPECT_LE(sums.second, kQuotaRpm) << "window " << window;
    }
  } else if (mode == CountingMode::kSlidingWindow) {
    for (const Admitted& end : admitted) {  // the maximum over (t - P, t] is at a start
      int64_t tokens = 0;
      int64_t requests = 0;
      for (const Admitted& a : admitted) {
        if (a.start <= end.start && a.start + kPeriod > end.start) {
          tokens += capped(a);
          requests += a.requests;
        }
      }
      EXPECT_LE(tokens, kQuotaTpm);
      EXPECT_LE(requests, kQuotaRpm);
    }
  } else {
    for (size_t i = 0; i < admitted.size(); ++i) {
      int64_t in_flight_tokens = 0;
      int64_t in_flight_requests = 0;
      for (size_t k = 0; k < i; ++k) {
        if (admitted[k].end_step > admitted[i].start_step) {
          in_flight_tokens += admitted[k].reserved;
          in_flight_requests += 1;
        }
      }
      int64_t tokens = 0;
      int64_t requests = 0;
      for (size_t j = i; j < admitted.size(); ++j) {
        tokens += capped(admitted[j]);
        requests += admitted[j].requests;
        int64_t span = (admitted[j].start - admitted[i].start).count();
        auto refill = [&](int64_t quota) {
          return (quota * span + kPeriod.count() - 1) / kPeriod.count();
        };
        EXPECT_LE(tokens, kQuotaTpm + refill(kQuotaTpm) + in_flight_tokens) << i << ".." << j;
        EXPECT_LE(requests, kQuotaRpm + refill(kQuotaRpm) + in_flight_requests) << i << ".." << j;
      }
    }
  }

  // The sequence exercised what the property is about.
  KeySnapshot s = *books.Snapshot(kKey);
  EXPECT_GT(s.counters.throttled_tokens_per_minute, 0);
  EXPECT_GT(s.counters.excess_tokens, 0);
  EXPECT_GT(s.counters.admitted, 50);
}

INSTANTIATE_TEST_SUITE_P(Modes, PropertySweep,
                         ::testing::Combine(::testing::ValuesIn(kModes),
                                            ::testing::Range(uint32_t{1}, uint32_t{9})),
                         [](const ::testing::TestParamInfo<std::tuple<CountingMode, uint32_t>>& p) {
                           return std::string(CountingModeName(std::get<0>(p.param))) + "_seed" +
                                  std::to_string(std::get<1>(p.param));
                         });

// ---------------------------------------------------------------------------------------------
// Many threads (run under ThreadSanitizer in CI: label `concurrency`).

constexpr int kThreads = 8;

class Stress : public ::testing::TestWithParam<CountingMode> {};

TEST_P(Stress, FrozenClockAdmitsExactlyOnePeriodOfQuotaAcrossThreads) {
  FakeClock clock;
  AlignTo(clock, kPeriod);
  QuotaBooks books(BooksOptions{.mode = GetParam(), .period = kPeriod}, clock);
  ASSERT_TRUE(books.SetQuota(kKey, Tpm60k()));
  std::atomic<int64_t> admitted{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&books, &admitted] {
      std::vector<Ticket> held;  // held to the end: nothing returns to the books meanwhile
      for (int i = 0; i < 400; ++i) {
        Result<StartResult> r = books.Start(kKey, 100);
        if (r && r->admitted()) {
          admitted.fetch_add(1, std::memory_order_relaxed);
          held.push_back(std::move(r->ticket));
        }
      }
      for (Ticket& ticket : held) (void)ticket.Settle(100);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 600);
  KeySnapshot s = *books.Snapshot(kKey);
  EXPECT_EQ(s.counters.admitted, 600);
  EXPECT_EQ(s.counters.throttled_tokens_per_minute, kThreads * 400 - 600);
  EXPECT_EQ(s.counters.settled, 600);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.tokens.available, 0);
}

TEST_P(Stress, ConcurrencyCapHoldsUnderContention) {
  FakeClock clock;
  QuotaBooks books(BooksOptions{.mode = GetParam(), .period = kPeriod}, clock);
  ASSERT_TRUE(
      books.SetQuota(kKey, KeyQuota{.tokens_per_period = kMaxTokens, .max_concurrency = 3}));
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2'000; ++i) {
        Result<StartResult> r = books.Start(kKey, 1);
        if (!r || !r->admitted()) continue;
        int now_running = running.fetch_add(1) + 1;
        int seen = most.load();
        while (now_running > seen && !most.compare_exchange_weak(seen, now_running)) {
        }
        running.fetch_sub(1);
        (void)r->ticket.Settle(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(most.load(), 3);
  KeySnapshot s = *books.Snapshot(kKey);
  EXPECT_EQ(s.counters.admitted + s.counters.throttled(), kThreads * 2'000);
  EXPECT_EQ(s.counters.throttled(), s.counters.throttled_concurrency);
  EXPECT_EQ(s.in_flight, 0);
}

TEST_P(Stress, MixedTrafficLeavesBalancedBooks) {
  FakeClock clock;
  QuotaBooks books(BooksOptions{.mode = GetParam(), .period = seconds(6)}, clock);
  const std::vector<std::string> keys = {"us-east-1/a", "us-east-1/us.a", "eu-west-1/a"};
  for (const std::string& key : keys) {
    ASSERT_TRUE(books.SetQuota(
        key,
        KeyQuota{.tokens_per_period = 50'000, .requests_per_period = 200, .max_concurrency = 6}));
  }
  std::atomic<bool> done{false};
  std::thread operator_thread([&] {  // moves time, changes quotas, reads levels
    std::mt19937_64 rng(99);
    while (!done.load()) {
      clock.Advance(milliseconds(rng() % 50));
      const std::string& key = keys[rng() % keys.size()];
      (void)books.SetQuota(
          key, KeyQuota{.tokens_per_period = 40'000 + static_cast<int64_t>(rng() % 20'000),
                        .requests_per_period = 200,
                        .max_concurrency = 6});
      (void)books.Snapshot(key);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t));
      std::vector<Ticket> held;
      for (int i = 0; i < 1'500; ++i) {
        Result<StartResult> r =
            books.Start(keys[rng() % keys.size()], static_cast<int64_t>(1 + rng() % 3'000));
        if (r && r->admitted()) held.push_back(std::move(r->ticket));
        if (held.size() > 3 || (!held.empty() && rng() % 2 == 0)) {
          Ticket ticket = std::move(held.front());
          held.erase(held.begin());
          switch (rng() % 4) {
            case 0:
              ticket.Refund();
              break;
            case 1:
              break;  // abandoned
            default:
              (void)ticket.Settle(static_cast<int64_t>(rng() % (5 * ticket.reserved_tokens() + 1)));
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  done.store(true);
  operator_thread.join();

  clock.Advance(seconds(6) * kPeriodsPerDay + seconds(6));  // everything leaves every window
  int64_t attempts = 0;
  for (const std::string& key : keys) {
    KeySnapshot s = *books.Snapshot(key);
    EXPECT_EQ(s.in_flight, 0) << key;
    EXPECT_EQ(s.counters.admitted, s.counters.settled + s.counters.refunded) << key;
    EXPECT_EQ(s.tokens.used, 0) << key;
    EXPECT_EQ(s.requests.used, 0) << key;
    EXPECT_EQ(s.daily_tokens.used, 0) << key;
    attempts += s.counters.admitted + s.counters.throttled();
  }
  EXPECT_EQ(attempts, kThreads * 1'500);
}

INSTANTIATE_TEST_SUITE_P(Modes, Stress, ::testing::ValuesIn(kModes), ModeName);

}  // namespace
}  // namespace quotaflow::emulator
