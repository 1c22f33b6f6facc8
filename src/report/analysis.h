#pragma once
// Which quota binds a workload, and what would relieve it: the arithmetic behind
// `quotaflow analyze`. Pure: numbers in, an Analysis out; no AWS calls, no clock.
//
// How Bedrock charges a request (ARCHITECTURE.md, bedrock-wire.md section 5): at the start it
// reserves R = prompt + max_tokens against TPM (the model's default, its maximum, when max_tokens
// is absent); at the end the charge settles to S = input + cache_write + output × burndown. The
// prompt in R is the whole prompt, cache reads and writes included: the agent-toolkit doc adds
// both to the reservation, and Bedrock cannot know at admission what the cache will serve (the
// emulator reserves the same). Cache reads do not count at settlement.
//
// The per-minute bounds, in requests per minute:
//   RPM                   rpm
//   TPM at reservation    TPM / R   (every request holding its reservation for the whole minute)
//   TPM at settlement     TPM / S   (instant requests: only the final charge counts)
//   TPM, steady state     TPM / (S + f·max(R − S, 0)),  f = min(latency / 60 s, 1)
//   concurrency           limit / latency × 60   (Little's law)
//   TPD                   TPD / 1440 / S   (the day's quota spread evenly over its minutes)
// The steady-state TPM bound is the one that competes: over any minute the books hold the
// settled charges of the requests that finished (rate × S) plus the reservations still in flight,
// each R instead of S for the fraction f of the minute it runs, i.e. rate·S + rate·f·(R − S) <=
// TPM. That is exact for a one-minute sliding window with latency <= 60 s, and for a one-minute
// token bucket it says the in-flight excess must fit in what a minute's settled charges leave.
// From 60 s of latency on, every request in the window holds its reservation and the bound is
// TPM / R. A charge above the reservation (output × burndown > max_tokens) is charged in full at
// the end, so holding never makes a request cheaper than S. A reservation above TPM is never
// admitted (rate 0).
//
// The binding quota is the smallest of the bounds that apply at the same time: RPM, steady-state
// TPM, concurrency and TPD (ties go to that order). The two TPM ends are shown for explanation.

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bedrock/model_catalog.h"
#include "quotaflow/error.h"
#include "report/chart.h"

namespace quotaflow::report {

// The quotas of one account × region × model (or inference profile): Service Quotas' values.
struct Quotas {
  // Older quota sets have an RPM quota; bedrock-runtime no longer enforces it (bedrock-wire.md §5).
  std::optional<int64_t> requests_per_minute;
  int64_t tokens_per_minute = 0;  // REQUIRES: > 0
  std::optional<int64_t> tokens_per_day;
  // Bedrock has no concurrency quota; a gateway or a client-side cap may (e.g. the engine's
  // max_concurrency). Unlike the others it is not per region.
  std::optional<int64_t> max_concurrency;
};

// An average request. Token counts are as Converse reports them: input excludes cached tokens.
struct Workload {
  int64_t input_tokens = 0;
  int64_t cache_write_tokens = 0;
  int64_t cache_read_tokens = 0;
  std::optional<int64_t> max_tokens;  // absent: Bedrock reserves the model's default output
  // What a response really uses. The CLI without --expected-output may pass max_tokens (the
  // worst case). REQUIRES: <= max_tokens when max_tokens is set.
  int64_t expected_output_tokens = 0;
  // Start to last byte. 0 ignores reservation holding (settlement bound) and concurrency.
  double latency_seconds = 0;
};

// The limits compared, in the order ties are broken.
enum class Limit : uint8_t {
  kRpm,
  kTpmAtReservation,  // explanation only
  kTpmAtSettlement,   // explanation only
  kTpm,               // steady state: the TPM bound that competes
  kConcurrency,
  kTpd,
};
// "rpm", "tpm_reservation", "tpm_settlement", "tpm", "concurrency", "tpd": JSON values.
std::string_view LimitName(Limit limit);
// "RPM", "TPM at reservation", "TPM at settlement", "TPM, steady state", "concurrency", "TPD".
std::string_view LimitTitle(Limit limit);

struct Bound {
  Limit limit = Limit::kTpm;
  std::optional<int64_t> quota;  // the quota behind it; nullopt when there is none
  // The most requests per minute it allows; nullopt when it does not apply (no such quota, or a
  // concurrency limit without a latency).
  std::optional<double> requests_per_minute;
  bool competes = false;  // false for the two TPM ends, which the steady-state row combines
  std::string formula;    // how the number came about: "400,000 / 11,000"
};

struct Relief {
  enum class Kind : uint8_t {
    kLowerMaxTokens,  // value: the max_tokens to send
    kRaiseQuota,      // value: the quota to ask for (`limit`); nullopt: any increase helps
    kAddCapacity,     // another region or cross-region inference profile: quotas of its own
  };
  Kind kind = Kind::kRaiseQuota;
  Limit limit = Limit::kTpm;
  std::optional<int64_t> value;
  double requests_per_minute = 0;  // what the workload sustains after this change alone
  std::string text;                // one line for people
};
// "lower_max_tokens", "raise_quota", "add_capacity".
std::string_view ReliefKindName(Relief::Kind kind);

struct Analysis {
  // The inputs, echoed for the renderers and for the chart.
  std::string model_id;
  std::string model_name;
  int64_t burndown = 1;
  int64_t model_max_output_tokens = 0;
  Quotas quotas;
  Workload workload;

  // Per request.
  int64_t prompt_tokens = 0;           // input + cache write + cache read
  int64_t reserved_output_tokens = 0;  // max_tokens, or the model's default when absent
  bool max_tokens_defaulted = false;
  int64_t reservation_tokens = 0;  // R = prompt + reserved output
  int64_t settlement_tokens = 0;   // S = input + cache write + expected output × burndown
  double in_flight_fraction = 0;   // f = min(latency / 60 s, 1)

  std::vector<Bound> bounds;  // one per Limit, in Limit order
  Limit binding = Limit::kTpm;
  double requests_per_minute = 0;  // the binding bound: the most the workload sustains
  // The next competing bound above the binding one: how far relieving the binding one gets.
  std::optional<Limit> runner_up;
  // Settled tokens per minute at that rate (what CloudWatch's token counts would show).
  double tokens_per_minute = 0;
  std::vector<Relief> reliefs;  // most specific first
  std::vector<std::string> notes;

  const Bound& BoundFor(Limit limit) const { return bounds[static_cast<size_t>(limit)]; }
};

// kInvalidArgument for a missing or non-positive TPM, a non-positive optional quota, negative
// token counts or latency, max_tokens < 1 or above the model's maximum, an expected output above
// max_tokens, no max_tokens and no model default, or a request that settles to 0 tokens.
Result<Analysis> Analyze(const Quotas& quotas, const bedrock::ModelInfo& model,
                         const Workload& workload);

// The steady-state TPM bound (requests per minute) if the request reserved `reserved_output`
// output tokens: what the max_tokens chart and relief are computed from.
double TpmBoundWithReservedOutput(const Analysis& analysis, int64_t reserved_output);

// {"model": …, "per_request": …, "bounds": […], "binding": …, "reliefs": […], "notes": […]};
// absent bounds are null.
boost::json::value AnalysisToJson(const Analysis& analysis);
// The table `quotaflow analyze` prints: the per-request charge, a row per bound with its formula,
// the binding quota and what would relieve it.
std::string RenderAnalysisTable(const Analysis& analysis);
// Requests per minute against max_tokens: the steady-state TPM bound as a curve, the other bounds
// as dashed lines, markers at the current and the suggested max_tokens.
Chart MaxTokensChart(const Analysis& analysis);

}  // namespace quotaflow::report
