#pragma once
// The priority scheduler: waiters queue by priority with deadlines, and each is granted on
// whichever of its candidate limiters admits it first.
//
// Policy, in order:
//  - The head (highest priority; aging ranks a long-waiting low waiter with fresher high ones) is
//    served first. When it cannot start yet it keeps its place: nothing that would push back its
//    start is granted, so a large request is not starved by a stream of small ones.
//  - Others may backfill past a blocked head only where that delays neither the head nor any
//    higher-ranked blocked waiter (e.g. on another region's limiter, or on spare slots).
//  - A waiter whose start would come after its deadline fails now, naming the blocking dimension
//    and the wait, instead of failing later.
//  - A pass grants exactly the waiters that can proceed; the caller wakes just those.
//
// Pure like the limiter: no threads, no timers. Pump() answers "these start now" and "pump again at
// T"; the I/O layer arms the timer, and pumps again when a reservation ends.

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "quotaflow/clock.h"
#include "quotaflow/error.h"
#include "quotaflow/limiter.h"

namespace quotaflow {

// Priorities are plain numbers, higher first; these are the three named classes.
inline constexpr int kPriorityLow = 0;
inline constexpr int kPriorityNormal = 1;
inline constexpr int kPriorityHigh = 2;

// No priority is strict: aging may lift any waiter to the top (SchedulerConfig::strict_from).
inline constexpr int kNoStrictClass = std::numeric_limits<int>::max();

struct SchedulerConfig {
  // A waiter gains one priority level per `aging_step` in the queue, so a lower class is never
  // starved by the ones above it up to `strict_from`: a low waiter queued for one step ranks with a
  // normal one queued now, and ahead of any normal one queued later. Default 30 s: normal work
  // overtakes a low backlog for half a minute, longer than typical request latencies, while a low
  // document waits at most about half a minute more than a normal one would. Zero = strict
  // priority everywhere.
  Duration aging_step = std::chrono::seconds(30);
  // Waiters at this priority or above rank ahead of every waiter below it, however long those have
  // waited: urgent work that arrives behind an hour of queued backlog starts next, not after the
  // part of the backlog aging ranked with it (throughput_bench's `priority`: urgent p99 83× its
  // unloaded latency with aging up to the top, 1.0× with it stopped below). Aging orders the
  // classes below it and each class within. The cost: a flood of urgent work that alone fills the
  // quota holds back everything else, so keep the top class for what is truly urgent.
  // kNoStrictClass lets aging reach the top.
  int strict_from = kPriorityHigh;
  // How many waiters behind a blocked head one pass examines for backfill. Larger finds more
  // backfill on multi-target setups; each costs a limiter probe per pass.
  int backfill_window = 32;
};

using WaiterId = uint64_t;
inline constexpr int kMaxCandidates = 8;

struct WaiterOptions {
  int priority = kPriorityNormal;
  SteadyTime deadline = SteadyTime::max();
  uint64_t tag = 0;  // the caller's handle, handed back with the grant
};

struct Grant {
  WaiterId id = 0;
  uint64_t tag = 0;
  int limiter = 0;  // index of the candidate that admitted it
  int priority = 0;
  Duration waited{};
  Reservation reservation;
};

struct Failure {
  WaiterId id = 0;
  uint64_t tag = 0;
  Error error;
};

struct PumpResult {
  std::vector<Grant> granted;
  std::vector<Failure> failed;
  // Pump again then, if nothing else happens first (a reservation ending, a new waiter).
  SteadyTime next_wake = SteadyTime::max();
};

struct ClassStatus {
  int priority = 0;
  int64_t length = 0;
  Duration oldest_wait{};
};

struct QueueStatus {
  std::vector<ClassStatus> classes;  // highest priority first, non-empty classes only
  int64_t total = 0;
  Duration oldest_wait{};
};

// Wait times of granted waiters, per priority: a log₂ histogram in microseconds.
struct WaitHistogram {
  static constexpr int kBuckets = 40;  // bucket k: [2^k, 2^(k+1)) µs; bucket 0 includes 0
  int priority = 0;
  int64_t count = 0;
  Duration total{};
  Duration max{};
  std::array<int64_t, kBuckets> buckets{};
  // Upper bound of the bucket that holds quantile q (0..1).
  Duration Quantile(double q) const;
};

struct SchedulerStats {
  std::vector<WaitHistogram> waits;  // one per priority seen, highest first
  int64_t expired = 0;               // deadline passed while queued
  int64_t rejected = 0;              // failed at admission (impossible, or deadline unmeetable)
  int64_t cancelled = 0;
  int64_t backfilled = 0;  // granted past a blocked head
};

// Thread safety: every public method is safe from many threads; one mutex guards the queue, held
// for a pass but never while calling back (there are no callbacks: results are returned).
// Lock order: scheduler, then limiter.
class Scheduler {
 public:
  // REQUIRES: `clock` outlives the scheduler.
  Scheduler(const SchedulerConfig& config, const Clock& clock);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Registers a limiter waiters may name as a candidate; returns its index. The limiter is
  // borrowed: REQUIRES it outlives the scheduler. At most 255.
  int AddLimiter(Limiter* limiter);

  // Queues a waiter for `cost` on any of `candidates` (limiter indices, in order of preference).
  // Fails now when no candidate could ever admit the cost, or the estimated start is after the
  // deadline. Call Pump() afterwards to grant.
  Result<WaiterId> Enqueue(const Cost& cost, std::span<const int> candidates,
                           const WaiterOptions& options);
  // Puts a waiter back at the head of its class with its first enqueue time: for a request the
  // server throttled after all.
  Result<WaiterId> Requeue(const Cost& cost, std::span<const int> candidates,
                           const WaiterOptions& options, SteadyTime first_enqueued);
  // Gives queued waiters a new cost: `price(tag, cost)` returns each one's, or nothing to keep it,
  // e.g. once the caller's estimate of what they will be charged has improved. Their places in
  // the queue stay. Called under the scheduler's lock: `price` must not call back into the
  // scheduler.
  void Reprice(const std::function<std::optional<Cost>(uint64_t tag, const Cost& cost)>& price);
  // Removes a queued waiter. False if it is no longer queued (granted, failed, or unknown).
  bool Cancel(WaiterId id);

  // Grants whatever can start now, fails what cannot meet its deadline. Clears `out` first (reuse
  // it across passes to avoid allocation).
  void Pump(PumpResult* out);

  QueueStatus Status() const;
  // When a new waiter of this cost and priority would start, given the queue ahead of it: the basis
  // of ETAs. `blocking` names the dimension that takes longest.
  Decision EstimateStart(const Cost& cost, int priority, std::span<const int> candidates) const;
  SchedulerStats Stats() const;
  // Bytes held by the queue's own structures (for the memory-per-waiter benchmark).
  size_t MemoryBytes() const;

 private:
  struct Waiter;
  struct Class;
  struct Blocked;

  Result<WaiterId> Add(const Cost& cost, std::span<const int> candidates,
                       const WaiterOptions& options, int64_t enqueued_ns, bool at_front);
  // All below REQUIRE mu_ held.
  Decision EstimateLocked(const Cost& cost, int priority, std::span<const int> candidates,
                          SteadyTime now) const;
  uint32_t FindHead() const;
  int64_t Key(const Waiter& w) const;
  bool Before(uint32_t a, uint32_t b) const;
  void Unlink(uint32_t index);
  void Release(uint32_t index);
  // Hands the waiter's grant to the caller and takes it off the queue.
  void EmitGrant(uint32_t index, int limiter, Reservation reservation, SteadyTime now,
                 PumpResult* out);
  bool TryGrant(uint32_t index, SteadyTime now, PumpResult* out, Blocked* blocked);
  void Backfill(const Blocked& head, SteadyTime now, PumpResult* out);
  void FailLocked(uint32_t index, Error error, PumpResult* out);
  void RecordWait(int priority, Duration waited);
  WaiterId IdOf(uint32_t index) const;

  const SchedulerConfig config_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::vector<Limiter*> limiters_;                       // GUARDED_BY(mu_)
  std::vector<Waiter> waiters_;                          // GUARDED_BY(mu_): slab
  std::vector<uint32_t> free_;                           // GUARDED_BY(mu_)
  std::vector<Class> classes_;                           // GUARDED_BY(mu_): priority desc
  std::vector<std::pair<int64_t, WaiterId>> deadlines_;  // GUARDED_BY(mu_): min-heap
  int64_t queued_ = 0;                                   // GUARDED_BY(mu_)
  SchedulerStats stats_;                                 // GUARDED_BY(mu_)
};

}  // namespace quotaflow
