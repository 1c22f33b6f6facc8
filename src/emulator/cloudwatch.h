#pragma once
// The emulator's CloudWatch: a metric store fed by the emulator's own bedrock-runtime traffic
// (namespace AWS/Bedrock, dimension ModelId) and by PutMetricData, served over awsJson1.0 as
// botocore sends it (bedrock-wire.md section 7): GetMetricStatistics, GetMetricData (metric math:
// + - * / ^, parentheses, FILL, ABS, SUM/AVG/MIN/MAX), PutMetricData, ListMetrics, PutMetricAlarm,
// DescribeAlarms and DeleteAlarms.
//
// Storage: one series per (region, model) for the runtime metrics and one per (region, namespace,
// metric, dimensions, unit) for put metrics, each a deque of 1-second buckets in time order, kept
// for CloudWatchOptions::retention (CloudWatch's 3 hours for 1-second data). A bucket holds per
// metric the sample count, sum, min and max and the values themselves (see "Percentiles"), so
// any period that is a whole number of seconds can be asked for, 1 s and 60 s included.
//
// What the runtime metrics count (AWS's current description of Invocations: requests "accepted
// for processing", including those that later failed; throttled requests are in none of the
// other counts):
//   outcome        Invocations  InvocationThrottles  InvocationClientErrors/ServerErrors
//   kSuccess            1              -                       -
//   kThrottled          -              1                       -
//   kClientError        1              -              1 (client)
//   kServerError        1              -              1 (server)
// A success also records InvocationLatency, InputTokenCount, OutputTokenCount,
// EstimatedTPMQuotaUsage (= quota_tokens; Sum over 60 s is the minute's usage), TimeToFirstToken
// when present (streams), and the two cache counts when non-zero. Counters are never recorded as
// 0, so a minute without throttles has no InvocationThrottles datapoint (alarms on them want
// TreatMissingData notBreaching, as on AWS). Queries without the ModelId dimension aggregate all
// models of the region (AWS publishes that account-level series too).
//
// Percentiles (ExtendedStatistics pNN, Stat "pNN"): nearest rank over the recorded values, so p50
// of 1..100 is 50. A bucket keeps its first 64 distinct values of a metric exactly; beyond that,
// it rounds values to 7 significant bits (relative error at most 0.8%), which bounds a bucket by
// the values' range (64 entries per doubling) instead of by the request rate.
//
// Alarms are evaluated when DescribeAlarms runs, on the complete periods that end at or before
// the clock's wall time: the last EvaluationPeriods windows [k·P, (k+1)·P) of the epoch.
//
// Where the emulator knowingly differs from CloudWatch: any namespace may be put to (AWS/Bedrock
// too, so tests can inject Bedrock metrics); StorageResolution is accepted and ignored (all data
// is kept at 1 s, any Period works); only pNN extended statistics; metric math is the subset
// above; TreatMissingData "missing" evaluates the present datapoints of the window instead of
// looking further back; composite and anomaly-detection alarms are not emulated.
//
// Thread safety: every method is safe from any thread. Record takes a shared lock on the series
// map and then one series' mutex; queries copy out what they need under the same locks; no lock is
// held while serialising a response.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/options.h"
#include "quotaflow/clock.h"
#include "server/http_server.h"

namespace quotaflow::emulator {

// The X-Amz-Target prefix of CloudWatch operations; Handle takes what follows it.
inline constexpr std::string_view kCloudWatchTargetPrefix = "GraniteServiceVersion20100801.";

// One bedrock-runtime request as CloudWatch sees it, recorded when it ends.
struct InvocationRecord {
  enum class Outcome : uint8_t { kSuccess, kThrottled, kClientError, kServerError };

  std::string_view region;
  // The ModelId dimension value: the id as the request named it (base model id or profile id).
  std::string_view model_id;
  WallTime at;  // when the invocation ended
  Outcome outcome = Outcome::kSuccess;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cache_read_input_tokens = 0;
  int64_t cache_write_input_tokens = 0;
  double latency_ms = 0;
  std::optional<double> time_to_first_token_ms;  // streaming APIs only
  // input + cache_write + output × burndown (successes only): EstimatedTPMQuotaUsage.
  int64_t quota_tokens = 0;
};

struct CloudWatchOptions {
  // How long 1-second data is kept, and how far back queries and alarms can see. Default: the 3
  // hours CloudWatch keeps sub-minute data. Memory grows with it: measured, a series taking
  // 10,000 requests/s with spread-out latencies and token counts holds ~18 KiB per second
  // (~190 MiB for 3 hours); a second with a single success costs ~1.5 KiB. Lower it for long
  // soak runs.
  Duration retention = std::chrono::hours(3);
  // The account in alarm ARNs.
  std::string account_id = kDefaultAccountId;
};

class CloudWatchImpl;  // cloudwatch.cc

class CloudWatch {
 public:
  // REQUIRES: `clock` outlives this object. Its wall time is "now" for default timestamps,
  // retention and alarm evaluation.
  explicit CloudWatch(const Clock& clock, CloudWatchOptions options = {});
  CloudWatch(const CloudWatch&) = delete;
  CloudWatch& operator=(const CloudWatch&) = delete;
  ~CloudWatch();

  // The hot path (every runtime request): a hash lookup under a shared lock, then one short
  // per-series lock; ~0.3 µs in a Release build at 20,000 records/s. It allocates only when a
  // series or a second is new (or a value is new to its second). A record older than the
  // retention is dropped.
  void Record(const InvocationRecord& record);

  // Serves one awsJson1.0 call. `region` scopes metrics and alarms; `operation` is what follows
  // kCloudWatchTargetPrefix in X-Amz-Target. Always returns a response (errors as awsJson errors
  // with the x-amzn-query-error header botocore reads the code from); never throws.
  server::ServerResponse Handle(std::string_view region, std::string_view operation,
                                std::string_view body, std::string_view request_id);

 private:
  std::unique_ptr<CloudWatchImpl> impl_;
};

}  // namespace quotaflow::emulator
