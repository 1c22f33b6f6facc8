#pragma once
// A blocking CloudWatch client for what `quotaflow monitor` and `quotaflow alarms` need:
// GetMetricStatistics, GetMetricData, PutMetricData, PutMetricAlarm, DescribeAlarms and
// DeleteAlarms, spoken as botocore speaks them (bedrock-wire.md section 7): awsJson1.0,
// `X-Amz-Target: GraniteServiceVersion20100801.<Operation>`, `x-amzn-query-mode: true`, SigV4
// service `monitoring`, timestamps as whole epoch seconds.
//
// Paginated operations (GetMetricData, DescribeAlarms) return every page. Failures are
// quotaflow::Error values; CloudWatch's code comes from `x-amzn-query-error` as botocore reports
// it ("InvalidParameterValue", "MissingParameter", "InvalidNextToken", ...), with the service's
// message. Throttles and transient faults are retried first (ControlPlaneOptions::retry).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/http_client.h"
#include "bedrock/aws_json_client.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::bedrock {

using CloudWatchClientOptions = ControlPlaneOptions;

// Bedrock's runtime metrics: namespace and the dimension naming the model (bedrock-wire.md 7).
inline constexpr std::string_view kBedrockNamespace = "AWS/Bedrock";
inline constexpr std::string_view kModelIdDimension = "ModelId";

struct Dimension {
  std::string name;
  std::string value;

  bool operator==(const Dimension&) const = default;
};

struct Metric {
  std::string ns;  // Namespace, "AWS/Bedrock"
  std::string name;
  std::vector<Dimension> dimensions;
};

// --- GetMetricStatistics ---

struct GetMetricStatisticsRequest {
  Metric metric;
  WallTime start{};  // sent as whole seconds, rounded down
  WallTime end{};
  int64_t period_seconds = 60;
  // Basic statistics ("SampleCount", "Average", "Sum", "Minimum", "Maximum") and percentiles
  // ("p99"): one of the two lists must be non-empty, and not both (the service's rule).
  std::vector<std::string> statistics;
  std::vector<std::string> extended_statistics;
  std::optional<std::string> unit;
};

struct Datapoint {
  WallTime timestamp{};  // the start of its period
  std::optional<double> sample_count;
  std::optional<double> average;
  std::optional<double> sum;
  std::optional<double> minimum;
  std::optional<double> maximum;
  std::map<std::string, double> extended;  // "p99" -> value
  std::string unit;
};

struct MetricStatistics {
  std::string label;
  std::vector<Datapoint> datapoints;  // sorted by timestamp (the service sends them unordered)
};

// --- GetMetricData ---

struct MetricStat {
  Metric metric;
  int64_t period_seconds = 60;
  std::string stat = "Sum";  // "Sum", "Average", "p99", ...
  std::optional<std::string> unit;
};

// One query: exactly one of `metric_stat` and `expression` (metric math over other queries' ids:
// "100 * q1 / 400000").
struct MetricDataQuery {
  std::string id;  // lowercase first letter, [a-zA-Z0-9_]
  std::optional<MetricStat> metric_stat;
  std::string expression;
  std::string label;                      // empty = the service's default
  std::optional<int64_t> period_seconds;  // expressions only
  bool return_data = true;
};

enum class ScanBy : uint8_t { kTimestampDescending, kTimestampAscending };

struct GetMetricDataRequest {
  std::vector<MetricDataQuery> queries;  // at most 500 (the service's limit)
  WallTime start{};
  WallTime end{};
  ScanBy scan_by = ScanBy::kTimestampDescending;  // CloudWatch's default order
  // Datapoints per page (MaxDatapoints). nullopt = the service's default (100,800). Every page is
  // fetched either way.
  std::optional<int64_t> max_datapoints;
};

struct MetricDataResult {
  std::string id;
  std::string label;
  std::vector<WallTime> timestamps;  // in the request's ScanBy order, across every page
  std::vector<double> values;        // parallel to timestamps
  std::string status_code;           // "Complete", "PartialData", "InternalError", "Forbidden"
  std::vector<std::string> messages;
};

struct MetricData {
  std::vector<MetricDataResult> results;  // in the order the service first returned each id
  std::vector<std::string> messages;      // request-level messages
};

// --- PutMetricData ---

struct StatisticSet {
  double sample_count = 0;
  double sum = 0;
  double minimum = 0;
  double maximum = 0;
};

// One datum: exactly one of `value`, `values` (with optional `counts`), `statistic_values`.
struct MetricDatum {
  std::string name;
  std::vector<Dimension> dimensions;
  std::optional<WallTime> timestamp;  // nullopt = the time the service receives it
  std::optional<double> value;
  std::vector<double> values;
  std::vector<double> counts;
  std::optional<StatisticSet> statistic_values;
  std::string unit;                           // empty = "None"
  std::optional<int64_t> storage_resolution;  // 1 (high resolution) or 60
};

// --- alarms ---

enum class AlarmState : uint8_t { kOk, kAlarm, kInsufficientData, kUnknown };

// "OK", "ALARM", "INSUFFICIENT_DATA"; "UNKNOWN" for kUnknown.
std::string_view AlarmStateName(AlarmState state);
AlarmState ParseAlarmState(std::string_view name);

// What PutMetricAlarm sets. A single-metric alarm sets `metric`, `statistic` (or
// `extended_statistic`) and `period_seconds`; a metric-math alarm sets `metrics` (one of them
// with return_data, the series compared to the threshold) instead.
struct AlarmConfig {
  std::string name;
  std::string description;
  std::optional<Metric> metric;
  std::string statistic;           // "Sum", "Average", ...
  std::string extended_statistic;  // "p99"
  int64_t period_seconds = 60;
  std::optional<std::string> unit;
  std::vector<MetricDataQuery> metrics;
  int64_t evaluation_periods = 1;
  std::optional<int64_t> datapoints_to_alarm;
  double threshold = 0;
  // "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold",
  // "LessThanOrEqualToThreshold".
  std::string comparison_operator = "GreaterThanThreshold";
  std::string
      treat_missing_data;  // "breaching", "notBreaching", "ignore", "missing"; empty = default
  bool actions_enabled = true;
  std::vector<std::string> alarm_actions;  // SNS topic ARNs, ...
  std::vector<std::string> ok_actions;
  std::vector<std::string> insufficient_data_actions;
};

// An alarm as DescribeAlarms returns it: its configuration and its state.
struct Alarm {
  AlarmConfig config;
  std::string arn;
  AlarmState state = AlarmState::kUnknown;
  std::string state_text;  // as the service spelled it
  std::string state_reason;
  std::string state_reason_data;  // JSON text, when the service sent it
  WallTime state_updated{};
};

struct DescribeAlarmsRequest {
  // Exactly these names (sent 100 at a time), or every alarm whose name starts with `prefix`, or
  // every alarm when both are empty. Not both (the service's rule).
  std::vector<std::string> names;
  std::string prefix;
  std::optional<AlarmState> state;  // only alarms in this state
};

// Thread safety: every method is safe from any thread except the HttpClient's loop thread; each
// blocks until the service answered (retries and their backoff included).
class CloudWatchClient {
 public:
  // kInvalidArgument for options without credentials, with a bad region or endpoint (see
  // ControlPlaneOptions). REQUIRES: `http`, its running loop and `clock` outlive the client.
  static Result<std::unique_ptr<CloudWatchClient>> Create(aws::HttpClient& http,
                                                          CloudWatchClientOptions options,
                                                          const Clock& clock = SystemClock());

  CloudWatchClient(const CloudWatchClient&) = delete;
  CloudWatchClient& operator=(const CloudWatchClient&) = delete;
  ~CloudWatchClient();

  Result<MetricStatistics> GetMetricStatistics(const GetMetricStatisticsRequest& request);
  // Every page, the results of each id joined.
  Result<MetricData> GetMetricData(const GetMetricDataRequest& request);
  // Sent 1,000 data at a time (the service's per-call limit).
  Status PutMetricData(std::string_view ns, const std::vector<MetricDatum>& data);
  // Creates or replaces the alarm named `config.name`.
  Status PutMetricAlarm(const AlarmConfig& config);
  // Every page.
  Result<std::vector<Alarm>> DescribeAlarms(const DescribeAlarmsRequest& request = {});
  // Names that do not exist are skipped by the service. Sent 100 at a time.
  Status DeleteAlarms(const std::vector<std::string>& names);

  const CloudWatchClientOptions& options() const;

 private:
  explicit CloudWatchClient(std::unique_ptr<internal::AwsJsonClient> client);

  Status DescribeAlarmsPage(boost::json::object request, std::vector<Alarm>& out);

  std::unique_ptr<internal::AwsJsonClient> client_;
};

// Parsers of the response shapes, exposed for tests.
Datapoint ParseDatapoint(const boost::json::object& datapoint);
Alarm ParseAlarm(const boost::json::object& alarm);

}  // namespace quotaflow::bedrock
