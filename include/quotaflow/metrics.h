#pragma once
// One snapshot of the engine's numbers, for progress lines, summaries and dashboards.

#include "quotaflow/limiter.h"
#include "quotaflow/scheduler.h"

namespace quotaflow {

struct MetricsSnapshot {
  LimiterStats limiter;
  SchedulerStats scheduler;
  QueueStatus queue;
  double throttles_per_1000 = 0;               // server throttles per 1,000 granted requests
  Dimension most_blocking = Dimension::kNone;  // the dimension that made requests wait most often
};

MetricsSnapshot Snapshot(const Limiter& limiter, const Scheduler& scheduler);

}  // namespace quotaflow
