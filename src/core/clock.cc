#include "quotaflow/clock.h"

#include "core/check.h"

namespace quotaflow {
namespace {

class RealClock final : public Clock {
 public:
  SteadyTime Now() const override {
    return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
  }
  WallTime WallNow() const override {
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  }
};

constexpr int64_t kFakeStartNs = 3600LL * 1'000'000'000;
constexpr int64_t kFakeWall2025Ns = 1735689600LL * 1'000'000'000;  // 2025-01-01T00:00:00Z

}  // namespace

Clock& SystemClock() {
  static RealClock clock;
  return clock;
}

FakeClock::FakeClock()
    : steady_ns_(kFakeStartNs), wall_offset_ns_(kFakeWall2025Ns - kFakeStartNs) {}

WallTime FakeClock::WallNow() const {
  return WallTime(Duration(steady_ns_.load(std::memory_order_acquire) + wall_offset_ns_));
}

void FakeClock::AdvanceTo(SteadyTime t) {
  int64_t target = t.time_since_epoch().count();
  int64_t current = steady_ns_.load(std::memory_order_acquire);
  QF_CHECK(target >= current);
  steady_ns_.store(target, std::memory_order_release);
}

}  // namespace quotaflow
