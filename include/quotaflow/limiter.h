#pragma once
// The multi-dimensional limiter: reserves and settles exactly as Bedrock charges a request.
//
// Bedrock meters each account × region × model in tokens per minute (TPM), optionally requests per
// minute (RPM) and tokens per day (TPD). At request start it reserves `input + max_tokens`; at the
// end it settles to `input + cache_write + output × burndown`; a throttled request costs nothing.
// A Limiter keeps the same books on the client, so its picture of the server's bucket matches and
// it never has to learn the quota from 429s.
//
// The math is pure and synchronous: a reservation is granted now, or the Decision says the earliest
// time T at which it would be, or that it never can be. Timers live in the I/O layer.

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "quotaflow/adaptive.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow {

// Exact bucket arithmetic needs time × rate, beyond 64 bits; __extension__ keeps -Wpedantic quiet.
__extension__ typedef __int128 Int128;

enum class Dimension : uint8_t {
  kRequests = 0,     // requests per period (RPM)
  kTokens = 1,       // tokens per period (TPM)
  kDailyTokens = 2,  // tokens per day (TPD): a day is 1440 periods
  kConcurrency = 3,  // requests in flight
  kNone = 4,
};
inline constexpr int kDimensionCount = 4;
// "rpm", "tpm", "tpd", "concurrency", "none".
std::string_view DimensionName(Dimension d);

// What one request costs on each dimension.
struct Cost {
  int64_t requests = 1;
  int64_t tokens = 0;  // input estimate + max_tokens (the model maximum when max_tokens is absent)
  int64_t slots = 1;
};

struct LimiterConfig {
  // Each limit is optional: 0 means the dimension is not enforced.
  int64_t requests_per_period = 0;
  int64_t tokens_per_period = 0;
  int64_t tokens_per_day = 0;
  int64_t max_concurrency = 0;

  // Bedrock's period is a minute. Shorter periods (e.g. 6 s) let tests and benchmarks run a
  // "minute" of quota in seconds; the day dimension scales with it (1440 periods).
  Duration period = std::chrono::minutes(1);

  // Burst capacity of the RPM and TPM buckets, in periods of quota. The bucket refills continuously
  // at quota/period, so there is no minute-boundary cliff; capacity bounds how much unused quota
  // may be spent at once after an idle spell.
  //
  // Default 1.0, chosen by measurement (bench/capacity_sweep; table and command in the README):
  // Bedrock does not publish how it counts a minute, so the limiter ran against a token bucket, a
  // fixed-minute and a sliding-window server. Without the window guard below, any capacity left
  // 11-25 throttles per 1,000 requests on the window servers, and capacity 1.0 added more after
  // idle spells. With the guard, every capacity from 0.02 to 1.0 stayed at zero throttles on all
  // three, and 1.0 used the most quota: 97.3% on a steady backlog (0.1: 97.0%) and 95.5% with
  // on/off arrivals (0.1: 41.2%), because after an idle minute the whole minute's quota is really
  // there to be spent. Smaller values smooth starts at the cost of quota left unused.
  double burst_periods = 1.0;

  // Level of the RPM/TPM buckets at construction, as a fraction of capacity. Default 0: the server
  // may still be counting an earlier run's usage (e.g. after a crash), so a fresh limiter fills at
  // the quota rate instead of bursting.
  double initial_fill = 0.0;
  // Level of the daily bucket at construction, as a fraction of the day's quota. Default 1: the day
  // is a budget; if an earlier run spent it, the server's tokens-per-day throttle says so.
  double initial_daily_fill = 1.0;

  // Also hold what starts in any trailing period to the quota, counting each request's charge at
  // its start time (its settled charge once it ends), as servers that count a fixed or sliding
  // minute do. The bucket alone re-spends returned tokens at once; against such a server, whose
  // window still holds them at the original start, that overshoots (bench/capacity_sweep: 12-24
  // throttles per 1,000 requests on a steady backlog). A sequence that fits every trailing period
  // also fits a token bucket holding one period, so the guard is safe against all three ways of
  // counting. Cost: 16 KiB per limiter and a slot update per reserve; it counts in 1/1024-period
  // slots and keeps a slot until all of it has left the window (conservative by ~0.1%).
  bool window_guard = true;
  // The guard holds each charge this much longer than a period: a request reaches the server some
  // time after its grant, and the server's window holds it from its arrival. Without the margin a
  // start granted just as an old charge leaves the client's window can land while that charge is
  // still in the server's (engine_client_test saw ~1 throttle per 100 requests with a 1 s period on
  // a sliding-window server). Costs margin / (period + margin) of the quota when the guard binds
  // (0.03% at Bedrock's minute, 2% at a 1 s test period), until a settlement dates the request
  // better (counted_margin below).
  Duration window_margin = std::chrono::milliseconds(20);
  // A settled request whose response says how long the server worked on it (Bedrock's invocation
  // latency) was counted no later than its settlement less that latency, however late it reached
  // the server. The guard then holds it from that time, with this margin (for the latency's
  // millisecond rounding) in place of window_margin: at a 2 s period that gives back most of the
  // 1% the margin costs, and a request that reached the server late (a queue in the transport, a
  // retried 5xx) is held until the server forgets it.
  Duration counted_margin = std::chrono::milliseconds(1);

  AdaptiveConfig adaptive;
};

// Checks a config: negative limits, a zero period, out-of-range fractions.
Status Validate(const LimiterConfig& config);

enum class Outcome : uint8_t {
  kGranted,     // reserved now
  kWait,        // not now; `earliest` says when (SteadyTime::max() when waiting for a free slot)
  kImpossible,  // the quota can never admit this cost
};

struct Decision {
  Outcome outcome = Outcome::kImpossible;
  SteadyTime earliest{};
  Dimension blocking = Dimension::kNone;  // the dimension that decided a wait or an impossibility
  // What remains on each dimension after the decision: tokens or requests in the bucket (negative
  // while the limiter carries debt), free slots. INT64_MAX for a dimension that is not enforced.
  std::array<int64_t, kDimensionCount> remaining{};

  bool granted() const { return outcome == Outcome::kGranted; }
  // E.g. "tpm: wait 1.250 s" or "concurrency: wait for a free slot", for errors and logs.
  std::string Describe(SteadyTime now) const;
};

class Limiter;

// A granted reservation. Exactly one of Settle or Refund ends it; a reservation destroyed while
// still active is refunded (RAII), so a lost request can never leak quota or a slot.
// Thread safety: a Reservation is owned by one thread at a time; the limiter it points into is
// thread-safe. REQUIRES: the Limiter outlives its reservations.
class Reservation {
 public:
  Reservation() = default;
  Reservation(Reservation&& other) noexcept;
  Reservation& operator=(Reservation&& other) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation();

  // The request completed; `actual_tokens` = input + cache_write + output × burndown. Charges or
  // refunds the difference from the reservation (a settle may exceed it when burndown is 5: the
  // excess becomes debt that delays later grants) and frees the slot. `server_latency`, when the
  // response reported it, dates the server's count of the request (LimiterConfig::counted_margin).
  void Settle(int64_t actual_tokens, std::optional<Duration> server_latency = std::nullopt);
  // The request consumed nothing (throttled, or never sent): everything is returned.
  void Refund();

  bool active() const { return limiter_ != nullptr; }
  const Cost& cost() const { return cost_; }
  SteadyTime granted_at() const { return granted_at_; }
  Limiter* limiter() const { return limiter_; }

 private:
  friend class Limiter;
  Reservation(Limiter* limiter, const Cost& cost, SteadyTime granted_at, int64_t window_slot)
      : limiter_(limiter), cost_(cost), granted_at_(granted_at), window_slot_(window_slot) {}

  Limiter* limiter_ = nullptr;
  Cost cost_;
  SteadyTime granted_at_{};
  int64_t window_slot_ = 0;  // the start's slot in the limiter's window
};

struct ReserveResult {
  Decision decision;
  Reservation reservation;  // active() iff decision.granted()
};

// Counters since construction, and utilization over the last period.
struct LimiterStats {
  int64_t grants = 0;
  int64_t waits = 0;  // reservations answered "not now"
  int64_t impossible = 0;
  int64_t settles = 0;
  int64_t refunds = 0;
  int64_t settled_tokens = 0;  // sum of actual_tokens passed to Settle
  int64_t server_throttles = 0;
  std::array<int64_t, kDimensionCount> blocked_by{};  // waits per blocking dimension
  // Net quota charged over the last period divided by the configured quota, per dimension (for
  // concurrency: slots in use / max now). 0 for a dimension that is not enforced.
  std::array<double, kDimensionCount> utilization{};
  int64_t in_flight = 0;
  double rate_factor = 1.0;  // the adaptive controller's current cut (1 = full quota)
};

// Thread safety: every public method is safe from many threads. Each takes one short mutex hold
// with no system call when uncontended, and nothing inside the lock blocks or allocates.
class Limiter {
 public:
  // REQUIRES: Validate(config) is ok; `clock` outlives the limiter.
  Limiter(const LimiterConfig& config, const Clock& clock);
  Limiter(const Limiter&) = delete;
  Limiter& operator=(const Limiter&) = delete;

  // Reserves `cost` on every dimension at once, or on none.
  ReserveResult Reserve(const Cost& cost) { return ReserveAt(cost, clock_.Now()); }
  // As Reserve, at a time the caller already read (the scheduler reads the clock once per pass).
  ReserveResult ReserveAt(const Cost& cost, SteadyTime now);
  // What Reserve would answer now, without reserving.
  Decision Probe(const Cost& cost, SteadyTime now) const;
  // True when reserving `other` now would push back the start of `head`, which could otherwise
  // start at `head_start`. The scheduler asks this before letting a waiter backfill past the head.
  bool WouldDelay(const Cost& head, SteadyTime head_start, const Cost& other, SteadyTime now) const;
  // When `total` (the sum of a queue's costs) would have been admitted, one request after another:
  // `earliest` and the dimension that takes longest. The basis of queue ETAs; ignores concurrency.
  Decision EstimateDrain(const Cost& total, SteadyTime now) const;

  // The server throttled a request that this limiter granted at `request_granted_at`. A rate
  // throttle empties the throttled bucket (the server says it is empty) and cuts the rate once per
  // round of requests; `retry_after` (zero when absent) pauses every grant until then. A
  // tokens-per-day throttle pauses until `retry_after` (the caller decides how long a day lasts).
  // ModelNotReady changes nothing here: it is not a statement about the quota.
  void OnServerThrottle(ThrottleKind kind, SteadyTime request_granted_at, Duration retry_after);

  // Holds every grant until `until` (SteadyTime::max(): until a later call releases it with a
  // time already past): the client's cool-down of a target that keeps failing. Unlike a throttle
  // it says nothing about the quota, and it replaces, rather than extends, the previous hold.
  void HoldUntil(SteadyTime until);

  LimiterStats Stats() const;
  double RateFactor() const;
  const LimiterConfig& config() const { return config_; }
  const Clock& clock() const { return clock_; }

 private:
  friend class Reservation;

  // A continuously refilled bucket in exact integer arithmetic. Without events the level at time t
  // is (t·rate − z) / period_ns, and refill stops at capacity: storing z ("when the bucket was
  // empty", scaled by the rate) instead of a level makes refill free (nothing to update as time
  // passes) and every operation exact, so property tests can hold the limiter to the token.
  //
  // Tokens given back (a refund, a settlement below the reservation) may lift the level above the
  // burst capacity, up to one period of quota — what the server's own bucket holds: the server
  // returned them too, and dropping them at the burst cap would leave quota unused whenever
  // max_tokens is much larger than the output (e.g. max_tokens absent: the model maximum is
  // reserved). Refill adds nothing while the level is above capacity; the surplus stays until
  // spent.
  struct Bucket {
    int64_t quota = 0;     // configured tokens (or requests) per period; 0 = not enforced
    int64_t rate = 0;      // effective rate = quota × adaptive factor
    int64_t capacity = 0;  // burst
    int64_t period_ns = 0;
    Int128 z = 0;
    int64_t t_last = 0;  // time of the last change

    bool enforced() const { return quota > 0; }
    Int128 Uncapped(int64_t t) const { return static_cast<Int128>(t) * rate - z; }
    // Where refill stops: capacity, or the level at the last change if that was above it.
    Int128 Cap() const;
    Int128 Scaled(int64_t t) const { return std::min(Uncapped(t), Cap()); }  // level × period_ns
    int64_t Level(int64_t t) const;
    int64_t Need(int64_t cost) const { return cost < capacity ? cost : capacity; }
    int64_t EarliestNs(int64_t t, int64_t cost) const;  // when Level reaches Need(cost)
    void Normalize(int64_t t);                          // folds the refill up to t into z
    void Take(int64_t n, int64_t t);
    // Returns n; the level may rise above capacity up to one period of quota.
    void Give(int64_t n, int64_t t);
    void Empty(int64_t t);  // level := min(level, 0)
    void SetRate(int64_t t, int64_t new_rate, int64_t new_capacity);
  };

  // Charges by start time over the trailing period, for the window guard and utilization. Slot j
  // (absolute index t / slot_ns_) lives at j % kRingSize; the window holds slots
  // [newest − kWindowSlots, newest], a little more than one period.
  static constexpr int64_t kWindowSlots = 1024;
  static constexpr int64_t kRingSize = kWindowSlots + 1;
  struct Window {
    std::array<int64_t, kRingSize> tokens{};
    std::array<int64_t, kRingSize> requests{};
    int64_t newest = 0;
    int64_t sum_tokens = 0;
    int64_t sum_requests = 0;
  };

  // All REQUIRE mu_ held.
  Decision Decide(const Cost& cost, int64_t t) const;
  void UpdateRate(int64_t t);
  void FillRemaining(Decision& d, int64_t t) const;
  void AdvanceWindow(int64_t t);
  void ChargeWindow(int64_t slot, int64_t tokens, int64_t requests, int64_t t);
  // Sum of one dimension's window (0: requests, 1: tokens) as it will be at t >= now, if nothing
  // else starts.
  int64_t WindowSum(int dim, int64_t t) const;
  // When `cost` fits the window under `quota`.
  int64_t WindowEarliest(int dim, int64_t t, int64_t cost, int64_t quota) const;
  // Tokens the window guard keeps free at t for settlements above their reservation (see .cc),
  // when a start of `cost` tokens asks under `quota`.
  int64_t SettleHeadroom(int64_t t, int64_t quota, int64_t cost) const;

  void SettleReservation(const Reservation& r, int64_t actual_tokens,
                         std::optional<Duration> server_latency);
  void RefundReservation(const Reservation& r);

  const LimiterConfig config_;
  const Clock& clock_;

  mutable std::mutex mu_;
  // The buckets are normalized lazily, so const queries work on copies.
  std::array<Bucket, 3> buckets_;  // GUARDED_BY(mu_): RPM, TPM, TPD
  int64_t slots_in_use_ = 0;       // GUARDED_BY(mu_)
  int64_t paused_until_ns_ = 0;    // GUARDED_BY(mu_): no grant before this (retry-after, TPD)
  Dimension paused_by_ = Dimension::kNone;  // GUARDED_BY(mu_)
  int64_t created_ns_ = 0;                  // set once by the constructor
  int64_t held_until_ns_ = 0;               // GUARDED_BY(mu_): HoldUntil
  AdaptiveRate adaptive_;                   // GUARDED_BY(mu_)
  LimiterStats stats_;                      // GUARDED_BY(mu_)
  Window window_;                           // GUARDED_BY(mu_)
  // The largest settlement above its reservation, in the period ending at end_ns and the one
  // before it.
  struct Overrun {
    int64_t end_ns = 0;
    int64_t current = 0;
    int64_t previous = 0;
  } overrun_;  // GUARDED_BY(mu_)
  int64_t slot_ns_ = 0;
};

}  // namespace quotaflow
