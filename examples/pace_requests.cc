// The engine on its own: pace a burst of requests of mixed priority through one model's quota,
// settling each with the usage the "server" reports. Runs on a fake clock, so it prints the
// schedule a 60,000-TPM quota imposes in an instant.
//
//   build/release/examples/pace_requests

#include <cstdio>
#include <vector>

#include "quotaflow/accounting.h"
#include "quotaflow/limiter.h"
#include "quotaflow/scheduler.h"

int main() {
  quotaflow::FakeClock clock;
  quotaflow::LimiterConfig quota;
  quota.tokens_per_period = 60'000;  // TPM
  quota.requests_per_period = 20;    // RPM
  quota.max_concurrency = 4;
  quotaflow::Limiter limiter(quota, clock);
  quotaflow::Scheduler scheduler(quotaflow::SchedulerConfig{}, clock);
  const int model = scheduler.AddLimiter(&limiter);

  // Twelve documents: input estimate, max_tokens 1,000; every third one urgent.
  for (uint64_t doc = 0; doc < 12; ++doc) {
    quotaflow::Cost cost = quotaflow::ReservationCost(2'000 + 500 * static_cast<int64_t>(doc),
                                                      1'000, /*model_max_output=*/4'096);
    int priority = doc % 3 == 0 ? quotaflow::kPriorityHigh : quotaflow::kPriorityNormal;
    auto id = scheduler.Enqueue(cost, std::vector<int>{model},
                                quotaflow::WaiterOptions{.priority = priority, .tag = doc});
    if (!id) {
      std::printf("doc %llu refused: %s\n", static_cast<unsigned long long>(doc),
                  id.error().ToString().c_str());
    }
  }

  const quotaflow::SteadyTime start = clock.Now();
  quotaflow::PumpResult pass;
  while (scheduler.Status().total > 0) {
    scheduler.Pump(&pass);
    for (quotaflow::Grant& g : pass.granted) {
      std::printf("t=%6.2fs  doc %2llu (%s) starts after waiting %.2fs\n",
                  quotaflow::ToSeconds(clock.Now() - start), static_cast<unsigned long long>(g.tag),
                  g.priority == quotaflow::kPriorityHigh ? "high  " : "normal",
                  quotaflow::ToSeconds(g.waited));
      // The response says: input as estimated, 400 tokens out, burndown 1.
      const int64_t input = g.reservation.cost().tokens - 1'000;
      g.reservation.Settle(
          quotaflow::SettledTokens({.input_tokens = input, .output_tokens = 400}, 1));
    }
    if (pass.next_wake == quotaflow::SteadyTime::max()) break;
    clock.AdvanceTo(pass.next_wake);
  }
  quotaflow::LimiterStats stats = limiter.Stats();
  std::printf("%lld requests, %lld tokens settled, TPM utilization over the last minute %.0f%%\n",
              static_cast<long long>(stats.grants), static_cast<long long>(stats.settled_tokens),
              100.0 * stats.utilization[static_cast<int>(quotaflow::Dimension::kTokens)]);
  return 0;
}
