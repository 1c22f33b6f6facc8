#include "quotaflow/limiter.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"
#include "fmt/format.h"

namespace quotaflow {
namespace {

constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();
constexpr int64_t kPeriodsPerDay = 1440;
constexpr int kRpm = 0, kTpm = 1, kTpd = 2;

int64_t Ns(SteadyTime t) { return t.time_since_epoch().count(); }
SteadyTime FromNs(int64_t ns) { return SteadyTime(Duration(ns)); }

Int128 FloorDiv(Int128 a, Int128 b) {
  Int128 q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
Int128 CeilDiv(Int128 a, Int128 b) { return -FloorDiv(-a, b); }

int64_t Clamp64(Int128 v) {
  if (v > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (v < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

int64_t BucketCost(const Cost& cost, int bucket) {
  return bucket == kRpm ? cost.requests : cost.tokens;
}

int64_t BurstCapacity(int64_t quota, double periods) {
  return std::max<int64_t>(1, std::llround(static_cast<double>(quota) * periods));
}

}  // namespace

std::string_view DimensionName(Dimension d) {
  switch (d) {
    case Dimension::kRequests:
      return "rpm";
    case Dimension::kTokens:
      return "tpm";
    case Dimension::kDailyTokens:
      return "tpd";
    case Dimension::kConcurrency:
      return "concurrency";
    case Dimension::kNone:
      return "none";
  }
  return "unknown";
}

Status Validate(const LimiterConfig& c) {
  if (c.requests_per_period < 0 || c.tokens_per_period < 0 || c.tokens_per_day < 0 ||
      c.max_concurrency < 0) {
    return tl::unexpected(Error::InvalidArgument("limits must be >= 0 (0 = not enforced)"));
  }
  if (c.period <= Duration::zero()) {
    return tl::unexpected(Error::InvalidArgument("the quota period must be positive"));
  }
  if (c.window_margin < Duration::zero() || c.window_margin > c.period ||
      c.counted_margin < Duration::zero() || c.counted_margin > c.period) {
    return tl::unexpected(
        Error::InvalidArgument("window_margin and counted_margin must be in [0, period]"));
  }
  if (!(c.burst_periods > 0.0 && c.burst_periods <= 1.0)) {
    return tl::unexpected(Error::InvalidArgument(
        fmt::format("burst_periods must be in (0, 1], got {}", c.burst_periods)));
  }
  if (!(c.initial_fill >= 0.0 && c.initial_fill <= 1.0) ||
      !(c.initial_daily_fill >= 0.0 && c.initial_daily_fill <= 1.0)) {
    return tl::unexpected(Error::InvalidArgument("initial fill must be in [0, 1]"));
  }
  const AdaptiveConfig& a = c.adaptive;
  if (!(a.beta > 0.0 && a.beta < 1.0) || !(a.measured_beta > 0.0 && a.measured_beta <= 1.0) ||
      !(a.cubic_c > 0.0) || !(a.min_factor > 0.0 && a.min_factor <= 1.0)) {
    return tl::unexpected(
        Error::InvalidArgument("adaptive: beta must be in (0, 1), measured_beta in (0, 1], cubic_c "
                               "> 0, min_factor in (0, 1]"));
  }
  return {};
}

std::string Decision::Describe(SteadyTime now) const {
  switch (outcome) {
    case Outcome::kGranted:
      return "granted";
    case Outcome::kImpossible:
      return fmt::format("{}: the cost exceeds the quota and can never be admitted",
                         DimensionName(blocking));
    case Outcome::kWait:
      if (earliest == SteadyTime::max()) {
        return fmt::format("{}: wait for a free slot", DimensionName(blocking));
      }
      return fmt::format("{}: wait {:.3f} s", DimensionName(blocking), ToSeconds(earliest - now));
  }
  return "unknown";
}

// --- Bucket ----------------------------------------------------------------------------------

Int128 Limiter::Bucket::Cap() const {
  Int128 cap = static_cast<Int128>(capacity) * period_ns;
  return std::max(cap, Uncapped(t_last));
}

int64_t Limiter::Bucket::Level(int64_t t) const { return Clamp64(FloorDiv(Scaled(t), period_ns)); }

int64_t Limiter::Bucket::EarliestNs(int64_t t, int64_t cost) const {
  Int128 need = static_cast<Int128>(Need(cost)) * period_ns;
  if (Scaled(t) >= need) return t;
  // Below capacity the level is still refilling, so the uncapped line says when it gets there.
  return Clamp64(CeilDiv(z + need, rate));
}

void Limiter::Bucket::Normalize(int64_t t) {
  z = std::max(z, static_cast<Int128>(t) * rate - Cap());
  t_last = t;
}

void Limiter::Bucket::Take(int64_t n, int64_t t) {
  Normalize(t);
  z += static_cast<Int128>(n) * period_ns;
}

void Limiter::Bucket::Give(int64_t n, int64_t t) {
  Normalize(t);
  Int128 limit = std::max({static_cast<Int128>(capacity) * period_ns,
                           static_cast<Int128>(rate) * period_ns, Uncapped(t)});
  z -= static_cast<Int128>(n) * period_ns;
  z = std::max(z, static_cast<Int128>(t) * rate - limit);
}

void Limiter::Bucket::Empty(int64_t t) {
  Normalize(t);
  z = std::max(z, static_cast<Int128>(t) * rate);
}

void Limiter::Bucket::SetRate(int64_t t, int64_t new_rate, int64_t new_capacity) {
  Normalize(t);
  Int128 scaled = Uncapped(t);
  rate = new_rate;
  capacity = new_capacity;
  z = static_cast<Int128>(t) * rate - scaled;
}

// --- Limiter ---------------------------------------------------------------------------------

Limiter::Limiter(const LimiterConfig& config, const Clock& clock)
    : config_(config), clock_(clock), adaptive_(config.adaptive, config.period.count()) {
  QF_CHECK(Validate(config).has_value());
  const int64_t period_ns = config.period.count();
  const int64_t t = Ns(clock.Now());
  auto init = [&](Bucket& b, int64_t quota, int64_t bucket_period_ns, int64_t capacity,
                  double fill) {
    b.quota = quota;
    if (!b.enforced()) return;
    b.rate = quota;
    b.capacity = capacity;
    b.period_ns = bucket_period_ns;
    Int128 level = static_cast<Int128>(std::llround(static_cast<double>(capacity) * fill));
    b.z = static_cast<Int128>(t) * b.rate - level * bucket_period_ns;
    b.t_last = t;
  };
  init(buckets_[kRpm], config.requests_per_period, period_ns,
       BurstCapacity(config.requests_per_period, config.burst_periods), config.initial_fill);
  init(buckets_[kTpm], config.tokens_per_period, period_ns,
       BurstCapacity(config.tokens_per_period, config.burst_periods), config.initial_fill);
  // The day is a budget: its capacity is the whole day's quota.
  init(buckets_[kTpd], config.tokens_per_day, period_ns * kPeriodsPerDay, config.tokens_per_day,
       config.initial_daily_fill);
  slot_ns_ = std::max<int64_t>(1, (period_ns + config.window_margin.count()) / kWindowSlots);
  window_.newest = t / slot_ns_;
  created_ns_ = t;
}

Decision Limiter::Decide(const Cost& cost, int64_t t) const {
  Decision d;
  for (int i = 0; i < 3; ++i) {
    const Bucket& b = buckets_[i];
    if (b.enforced() && BucketCost(cost, i) > b.quota) {
      d.outcome = Outcome::kImpossible;
      d.blocking = static_cast<Dimension>(i);
      return d;
    }
  }
  if (config_.max_concurrency > 0 && cost.slots > config_.max_concurrency) {
    d.outcome = Outcome::kImpossible;
    d.blocking = Dimension::kConcurrency;
    return d;
  }

  int64_t earliest = std::max(t, held_until_ns_);
  Dimension blocking = Dimension::kNone;
  if (paused_until_ns_ > earliest) {
    earliest = paused_until_ns_;
    blocking = paused_by_;
  }
  for (int i = 0; i < 3; ++i) {
    const Bucket& b = buckets_[i];
    int64_t c = BucketCost(cost, i);
    if (!b.enforced() || c <= 0) continue;
    int64_t e = b.EarliestNs(t, c);
    if (config_.window_guard && i != kTpd) {
      const int64_t headroom = i == kTpm ? SettleHeadroom(t, b.rate, c) : 0;
      e = std::max(e, WindowEarliest(i, t, c + headroom, b.rate));
    }
    if (e > earliest) {
      earliest = e;
      blocking = static_cast<Dimension>(i);
    }
  }
  if (config_.max_concurrency > 0 && cost.slots > 0 &&
      slots_in_use_ + cost.slots > config_.max_concurrency) {
    // Only a release frees a slot: there is no time to name.
    earliest = Ns(SteadyTime::max());
    blocking = Dimension::kConcurrency;
  }
  d.outcome = earliest <= t ? Outcome::kGranted : Outcome::kWait;
  d.earliest = FromNs(earliest);
  d.blocking = d.granted() ? Dimension::kNone : blocking;
  return d;
}

void Limiter::FillRemaining(Decision& d, int64_t t) const {
  for (int i = 0; i < 3; ++i) {
    d.remaining[i] = buckets_[i].enforced() ? buckets_[i].Level(t) : kUnlimited;
  }
  d.remaining[3] =
      config_.max_concurrency > 0 ? config_.max_concurrency - slots_in_use_ : kUnlimited;
}

void Limiter::AdvanceWindow(int64_t t) {
  const int64_t s = t / slot_ns_;
  if (s - window_.newest >= kRingSize) {
    window_.tokens.fill(0);
    window_.requests.fill(0);
    window_.sum_tokens = window_.sum_requests = 0;
    window_.newest = s;
    return;
  }
  while (window_.newest < s) {
    // The new newest slot reuses the ring entry of the one leaving the window.
    const int64_t k = ++window_.newest % kRingSize;
    window_.sum_tokens -= window_.tokens[k];
    window_.sum_requests -= window_.requests[k];
    window_.tokens[k] = window_.requests[k] = 0;
  }
}

void Limiter::ChargeWindow(int64_t slot, int64_t tokens, int64_t requests, int64_t t) {
  AdvanceWindow(t);
  if (slot < window_.newest - kWindowSlots) return;  // already left the window
  const int64_t k = slot % kRingSize;
  window_.tokens[k] += tokens;
  window_.requests[k] += requests;
  window_.sum_tokens += tokens;
  window_.sum_requests += requests;
}

int64_t Limiter::WindowSum(int dim, int64_t t) const {
  const auto& slots = dim == kRpm ? window_.requests : window_.tokens;
  int64_t sum = dim == kRpm ? window_.sum_requests : window_.sum_tokens;
  const int64_t s = t / slot_ns_;
  if (s - window_.newest >= kRingSize) return 0;
  for (int64_t j = window_.newest - kWindowSlots; j < s - kWindowSlots; ++j) {
    sum -= slots[j % kRingSize];
  }
  return sum;
}

// With an output burndown above 1 a request can settle for more than it reserved (input +
// 5 × output against input + max_tokens), and a window-counting server books the excess at the
// request's start before this client hears of it: a start granted in between lands on a window the
// server already counts as full (throughput_bench legal-bd5: 1-2 throttles per 1,000 requests on a
// sliding window without this, none with it). So the guard keeps the largest such excess of this
// period and the last free; nothing where requests never settle above their reservation.
int64_t Limiter::SettleHeadroom(int64_t t, int64_t quota, int64_t cost) const {
  int64_t overrun = 0;
  if (t < overrun_.end_ns) {
    overrun = std::max(overrun_.current, overrun_.previous);
  } else if (t < overrun_.end_ns + config_.period.count()) {
    overrun = overrun_.current;
  }
  // Never more than leaves room for `cost` in an empty window: a request as large as the quota
  // still starts once the window is empty.
  return std::max<int64_t>(0, std::min(overrun, quota - cost));
}

int64_t Limiter::WindowEarliest(int dim, int64_t t, int64_t cost, int64_t quota) const {
  const auto& slots = dim == kRpm ? window_.requests : window_.tokens;
  int64_t sum = WindowSum(dim, t);
  if (sum + cost <= quota) return t;
  const int64_t s = t / slot_ns_;
  // Slot j leaves the window once the newest slot is j + kRingSize.
  for (int64_t j = std::max(window_.newest, s) - kWindowSlots; j <= window_.newest; ++j) {
    sum -= slots[j % kRingSize];
    if (sum + cost <= quota) return (j + kRingSize) * slot_ns_;
  }
  return (window_.newest + kRingSize) * slot_ns_;
}

void Limiter::UpdateRate(int64_t t) {
  if (!adaptive_.recovering()) return;
  double f = adaptive_.Update(t);
  for (int i : {kRpm, kTpm}) {
    Bucket& b = buckets_[i];
    if (!b.enforced()) continue;
    int64_t rate = std::max<int64_t>(1, std::llround(static_cast<double>(b.quota) * f));
    int64_t capacity = BurstCapacity(b.quota, config_.burst_periods * f);
    if (rate != b.rate || capacity != b.capacity) b.SetRate(t, rate, capacity);
  }
}

ReserveResult Limiter::ReserveAt(const Cost& cost, SteadyTime now) {
  const int64_t t = Ns(now);
  ReserveResult r;
  std::lock_guard lock(mu_);
  UpdateRate(t);
  r.decision = Decide(cost, t);
  switch (r.decision.outcome) {
    case Outcome::kGranted:
      for (int i = 0; i < 3; ++i) {
        int64_t c = BucketCost(cost, i);
        if (buckets_[i].enforced() && c != 0) buckets_[i].Take(c, t);
      }
      slots_in_use_ += cost.slots;
      ChargeWindow(t / slot_ns_, cost.tokens, cost.requests, t);
      ++stats_.grants;
      r.reservation = Reservation(this, cost, now, t / slot_ns_);
      break;
    case Outcome::kWait:
      ++stats_.waits;
      ++stats_.blocked_by[static_cast<int>(r.decision.blocking)];
      break;
    case Outcome::kImpossible:
      ++stats_.impossible;
      break;
  }
  FillRemaining(r.decision, t);
  return r;
}

Decision Limiter::Probe(const Cost& cost, SteadyTime now) const {
  const int64_t t = Ns(now);
  std::lock_guard lock(mu_);
  Decision d = Decide(cost, t);
  FillRemaining(d, t);
  return d;
}

bool Limiter::WouldDelay(const Cost& head, SteadyTime head_start, const Cost& other,
                         SteadyTime now) const {
  const int64_t t = Ns(now);
  // Waiting for a slot has no known start: count none of the refill as available.
  const int64_t horizon =
      head_start == SteadyTime::max() ? 0 : std::max<int64_t>(0, Ns(head_start) - t);
  std::lock_guard lock(mu_);
  for (int i = 0; i < 3; ++i) {
    const Bucket& b = buckets_[i];
    int64_t h = BucketCost(head, i), o = BucketCost(other, i);
    if (!b.enforced() || h <= 0 || o <= 0) continue;
    Int128 level = b.Scaled(t);
    Int128 at_head =
        level - static_cast<Int128>(o) * b.period_ns + static_cast<Int128>(b.rate) * horizon;
    if (at_head < static_cast<Int128>(b.Need(h)) * b.period_ns) return true;
    if (config_.window_guard && i != kTpd) {
      // `other` starts now, so it is still in the window when the head starts (unless that is a
      // period away).
      const int64_t at = head_start == SteadyTime::max() ? t : Ns(head_start);
      const bool still_counted = at / slot_ns_ - t / slot_ns_ < kRingSize;
      const int64_t headroom = i == kTpm ? SettleHeadroom(at, b.rate, h) : 0;
      if (WindowSum(i, at) + (still_counted ? o : 0) + h + headroom > b.rate) return true;
    }
  }
  if (config_.max_concurrency > 0 && head.slots > 0 && other.slots > 0 &&
      config_.max_concurrency - slots_in_use_ - other.slots < head.slots) {
    return true;
  }
  return false;
}

Decision Limiter::EstimateDrain(const Cost& total, SteadyTime now) const {
  const int64_t t = Ns(now);
  std::lock_guard lock(mu_);
  Decision d;
  int64_t earliest = std::max(t, held_until_ns_);
  if (paused_until_ns_ > earliest) {
    earliest = paused_until_ns_;
    d.blocking = paused_by_;
  }
  for (int i = 0; i < 3; ++i) {
    const Bucket& b = buckets_[i];
    int64_t c = BucketCost(total, i);
    if (!b.enforced() || c <= 0) continue;
    Int128 level = b.Scaled(t);
    Int128 need = static_cast<Int128>(c) * b.period_ns;
    int64_t e = level >= need ? t : Clamp64(t + CeilDiv(need - level, b.rate));
    if (config_.window_guard && i != kTpd) {
      e = std::max(e, WindowEarliest(i, t, std::min(c, b.rate), b.rate));
    }
    if (e > earliest) {
      earliest = e;
      d.blocking = static_cast<Dimension>(i);
    }
  }
  d.outcome = earliest <= t ? Outcome::kGranted : Outcome::kWait;
  d.earliest = FromNs(earliest);
  FillRemaining(d, t);
  return d;
}

void Limiter::HoldUntil(SteadyTime until) {
  std::lock_guard lock(mu_);
  held_until_ns_ = Ns(until);
}

void Limiter::OnServerThrottle(ThrottleKind kind, SteadyTime request_granted_at,
                               Duration retry_after) {
  const int64_t t = Ns(clock_.Now());
  std::lock_guard lock(mu_);
  ++stats_.server_throttles;
  auto empty = [&](int i) {
    if (buckets_[i].enforced()) buckets_[i].Empty(t);
  };
  auto pause = [&](Duration d, Dimension by) {
    int64_t until = t + d.count();
    if (until > paused_until_ns_) {
      paused_until_ns_ = until;
      paused_by_ = by;
    }
  };
  switch (kind) {
    case ThrottleKind::kTokensPerMinute:
    case ThrottleKind::kRequestsPerMinute: {
      const int dim = kind == ThrottleKind::kTokensPerMinute ? kTpm : kRpm;
      empty(dim);
      // What this client's own charges held of the server's period when it said "full". Known once
      // the window has seen a whole period of this limiter's starts.
      double held_share = std::numeric_limits<double>::infinity();
      if (config_.window_guard && buckets_[dim].enforced() &&
          t - created_ns_ >= config_.period.count()) {
        held_share =
            static_cast<double>(WindowSum(dim, t)) / static_cast<double>(buckets_[dim].quota);
      }
      if (adaptive_.OnThrottle(t, Ns(request_granted_at), held_share)) {
        UpdateRate(t);
      }
      Dimension by =
          kind == ThrottleKind::kTokensPerMinute ? Dimension::kTokens : Dimension::kRequests;
      if (retry_after > Duration::zero()) pause(retry_after, by);
      // A limiter younger than a period that holds less than half the server's full window met
      // starts from before it (the run before, or this application before a restart), not its own
      // rate: a window server forgets those by one period after this limiter began, and until then
      // every retry would only be throttled again. (Holding most of the window, its own rate is
      // the cause, and the cut alone answers it.)
      const int64_t memory_ends =
          created_ns_ + config_.period.count() + config_.window_margin.count();
      if (config_.window_guard && buckets_[dim].enforced() && t < memory_ends &&
          2 * WindowSum(dim, t) < buckets_[dim].quota) {
        pause(Duration(memory_ends - t), by);
      }
      break;
    }
    case ThrottleKind::kTokensPerDay:
      empty(kTpd);
      pause(retry_after > Duration::zero() ? retry_after : config_.period, Dimension::kDailyTokens);
      break;
    case ThrottleKind::kModelNotReady:
    case ThrottleKind::kNone:
      break;
  }
}

void Limiter::SettleReservation(const Reservation& r, int64_t actual_tokens,
                                std::optional<Duration> server_latency) {
  const int64_t t = Ns(clock_.Now());
  // The server counted the request by t − latency (a latency longer than the round trip is not
  // believed). The window holds each slot for period + window_margin, so the charge moves to the
  // slot that leaves the window counted_margin after the server's period.
  int64_t slot = r.window_slot_;
  if (server_latency && t - server_latency->count() >= Ns(r.granted_at_)) {
    const int64_t counted_by = t - server_latency->count();
    const int64_t held_from =
        counted_by + config_.counted_margin.count() - config_.window_margin.count();
    slot = std::clamp<int64_t>(held_from, 0, t) / slot_ns_;
  }
  std::lock_guard lock(mu_);
  const int64_t diff = actual_tokens - r.cost_.tokens;
  for (int i : {kTpm, kTpd}) {
    Bucket& b = buckets_[i];
    if (!b.enforced() || diff == 0) continue;
    if (diff > 0) {
      b.Take(diff, t);
    } else {
      b.Give(-diff, t);
    }
  }
  if (slot == r.window_slot_) {
    ChargeWindow(slot, diff, 0, t);
  } else {
    ChargeWindow(r.window_slot_, -r.cost_.tokens, -r.cost_.requests, t);
    ChargeWindow(slot, actual_tokens, r.cost_.requests, t);
  }
  if (diff > 0) {
    const int64_t period_ns = config_.period.count();
    if (t >= overrun_.end_ns) {  // a new period: the current one becomes the last
      overrun_.previous = t < overrun_.end_ns + period_ns ? overrun_.current : 0;
      overrun_.current = 0;
      overrun_.end_ns = (t / period_ns + 1) * period_ns;
    }
    overrun_.current = std::max(overrun_.current, diff);
  }
  slots_in_use_ -= r.cost_.slots;
  QF_CHECK(slots_in_use_ >= 0);
  ++stats_.settles;
  stats_.settled_tokens += actual_tokens;
}

void Limiter::RefundReservation(const Reservation& r) {
  const int64_t t = Ns(clock_.Now());
  std::lock_guard lock(mu_);
  for (int i = 0; i < 3; ++i) {
    int64_t c = BucketCost(r.cost_, i);
    if (buckets_[i].enforced() && c != 0) buckets_[i].Give(c, t);
  }
  ChargeWindow(r.window_slot_, -r.cost_.tokens, -r.cost_.requests, t);
  slots_in_use_ -= r.cost_.slots;
  QF_CHECK(slots_in_use_ >= 0);
  ++stats_.refunds;
}

LimiterStats Limiter::Stats() const {
  const int64_t t = Ns(clock_.Now());
  std::lock_guard lock(mu_);
  LimiterStats s = stats_;
  s.in_flight = slots_in_use_;
  s.rate_factor = adaptive_.Factor(t);
  // Start-attributed charges over the trailing period, as the server's own books have them.
  for (int i : {kRpm, kTpm}) {
    if (!buckets_[i].enforced()) continue;
    s.utilization[i] =
        static_cast<double>(WindowSum(i, t)) / static_cast<double>(buckets_[i].quota);
  }
  if (buckets_[kTpd].enforced()) {
    const Bucket& b = buckets_[kTpd];
    s.utilization[kTpd] = 1.0 - static_cast<double>(b.Level(t)) / static_cast<double>(b.capacity);
  }
  if (config_.max_concurrency > 0) {
    s.utilization[3] =
        static_cast<double>(slots_in_use_) / static_cast<double>(config_.max_concurrency);
  }
  return s;
}

double Limiter::RateFactor() const {
  const int64_t t = Ns(clock_.Now());
  std::lock_guard lock(mu_);
  return adaptive_.Factor(t);
}

// --- Reservation -----------------------------------------------------------------------------

Reservation::Reservation(Reservation&& other) noexcept
    : limiter_(std::exchange(other.limiter_, nullptr)),
      cost_(other.cost_),
      granted_at_(other.granted_at_),
      window_slot_(other.window_slot_) {}

Reservation& Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    if (active()) Refund();
    limiter_ = std::exchange(other.limiter_, nullptr);
    cost_ = other.cost_;
    granted_at_ = other.granted_at_;
    window_slot_ = other.window_slot_;
  }
  return *this;
}

Reservation::~Reservation() {
  if (active()) Refund();
}

void Reservation::Settle(int64_t actual_tokens, std::optional<Duration> server_latency) {
  QF_CHECK(active());
  std::exchange(limiter_, nullptr)->SettleReservation(*this, actual_tokens, server_latency);
}

void Reservation::Refund() {
  QF_CHECK(active());
  std::exchange(limiter_, nullptr)->RefundReservation(*this);
}

}  // namespace quotaflow
