#pragma once
// The emulator's quota books: how Bedrock charges requests against an account's quotas, kept on
// the server side (bedrock-wire.md section 5, ARCHITECTURE.md "How Bedrock charges a request").
//
// At request start a key (account × region × model, or an inference profile) reserves
// `input + max_tokens` and one request; at the end the charge settles to
// `input + cache_write + output × burndown`; a throttled start costs nothing. This file does its
// own counting and deliberately shares no code with core/'s client limiter: a bug common to the
// client and its test peer would be invisible in every test.
//
// Bedrock does not publish how it counts a minute, so the books count a period in one of three
// selectable ways (CountingMode); the client is tested against each. The books are pure and
// clock-driven: every answer is "admitted" or "throttled, because ...", computed from the Clock.

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::emulator {

// A day of quota is this many periods, whatever the period is (so a 6 s period has a 2.4 h day).
inline constexpr int64_t kPeriodsPerDay = 1440;
// Upper bound for every quota and token count the books accept: keeps all sums far from overflow.
inline constexpr int64_t kMaxTokens = int64_t{1} << 50;
// DimensionLevel::available of a dimension that is not enforced.
inline constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();

// How a period's quota is counted. The day (kPeriodsPerDay periods) is counted the same way.
enum class CountingMode : uint8_t {
  // A bucket holding one period of quota (one day for the daily quota), full at the start, that
  // refills continuously at quota/period. A start needs `level >= reservation` and takes it; a
  // settlement gives back `reservation - charge` (the level never exceeds capacity) or takes the
  // excess of a charge above the reservation, which may leave the level negative.
  kTokenBucket,
  // Calendar windows [k·P, (k+1)·P) of the server's steady clock (days: [k·D, (k+1)·D), D =
  // 1440·P). A request's charge counts in the window that contains its start; a settlement adjusts
  // that window's sum while it is current and is forgotten once it is not. A start is admitted
  // iff sum(current window) + reservation <= quota.
  kFixedWindow,
  // The trailing period: a request started at s counts while s > now - P, i.e. it is forgotten
  // exactly at s + P (to the nanosecond); its count is its reservation until it settles, then its
  // charge. A start is admitted iff sum(counted requests) + reservation <= quota. The day uses
  // period-sized slots instead: a request started in period p = floor(s / P) counts until the
  // period p + 1440 begins, i.e. for between 1439 and 1440 periods.
  kSlidingWindow,
};

// "token_bucket", "fixed_window", "sliding_window".
std::string_view CountingModeName(CountingMode mode);
// The inverse of CountingModeName (for flags and config); InvalidArgument for any other name.
Result<CountingMode> ParseCountingMode(std::string_view name);

struct BooksOptions {
  // Default kTokenBucket. The window modes are there to check that a client also stays
  // unthrottled against a server that holds each request's charge at its start time for a whole
  // window (what the client limiter's window guard is for).
  CountingMode mode = CountingMode::kTokenBucket;
  // Bedrock's period is a minute. Shorter periods (e.g. 6 s) run a "minute" of quota in seconds in
  // tests and benchmarks. REQUIRES: 0 < period <= 24 h.
  Duration period = std::chrono::minutes(1);
};

// The quotas of one key. A key is any string; the emulator uses "<region>/<model or profile id>",
// e.g. "us-east-1/us.anthropic.claude-sonnet-4-20250514-v1:0".
struct KeyQuota {
  int64_t tokens_per_period = 0;    // TPM; required, in [1, kMaxTokens]
  int64_t requests_per_period = 0;  // RPM; 0 = not enforced (recent Bedrock enforces none)
  int64_t max_concurrency = 0;      // requests in flight; 0 = not enforced
  // Absent: Bedrock's default TPM × 1440 (the caller doubles it for cross-region profiles, as the
  // quota's name says). 0 = not enforced.
  std::optional<int64_t> tokens_per_day = std::nullopt;
};

Status Validate(const BooksOptions& options);
Status Validate(const KeyQuota& quota);
// tokens_per_day with its default applied.
int64_t DailyQuota(const KeyQuota& quota);

// Why a start was refused. Checked in this order, and the first that fails is reported: the
// daily quota first, because a client told "tokens per minute" would retry within a minute while
// the day is what stays exhausted; concurrency last, because it clears as soon as any request ends.
enum class ThrottleReason : uint8_t {
  kNone,
  kTokensPerDay,
  kTokensPerMinute,
  kRequestsPerMinute,
  kConcurrency,
};

// "none", "tokens_per_day", "tokens_per_minute", "requests_per_minute", "concurrency".
std::string_view ThrottleReasonName(ThrottleReason reason);
// The exact message Bedrock sends (bedrock-wire.md section 2); empty for kNone. kConcurrency has
// no quota on Bedrock; the books use what Bedrock says when it refuses a connection for capacity,
// "Too many connections, please wait before trying again." (reported as HTTP 503
// ServiceUnavailableException, e.g. anthropics/claude-code#562, langchain-ai/langchain-aws#968).
std::string_view ThrottleMessage(ThrottleReason reason);
// How Bedrock sends each refusal: 429 ThrottlingException for the three quotas, 503
// ServiceUnavailableException for kConcurrency; 0 and "" for kNone.
int ThrottleHttpStatus(ThrottleReason reason);
std::string_view ThrottleAwsCode(ThrottleReason reason);

class KeyLedger;  // one key's books; private to quota_books.cc

// An admitted request's claim on its key's books. Exactly one of Settle or Refund ends it; a
// ticket destroyed (or assigned over) while active is settled at its full reservation, as a
// request the server lost track of keeps what it reserved, so no path leaks quota or a slot.
// Thread safety: a Ticket is used by one thread at a time; the books it points into are
// thread-safe. REQUIRES: the QuotaBooks outlive their tickets.
class Ticket {
 public:
  Ticket() = default;
  Ticket(Ticket&& other) noexcept;
  Ticket& operator=(Ticket&& other) noexcept;
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;
  ~Ticket();

  // The request ended and costs `tokens` (the caller computes input + cache_write + output ×
  // burndown; for a request that failed mid-way, what it used or reserved_tokens(), as the caller
  // decides). Above the reservation the excess is charged too. The request still counts as one.
  // InvalidArgument (and the ticket stays active) unless 0 <= tokens <= kMaxTokens.
  // REQUIRES: active().
  Status Settle(int64_t tokens);
  // The request consumed nothing: its tokens and its request are given back.
  // REQUIRES: active().
  void Refund();

  bool active() const { return ledger_ != nullptr; }
  int64_t reserved_tokens() const { return reserved_tokens_; }
  // The server time of the start: the time the window modes count the request at.
  SteadyTime started_at() const { return started_at_; }

 private:
  friend class KeyLedger;
  Ticket(KeyLedger* ledger, uint64_t id, SteadyTime started_at, int64_t reserved_tokens)
      : ledger_(ledger), id_(id), started_at_(started_at), reserved_tokens_(reserved_tokens) {}

  KeyLedger* ledger_ = nullptr;
  uint64_t id_ = 0;  // the key's admission sequence number
  SteadyTime started_at_{};
  int64_t reserved_tokens_ = 0;
};

struct StartResult {
  ThrottleReason throttle = ThrottleReason::kNone;
  std::string_view message;  // ThrottleMessage(throttle): static storage, safe to keep
  Ticket ticket;             // active() iff admitted()

  bool admitted() const { return throttle == ThrottleReason::kNone; }
};

// One dimension of a key at one instant.
struct DimensionLevel {
  int64_t limit = 0;  // the quota; 0 = not enforced
  // Window modes: the sum of the window that contains now (counted even when not enforced).
  // Token bucket: limit - available (0 when not enforced).
  int64_t used = 0;
  // What a start could take now. Window modes: limit - used. Token bucket: the level, in whole
  // tokens rounded down. Negative after settlements above reservation or a quota cut; kUnlimited
  // when not enforced.
  int64_t available = kUnlimited;
};

// Counters since the key was created.
struct KeyCounters {
  int64_t admitted = 0;
  int64_t throttled_tokens_per_day = 0;
  int64_t throttled_tokens_per_minute = 0;
  int64_t throttled_requests_per_minute = 0;
  int64_t throttled_concurrency = 0;
  int64_t reserved_tokens = 0;  // sum of admitted reservations
  int64_t settled = 0;          // tickets settled, including abandoned ones
  int64_t settled_tokens = 0;   // sum of their charges
  int64_t excess_tokens = 0;    // sum of (charge - reservation) over charges above reservation
  int64_t abandoned = 0;        // tickets destroyed while active (settled at full reservation)
  int64_t refunded = 0;
  int64_t refunded_tokens = 0;  // sum of refunded reservations

  int64_t throttled() const {
    return throttled_tokens_per_day + throttled_tokens_per_minute + throttled_requests_per_minute +
           throttled_concurrency;
  }
};

// A key's books as of `at`, for tests, benchmarks and the emulator's own metrics.
struct KeySnapshot {
  std::string key;
  KeyQuota quota;  // tokens_per_day always set (its default applied)
  CountingMode mode = CountingMode::kTokenBucket;
  SteadyTime at{};
  DimensionLevel tokens;        // TPM
  DimensionLevel requests;      // RPM
  DimensionLevel daily_tokens;  // TPD
  int64_t in_flight = 0;        // admitted and not yet ended (limit: quota.max_concurrency)
  KeyCounters counters;
};

// Thread safety: every method is safe from many threads. The key table has one mutex, held only
// to find or add a key; each key has its own mutex, held for one start, settlement or snapshot,
// so keys never contend with one another. Nothing under either lock blocks; the only system call
// is the clock read, made under the key's lock so that a key's starts are recorded in time order.
class QuotaBooks {
 public:
  // REQUIRES: Validate(options) is ok; `clock` outlives the books.
  QuotaBooks(const BooksOptions& options, const Clock& clock);
  QuotaBooks(const QuotaBooks&) = delete;
  QuotaBooks& operator=(const QuotaBooks&) = delete;
  ~QuotaBooks();

  // Adds a key, or changes a live key's quota (a Service Quotas increase approved later). A change
  // keeps what each dimension has used and moves its limit: a raised quota admits more at once, a
  // cut one may leave a dimension over its limit until usage leaves it. A dimension that becomes
  // enforced starts unused in the token bucket (no level was kept); the window modes count every
  // dimension all along, enforced or not. InvalidArgument if !Validate(quota).
  Status SetQuota(std::string_view key, const KeyQuota& quota);

  // A request for `key` starts and reserves `reserve_tokens` (input + max_tokens; the model's
  // maximum output when the request has no max_tokens) and one request. Either every dimension is
  // charged and the result holds an active ticket, or none is and the result says why.
  // NotFound for a key never given a quota; InvalidArgument unless 0 <= tokens <= kMaxTokens.
  // A reservation larger than the key's TPM is throttled every time, as on Bedrock.
  Result<StartResult> Start(std::string_view key, int64_t reserve_tokens);

  // The key's levels now (brings its windows and buckets to the clock's time); NotFound if absent.
  Result<KeySnapshot> Snapshot(std::string_view key);
  std::vector<std::string> Keys() const;

  const BooksOptions& options() const { return options_; }

 private:
  KeyLedger* Find(std::string_view key) const;

  const BooksOptions options_;
  const Clock& clock_;
  mutable std::mutex table_mu_;
  // Entries are never removed, so a KeyLedger* (held by tickets) stays valid for the books' life.
  std::map<std::string, std::unique_ptr<KeyLedger>, std::less<>> keys_;  // GUARDED_BY(table_mu_)
};

}  // namespace quotaflow::emulator
