#include "aws/retry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "aws/errors.h"

namespace quotaflow::aws {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint64_t kSeed = 20250101;

AwsError Http(int status, std::string_view error_type, std::string_view message = "m") {
  const HttpHeaders headers = {{"x-amzn-ErrorType", std::string(error_type)}};
  return ParseRestJsonError(status, headers, R"({"message":")" + std::string(message) + R"("})");
}

AwsError Status(int status) { return ParseRestJsonError(status, {}, ""); }

AwsError Local(Error error) {
  AwsError failure;
  failure.error = std::move(error);
  return failure;
}

// Names each parameterised case after its `name` field.
template <typename Case>
std::string CaseName(const testing::TestParamInfo<Case>& param_info) {
  return param_info.param.name;
}

// --- Which failures are retried ---

struct RetryableCase {
  std::string name;
  AwsError failure;
  RetryReason reason;
};

// Keeps ctest's test names readable (gtest would print the struct's bytes).
void PrintTo(const RetryableCase& c, std::ostream* os) { *os << c.name; }

class RetryClassificationTest : public testing::TestWithParam<RetryableCase> {};

TEST_P(RetryClassificationTest, FirstFailureDecision) {
  const RetryableCase& c = GetParam();
  RetryPolicy policy;
  RetryState state;
  std::mt19937_64 rng(kSeed);
  const RetryDecision d = policy.OnFailure(c.failure, state, rng);
  EXPECT_EQ(RetryReasonName(d.reason), RetryReasonName(c.reason));
  EXPECT_EQ(d.retry, c.reason == RetryReason::kRetry);
  if (d.retry) {
    EXPECT_EQ(state.attempt, 2);
    EXPECT_LT(policy.quota().available(), 500);
  } else {
    // Nothing spent, nothing advanced.
    EXPECT_EQ(d.delay, Duration(0));
    EXPECT_EQ(state.attempt, 1);
    EXPECT_EQ(state.quota_held, 0);
    EXPECT_EQ(policy.quota().available(), 500);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Failures, RetryClassificationTest,
    testing::Values(
        RetryableCase{"Status500", Status(500), RetryReason::kRetry},
        RetryableCase{"Status502", Status(502), RetryReason::kRetry},
        RetryableCase{"Status503", Status(503), RetryReason::kRetry},
        RetryableCase{"Status504", Status(504), RetryReason::kRetry},
        RetryableCase{"InternalServer", Http(500, "InternalServerException"), RetryReason::kRetry},
        RetryableCase{"ServiceUnavailable", Http(503, "ServiceUnavailableException"),
                      RetryReason::kRetry},
        RetryableCase{"ModelNotReady", Http(429, "ModelNotReadyException"), RetryReason::kRetry},
        RetryableCase{"ModelTimeout", Http(408, "ModelTimeoutException"), RetryReason::kRetry},
        RetryableCase{"RequestTimeout", Http(400, "RequestTimeout"), RetryReason::kRetry},
        RetryableCase{"ConnectFailed", TransportError(TransportFailure::kConnectFailed, ""),
                      RetryReason::kRetry},
        RetryableCase{"ConnectionReset", TransportError(TransportFailure::kConnectionReset, ""),
                      RetryReason::kRetry},
        RetryableCase{"Timeout", TransportError(TransportFailure::kTimeout, ""),
                      RetryReason::kRetry},
        RetryableCase{"MidStreamUnavailable",
                      ParseExceptionFrame("serviceUnavailableException", "{}"),
                      RetryReason::kRetry},
        RetryableCase{"TpmThrottle", Http(429, "ThrottlingException", "Too many tokens"),
                      RetryReason::kThrottled},
        RetryableCase{"RpmThrottle", Http(429, "ThrottlingException", "Too many requests"),
                      RetryReason::kThrottled},
        RetryableCase{"TpdThrottle", Http(429, "ThrottlingException", "Too many tokens per day"),
                      RetryReason::kThrottled},
        RetryableCase{"MidStreamThrottle", ParseExceptionFrame("throttlingException", "{}"),
                      RetryReason::kThrottled},
        RetryableCase{"Validation", Http(400, "ValidationException"), RetryReason::kNotRetryable},
        RetryableCase{"AccessDenied", Http(403, "AccessDeniedException"),
                      RetryReason::kNotRetryable},
        RetryableCase{"NotFound", Http(404, "ResourceNotFoundException"),
                      RetryReason::kNotRetryable},
        RetryableCase{"ModelError", Http(424, "ModelErrorException"), RetryReason::kNotRetryable},
        RetryableCase{"ServiceQuotaExceeded", Http(400, "ServiceQuotaExceededException"),
                      RetryReason::kNotRetryable},
        RetryableCase{"NotImplemented", Status(501), RetryReason::kNotRetryable},
        RetryableCase{"LocalError", Local(Error::InvalidArgument("bad flag")),
                      RetryReason::kNotRetryable}),
    CaseName<RetryableCase>);

TEST(RetryPolicyTest, ThrottlesAreRetriedWhenOptedIn) {
  RetryPolicy policy(RetryOptions{.retry_throttles = true});
  std::mt19937_64 rng(kSeed);
  for (const AwsError& throttle :
       {Http(429, "ThrottlingException", "Too many tokens"),
        ParseAwsJsonError(400, {}, R"({"__type":"TooManyRequestsException"})")}) {
    RetryState state;
    const RetryDecision d = policy.OnFailure(throttle, state, rng);
    EXPECT_TRUE(d.retry);
    EXPECT_EQ(d.reason, RetryReason::kRetry);
    EXPECT_EQ(state.quota_held, 5);
  }
}

// --- Attempts ---

TEST(RetryPolicyTest, StopsAtMaxAttempts) {
  RetryPolicy policy;  // 3 attempts in all
  RetryState state;
  std::mt19937_64 rng(kSeed);
  EXPECT_TRUE(policy.OnFailure(Status(503), state, rng).retry);
  EXPECT_EQ(state.attempt, 2);
  EXPECT_TRUE(policy.OnFailure(Status(503), state, rng).retry);
  EXPECT_EQ(state.attempt, 3);
  const RetryDecision last = policy.OnFailure(Status(503), state, rng);
  EXPECT_FALSE(last.retry);
  EXPECT_EQ(last.reason, RetryReason::kMaxAttempts);
  EXPECT_EQ(RetryReasonName(last.reason), "max attempts");
  EXPECT_EQ(state.attempt, 3);
  EXPECT_EQ(policy.quota().available(), 490);  // two retries at 5 each; the refusal is free
}

TEST(RetryPolicyTest, OneAttemptMeansNoRetries) {
  RetryPolicy policy(RetryOptions{.max_attempts = 1});
  RetryState state;
  std::mt19937_64 rng(kSeed);
  EXPECT_EQ(policy.OnFailure(Status(500), state, rng).reason, RetryReason::kMaxAttempts);
}

TEST(RetryPolicyTest, MaxAttemptsIsConfigurable) {
  RetryPolicy policy(RetryOptions{.max_attempts = 5});
  RetryState state;
  std::mt19937_64 rng(kSeed);
  int retries = 0;
  while (policy.OnFailure(Status(500), state, rng).retry) ++retries;
  EXPECT_EQ(retries, 4);
}

// --- Backoff ---

TEST(RetryBackoffTest, FullJitterStaysWithinTheExponentialCeiling) {
  const RetryOptions options;  // base 1 s, cap 20 s
  std::mt19937_64 rng(kSeed);
  constexpr int kSamples = 20'000;
  for (int attempt = 1; attempt <= 10; ++attempt) {
    const Duration ceiling =
        std::min<Duration>(seconds(1) * (int64_t{1} << (attempt - 1)), seconds(20));
    Duration lowest = Duration::max();
    Duration highest = Duration::min();
    double sum = 0;
    for (int i = 0; i < kSamples; ++i) {
      const Duration d = Backoff(options, attempt, rng);
      ASSERT_GE(d, Duration(0));
      ASSERT_LE(d, ceiling);
      lowest = std::min(lowest, d);
      highest = std::max(highest, d);
      sum += ToSeconds(d);
    }
    // Uniform on [0, ceiling): with this many samples (and a fixed seed) the extremes come within
    // 1% of the ends and the mean within 2% of the middle.
    EXPECT_LT(ToSeconds(lowest), 0.01 * ToSeconds(ceiling)) << "attempt " << attempt;
    EXPECT_GT(ToSeconds(highest), 0.99 * ToSeconds(ceiling)) << "attempt " << attempt;
    EXPECT_NEAR(sum / kSamples, ToSeconds(ceiling) / 2, 0.02 * ToSeconds(ceiling))
        << "attempt " << attempt;
  }
}

TEST(RetryBackoffTest, SameSeedGivesTheSameDelays) {
  std::mt19937_64 a(kSeed);
  std::mt19937_64 b(kSeed);
  for (int attempt = 1; attempt < 50; ++attempt) {
    EXPECT_EQ(Backoff(RetryOptions{}, attempt, a), Backoff(RetryOptions{}, attempt, b));
  }
}

TEST(RetryBackoffTest, HugeAttemptNumbersStayCapped) {
  std::mt19937_64 rng(kSeed);
  for (int attempt : {64, 1000, 1 << 30}) {
    EXPECT_LE(Backoff(RetryOptions{}, attempt, rng), seconds(20));
  }
}

TEST(RetryBackoffTest, BaseAndCapAreConfigurable) {
  const RetryOptions options{.base_backoff = milliseconds(100), .max_backoff = milliseconds(250)};
  std::mt19937_64 rng(kSeed);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_LE(Backoff(options, 1, rng), milliseconds(100));
    EXPECT_LE(Backoff(options, 2, rng), milliseconds(200));
    EXPECT_LE(Backoff(options, 3, rng), milliseconds(250));
  }
  const RetryOptions no_wait{.base_backoff = Duration(0)};
  EXPECT_EQ(Backoff(no_wait, 3, rng), Duration(0));
}

TEST(RetryPolicyTest, DecisionDelayIsTheBackoffForThatAttempt) {
  RetryPolicy policy;
  RetryState state;
  std::mt19937_64 rng(kSeed);
  std::mt19937_64 replay(kSeed);
  const RetryDecision first = policy.OnFailure(Status(503), state, rng);
  EXPECT_EQ(first.delay, Backoff(policy.options(), 1, replay));
  const RetryDecision second = policy.OnFailure(Status(503), state, rng);
  EXPECT_EQ(second.delay, Backoff(policy.options(), 2, replay));
}

// --- x-amz-retry-after ---

AwsError WithRetryAfter(Duration retry_after) {
  AwsError failure = Status(503);
  failure.retry_after = retry_after;
  return failure;
}

struct RetryAfterCase {
  std::string name;
  int attempt;
  Duration retry_after;
};

void PrintTo(const RetryAfterCase& c, std::ostream* os) { *os << c.name; }

class RetryAfterTest : public testing::TestWithParam<RetryAfterCase> {};

// botocore's new retries: delay = max(backoff, min(retry_after, backoff + 5 s)).
TEST_P(RetryAfterTest, HonouredWithinFiveSecondsOfTheBackoff) {
  const RetryAfterCase& c = GetParam();
  RetryPolicy policy(RetryOptions{.max_attempts = 10});
  RetryState state{.attempt = c.attempt};
  std::mt19937_64 rng(kSeed);
  std::mt19937_64 replay(kSeed);
  const Duration backoff = Backoff(policy.options(), c.attempt, replay);
  const RetryDecision d = policy.OnFailure(WithRetryAfter(c.retry_after), state, rng);
  ASSERT_TRUE(d.retry);
  EXPECT_EQ(d.delay, std::max(backoff, std::min(c.retry_after, backoff + seconds(5))));
  EXPECT_GE(d.delay, backoff);
  EXPECT_LE(d.delay, backoff + seconds(5));
}

INSTANTIATE_TEST_SUITE_P(Values, RetryAfterTest,
                         testing::Values(RetryAfterCase{"LongerThanBackoff", 1, seconds(3)},
                                         RetryAfterCase{"FarBeyondTheCap", 1, seconds(60)},
                                         RetryAfterCase{"ZeroNeverShortens", 1, Duration(0)},
                                         RetryAfterCase{"LaterAttempt", 4, milliseconds(9500)},
                                         RetryAfterCase{"DayLong", 2, std::chrono::hours(24)}),
                         CaseName<RetryAfterCase>);

TEST(RetryPolicyTest, RetryAfterOnTheFirstAttemptWinsOutright) {
  // The first backoff is under 1 s, so a 3 s retry-after is taken as it is.
  RetryPolicy policy;
  RetryState state;
  std::mt19937_64 rng(kSeed);
  EXPECT_EQ(policy.OnFailure(WithRetryAfter(seconds(3)), state, rng).delay, seconds(3));
}

TEST(RetryPolicyTest, RetryAfterHeaderFlowsFromTheResponse) {
  RetryPolicy policy;
  RetryState state;
  std::mt19937_64 rng(kSeed);
  const HttpHeaders headers = {{"x-amz-retry-after", "2500"}};
  const RetryDecision d = policy.OnFailure(ParseRestJsonError(503, headers, ""), state, rng);
  EXPECT_EQ(d.delay, milliseconds(2500));
}

TEST(RetryPolicyTest, RetryAfterExtraIsConfigurable) {
  RetryPolicy policy(
      RetryOptions{.base_backoff = Duration(0), .max_retry_after_extra = seconds(1)});
  RetryState state;
  std::mt19937_64 rng(kSeed);
  EXPECT_EQ(policy.OnFailure(WithRetryAfter(seconds(30)), state, rng).delay, seconds(1));
}

TEST(RetryPolicyTest, RetryAfterDoesNotMakeAThrottleRetryable) {
  RetryPolicy policy;
  RetryState state;
  std::mt19937_64 rng(kSeed);
  const HttpHeaders headers = {{"x-amzn-ErrorType", "ThrottlingException"},
                               {"x-amz-retry-after", "100"}};
  const AwsError throttle = ParseRestJsonError(429, headers, "{}");
  ASSERT_TRUE(throttle.retry_after.has_value());
  EXPECT_EQ(policy.OnFailure(throttle, state, rng).reason, RetryReason::kThrottled);
}

// --- The client-wide retry quota ---

TEST(RetryQuotaTest, RetriesDrainFiveEachUntilRefused) {
  RetryPolicy policy;
  std::mt19937_64 rng(kSeed);
  int retries = 0;
  for (int request = 0; request < 200; ++request) {
    RetryState state;  // a new request each time, so only the quota can say no
    const RetryDecision d = policy.OnFailure(Status(503), state, rng);
    if (!d.retry) {
      EXPECT_EQ(d.reason, RetryReason::kQuotaExhausted);
      EXPECT_EQ(RetryReasonName(d.reason), "quota exhausted");
      EXPECT_EQ(state.attempt, 1);
      break;
    }
    ++retries;
  }
  EXPECT_EQ(retries, 100);
  EXPECT_EQ(policy.quota().available(), 0);
}

TEST(RetryQuotaTest, RetryAfterATimeoutCostsTen) {
  RetryPolicy policy;
  std::mt19937_64 rng(kSeed);
  RetryState state;
  ASSERT_TRUE(policy.OnFailure(TransportError(TransportFailure::kTimeout, ""), state, rng).retry);
  EXPECT_EQ(state.quota_held, 10);
  EXPECT_EQ(policy.quota().available(), 490);
  ASSERT_TRUE(
      policy.OnFailure(TransportError(TransportFailure::kConnectionReset, ""), state, rng).retry);
  EXPECT_EQ(state.quota_held, 5);
  EXPECT_EQ(policy.quota().available(), 485);
}

TEST(RetryQuotaTest, SuccessAfterRetriesRefundsTheLastRetryCost) {
  RetryPolicy policy;
  std::mt19937_64 rng(kSeed);
  RetryState state;
  ASSERT_TRUE(policy.OnFailure(Status(500), state, rng).retry);
  ASSERT_TRUE(policy.OnFailure(TransportError(TransportFailure::kTimeout, ""), state, rng).retry);
  EXPECT_EQ(policy.quota().available(), 485);
  policy.OnSuccess(state);
  EXPECT_EQ(policy.quota().available(), 495);  // botocore refunds the last acquisition only
}

TEST(RetryQuotaTest, SuccessWithoutRetryRefundsOneUpToCapacity) {
  RetryPolicy policy;
  std::mt19937_64 rng(kSeed);
  RetryState failed;
  ASSERT_TRUE(policy.OnFailure(Status(503), failed, rng).retry);
  EXPECT_EQ(policy.quota().available(), 495);
  for (int i = 0; i < 3; ++i) policy.OnSuccess(RetryState{});
  EXPECT_EQ(policy.quota().available(), 498);
  for (int i = 0; i < 10; ++i) policy.OnSuccess(RetryState{});
  EXPECT_EQ(policy.quota().available(), 500);
}

TEST(RetryQuotaTest, ExhaustedQuotaRecoversWithSuccesses) {
  RetryPolicy policy(RetryOptions{.quota_capacity = 12});
  std::mt19937_64 rng(kSeed);
  RetryState a, b, c;
  EXPECT_TRUE(policy.OnFailure(Status(503), a, rng).retry);
  EXPECT_TRUE(policy.OnFailure(Status(503), b, rng).retry);
  EXPECT_EQ(policy.OnFailure(Status(503), c, rng).reason, RetryReason::kQuotaExhausted);
  EXPECT_EQ(policy.quota().available(), 2);
  for (int i = 0; i < 3; ++i) policy.OnSuccess(RetryState{});
  EXPECT_TRUE(policy.OnFailure(Status(503), c, rng).retry);
}

TEST(RetryQuotaTest, NonRetryableAndThrottledFailuresCostNothing) {
  RetryPolicy policy;
  std::mt19937_64 rng(kSeed);
  for (int i = 0; i < 1000; ++i) {
    RetryState state;
    policy.OnFailure(Http(400, "ValidationException"), state, rng);
    policy.OnFailure(Http(429, "ThrottlingException"), state, rng);
  }
  EXPECT_EQ(policy.quota().available(), 500);
}

TEST(RetryQuotaTest, ConcurrentRetriesNeverOverdrawTheQuota) {
  RetryPolicy policy;
  constexpr int kThreads = 8;
  constexpr int kFailuresPerThread = 500;
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&policy, &granted, t] {
      std::mt19937_64 rng(kSeed + t);  // one generator per thread
      for (int i = 0; i < kFailuresPerThread; ++i) {
        RetryState state;
        if (policy.OnFailure(Status(503), state, rng).retry) granted.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(granted.load(), 100);
  EXPECT_EQ(policy.quota().available(), 0);

  threads.clear();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&policy] {
      for (int i = 0; i < 100; ++i) policy.OnSuccess(RetryState{.attempt = 2, .quota_held = 5});
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(policy.quota().available(), 500);
}

TEST(RetryQuotaTest, AcquireTakesAllOrNothing) {
  RetryQuota quota(7);
  EXPECT_TRUE(quota.Acquire(5));
  EXPECT_FALSE(quota.Acquire(5));
  EXPECT_EQ(quota.available(), 2);
  quota.Release(100);
  EXPECT_EQ(quota.available(), 7);
  EXPECT_EQ(quota.capacity(), 7);
}

TEST(RetryReasonTest, NamesAreStable) {
  EXPECT_EQ(RetryReasonName(RetryReason::kRetry), "retry");
  EXPECT_EQ(RetryReasonName(RetryReason::kNotRetryable), "not retryable");
  EXPECT_EQ(RetryReasonName(RetryReason::kThrottled), "throttled");
  EXPECT_EQ(RetryReasonName(RetryReason::kMaxAttempts), "max attempts");
  EXPECT_EQ(RetryReasonName(RetryReason::kQuotaExhausted), "quota exhausted");
}

}  // namespace
}  // namespace quotaflow::aws
