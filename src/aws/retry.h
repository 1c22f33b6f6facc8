#pragma once
// The retry policy for one AWS call: AWS SDK "standard" mode (botocore retries/standard.py), made
// pure. It never sleeps and never reads a clock: it answers "retry after this delay" or "stop, and
// why", and the I/O layer arms the timer. Randomness comes from a generator the caller seeds.
//
// Rate throttles are deliberately not retried here (unless RetryOptions::retry_throttles): the
// engine owns them — it refunds the reservation, cuts the rate and requeues the request — and a
// blind retry would only spend the quota the limiter is protecting.
//
// Mid-stream errors (exception frames) arrive after the HTTP call succeeded; botocore never
// retries them and callers should not ask this policy about them once output was delivered.

#include <cstdint>
#include <mutex>
#include <random>
#include <string_view>

#include "aws/errors.h"
#include "quotaflow/clock.h"

namespace quotaflow::aws {

struct RetryOptions {
  // Total attempts, the first included (the CLI reads AWS_MAX_ATTEMPTS or the profile's
  // max_attempts: aws::MaxAttempts). Default 3, as standard mode. More
  // attempts ride out longer outages but hold a request (and its reservation) longer.
  int max_attempts = 3;
  // Backoff before retry n (1-based) is rand[0,1) x min(base x 2^(n-1), max): "full jitter".
  // Defaults 1 s and 20 s, as standard mode.
  Duration base_backoff = std::chrono::seconds(1);
  Duration max_backoff = std::chrono::seconds(20);
  // An x-amz-retry-after header may lengthen the backoff by at most this much (botocore: 5 s), so
  // a server cannot park a client for long; it never shortens it.
  Duration max_retry_after_extra = std::chrono::seconds(5);
  // The client-wide retry quota: retries draw from it and successes refill it, so a widespread
  // outage turns into fast failures instead of a retry storm. Standard mode: 500, 5 per retry,
  // 10 per retry after a timeout, 1 back per success at the first attempt.
  int quota_capacity = 500;
  int retry_cost = 5;
  int timeout_retry_cost = 10;
  int no_retry_refund = 1;
  // Also retry rate throttles (ThrottlingException, TooManyRequestsException, ...), as the SDKs
  // do. Off for Bedrock runtime calls, which go back to the engine; on suits control-plane clients
  // (Service Quotas, CloudWatch) that have no engine in front of them.
  bool retry_throttles = false;
};

// A shared pool of retry capacity (botocore's RetryQuota).
// Thread safety: safe to call from any thread.
class RetryQuota {
 public:
  explicit RetryQuota(int capacity);

  RetryQuota(const RetryQuota&) = delete;
  RetryQuota& operator=(const RetryQuota&) = delete;

  // Takes `amount` if that much is available; otherwise takes nothing and returns false.
  bool Acquire(int amount);
  // Gives back `amount`, never filling beyond the capacity.
  void Release(int amount);

  int available() const;
  int capacity() const { return capacity_; }

 private:
  const int capacity_;
  mutable std::mutex mu_;
  int available_;  // guarded by mu_
};

enum class RetryReason {
  kRetry,           // retryable, under the attempt cap, quota granted
  kNotRetryable,    // a client error, or a server fault that would repeat
  kThrottled,       // a rate throttle: for the engine to handle
  kMaxAttempts,     // retryable, but this was the last allowed attempt
  kQuotaExhausted,  // retryable, but the client-wide retry quota is spent
};

// "retry", "not retryable", "throttled", "max attempts", "quota exhausted".
std::string_view RetryReasonName(RetryReason reason);

struct RetryDecision {
  bool retry = false;
  Duration delay{0};  // wait this long before the next attempt; 0 unless `retry`
  RetryReason reason = RetryReason::kNotRetryable;
};

// One request's retry bookkeeping, owned by the request (not shared between requests).
struct RetryState {
  int attempt = 1;     // the attempt in flight, 1-based
  int quota_held = 0;  // capacity the latest retry took from the quota; refunded on success
};

// The full-jitter backoff before retrying after failed attempt `attempt` (1-based), without the
// retry-after adjustment: rand[0,1) x min(base x 2^(attempt-1), max). Always in [0, max_backoff].
Duration Backoff(const RetryOptions& options, int attempt, std::mt19937_64& rng);

// Thread safety: OnFailure and OnSuccess are safe to call from any thread, with one RetryState per
// request and a generator per thread (or guarded by the caller); the quota is shared.
class RetryPolicy {
 public:
  // REQUIRES: max_attempts >= 1, backoffs and costs non-negative.
  explicit RetryPolicy(RetryOptions options = {});

  RetryPolicy(const RetryPolicy&) = delete;
  RetryPolicy& operator=(const RetryPolicy&) = delete;

  // Attempt `state.attempt` failed with `failure`. On a retry this takes retry quota, advances
  // `state.attempt` and records the cost in `state.quota_held`; otherwise `state` is unchanged.
  RetryDecision OnFailure(const AwsError& failure, RetryState& state, std::mt19937_64& rng);

  // The request succeeded (2xx) after `state.attempt` attempts: refunds what its last retry took,
  // or `no_retry_refund` if it never retried. Not to be called for a request that failed.
  void OnSuccess(const RetryState& state);

  const RetryOptions& options() const { return options_; }
  const RetryQuota& quota() const { return quota_; }

 private:
  const RetryOptions options_;
  RetryQuota quota_;
};

}  // namespace quotaflow::aws
