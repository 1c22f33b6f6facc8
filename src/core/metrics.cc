#include "quotaflow/metrics.h"

#include <algorithm>

namespace quotaflow {

MetricsSnapshot Snapshot(const Limiter& limiter, const Scheduler& scheduler) {
  MetricsSnapshot s;
  s.limiter = limiter.Stats();
  s.scheduler = scheduler.Stats();
  s.queue = scheduler.Status();
  if (s.limiter.grants > 0) {
    s.throttles_per_1000 = 1000.0 * static_cast<double>(s.limiter.server_throttles) /
                           static_cast<double>(s.limiter.grants);
  }
  auto most = std::max_element(s.limiter.blocked_by.begin(), s.limiter.blocked_by.end());
  if (*most > 0) s.most_blocking = static_cast<Dimension>(most - s.limiter.blocked_by.begin());
  return s;
}

}  // namespace quotaflow
