#include "sdk_adaptive.h"

#include <algorithm>
#include <cmath>

namespace quotaflow::bench {

SdkTokenBucket::SdkTokenBucket(double max_rate, double now) {
  // botocore's constructor assigns max_rate through the setter, whose first refill only records
  // the time.
  SetMaxRate(max_rate, now);
}

void SdkTokenBucket::Refill(double now) {
  if (!last_timestamp_) {
    last_timestamp_ = now;
    return;
  }
  const double fill_amount = (now - *last_timestamp_) * fill_rate_;
  current_capacity_ = std::min(max_capacity_, current_capacity_ + fill_amount);
  last_timestamp_ = now;
}

bool SdkTokenBucket::TryAcquire(double now, double amount, double* wait_seconds) {
  Refill(now);
  if (amount <= current_capacity_) {
    current_capacity_ -= amount;
    return true;
  }
  *wait_seconds = (amount - current_capacity_) / fill_rate_;
  return false;
}

void SdkTokenBucket::SetMaxRate(double value, double now) {
  Refill(now);
  fill_rate_ = std::max(value, kMinRate);
  max_capacity_ = value >= 1 ? value : 1;
  current_capacity_ = std::min(current_capacity_, max_capacity_);
}

SdkCubic::SdkCubic(double starting_max_rate, double start_time)
    : w_max_(starting_max_rate), k_(0), last_fail_(start_time) {
  k_ = ZeroPoint();
}

double SdkCubic::ZeroPoint() const { return std::cbrt(w_max_ * (1 - kBeta) / kScaleConstant); }

double SdkCubic::SuccessReceived(double timestamp) const {
  const double dt = timestamp - last_fail_;
  return kScaleConstant * std::pow(dt - k_, 3) + w_max_;
}

double SdkCubic::ErrorReceived(double current_rate, double timestamp) {
  w_max_ = current_rate;
  k_ = ZeroPoint();
  last_fail_ = timestamp;
  return current_rate * kBeta;
}

SdkRateClocker::SdkRateClocker(double now) : last_bucket_(std::floor(now)) {}

double SdkRateClocker::Record(double now, double amount) {
  const double scale = 1 / kTimeBucketRange;
  const double bucket = std::floor(now * scale) / scale;
  count_ += amount;
  if (bucket > last_bucket_) {
    const double current_rate = count_ / (bucket - last_bucket_);
    measured_rate_ = current_rate * kSmoothing + measured_rate_ * (1 - kSmoothing);
    count_ = 0;
    last_bucket_ = bucket;
  }
  return measured_rate_;
}

SdkClientRateLimiter::SdkClientRateLimiter(double now)
    : cubic_(/*starting_max_rate=*/0, now), clocker_(now), bucket_(/*max_rate=*/1, now) {}

bool SdkClientRateLimiter::OnSendingRequest(double now, double* wait_seconds) {
  if (!enabled_) return true;
  return bucket_.TryAcquire(now, 1, wait_seconds);
}

void SdkClientRateLimiter::OnReceivingResponse(double now, bool throttled) {
  const double measured_rate = clocker_.Record(now);
  double new_rate = 0;
  if (!throttled) {
    new_rate = cubic_.SuccessReceived(now);
  } else {
    const double rate_to_use =
        enabled_ ? std::min(measured_rate, bucket_.max_rate()) : measured_rate;
    new_rate = cubic_.ErrorReceived(rate_to_use, now);
    enabled_ = true;
  }
  bucket_.SetMaxRate(std::min(new_rate, kMaxRateAdjustScale * measured_rate), now);
}

}  // namespace quotaflow::bench
