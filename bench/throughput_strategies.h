#pragma once
// The five ways of sending a workload to Bedrock that the throughput benchmark compares, each run
// against its own in-process emulator. Strategies 1-4 are what people write today; each drives
// bedrock::RuntimeClient (with its own retries off, so that every attempt passes the strategy's
// pacing and every 429 is seen) from a pool of `workers` that take documents first come, first
// served. Strategy 5 is quotaflow::Client, given every document as it arrives.
//
//  1. kBackoff      no limiter; a throttle or 5xx is retried after full-jitter exponential backoff
//                   (1 s base, 20 s cap, no attempt limit): what most code does.
//  2. kRpmCounter   a requests-per-minute counter (a window that opens at its first request and
//                   admits N requests), blind to tokens; N is the RPM quota, or when Bedrock
//                   enforces none, TPM / the workload's mean settled tokens per document (the best
//                   a token-blind counter can be tuned). Retries as 1.
//  3. kTokenBucket  the tutorial's dual token bucket: requests and tokens, each holding 1.5 s of
//                   quota, full at the start, refilled continuously; each attempt is charged
//                   chars/4 + max_tokens at send time and never settled or refunded. A request
//                   larger than the bucket can never be admitted: the tutorial's loop would spin
//                   forever; here the document is counted as stranded and the worker moves on.
//                   Retries as 1.
//  4. kSdkAdaptive  AWS SDK adaptive retry mode (sdk_adaptive.h): botocore's standard retries (3
//                   attempts, 1 s base, 20 s cap, a retry quota of 500) with its client-side CUBIC
//                   request-rate limiter before every attempt. When the SDK gives up, the
//                   application calls again at once (boto3 code wraps the call in a loop).
//  5. kQuotaflow    quotaflow::Client with the scenario's quotas and period, defaults otherwise.
// Durations in 1-4 (backoffs, the 1.5 s burst, the SDK's clocks) are Bedrock seconds, scaled by
// TimeScale like the emulator's latency.
//
// Thread safety: RunStrategy is safe to call from several threads at once (each run has its own
// emulator, loop and clients).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/quota_books.h"
#include "quotaflow/clock.h"
#include "throughput_scenarios.h"

namespace quotaflow::bench {

enum class StrategyKind : uint8_t {
  kBackoff,
  kRpmCounter,
  kTokenBucket,
  kSdkAdaptive,
  kQuotaflow,
};

inline constexpr StrategyKind kAllStrategies[] = {
    StrategyKind::kBackoff, StrategyKind::kRpmCounter, StrategyKind::kTokenBucket,
    StrategyKind::kSdkAdaptive, StrategyKind::kQuotaflow};

// "backoff", "rpm-counter", "token-bucket", "sdk-adaptive", "quotaflow".
std::string_view StrategyName(StrategyKind kind);
std::optional<StrategyKind> ParseStrategy(std::string_view name);

struct DocOutcome {
  enum class State : uint8_t { kPending, kSucceeded, kFailed, kStranded };
  State state = State::kPending;
  int priority = 1;
  SteadyTime arrival{};
  SteadyTime finished{};
  int64_t settled_tokens = 0;  // input + output × burndown, from the reported usage
  // Tokens the strategy's own books charged for this document and never gave back (strategy 3:
  // every attempt's estimate; quotaflow: what it settled). 0 for strategies without token books.
  int64_t charged_tokens = 0;
  int throttles = 0;      // 429 ThrottlingException answers
  int server_errors = 0;  // 5xx answers and transport failures
  int attempts = 0;
  std::string error;  // kFailed: why
};

// Diagnostic departures from quotaflow's defaults, to show where its figures come from; the
// benchmark's own quotaflow rows use none. Named in the strategy column when set.
struct QuotaflowVariant {
  // Pass each request's input tokens as the server counts them (CountTokens, asked before the run)
  // instead of letting the client estimate them from the body.
  bool exact_input = false;
  // The scheduler's aging step in Bedrock seconds (default 30; 0 = strict priority).
  std::optional<double> aging_step;
  bool no_window_guard = false;
  // LimiterConfig::window_margin in real milliseconds (default 20; not scaled: it covers the time
  // from a grant to the server's count of the request, which does not shrink with the period).
  std::optional<int64_t> window_margin_ms;
  // Aging may lift lower work to the top class (SchedulerConfig::strict_from = kNoStrictClass).
  bool aging_to_top = false;
  // The adaptive controller's CUBIC β and C (AdaptiveConfig; defaults 0.7 and 0.4).
  std::optional<double> beta;
  std::optional<double> cubic_c;
  // LimiterConfig::initial_fill (default 0).
  std::optional<double> initial_fill;

  bool any() const {
    return exact_input || aging_step || no_window_guard || window_margin_ms || aging_to_top ||
           beta || cubic_c || initial_fill;
  }
  // "quotaflow[exact-input,aging=0s]"
  std::string Name() const;
};

struct RunOptions {
  Duration period = std::chrono::seconds(2);
  emulator::CountingMode mode = emulator::CountingMode::kTokenBucket;
  uint64_t seed = 1;
  int workers = 128;  // strategies 1-4
  // Strategy 4's clock in real seconds instead of Bedrock seconds: for the check against boto3,
  // whose adaptive mode runs on time.time() whatever the quota period.
  bool sdk_real_time = false;
  // Default: the run starts against an idle account, whose server holds a whole period of quota
  // ready (a full bucket, an empty window). Warm: it starts right after another client has spent
  // that period's quota (SpendFirstPeriod), as a process restarted in the middle of a busy stretch
  // meets the server.
  bool warm_start = false;
  QuotaflowVariant quotaflow;
  // Give up on what is still pending after this long (its documents stay kPending).
  Duration timeout = std::chrono::minutes(5);
};

struct CompetitorStats {
  int64_t sent = 0;
  int64_t succeeded = 0;
  int64_t throttled = 0;
  int64_t settled_tokens = 0;  // of requests started within the measured run
};

struct RunResult {
  StrategyKind strategy = StrategyKind::kQuotaflow;
  std::string scenario;
  emulator::CountingMode mode = emulator::CountingMode::kTokenBucket;
  SteadyTime start{};            // documents arrive at start + arrival
  std::vector<DocOutcome> docs;  // by document id
  bool timed_out = false;
  CompetitorStats competitor;
  // The emulator's counters for the scenario's key: admitted, throttled, settled_tokens, ...
  int64_t server_admitted = 0;
  int64_t server_throttled = 0;
  int64_t server_settled_tokens = 0;
  std::string error;  // the run could not start (emulator, client)
};

// Runs one strategy on one scenario's workload against a fresh emulator counting in `options.mode`.
RunResult RunStrategy(StrategyKind kind, const Scenario& scenario, const Workload& workload,
                      const RunOptions& options);

}  // namespace quotaflow::bench
