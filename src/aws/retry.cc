#include "aws/retry.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace quotaflow::aws {

RetryQuota::RetryQuota(int capacity) : capacity_(capacity), available_(capacity) {
  QF_CHECK(capacity >= 0);
}

bool RetryQuota::Acquire(int amount) {
  std::lock_guard lock(mu_);
  if (amount > available_) return false;
  available_ -= amount;
  return true;
}

void RetryQuota::Release(int amount) {
  std::lock_guard lock(mu_);
  available_ = std::min(capacity_, available_ + amount);
}

int RetryQuota::available() const {
  std::lock_guard lock(mu_);
  return available_;
}

std::string_view RetryReasonName(RetryReason reason) {
  switch (reason) {
    case RetryReason::kRetry:
      return "retry";
    case RetryReason::kNotRetryable:
      return "not retryable";
    case RetryReason::kThrottled:
      return "throttled";
    case RetryReason::kMaxAttempts:
      return "max attempts";
    case RetryReason::kQuotaExhausted:
      return "quota exhausted";
  }
  return "unknown";
}

Duration Backoff(const RetryOptions& options, int attempt, std::mt19937_64& rng) {
  // rand[0,1) from the top 53 bits: the same sequence on every standard library, unlike
  // std::uniform_real_distribution, so seeded tests hold everywhere.
  const double unit = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  // 2^62 x any base already exceeds any cap; clamping keeps 0 x 2^n finite and avoids shifts.
  const int exponent = std::clamp(attempt - 1, 0, 62);
  const double ceiling =
      std::min(static_cast<double>(options.base_backoff.count()) * std::ldexp(1.0, exponent),
               static_cast<double>(options.max_backoff.count()));
  const auto delay = Duration(static_cast<Duration::rep>(unit * ceiling));
  return std::clamp(delay, Duration(0), options.max_backoff);
}

RetryPolicy::RetryPolicy(RetryOptions options) : options_(options), quota_(options.quota_capacity) {
  QF_CHECK(options_.max_attempts >= 1);
  QF_CHECK(options_.base_backoff >= Duration(0));
  QF_CHECK(options_.max_backoff >= Duration(0));
  QF_CHECK(options_.max_retry_after_extra >= Duration(0));
  QF_CHECK(options_.retry_cost >= 0 && options_.timeout_retry_cost >= 0);
  QF_CHECK(options_.no_retry_refund >= 0);
}

RetryDecision RetryPolicy::OnFailure(const AwsError& failure, RetryState& state,
                                     std::mt19937_64& rng) {
  const Error& error = failure.error;
  const bool rate_throttle =
      error.code == ErrorCode::kThrottled && error.throttle != ThrottleKind::kModelNotReady;
  if (rate_throttle && !options_.retry_throttles) return {.reason = RetryReason::kThrottled};
  if (!error.retryable && !rate_throttle) return {.reason = RetryReason::kNotRetryable};
  if (state.attempt >= options_.max_attempts) return {.reason = RetryReason::kMaxAttempts};

  const int cost = failure.timed_out ? options_.timeout_retry_cost : options_.retry_cost;
  if (!quota_.Acquire(cost)) return {.reason = RetryReason::kQuotaExhausted};

  Duration delay = Backoff(options_, state.attempt, rng);
  if (failure.retry_after) {
    // botocore (new retries): the header wins within [backoff, backoff + 5 s].
    delay = std::max(delay, std::min(*failure.retry_after, delay + options_.max_retry_after_extra));
  }
  ++state.attempt;
  state.quota_held = cost;
  return {.retry = true, .delay = delay, .reason = RetryReason::kRetry};
}

void RetryPolicy::OnSuccess(const RetryState& state) {
  // A success after retries returns what the last retry took (botocore); one at the first attempt
  // earns a little back, so the quota recovers after an outage.
  quota_.Release(state.attempt > 1 ? state.quota_held : options_.no_retry_refund);
}

}  // namespace quotaflow::aws
