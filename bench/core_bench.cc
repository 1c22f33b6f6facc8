// Limiter and scheduler hot paths. Targets (issue 2): ≤ 150 ns per uncontended reserve+settle;
// ≥ 1,000,000 reserve+settle per second in total at 32 threads on 2 cores; ≥ 1,000,000 grants/s
// through the scheduler on one core; ≤ 256 bytes per queued waiter.
//
//   build/release/bench/core_bench --benchmark_counters_tabular=true

#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "quotaflow/limiter.h"
#include "quotaflow/scheduler.h"

namespace quotaflow {
namespace {

LimiterConfig Unbounded() {
  LimiterConfig c;
  c.requests_per_period = 1'000'000'000'000;
  c.tokens_per_period = 1'000'000'000'000'000;
  c.burst_periods = 1.0;
  c.initial_fill = 1.0;
  c.max_concurrency = 1'000'000;
  return c;
}

// One reservation on every dimension (RPM, TPM, concurrency) settled at once: the cost of one
// request's bookkeeping, with the real clock.
void BM_ReserveSettle(benchmark::State& state) {
  static std::unique_ptr<Limiter> limiter;
  if (state.thread_index() == 0) limiter = std::make_unique<Limiter>(Unbounded(), SystemClock());
  for (auto _ : state) {
    ReserveResult r = limiter->Reserve(Cost{.tokens = 1'500});
    benchmark::DoNotOptimize(r.decision);
    r.reservation.Settle(1'200);
  }
  state.counters["ops/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReserveSettle)->ThreadRange(1, 32)->UseRealTime();
BENCHMARK(BM_ReserveSettle)->Threads(2)->UseRealTime();

// 100,000 waiters queued in three priority classes, then granted by Pump passes on one core.
void BM_SchedulerGrant(benchmark::State& state) {
  const int64_t waiters = state.range(0);
  Limiter limiter(Unbounded(), SystemClock());
  std::vector<int> candidates{0};
  double bytes_per_waiter = 0;
  int64_t grants = 0;
  PumpResult result;
  result.granted.reserve(static_cast<size_t>(waiters));
  for (auto _ : state) {
    state.PauseTiming();
    Scheduler scheduler(SchedulerConfig{}, SystemClock());
    scheduler.AddLimiter(&limiter);
    for (int64_t i = 0; i < waiters; ++i) {
      (void)scheduler.Enqueue(
          Cost{.tokens = 1'000 + i % 500}, candidates,
          WaiterOptions{.priority = static_cast<int>(i % 3), .tag = static_cast<uint64_t>(i)});
    }
    bytes_per_waiter = static_cast<double>(scheduler.MemoryBytes()) / static_cast<double>(waiters);
    state.ResumeTiming();
    scheduler.Pump(&result);
    grants += static_cast<int64_t>(result.granted.size());
    state.PauseTiming();
    for (Grant& g : result.granted) g.reservation.Settle(1'000);
    state.ResumeTiming();
  }
  state.counters["grants/s"] =
      benchmark::Counter(static_cast<double>(grants), benchmark::Counter::kIsRate);
  state.counters["bytes/waiter"] = bytes_per_waiter;
}
BENCHMARK(BM_SchedulerGrant)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace quotaflow

BENCHMARK_MAIN();
