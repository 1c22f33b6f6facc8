// Many threads on one limiter and one scheduler at once. CI runs these under ThreadSanitizer.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "quotaflow/limiter.h"
#include "quotaflow/scheduler.h"

namespace quotaflow {
namespace {

TEST(LimiterConcurrency, ManyThreadsReserveAndSettleWithoutLosingTokensOrSlots) {
  LimiterConfig c;
  c.tokens_per_period = 1'000'000'000;
  c.burst_periods = 1.0;
  c.initial_fill = 1.0;
  c.max_concurrency = 64;
  Limiter limiter(c, SystemClock());
  constexpr int kThreads = 8, kOps = 5'000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::atomic<int64_t> granted{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < kOps; ++k) {
        ReserveResult r = limiter.Reserve(Cost{.tokens = 10});
        if (!r.decision.granted()) continue;
        granted.fetch_add(1, std::memory_order_relaxed);
        if ((k + i) % 3 == 0) {
          r.reservation.Refund();
        } else {
          r.reservation.Settle(7);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  LimiterStats s = limiter.Stats();
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.grants, granted.load());
  EXPECT_EQ(s.settles + s.refunds, s.grants);
}

// Producers enqueue, pumpers grant, workers settle: every waiter is granted exactly once and the
// limiter's books end balanced.
TEST(SchedulerConcurrency, ProducersPumpersAndSettlersAgree) {
  LimiterConfig c;
  c.tokens_per_period = 50'000'000;
  c.period = std::chrono::seconds(1);
  c.burst_periods = 0.01;
  c.max_concurrency = 32;
  Limiter limiter(c, SystemClock());
  Scheduler scheduler(SchedulerConfig{}, SystemClock());
  scheduler.AddLimiter(&limiter);
  constexpr int kProducers = 4, kPerProducer = 3'000;
  std::atomic<int> produced{0}, granted{0};
  std::vector<std::atomic<int>> seen(static_cast<size_t>(kProducers) * kPerProducer);
  std::atomic<bool> done{false};

  std::vector<std::thread> threads;
  threads.reserve(kProducers + 2);
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int k = 0; k < kPerProducer; ++k) {
        uint64_t tag = static_cast<uint64_t>(p) * kPerProducer + k;
        auto id = scheduler.Enqueue(Cost{.tokens = 100 + k % 50}, std::vector<int>{0},
                                    WaiterOptions{.priority = k % 3, .tag = tag});
        ASSERT_TRUE(id.has_value());
        produced.fetch_add(1);
        if (k % 100 == 99) (void)scheduler.Cancel(*id);  // some are cancelled; may race a grant
      }
    });
  }
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&] {
      PumpResult result;
      while (!done.load()) {
        scheduler.Pump(&result);
        for (Grant& g : result.granted) {
          seen[g.tag].fetch_add(1);
          granted.fetch_add(1);
          g.reservation.Settle(g.reservation.cost().tokens / 2);
        }
        if (result.granted.empty()) std::this_thread::yield();
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) threads[p].join();
  while (scheduler.Status().total > 0) std::this_thread::yield();
  done.store(true);
  for (size_t t = kProducers; t < threads.size(); ++t) threads[t].join();

  SchedulerStats s = scheduler.Stats();
  EXPECT_EQ(granted.load() + s.cancelled, kProducers * kPerProducer);
  for (auto& n : seen) EXPECT_LE(n.load(), 1);
  EXPECT_EQ(limiter.Stats().in_flight, 0);
}

}  // namespace
}  // namespace quotaflow
