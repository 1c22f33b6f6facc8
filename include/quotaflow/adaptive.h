#pragma once
// The adaptive controller: when the server throttles although the limiter thought there was room
// (another application shares the quota, or the server counts its minute differently), the
// effective rate is cut and then recovers smoothly toward the configured quota — never above it.
//
// Recovery follows CUBIC (RFC 9438), the curve the AWS SDKs' adaptive retry mode uses: right after
// a cut the rate climbs fast, flattens as it nears the rate at which the throttle happened (the
// likely ceiling, where it lingers), then probes beyond it. A quota is a stable ceiling, so
// lingering near the last good rate wastes less than AIMD's slow linear climb from far below, and
// probing past it still finds a quota that was raised or a competitor that left. A throttle again
// at or below the last ceiling lowers the ceiling itself (CUBIC's fast convergence): the curve then
// levels off below the rate that failed twice, where a competitor's share leaves room.

#include <cstdint>
#include <limits>

namespace quotaflow {

struct AdaptiveConfig {
  bool enabled = true;
  // Multiplicative cut on a rate throttle (CUBIC's β).
  double beta = 0.7;
  // CUBIC's C, in quota-fractions per period³: with the default the rate is back at its
  // pre-throttle level about one period after a cut (K = ∛(W·(1−β)/C) ≈ 0.9 periods at W = 1),
  // which matches the server's own memory of one period.
  double cubic_c = 0.4;
  // The cut when the throttle also measured the ceiling: the server's period was full while this
  // client held less of it than its rate allowed (see Limiter::OnServerThrottle).
  double measured_beta = 0.9;
  // The factor never falls below this, so a storm of throttles cannot stall a model for good.
  double min_factor = 0.05;
};

// Pure: takes times, never reads a clock. Not thread-safe; the Limiter guards it.
class AdaptiveRate {
 public:
  AdaptiveRate(const AdaptiveConfig& config, int64_t period_ns)
      : config_(config), period_ns_(period_ns) {}

  // A rate throttle at `now` for a request granted at `granted_at`. A request granted before the
  // last cut was sent at the old rate, so its throttle is old news: it does not cut again. Returns
  // true when the rate was cut. `held_share`: the fraction of the quota this client's own charges
  // held in the server's trailing period when it said the period was full (infinity if unknown);
  // below the current rate, the rest was someone else's and the curve levels off there.
  bool OnThrottle(int64_t now, int64_t granted_at,
                  double held_share = std::numeric_limits<double>::infinity());

  // The factor (0, 1] at `now`.
  double Factor(int64_t now) const;
  // Factor(now), and ends the recovery once it is back at 1.
  double Update(int64_t now);
  // False once the factor is back at 1: the limiter skips the curve on its hot path.
  bool recovering() const { return recovering_; }

 private:
  AdaptiveConfig config_;
  int64_t period_ns_;
  bool recovering_ = false;
  // The curve levels off here: the factor at the last cut, or below it after repeated cuts
  // (fast convergence). Infinite before the first throttle.
  double w_max_ = std::numeric_limits<double>::infinity();
  double k_ = 0.0;  // periods from the cut until the curve is back at w_max_
  int64_t cut_at_ = INT64_MIN;
};

}  // namespace quotaflow
