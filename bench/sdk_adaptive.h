#pragma once
// The AWS SDK's "adaptive" retry mode as botocore 1.43 implements it (botocore/retries/adaptive.py,
// bucket.py, throttling.py), written again here for the throughput benchmark's strategy 4. It is
// not quotaflow's controller (src/core/adaptive.h) and shares no code with it: the benchmark
// compares the two, so each must be what it claims to be.
//
// What the SDK does, per client:
//  - Before every attempt (retries included), once a throttle has been seen, take one token from a
//    request-rate bucket (capacity: one second of the current rate, at least 1; fill rate at least
//    0.5/s), waiting until it has one. Before the first throttle nothing is limited.
//  - After every attempt's response (successes, 5xx and throttles alike), count it in a smoothed
//    measure of the response rate (0.5 s buckets, smoothing 0.8), then move the allowed rate: a
//    throttle sets the CUBIC maximum to the measured rate (or the current allowed rate, if lower)
//    and cuts to 0.7 × that; anything else follows the CUBIC curve 0.4 × (t − K)³ + W_max from the
//    last throttle. The allowed rate is never set above twice the measured rate.
// No token counts anywhere: a request of 20,000 tokens costs what one of 20 costs.
//
// Time is seconds on the model's own clock (botocore reads time.time()); the benchmark passes
// run time divided by its time scale, so that a quota period of 2 s behaves like Bedrock's minute.
//
// Thread safety: none; the benchmark drives one instance from one event-loop thread.

#include <cstdint>
#include <optional>

namespace quotaflow::bench {

// bucket.TokenBucket: requests, not tokens of text.
class SdkTokenBucket {
 public:
  static constexpr double kMinRate = 0.5;

  SdkTokenBucket(double max_rate, double now);

  // Takes `amount` if the bucket holds it now (true); otherwise takes nothing and returns how long
  // botocore's acquire() would sleep before trying again.
  bool TryAcquire(double now, double amount, double* wait_seconds);
  // The max_rate setter: refill at the old rate up to now, then set the fill rate (at least
  // kMinRate) and the capacity (the rate, at least 1), clamping what the bucket holds.
  void SetMaxRate(double value, double now);

  double max_rate() const { return fill_rate_; }
  double max_capacity() const { return max_capacity_; }
  double available() const { return current_capacity_; }

 private:
  void Refill(double now);

  double fill_rate_ = 0;
  double max_capacity_ = 0;
  double current_capacity_ = 0;
  std::optional<double> last_timestamp_;
};

// throttling.CubicCalculator.
class SdkCubic {
 public:
  static constexpr double kScaleConstant = 0.4;
  static constexpr double kBeta = 0.7;

  SdkCubic(double starting_max_rate, double start_time);

  double SuccessReceived(double timestamp) const;
  // Returns the cut rate (beta × current_rate) and remembers current_rate as W_max.
  double ErrorReceived(double current_rate, double timestamp);

  double w_max() const { return w_max_; }
  double k() const { return k_; }
  double last_fail() const { return last_fail_; }

 private:
  double ZeroPoint() const;

  double w_max_;
  double k_;
  double last_fail_;
};

// adaptive.RateClocker: the smoothed rate of responses.
class SdkRateClocker {
 public:
  static constexpr double kSmoothing = 0.8;
  static constexpr double kTimeBucketRange = 0.5;

  explicit SdkRateClocker(double now);

  // Counts one response at `now` and returns the measured rate.
  double Record(double now, double amount = 1);
  double measured_rate() const { return measured_rate_; }

 private:
  double measured_rate_ = 0;
  double last_bucket_;
  double count_ = 0;
};

// adaptive.ClientRateLimiter: the three above, wired as botocore wires them.
class SdkClientRateLimiter {
 public:
  static constexpr double kMaxRateAdjustScale = 2.0;

  explicit SdkClientRateLimiter(double now);

  // before-send: true when the attempt may go now; otherwise `wait_seconds` says when to ask again.
  bool OnSendingRequest(double now, double* wait_seconds);
  // needs-retry, for every attempt's outcome.
  void OnReceivingResponse(double now, bool throttled);

  bool enabled() const { return enabled_; }
  double max_rate() const { return bucket_.max_rate(); }
  double measured_rate() const { return clocker_.measured_rate(); }
  const SdkCubic& cubic() const { return cubic_; }
  const SdkTokenBucket& bucket() const { return bucket_; }

 private:
  SdkCubic cubic_;
  SdkRateClocker clocker_;
  SdkTokenBucket bucket_;
  bool enabled_ = false;
};

}  // namespace quotaflow::bench
