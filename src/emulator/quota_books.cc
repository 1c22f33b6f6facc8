#include "emulator/quota_books.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "core/check.h"

namespace quotaflow::emulator {
namespace {

// Bucket levels are kept in units of 1/span_ns token, so that a continuous refill of
// `limit` tokens per span is an exact integer (elapsed_ns × limit); that needs more than 64 bits.
// __extension__ keeps -Wpedantic quiet.
__extension__ typedef __int128 Wide;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t FloorDiv(Wide a, int64_t b) {
  Wide q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return static_cast<int64_t>(q);
}

int64_t Nanos(SteadyTime t) { return t.time_since_epoch().count(); }

// One dimension of one key, counted over a span (the period, or the day) in one CountingMode.
// Every admitted request of the key is charged on every meter, enforced or not, in admission
// order, so that ids are consecutive within each meter. Not thread-safe: the key's mutex guards it.
class Meter {
 public:
  virtual ~Meter() = default;
  // Brings the meter to `now` (refill, roll over, expire). REQUIRES: `now` never decreases.
  virtual void Advance(SteadyTime now) = 0;
  // Whether a start of `amount` now stays within the limit. REQUIRES: Advance(now) just ran.
  virtual bool Fits(int64_t amount) const = 0;
  // Charges a start made now. REQUIRES: Advance(start) just ran.
  virtual void Charge(uint64_t id, SteadyTime start, int64_t amount) = 0;
  // Changes the charge of an earlier start by `delta` (settlement: charge - reservation; refund:
  // -reservation). REQUIRES: Advance(now) just ran for the current time.
  virtual void Adjust(uint64_t id, SteadyTime start, int64_t delta) = 0;
  // Moves the limit and keeps what is used. REQUIRES: Advance(now) just ran.
  virtual void SetLimit(int64_t limit) = 0;
  virtual DimensionLevel Level() const = 0;
};

class BucketMeter final : public Meter {
 public:
  BucketMeter(int64_t limit, Duration span, SteadyTime now) : span_ns_(span.count()), last_(now) {
    SetLimit(limit);
  }

  void Advance(SteadyTime now) override {
    if (limit_ > 0 && level_ < Capacity()) {
      level_ = std::min(Capacity(), level_ + Wide{Nanos(now) - Nanos(last_)} * limit_);
    }
    last_ = now;
  }

  bool Fits(int64_t amount) const override {
    return limit_ == 0 || level_ >= Wide{amount} * span_ns_;
  }

  void Charge(uint64_t /*id*/, SteadyTime /*start*/, int64_t amount) override {
    if (limit_ > 0) level_ -= Wide{amount} * span_ns_;
  }

  void Adjust(uint64_t /*id*/, SteadyTime /*start*/, int64_t delta) override {
    if (limit_ == 0) return;
    // Returns are capped at capacity: tokens a request gave back after the bucket refilled are
    // not banked beyond one period. An excess is taken in full and may leave the level negative.
    level_ = std::min(Capacity(), level_ - Wide{delta} * span_ns_);
  }

  void SetLimit(int64_t limit) override {
    if (limit_ == 0) {
      level_ = Wide{limit} * span_ns_;  // newly enforced: nothing used yet
    } else {
      level_ += (Wide{limit} - limit_) * span_ns_;  // used = capacity - level stays
    }
    limit_ = limit;
  }

  DimensionLevel Level() const override {
    if (limit_ == 0) return DimensionLevel{};
    int64_t available = FloorDiv(level_, span_ns_);
    return DimensionLevel{.limit = limit_, .used = limit_ - available, .available = available};
  }

 private:
  Wide Capacity() const { return Wide{limit_} * span_ns_; }

  const int64_t span_ns_;
  int64_t limit_ = 0;
  Wide level_ = 0;  // in 1/span_ns tokens
  SteadyTime last_;
};

// Shared by the window meters: what the counted window sums to, against the limit.
class WindowMeter : public Meter {
 public:
  bool Fits(int64_t amount) const override { return limit_ == 0 || sum_ + amount <= limit_; }
  void SetLimit(int64_t limit) override { limit_ = limit; }
  DimensionLevel Level() const override {
    return DimensionLevel{
        .limit = limit_, .used = sum_, .available = limit_ == 0 ? kUnlimited : limit_ - sum_};
  }

 protected:
  int64_t limit_ = 0;
  int64_t sum_ = 0;
};

// Calendar windows [k·span, (k+1)·span): only the current window's sum is kept; a start's window
// is floor(start / span), so no per-request state is needed.
class FixedWindowMeter final : public WindowMeter {
 public:
  FixedWindowMeter(int64_t limit, Duration span, SteadyTime now)
      : span_ns_(span.count()), window_(FloorDiv(Nanos(now), span_ns_)) {
    SetLimit(limit);
  }

  void Advance(SteadyTime now) override {
    int64_t window = FloorDiv(Nanos(now), span_ns_);
    if (window != window_) {
      window_ = window;
      sum_ = 0;
    }
  }

  void Charge(uint64_t /*id*/, SteadyTime /*start*/, int64_t amount) override { sum_ += amount; }

  void Adjust(uint64_t /*id*/, SteadyTime start, int64_t delta) override {
    // A settlement after its window closed changes a window nobody counts any more.
    if (FloorDiv(Nanos(start), span_ns_) == window_) sum_ += delta;
  }

 private:
  const int64_t span_ns_;
  int64_t window_;
};

// The exact trailing window: one record per start in the last span, expired from the front at
// start + span. Memory is bounded by one span of admitted starts.
class SlidingRecordMeter final : public WindowMeter {
 public:
  SlidingRecordMeter(int64_t limit, Duration span) : span_(span) { SetLimit(limit); }

  void Advance(SteadyTime now) override {
    while (!records_.empty() && records_.front().start + span_ <= now) {
      sum_ -= records_.front().amount;
      records_.pop_front();
    }
  }

  void Charge(uint64_t id, SteadyTime start, int64_t amount) override {
    QF_CHECK(records_.empty() || records_.back().id + 1 == id);
    records_.push_back(Record{.id = id, .start = start, .amount = amount});
    sum_ += amount;
  }

  void Adjust(uint64_t id, SteadyTime /*start*/, int64_t delta) override {
    // Ids are consecutive, so a live record is found by offset; an expired one changes nothing.
    if (records_.empty() || id < records_.front().id) return;
    uint64_t offset = id - records_.front().id;
    QF_CHECK(offset < records_.size() && records_[offset].id == id);
    records_[offset].amount += delta;
    sum_ += delta;
  }

 private:
  struct Record {
    uint64_t id;
    SteadyTime start;
    int64_t amount;  // the reservation until settled, then the charge
  };
  const Duration span_;
  std::deque<Record> records_;
};

// A trailing window of `slot_count` slots of `slot` each, for the day (1440 slots of a period):
// exact to the slot, 8 bytes per slot whatever the traffic. A start in slot q counts until slot
// q + slot_count begins.
class SlidingSlotMeter final : public WindowMeter {
 public:
  SlidingSlotMeter(int64_t limit, Duration slot, int64_t slot_count, SteadyTime now)
      : slot_ns_(slot.count()),
        slots_(static_cast<size_t>(slot_count), 0),
        head_(FloorDiv(Nanos(now), slot_ns_)) {
    SetLimit(limit);
  }

  void Advance(SteadyTime now) override {
    int64_t head = FloorDiv(Nanos(now), slot_ns_);
    if (head <= head_) return;
    const auto count = static_cast<int64_t>(slots_.size());
    if (head - head_ >= count) {
      std::fill(slots_.begin(), slots_.end(), 0);
      sum_ = 0;
    } else {
      // Slots up to head_ - count are already gone; those up to head - count leave now.
      for (int64_t q = head_ - count + 1; q <= head - count; ++q) {
        int64_t& slot = slots_[Index(q)];
        sum_ -= slot;
        slot = 0;
      }
    }
    head_ = head;
  }

  void Charge(uint64_t /*id*/, SteadyTime start, int64_t amount) override {
    slots_[Index(FloorDiv(Nanos(start), slot_ns_))] += amount;
    sum_ += amount;
  }

  void Adjust(uint64_t /*id*/, SteadyTime start, int64_t delta) override {
    int64_t q = FloorDiv(Nanos(start), slot_ns_);
    if (q <= head_ - static_cast<int64_t>(slots_.size())) return;  // already left the window
    slots_[Index(q)] += delta;
    sum_ += delta;
  }

 private:
  size_t Index(int64_t q) const {
    const auto count = static_cast<int64_t>(slots_.size());
    return static_cast<size_t>(((q % count) + count) % count);
  }

  const int64_t slot_ns_;
  std::vector<int64_t> slots_;
  int64_t head_;  // the slot that contains the latest time seen
};

// The meter of one dimension: a period's (`is_day` false) or a day's.
std::unique_ptr<Meter> MakeMeter(CountingMode mode, int64_t limit, Duration period, bool is_day,
                                 SteadyTime now) {
  Duration span = is_day ? period * kPeriodsPerDay : period;
  switch (mode) {
    case CountingMode::kTokenBucket:
      return std::make_unique<BucketMeter>(limit, span, now);
    case CountingMode::kFixedWindow:
      return std::make_unique<FixedWindowMeter>(limit, span, now);
    case CountingMode::kSlidingWindow:
      // A day of records could hold millions; a day of period-sized slots is 11.5 KiB.
      if (is_day) return std::make_unique<SlidingSlotMeter>(limit, period, kPeriodsPerDay, now);
      return std::make_unique<SlidingRecordMeter>(limit, span);
  }
  QF_CHECK(false);
  return nullptr;
}

Status ValidTokens(int64_t tokens, const char* what) {
  if (tokens < 0 || tokens > kMaxTokens) {
    return tl::make_unexpected(Error::InvalidArgument(std::string(what) + " out of range"));
  }
  return {};
}

}  // namespace

// One key's books. Thread safety: every method takes mu_ for its whole (short, non-blocking) run.
class KeyLedger {
 public:
  KeyLedger(std::string key, const KeyQuota& quota, const BooksOptions& options, const Clock& clock)
      : key_(std::move(key)),
        mode_(options.mode),
        clock_(clock),
        quota_(quota),
        last_now_(clock.Now()),
        tokens_(MakeMeter(mode_, quota.tokens_per_period, options.period, false, last_now_)),
        requests_(MakeMeter(mode_, quota.requests_per_period, options.period, false, last_now_)),
        daily_(MakeMeter(mode_, DailyQuota(quota), options.period, true, last_now_)) {}

  void SetQuota(const KeyQuota& quota) {
    std::lock_guard<std::mutex> lock(mu_);
    AdvanceLocked();
    quota_ = quota;
    tokens_->SetLimit(quota.tokens_per_period);
    requests_->SetLimit(quota.requests_per_period);
    daily_->SetLimit(DailyQuota(quota));
  }

  StartResult Start(int64_t tokens) {
    std::lock_guard<std::mutex> lock(mu_);
    SteadyTime now = AdvanceLocked();
    ThrottleReason reason = ThrottleReason::kNone;
    if (!daily_->Fits(tokens)) {
      reason = ThrottleReason::kTokensPerDay;
      ++counters_.throttled_tokens_per_day;
    } else if (!tokens_->Fits(tokens)) {
      reason = ThrottleReason::kTokensPerMinute;
      ++counters_.throttled_tokens_per_minute;
    } else if (!requests_->Fits(1)) {
      reason = ThrottleReason::kRequestsPerMinute;
      ++counters_.throttled_requests_per_minute;
    } else if (quota_.max_concurrency > 0 && in_flight_ >= quota_.max_concurrency) {
      reason = ThrottleReason::kConcurrency;
      ++counters_.throttled_concurrency;
    }
    if (reason != ThrottleReason::kNone) {
      return StartResult{.throttle = reason, .message = ThrottleMessage(reason), .ticket = {}};
    }
    uint64_t id = next_id_++;
    tokens_->Charge(id, now, tokens);
    requests_->Charge(id, now, 1);
    daily_->Charge(id, now, tokens);
    ++in_flight_;
    ++counters_.admitted;
    counters_.reserved_tokens += tokens;
    return StartResult{.throttle = ThrottleReason::kNone,
                       .message = ThrottleMessage(ThrottleReason::kNone),
                       .ticket = Ticket(this, id, now, tokens)};
  }

  void Settle(const Ticket& ticket, int64_t tokens, bool abandoned) {
    std::lock_guard<std::mutex> lock(mu_);
    AdvanceLocked();
    int64_t delta = tokens - ticket.reserved_tokens();
    tokens_->Adjust(ticket.id_, ticket.started_at(), delta);
    daily_->Adjust(ticket.id_, ticket.started_at(), delta);
    EndLocked();
    ++counters_.settled;
    counters_.settled_tokens += tokens;
    if (delta > 0) counters_.excess_tokens += delta;
    if (abandoned) ++counters_.abandoned;
  }

  void Refund(const Ticket& ticket) {
    std::lock_guard<std::mutex> lock(mu_);
    AdvanceLocked();
    tokens_->Adjust(ticket.id_, ticket.started_at(), -ticket.reserved_tokens());
    requests_->Adjust(ticket.id_, ticket.started_at(), -1);
    daily_->Adjust(ticket.id_, ticket.started_at(), -ticket.reserved_tokens());
    EndLocked();
    ++counters_.refunded;
    counters_.refunded_tokens += ticket.reserved_tokens();
  }

  KeySnapshot Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    KeySnapshot s;
    s.at = AdvanceLocked();
    s.key = key_;
    s.quota = quota_;
    s.quota.tokens_per_day = DailyQuota(quota_);
    s.mode = mode_;
    s.tokens = tokens_->Level();
    s.requests = requests_->Level();
    s.daily_tokens = daily_->Level();
    s.in_flight = in_flight_;
    s.counters = counters_;
    return s;
  }

 private:
  // Reads the clock under mu_ and never lets a key's time go backwards, so that meters see
  // starts in time order even when threads read the clock in one order and lock in another.
  SteadyTime AdvanceLocked() {
    last_now_ = std::max(last_now_, clock_.Now());
    tokens_->Advance(last_now_);
    requests_->Advance(last_now_);
    daily_->Advance(last_now_);
    return last_now_;
  }

  void EndLocked() {
    QF_CHECK(in_flight_ > 0);
    --in_flight_;
  }

  const std::string key_;
  const CountingMode mode_;
  const Clock& clock_;
  std::mutex mu_;
  KeyQuota quota_;         // GUARDED_BY(mu_)
  SteadyTime last_now_;    // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;   // GUARDED_BY(mu_)
  int64_t in_flight_ = 0;  // GUARDED_BY(mu_)
  KeyCounters counters_;   // GUARDED_BY(mu_)
  // GUARDED_BY(mu_): the meters of TPM, RPM and TPD.
  std::unique_ptr<Meter> tokens_;
  std::unique_ptr<Meter> requests_;
  std::unique_ptr<Meter> daily_;
};

std::string_view CountingModeName(CountingMode mode) {
  switch (mode) {
    case CountingMode::kTokenBucket:
      return "token_bucket";
    case CountingMode::kFixedWindow:
      return "fixed_window";
    case CountingMode::kSlidingWindow:
      return "sliding_window";
  }
  return "unknown";
}

Result<CountingMode> ParseCountingMode(std::string_view name) {
  for (CountingMode mode :
       {CountingMode::kTokenBucket, CountingMode::kFixedWindow, CountingMode::kSlidingWindow}) {
    if (name == CountingModeName(mode)) return mode;
  }
  return tl::make_unexpected(
      Error::InvalidArgument("unknown counting mode '" + std::string(name) +
                             "' (expected token_bucket, fixed_window or sliding_window)"));
}

Status Validate(const BooksOptions& options) {
  if (options.period <= Duration::zero() || options.period > std::chrono::hours(24)) {
    return tl::make_unexpected(Error::InvalidArgument("quota period must be in (0, 24 h]"));
  }
  return {};
}

Status Validate(const KeyQuota& quota) {
  if (quota.tokens_per_period < 1 || quota.tokens_per_period > kMaxTokens) {
    return tl::make_unexpected(Error::InvalidArgument("tokens per period must be in [1, 2^50]"));
  }
  if (quota.requests_per_period < 0 || quota.requests_per_period > kMaxTokens ||
      quota.max_concurrency < 0 || quota.max_concurrency > kMaxTokens) {
    return tl::make_unexpected(
        Error::InvalidArgument("requests per period and concurrency must be in [0, 2^50]"));
  }
  if (quota.tokens_per_day && (*quota.tokens_per_day < 0 || *quota.tokens_per_day > kMaxTokens)) {
    return tl::make_unexpected(Error::InvalidArgument("tokens per day must be in [0, 2^50]"));
  }
  return {};
}

int64_t DailyQuota(const KeyQuota& quota) {
  return quota.tokens_per_day.value_or(quota.tokens_per_period * kPeriodsPerDay);
}

std::string_view ThrottleReasonName(ThrottleReason reason) {
  switch (reason) {
    case ThrottleReason::kNone:
      return "none";
    case ThrottleReason::kTokensPerDay:
      return "tokens_per_day";
    case ThrottleReason::kTokensPerMinute:
      return "tokens_per_minute";
    case ThrottleReason::kRequestsPerMinute:
      return "requests_per_minute";
    case ThrottleReason::kConcurrency:
      return "concurrency";
  }
  return "unknown";
}

std::string_view ThrottleMessage(ThrottleReason reason) {
  switch (reason) {
    case ThrottleReason::kNone:
      return "";
    case ThrottleReason::kTokensPerDay:
      return "Too many tokens per day, please wait before trying again.";
    case ThrottleReason::kTokensPerMinute:
      return "Too many tokens, please wait before trying again.";
    case ThrottleReason::kRequestsPerMinute:
      // Two spaces before "Wait": Bedrock's own text.
      return "Too many requests, please wait before trying again. You have sent too many "
             "requests.  Wait before trying again.";
    case ThrottleReason::kConcurrency:
      return "Too many connections, please wait before trying again.";
  }
  return "";
}

int ThrottleHttpStatus(ThrottleReason reason) {
  switch (reason) {
    case ThrottleReason::kNone:
      return 0;
    case ThrottleReason::kConcurrency:
      return 503;
    default:
      return 429;
  }
}

std::string_view ThrottleAwsCode(ThrottleReason reason) {
  switch (reason) {
    case ThrottleReason::kNone:
      return "";
    case ThrottleReason::kConcurrency:
      return "ServiceUnavailableException";
    default:
      return "ThrottlingException";
  }
}

Ticket::Ticket(Ticket&& other) noexcept
    : ledger_(std::exchange(other.ledger_, nullptr)),
      id_(other.id_),
      started_at_(other.started_at_),
      reserved_tokens_(other.reserved_tokens_) {}

Ticket& Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    if (active()) ledger_->Settle(*this, reserved_tokens_, /*abandoned=*/true);
    ledger_ = std::exchange(other.ledger_, nullptr);
    id_ = other.id_;
    started_at_ = other.started_at_;
    reserved_tokens_ = other.reserved_tokens_;
  }
  return *this;
}

Ticket::~Ticket() {
  if (active()) ledger_->Settle(*this, reserved_tokens_, /*abandoned=*/true);
}

Status Ticket::Settle(int64_t tokens) {
  QF_CHECK(active());
  if (Status valid = ValidTokens(tokens, "settled tokens"); !valid) return valid;
  std::exchange(ledger_, nullptr)->Settle(*this, tokens, /*abandoned=*/false);
  return {};
}

void Ticket::Refund() {
  QF_CHECK(active());
  std::exchange(ledger_, nullptr)->Refund(*this);
}

QuotaBooks::QuotaBooks(const BooksOptions& options, const Clock& clock)
    : options_(options), clock_(clock) {
  QF_CHECK(Validate(options).has_value());
}

QuotaBooks::~QuotaBooks() = default;

Status QuotaBooks::SetQuota(std::string_view key, const KeyQuota& quota) {
  if (Status valid = Validate(quota); !valid) return valid;
  KeyLedger* ledger = nullptr;
  {
    std::lock_guard<std::mutex> lock(table_mu_);
    auto it = keys_.find(key);
    if (it == keys_.end()) {
      keys_.emplace(std::string(key),
                    std::make_unique<KeyLedger>(std::string(key), quota, options_, clock_));
      return {};
    }
    ledger = it->second.get();
  }
  ledger->SetQuota(quota);  // outside the table lock: keys never wait for one another
  return {};
}

Result<StartResult> QuotaBooks::Start(std::string_view key, int64_t reserve_tokens) {
  if (Status valid = ValidTokens(reserve_tokens, "reserved tokens"); !valid) {
    return tl::make_unexpected(valid.error());
  }
  KeyLedger* ledger = Find(key);
  if (ledger == nullptr) {
    return tl::make_unexpected(Error::NotFound("no quota for '" + std::string(key) + "'"));
  }
  return ledger->Start(reserve_tokens);
}

Result<KeySnapshot> QuotaBooks::Snapshot(std::string_view key) {
  KeyLedger* ledger = Find(key);
  if (ledger == nullptr) {
    return tl::make_unexpected(Error::NotFound("no quota for '" + std::string(key) + "'"));
  }
  return ledger->Snapshot();
}

std::vector<std::string> QuotaBooks::Keys() const {
  std::lock_guard<std::mutex> lock(table_mu_);
  std::vector<std::string> keys;
  keys.reserve(keys_.size());
  for (const auto& [key, ledger] : keys_) keys.push_back(key);
  return keys;
}

KeyLedger* QuotaBooks::Find(std::string_view key) const {
  std::lock_guard<std::mutex> lock(table_mu_);
  auto it = keys_.find(key);
  return it == keys_.end() ? nullptr : it->second.get();
}

}  // namespace quotaflow::emulator
