#include "quotaflow/adaptive.h"

#include <algorithm>
#include <cmath>

namespace quotaflow {

bool AdaptiveRate::OnThrottle(int64_t now, int64_t granted_at) {
  if (!config_.enabled || granted_at < cut_at_) return false;
  double current = Factor(now);
  w_max_ = current;
  double cut = std::max(config_.min_factor, current * config_.beta);
  // K solves C·K³ = W_max − cut: the curve starts at the cut value.
  k_ = std::cbrt((w_max_ - cut) / config_.cubic_c);
  cut_at_ = now;
  recovering_ = true;
  return true;
}

double AdaptiveRate::Factor(int64_t now) const {
  if (!recovering_) return 1.0;
  double t = static_cast<double>(now - cut_at_) / static_cast<double>(period_ns_);
  double d = t - k_;
  double f = config_.cubic_c * d * d * d + w_max_;
  return std::clamp(f, config_.min_factor, 1.0);
}

double AdaptiveRate::Update(int64_t now) {
  double f = Factor(now);
  if (f >= 1.0) recovering_ = false;
  return f;
}

}  // namespace quotaflow
