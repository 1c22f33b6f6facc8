#include "quotaflow/scheduler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "core/check.h"
#include "fmt/format.h"

namespace quotaflow {
namespace {

constexpr uint32_t kNil = std::numeric_limits<uint32_t>::max();
constexpr size_t kMaxClasses = 64;  // distinct priorities; each pass scans every class head

int64_t Ns(SteadyTime t) { return t.time_since_epoch().count(); }

}  // namespace

// A queued request: 80 bytes, kept in a slab and linked into its class's FIFO by index.
struct Scheduler::Waiter {
  Cost cost;
  int64_t enqueued_ns = 0;
  int64_t deadline_ns = 0;
  uint64_t tag = 0;
  uint32_t prev = kNil;
  uint32_t next = kNil;
  uint32_t generation = 0;  // bumped on release, so a stale WaiterId never matches
  int32_t priority = 0;
  uint16_t cls = 0;
  uint8_t ncand = 0;
  bool live = false;
  std::array<uint8_t, kMaxCandidates> cand{};
};

struct Scheduler::Class {
  int priority = 0;
  uint32_t head = kNil;
  uint32_t tail = kNil;
  int64_t length = 0;
  Cost queued{0, 0, 0};  // the sum of its waiters' costs, for start estimates
};

// A waiter that cannot start yet, and when it could.
struct Scheduler::Blocked {
  uint32_t index = kNil;
  SteadyTime start = SteadyTime::max();
  Dimension blocking = Dimension::kNone;
  bool impossible = true;
};

Duration WaitHistogram::Quantile(double q) const {
  if (count == 0) return Duration::zero();
  int64_t target = std::max<int64_t>(1, std::llround(q * static_cast<double>(count)));
  int64_t seen = 0;
  for (int k = 0; k < kBuckets; ++k) {
    seen += buckets[k];
    if (seen >= target) return std::chrono::microseconds(int64_t{1} << (k + 1));
  }
  return max;
}

Scheduler::Scheduler(const SchedulerConfig& config, const Clock& clock)
    : config_(config), clock_(clock) {}

Scheduler::~Scheduler() = default;

int Scheduler::AddLimiter(Limiter* limiter) {
  std::lock_guard lock(mu_);
  QF_CHECK(limiter != nullptr && limiters_.size() < 255);
  limiters_.push_back(limiter);
  return static_cast<int>(limiters_.size() - 1);
}

WaiterId Scheduler::IdOf(uint32_t index) const {
  return (static_cast<uint64_t>(waiters_[index].generation) << 32) | index;
}

int64_t Scheduler::Key(const Waiter& w) const {
  // Linear aging makes rank time-independent: effective priority p + (now − e)/step orders
  // waiters exactly as e − p·step does, so no re-sorting as time passes.
  return w.enqueued_ns - static_cast<int64_t>(w.priority) * config_.aging_step.count();
}

bool Scheduler::Before(uint32_t a, uint32_t b) const {
  const Waiter& wa = waiters_[a];
  const Waiter& wb = waiters_[b];
  const bool a_strict = wa.priority >= config_.strict_from;
  const bool b_strict = wb.priority >= config_.strict_from;
  if (a_strict != b_strict) return a_strict;
  if (config_.aging_step > Duration::zero()) {
    int64_t ka = Key(wa), kb = Key(wb);
    if (ka != kb) return ka < kb;
    return wa.enqueued_ns < wb.enqueued_ns;  // equal rank: the one that waited longer
  }
  if (wa.priority != wb.priority) return wa.priority > wb.priority;
  return wa.enqueued_ns < wb.enqueued_ns;
}

uint32_t Scheduler::FindHead() const {
  uint32_t best = kNil;
  for (const Class& c : classes_) {
    if (c.head != kNil && (best == kNil || Before(c.head, best))) best = c.head;
  }
  return best;
}

Result<WaiterId> Scheduler::Enqueue(const Cost& cost, std::span<const int> candidates,
                                    const WaiterOptions& options) {
  return Add(cost, candidates, options, Ns(clock_.Now()), /*at_front=*/false);
}

Result<WaiterId> Scheduler::Requeue(const Cost& cost, std::span<const int> candidates,
                                    const WaiterOptions& options, SteadyTime first_enqueued) {
  return Add(cost, candidates, options, Ns(first_enqueued), /*at_front=*/true);
}

Result<WaiterId> Scheduler::Add(const Cost& cost, std::span<const int> candidates,
                                const WaiterOptions& options, int64_t enqueued_ns, bool at_front) {
  if (candidates.empty() || candidates.size() > kMaxCandidates) {
    return tl::unexpected(Error::InvalidArgument(fmt::format(
        "a waiter needs 1 to {} candidate limiters, got {}", kMaxCandidates, candidates.size())));
  }
  if (cost.requests < 0 || cost.tokens < 0 || cost.slots < 0) {
    return tl::unexpected(Error::InvalidArgument("a cost cannot be negative"));
  }
  std::lock_guard lock(mu_);
  for (int c : candidates) {
    if (c < 0 || c >= static_cast<int>(limiters_.size())) {
      return tl::unexpected(Error::InvalidArgument(fmt::format("no limiter with index {}", c)));
    }
  }
  const SteadyTime now = clock_.Now();
  Decision possible;
  for (int c : candidates) {
    possible = limiters_[c]->Probe(cost, now);
    if (possible.outcome != Outcome::kImpossible) break;
  }
  if (possible.outcome == Outcome::kImpossible) {
    ++stats_.rejected;
    return tl::unexpected(Error::Impossible(fmt::format(
        "a request of {} tokens can never be admitted ({}): the server would reject it on every "
        "candidate; lower max_tokens or split the input",
        cost.tokens, possible.Describe(now))));
  }
  if (options.deadline != SteadyTime::max()) {
    Decision start = EstimateLocked(cost, options.priority, candidates, now);
    if (start.earliest > options.deadline) {
      ++stats_.rejected;
      return tl::unexpected(Error::DeadlineExceeded(
          fmt::format("cannot start before the deadline (in {:.3f} s): {}",
                      ToSeconds(options.deadline - now), start.Describe(now))));
    }
  }

  auto cls = std::find_if(classes_.begin(), classes_.end(),
                          [&](const Class& c) { return c.priority == options.priority; });
  if (cls == classes_.end()) {
    if (classes_.size() >= kMaxClasses) {
      return tl::unexpected(Error::InvalidArgument(
          fmt::format("at most {} distinct priorities may be queued at once", kMaxClasses)));
    }
    classes_.push_back(Class{.priority = options.priority});
    cls = classes_.end() - 1;
  }

  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    QF_CHECK(waiters_.size() < kNil);
    index = static_cast<uint32_t>(waiters_.size());
    waiters_.emplace_back();
  }
  Waiter& w = waiters_[index];
  w.cost = cost;
  w.enqueued_ns = enqueued_ns;
  w.deadline_ns = Ns(options.deadline);
  w.tag = options.tag;
  w.priority = options.priority;
  w.cls = static_cast<uint16_t>(cls - classes_.begin());
  w.ncand = static_cast<uint8_t>(candidates.size());
  for (size_t k = 0; k < candidates.size(); ++k) w.cand[k] = static_cast<uint8_t>(candidates[k]);
  w.live = true;

  Class& c = *cls;
  if (at_front) {
    w.prev = kNil;
    w.next = c.head;
    if (c.head != kNil) waiters_[c.head].prev = index;
    c.head = index;
    if (c.tail == kNil) c.tail = index;
  } else {
    w.next = kNil;
    w.prev = c.tail;
    if (c.tail != kNil) waiters_[c.tail].next = index;
    c.tail = index;
    if (c.head == kNil) c.head = index;
  }
  ++c.length;
  c.queued.requests += cost.requests;
  c.queued.tokens += cost.tokens;
  c.queued.slots += cost.slots;
  ++queued_;

  const WaiterId id = IdOf(index);
  if (options.deadline != SteadyTime::max()) {
    deadlines_.emplace_back(w.deadline_ns, id);
    std::push_heap(deadlines_.begin(), deadlines_.end(), std::greater<>());
  }
  return id;
}

void Scheduler::Unlink(uint32_t index) {
  Waiter& w = waiters_[index];
  Class& c = classes_[w.cls];
  if (w.prev != kNil)
    waiters_[w.prev].next = w.next;
  else
    c.head = w.next;
  if (w.next != kNil)
    waiters_[w.next].prev = w.prev;
  else
    c.tail = w.prev;
  w.prev = w.next = kNil;
  --c.length;
  c.queued.requests -= w.cost.requests;
  c.queued.tokens -= w.cost.tokens;
  c.queued.slots -= w.cost.slots;
  --queued_;
}

void Scheduler::Release(uint32_t index) {
  Waiter& w = waiters_[index];
  w.live = false;
  ++w.generation;
  free_.push_back(index);
}

void Scheduler::Reprice(
    const std::function<std::optional<Cost>(uint64_t tag, const Cost& cost)>& price) {
  std::lock_guard lock(mu_);
  for (Class& c : classes_) {
    for (uint32_t i = c.head; i != kNil; i = waiters_[i].next) {
      Waiter& w = waiters_[i];
      const std::optional<Cost> next = price(w.tag, w.cost);
      if (!next || next->requests < 0 || next->tokens < 0 || next->slots < 0) continue;
      c.queued.requests += next->requests - w.cost.requests;
      c.queued.tokens += next->tokens - w.cost.tokens;
      c.queued.slots += next->slots - w.cost.slots;
      w.cost = *next;
    }
  }
}

bool Scheduler::Cancel(WaiterId id) {
  std::lock_guard lock(mu_);
  uint32_t index = static_cast<uint32_t>(id);
  if (index >= waiters_.size()) return false;
  Waiter& w = waiters_[index];
  if (!w.live || w.generation != static_cast<uint32_t>(id >> 32)) return false;
  Unlink(index);
  Release(index);
  ++stats_.cancelled;
  return true;
}

void Scheduler::RecordWait(int priority, Duration waited) {
  auto it = std::find_if(stats_.waits.begin(), stats_.waits.end(),
                         [&](const WaitHistogram& h) { return h.priority == priority; });
  if (it == stats_.waits.end()) {
    stats_.waits.push_back(WaitHistogram{.priority = priority});
    it = stats_.waits.end() - 1;
  }
  int64_t us =
      std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(waited).count());
  int k = us == 0 ? 0
                  : std::min(WaitHistogram::kBuckets - 1,
                             static_cast<int>(std::bit_width(static_cast<uint64_t>(us))) - 1);
  ++it->buckets[k];
  ++it->count;
  it->total += waited;
  it->max = std::max(it->max, waited);
}

void Scheduler::EmitGrant(uint32_t index, int limiter, Reservation reservation, SteadyTime now,
                          PumpResult* out) {
  const Waiter& w = waiters_[index];
  const Duration waited = now - SteadyTime(Duration(w.enqueued_ns));
  RecordWait(w.priority, waited);
  out->granted.push_back(Grant{.id = IdOf(index),
                               .tag = w.tag,
                               .limiter = limiter,
                               .priority = w.priority,
                               .waited = waited,
                               .reservation = std::move(reservation)});
  Unlink(index);
  Release(index);
}

bool Scheduler::TryGrant(uint32_t index, SteadyTime now, PumpResult* out, Blocked* blocked) {
  Waiter& w = waiters_[index];
  *blocked = Blocked{.index = index};
  for (int k = 0; k < w.ncand; ++k) {
    int c = w.cand[k];
    ReserveResult r = limiters_[c]->ReserveAt(w.cost, now);
    if (r.decision.granted()) {
      EmitGrant(index, c, std::move(r.reservation), now, out);
      return true;
    }
    if (r.decision.outcome == Outcome::kWait) {
      blocked->impossible = false;
      if (r.decision.earliest < blocked->start || blocked->blocking == Dimension::kNone) {
        blocked->start = std::min(blocked->start, r.decision.earliest);
        blocked->blocking = r.decision.blocking;
      }
    }
  }
  return false;
}

void Scheduler::FailLocked(uint32_t index, Error error, PumpResult* out) {
  out->failed.push_back(
      Failure{.id = IdOf(index), .tag = waiters_[index].tag, .error = std::move(error)});
  Unlink(index);
  Release(index);
}

void Scheduler::Backfill(const Blocked& head, SteadyTime now, PumpResult* out) {
  // Every blocked waiter ranked above the candidate keeps its start: the head and those seen.
  std::vector<Blocked> protect{head};
  std::vector<uint32_t> cursor(classes_.size(), kNil);
  for (size_t k = 0; k < classes_.size(); ++k) cursor[k] = classes_[k].head;
  cursor[waiters_[head.index].cls] = waiters_[head.index].next;

  for (int examined = 0; examined < config_.backfill_window; ++examined) {
    // Next waiter in rank order across the classes.
    int best = -1;
    for (size_t k = 0; k < cursor.size(); ++k) {
      if (cursor[k] != kNil && (best < 0 || Before(cursor[k], cursor[best]))) {
        best = static_cast<int>(k);
      }
    }
    if (best < 0) return;
    const uint32_t index = cursor[best];
    cursor[best] = waiters_[index].next;
    Waiter& w = waiters_[index];

    Blocked blocked{.index = index};
    bool granted = false;
    for (int k = 0; k < w.ncand && !granted; ++k) {
      const int c = w.cand[k];
      bool delays = false;
      for (const Blocked& p : protect) {
        const Waiter& pw = waiters_[p.index];
        bool shares =
            std::find(pw.cand.begin(), pw.cand.begin() + pw.ncand, c) != pw.cand.begin() + pw.ncand;
        if (shares && limiters_[c]->WouldDelay(pw.cost, p.start, w.cost, now)) {
          delays = true;
          break;
        }
      }
      Decision d;
      if (!delays) {
        ReserveResult r = limiters_[c]->ReserveAt(w.cost, now);
        if (r.decision.granted()) {
          EmitGrant(index, c, std::move(r.reservation), now, out);
          ++stats_.backfilled;
          granted = true;
          break;
        }
        d = r.decision;
      } else {
        d = limiters_[c]->Probe(w.cost, now);
      }
      if (d.outcome == Outcome::kWait && d.earliest < blocked.start) {
        blocked.start = d.earliest;
        blocked.blocking = d.blocking;
        blocked.impossible = false;
      }
    }
    if (!granted) protect.push_back(blocked);
  }
}

void Scheduler::Pump(PumpResult* out) {
  out->granted.clear();
  out->failed.clear();
  out->next_wake = SteadyTime::max();
  std::lock_guard lock(mu_);
  const SteadyTime now = clock_.Now();
  const int64_t t = Ns(now);

  // Deadlines that passed while queued. Entries of waiters already gone are skipped lazily.
  auto pop_deadline = [&] {
    std::pop_heap(deadlines_.begin(), deadlines_.end(), std::greater<>());
    WaiterId id = deadlines_.back().second;
    deadlines_.pop_back();
    return id;
  };
  auto alive = [&](WaiterId id) {
    uint32_t index = static_cast<uint32_t>(id);
    return waiters_[index].live && waiters_[index].generation == static_cast<uint32_t>(id >> 32);
  };
  while (!deadlines_.empty() && deadlines_.front().first <= t) {
    WaiterId id = pop_deadline();
    if (!alive(id)) continue;
    uint32_t index = static_cast<uint32_t>(id);
    ++stats_.expired;
    FailLocked(index,
               Error::DeadlineExceeded(
                   fmt::format("deadline passed after {:.3f} s in the queue",
                               ToSeconds(now - SteadyTime(Duration(waiters_[index].enqueued_ns))))),
               out);
  }

  for (;;) {
    uint32_t head = FindHead();
    if (head == kNil) break;
    Blocked b;
    if (TryGrant(head, now, out, &b)) continue;
    const Waiter& w = waiters_[head];
    if (b.impossible) {
      ++stats_.rejected;
      FailLocked(head, Error::Impossible("no candidate limiter can ever admit this cost"), out);
      continue;
    }
    // Waiting for a slot has no known start: only a known one can be judged against a deadline.
    if (b.start != SteadyTime::max() && Ns(b.start) > w.deadline_ns) {
      ++stats_.expired;
      Decision d{.outcome = Outcome::kWait, .earliest = b.start, .blocking = b.blocking};
      FailLocked(head,
                 Error::DeadlineExceeded(fmt::format(
                     "cannot start before its deadline (in {:.3f} s): {}",
                     ToSeconds(SteadyTime(Duration(w.deadline_ns)) - now), d.Describe(now))),
                 out);
      continue;
    }
    Backfill(b, now, out);
    out->next_wake = b.start;
    break;
  }
  while (!deadlines_.empty() && !alive(deadlines_.front().second)) pop_deadline();
  if (!deadlines_.empty()) {
    out->next_wake = std::min(out->next_wake, SteadyTime(Duration(deadlines_.front().first)));
  }
}

Decision Scheduler::EstimateLocked(const Cost& cost, int priority, std::span<const int> candidates,
                                   SteadyTime now) const {
  // Work ranked ahead of a new waiter: everything queued at its priority or above. Spread evenly
  // over the candidates, an estimate for multi-target waiters.
  Cost ahead{0, 0, 0};
  for (const Class& c : classes_) {
    if (c.priority < priority) continue;
    ahead.requests += c.queued.requests;
    ahead.tokens += c.queued.tokens;
  }
  const int64_t n = static_cast<int64_t>(candidates.size());
  Cost total{.requests = ahead.requests / n + cost.requests,
             .tokens = ahead.tokens / n + cost.tokens,
             .slots = 0};
  Decision best;
  best.earliest = SteadyTime::max();
  for (int c : candidates) {
    if (limiters_[c]->Probe(cost, now).outcome == Outcome::kImpossible) continue;
    Decision d = limiters_[c]->EstimateDrain(total, now);
    if (d.earliest < best.earliest) best = d;
  }
  return best;
}

Decision Scheduler::EstimateStart(const Cost& cost, int priority,
                                  std::span<const int> candidates) const {
  std::lock_guard lock(mu_);
  for (int c : candidates) {
    if (c < 0 || c >= static_cast<int>(limiters_.size())) return Decision{};
  }
  return EstimateLocked(cost, priority, candidates, clock_.Now());
}

QueueStatus Scheduler::Status() const {
  std::lock_guard lock(mu_);
  const int64_t t = Ns(clock_.Now());
  QueueStatus s;
  s.total = queued_;
  for (const Class& c : classes_) {
    if (c.length == 0) continue;
    Duration oldest(t - waiters_[c.head].enqueued_ns);
    s.classes.push_back(ClassStatus{c.priority, c.length, oldest});
    s.oldest_wait = std::max(s.oldest_wait, oldest);
  }
  std::sort(s.classes.begin(), s.classes.end(),
            [](const ClassStatus& a, const ClassStatus& b) { return a.priority > b.priority; });
  return s;
}

SchedulerStats Scheduler::Stats() const {
  std::lock_guard lock(mu_);
  SchedulerStats s = stats_;
  std::sort(s.waits.begin(), s.waits.end(),
            [](const WaitHistogram& a, const WaitHistogram& b) { return a.priority > b.priority; });
  return s;
}

size_t Scheduler::MemoryBytes() const {
  std::lock_guard lock(mu_);
  return waiters_.capacity() * sizeof(Waiter) + free_.capacity() * sizeof(uint32_t) +
         deadlines_.capacity() * sizeof(deadlines_[0]) + classes_.capacity() * sizeof(Class);
}

}  // namespace quotaflow
