#include "quotaflow/adaptive.h"

#include <algorithm>
#include <cmath>

namespace quotaflow {

bool AdaptiveRate::OnThrottle(int64_t now, int64_t granted_at, double held_share) {
  if (!config_.enabled || granted_at < cut_at_) return false;
  const double current = Factor(now);
  // Fast convergence (RFC 9438 §4.7): throttled again at or below the last ceiling, the ceiling
  // itself is lower (a competitor took part of the quota), so the curve's plateau is set below the
  // rate that failed instead of at it.
  const bool again = std::isfinite(w_max_) && current <= w_max_;
  w_max_ = again ? current * (1.0 + config_.beta) / 2.0 : current;
  double cut = current * config_.beta;
  // The server's period was full while this client held only `held_share` of it: the rest is
  // someone else's. That share is the ceiling, measured rather than guessed, so the cut below it
  // only has to let the server's period drain (measured_beta), not search for it.
  if (held_share < w_max_) {
    w_max_ = held_share;
    cut = held_share * config_.measured_beta;
  }
  cut = std::max(config_.min_factor, std::min(cut, w_max_));
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
