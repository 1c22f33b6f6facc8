#pragma once
// Every component that needs the time takes a Clock&: core logic never calls now() itself, so tests
// move a FakeClock to the nanosecond instead of sleeping.

#include <atomic>
#include <chrono>

namespace quotaflow {

using Duration = std::chrono::nanoseconds;
using SteadyTime = std::chrono::time_point<std::chrono::steady_clock, Duration>;
using WallTime = std::chrono::time_point<std::chrono::system_clock, Duration>;

// Thread safety: implementations are safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time: buckets, deadlines, timers.
  virtual SteadyTime Now() const = 0;
  // Calendar time: SigV4 dates, logs, CloudWatch timestamps. Never for measuring intervals.
  virtual WallTime WallNow() const = 0;
};

// The process's real clocks (std::chrono::steady_clock and system_clock).
Clock& SystemClock();

// A clock that moves only when told. Both times advance together.
// Thread safety: safe from any thread; Advance is atomic with respect to Now.
class FakeClock final : public Clock {
 public:
  // Starts one hour past the steady epoch, so that `Now() - some_duration` stays positive, and at
  // 2025-01-01T00:00:00Z wall time.
  FakeClock();

  SteadyTime Now() const override {
    return SteadyTime(Duration(steady_ns_.load(std::memory_order_acquire)));
  }
  WallTime WallNow() const override;

  void Advance(Duration d) { steady_ns_.fetch_add(d.count(), std::memory_order_acq_rel); }
  // REQUIRES: t >= Now() (time never goes backwards).
  void AdvanceTo(SteadyTime t);

 private:
  std::atomic<int64_t> steady_ns_;
  int64_t wall_offset_ns_;  // wall = steady + offset
};

// Seconds as a double, for reports and rates.
inline double ToSeconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace quotaflow
